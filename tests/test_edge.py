"""The HTTP edge (dispatch.api.edge): every answer has the request id and is counted, a
refusal of a body over the limit or a NUL included, and the endpoint reads the body whole."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import orjson

from dispatch.api.edge import Edge
from dispatch.metrics.prometheus import Metrics

Message = MutableMapping[str, Any]


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def _send(edge: Edge, chunks: list[bytes], *, query: bytes = b"",
                headers: list[tuple[bytes, bytes]] | None = None) -> tuple[int, dict[bytes,
                                                                                 bytes], bytes]:
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
               for i, c in enumerate(chunks)]
    sent: list[Message] = []

    async def receive() -> Message:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/calls", "query_string": query,
             "headers": headers or []}
    await edge(scope, receive, send)
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


async def test_a_streamed_body_over_the_limit_is_refused_with_the_id_and_counted() -> None:
    metrics = Metrics()
    edge = Edge(_inner, limit=10, metrics=lambda: metrics)
    status, headers, body = await _send(edge, [b"12345", b"67890", b"1"],
                                        headers=[(b"x-request-id", b"req-1")])
    assert (status, headers[b"x-request-id"]) == (413, b"req-1")
    assert orjson.loads(body)["error"] == "payload_too_large"
    assert metrics.registry.get_sample_value(
        "dispatch_http_requests_total",
        {"method": "POST", "route": "unmatched", "status": "413"}) == 1


async def test_nul_is_refused_and_a_good_body_reaches_the_endpoint_whole() -> None:
    metrics = Metrics()
    edge = Edge(_inner, limit=100, metrics=lambda: metrics)
    status, headers, body = await _send(edge, [b"{}"], query=b"q=a%00b")
    assert status == 422 and orjson.loads(body)["detail"][0]["field"] == "q"
    assert len(headers[b"x-request-id"]) == 32  # a new one
    status, _, body = await _send(edge, [b'{"a": "\\u0000"}'])
    assert status == 422 and orjson.loads(body)["detail"][0]["field"] == "a"
    status, _, body = await _send(edge, [b'{"a":', b' "b"}'])
    assert (status, body) == (200, b'{"a": "b"}')
    assert metrics.registry.get_sample_value(
        "dispatch_http_requests_total",
        {"method": "POST", "route": "unmatched", "status": "200"}) == 1
