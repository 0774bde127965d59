"""The OSRM table client against a tiny OSRM-speaking HTTP server on 127.0.0.1, port 0."""

from __future__ import annotations

import asyncio
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from dispatch.errors import GeoError
from dispatch.geo.osrm import OsrmError, table_url
from dispatch.routing.osrm import table_durations
from tests.routing.fake_osrm import FakeOsrm, route_duration_s

PTS = [(118.78 + 0.01 * i, 32.04 + 0.007 * (i % 5)) for i in range(12)]


@pytest.mark.parametrize(
    ("n_src", "n_dst", "max_coords", "requests"),
    [(1, 1, 100, 1), (2, 5, 100, 1), (3, 9, 4, 10), (5, 2, 4, 3), (12, 12, 10, 9), (1, 12, 6, 3)],
)
async def test_matrix_matches_server_and_respects_the_coordinate_limit(
    osrm: FakeOsrm, n_src: int, n_dst: int, max_coords: int, requests: int
) -> None:
    sources, dests = PTS[:n_src], PTS[-n_dst:]
    async with httpx.AsyncClient() as client:
        got = await table_durations(client=client, base_url=osrm.base + "/ok/", sources=sources,
                                    destinations=dests, max_coordinates=max_coords)
    assert got == [[route_duration_s(s, d) for d in dests] for s in sources]
    assert len(osrm.paths) == requests
    for p in osrm.paths:
        assert "annotations=duration" in p
        assert len(unquote(urlsplit(p).path).split("/")[-1].split(";")) <= max_coords


async def test_unroutable_pairs_are_none(osrm: FakeOsrm) -> None:
    async with httpx.AsyncClient() as client:
        got = await table_durations(client=client, base_url=osrm.base + "/ok",
                                    sources=[PTS[0], (119.6, 32.0)],
                                    destinations=[PTS[1], (119.7, 32.1)])
    assert got[0][0] == route_duration_s(PTS[0], PTS[1])
    assert got[0][1] is None and got[1] == [None, None]


@pytest.mark.parametrize(
    ("mode", "message"),
    [("refuse", "HTTP 400: InvalidQuery"), ("badjson", "invalid JSON"),
     ("short", "wrong number"), ("negative", "bad duration"), ("nosegment", "NoSegment")],
)
async def test_bad_answers_raise_osrm_error(osrm: FakeOsrm, mode: str, message: str) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(OsrmError, match=message):
            await table_durations(client=client, base_url=f"{osrm.base}/{mode}",
                                  sources=PTS[:2], destinations=PTS[2:5])


async def test_a_failing_block_fails_the_whole_matrix(osrm: FakeOsrm) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(OsrmError):
            await table_durations(client=client, base_url=f"{osrm.base}/refuse",
                                  sources=PTS, destinations=PTS, max_coordinates=4)


async def test_timeout_is_explicit(osrm: FakeOsrm) -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(OsrmError, match="timed out"):
            await table_durations(client=client, base_url=f"{osrm.base}/slow", sources=PTS[:1],
                                  destinations=PTS[1:2], timeout_s=0.2)
    assert len(osrm.paths) == 1


async def test_unreachable_server() -> None:
    # bind then close a port so nothing listens on it
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with httpx.AsyncClient() as client:
        with pytest.raises(OsrmError, match="unreachable"):
            await table_durations(client=client, base_url=f"http://127.0.0.1:{port}",
                                  sources=PTS[:1], destinations=PTS[1:2])


async def test_empty_sides_and_bad_coordinates(osrm: FakeOsrm) -> None:
    async with httpx.AsyncClient() as client:
        assert await table_durations(client=client, base_url=osrm.base, sources=[],
                                     destinations=PTS) == []
        assert await table_durations(client=client, base_url=osrm.base, sources=PTS[:2],
                                     destinations=[]) == [[], []]
        for bad in [(200.0, 0.0), (0.0, 91.0), (float("nan"), 0.0)]:
            with pytest.raises(GeoError):
                await table_durations(client=client, base_url=osrm.base, sources=[bad],
                                      destinations=PTS[:1])
        with pytest.raises(GeoError):
            await table_durations(client=client, base_url=osrm.base, sources=PTS[:1],
                                  destinations=PTS[:1], max_coordinates=1)
    assert osrm.paths == []


def test_table_url_shape() -> None:
    url = table_url(base_url="http://r:5000/", sources=[(118.1, 32.2)],
                    destinations=[(118.3, 32.4), (118.5, 32.6)])
    assert url == (
        "http://r:5000/table/v1/driving/118.100000,32.200000;118.300000,32.400000;"
        "118.500000,32.600000?sources=0&destinations=1;2&annotations=duration"
    )
