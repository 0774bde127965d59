"""The lean Redis link of the stream fan-out, against the real Redis."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from dispatch.realtime.resp import RespEndpoint, RespLink
from tests.conftest import REDIS_URL
from tests.waiting import eventually


def _key() -> str:
    return f"t_resp_{secrets.token_hex(6)}"


def test_endpoint_from_url() -> None:
    e = RespEndpoint.from_url("rediss://app:p%40ss@cache.example:6380/2", timeout_s=3.0)
    assert (e.host, e.port, e.db, e.username, e.password, e.tls, e.timeout_s) == (
        "cache.example", 6380, 2, "app", "p@ss", True, 3.0)
    plain = RespEndpoint.from_url("redis://127.0.0.1", timeout_s=1.0)
    assert (plain.port, plain.db, plain.password, plain.tls) == (6379, 0, None, False)
    with pytest.raises(ValueError, match="redis://"):
        RespEndpoint.from_url("http://127.0.0.1:6379", timeout_s=1.0)


def test_endpoint_from_sentinel_url() -> None:
    e = RespEndpoint.from_url(
        "redis+sentinel://app:p%40ss@s1.example:26380,s2.example,10.0.0.3:26381/mymaster/2"
        "?sentinel_password=sec", timeout_s=2.0)
    assert e.sentinels == (("s1.example", 26380), ("s2.example", 26379), ("10.0.0.3", 26381))
    assert (e.service, e.db, e.username, e.password, e.tls, e.sentinel_password) == (
        "mymaster", 2, "app", "p@ss", False, "sec")
    tls = RespEndpoint.from_url("rediss+sentinel://s1/cache", timeout_s=1.0)
    assert (tls.sentinels, tls.service, tls.db, tls.tls, tls.password) == (
        (("s1", 26379),), "cache", 0, True, None)
    for bad, reason in (("redis+sentinel://s1:26379", "names the service"),
                        ("redis+sentinel://s1:26379/mymaster/x", "names the service"),
                        ("redis+sentinel://s1:port/mymaster", "host:port"),
                        ("redis+sentinel://s1/mymaster?db=2", "unknown")):
        with pytest.raises(ValueError, match=reason):
            RespEndpoint.from_url(bad, timeout_s=1.0)


async def test_concurrent_callers_get_their_own_replies_in_order() -> None:
    link = RespLink(RespEndpoint.from_url(REDIS_URL, timeout_s=5.0))
    key = _key()
    try:
        async def append(n: int) -> list[int]:
            return await link.execute([("RPUSH", key, f"{n}-{i}") for i in range(3)])

        lengths = await asyncio.gather(*(append(n) for n in range(20)))
        # one connection, commands in call order: the lengths run 1..60 without a gap
        assert [x for batch in lengths for x in batch] == list(range(1, 61))
        [items] = await link.execute([("LRANGE", key, 0, -1)])
        assert items[:3] == [b"0-0", b"0-1", b"0-2"]
    finally:
        await link.execute([("DEL", key)])
        await link.close()


async def test_an_error_reply_raises_after_the_others_ran() -> None:
    link = RespLink(RespEndpoint.from_url(REDIS_URL, timeout_s=5.0))
    key = _key()
    try:
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await link.execute([("SET", key, "x"), ("LPUSH", key, "y")])
        assert await link.execute([("GET", key)]) == [b"x"]
    finally:
        await link.execute([("DEL", key)])
        await link.close()


async def test_a_lost_connection_fails_its_callers_and_the_next_call_reconnects() -> None:
    link = RespLink(RespEndpoint.from_url(REDIS_URL, timeout_s=5.0))
    admin = aioredis.Redis.from_url(REDIS_URL)
    try:
        [name] = await link.execute([("CLIENT", "SETNAME", "t_resp_lost")])
        assert name == b"OK"
        blocked = asyncio.create_task(link.execute(
            [("BLPOP", _key(), 5)], extra_wait_s=5.0))

        async def blocking() -> bool:
            clients = await admin.client_list()
            return any(c["name"] == "t_resp_lost" and c["cmd"] == "blpop" for c in clients)

        await eventually(blocking, what="the link's BLPOP blocked in Redis")
        killed = await admin.execute_command("CLIENT", "KILL", "SKIPME", "yes",
                                             "TYPE", "normal", "ID",
                                             await _client_id(admin, "t_resp_lost"))
        assert killed == 1
        with pytest.raises(RedisConnectionError):
            await blocked
        assert await link.execute([("PING",)]) == [b"PONG"]
    finally:
        await link.close()
        await admin.aclose()


async def test_no_reply_in_time_is_a_timeout_and_the_link_recovers() -> None:
    link = RespLink(RespEndpoint.from_url(REDIS_URL, timeout_s=0.2))
    try:
        with pytest.raises(RedisTimeoutError):
            await link.execute([("BLPOP", _key(), 2)])
        # The late reply of the BLPOP must not answer this call: a fresh connection.
        assert await link.execute([("ECHO", "after")]) == [b"after"]
    finally:
        await link.close()


async def test_select_chooses_the_database_of_the_url() -> None:
    url = urlparse(REDIS_URL)._replace(path="/3").geturl()
    link = RespLink(RespEndpoint.from_url(url, timeout_s=5.0))
    db3 = aioredis.Redis.from_url(url)
    key = _key()
    try:
        await link.execute([("SET", key, "in-3")])
        assert await db3.get(key) == b"in-3"
    finally:
        await db3.delete(key)
        await db3.aclose()
        await link.close()


async def _client_id(admin: aioredis.Redis, name: str) -> str:
    for client in await admin.client_list():
        if client.get("name") == name:
            return str(client["id"])
    raise AssertionError(f"no client named {name}")
