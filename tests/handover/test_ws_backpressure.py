"""A screen that stops reading is told to resync; the others do not wait for it."""

from __future__ import annotations

import socket

import redis.asyncio as aioredis
from websockets.asyncio.client import connect

from dispatch.domain import Role
from dispatch.realtime.bus import Bus
from tests.conftest import REDIS_URL
from tests.handover.wsclient import WAIT_S, cluster, recv, send, until

# 20 MB uncompressed: past the 1,000-frame queue plus what the sockets can buffer (the
# slow client's receive buffer is shrunk; the server's send buffer grows to 4 MB).
BURST = 10_000
PAD = "x" * 2_000


async def test_slow_screen_gets_resync_and_resumes_without_gaps() -> None:
    async with cluster(1) as c:
        token = c.token(Role.HOSPITAL, hospital_id="H1")
        url = c.ws_url(0, "hospital", token=token)
        # max_queue=1, a small receive buffer and no compression: the client stops
        # reading from the socket and the server's buffers fill.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8_192)
        sock.connect(("127.0.0.1", int(c.urls[0].rsplit(":", 1)[1])))
        async with connect(url, sock=sock, max_queue=1, compression=None,
                           open_timeout=WAIT_S) as slow, \
                c.ws(0, "hospital", Role.HOSPITAL, hospital_id="H1") as fast:
            assert (await recv(slow))["type"] == "snapshot"
            assert (await recv(fast))["type"] == "snapshot"
            redis = aioredis.Redis.from_url(REDIS_URL)
            try:
                bus = Bus(redis=redis, prefix=c.settings.redis_prefix, maxlen=100_000)
                for start in range(0, BURST, 500):
                    await bus.publish_many([("hospital:H1", {"kind": "probe", "n": n,
                                                             "pad": PAD})
                                            for n in range(start, start + 500)])
            finally:
                await redis.aclose()
            # the fast screen gets everything while the slow one is not reading
            last, _ = await until(fast, lambda f: f.get("data", {}).get("n") == BURST - 1,
                                  timeout=30)
            # now the slow one reads: what was buffered, then the resync
            resync, before = await until(slow, lambda f: f["type"] == "resync", timeout=30)
            got = [f["data"]["n"] for f in before if f.get("kind") == "probe"]
            assert got == list(range(len(got))) and len(got) < BURST
            await send(slow, {"type": "resume", "last_event_id": resync["last_event_id"]})
            frame, rest = await until(slow, lambda f: f.get("data", {}).get("n") == BURST - 1,
                                      timeout=30)
            assert [f["data"]["n"] for f in [*rest, frame]] == list(range(len(got), BURST))
            assert frame["id"] == last["id"]
