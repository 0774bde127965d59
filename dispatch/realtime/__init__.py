"""Redis as the nervous system: streams, the links to them, and publishing after commit.

- `bus`: append to and read from the per-topic streams (`console`, `vehicle:<id>`,
  `hospital:<id>`); `resp`: the lean pipelined Redis link under it; `redis_client`: the
  redis-py client (one server, or the master behind Sentinels).
- `channels`: this instance's readers, fanning stream events out to its websocket clients.
- `outbox`: the one publish-after-commit policy; nothing committed is dropped.
- `batching`: group commit of many connections' writes in one statement.
"""
