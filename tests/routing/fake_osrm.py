"""A fake OSRM `table` service: answers /<mode>/table/v1/driving/<coords> like OSRM does.

`mode` picks a behaviour: any name routes at 10 m/s straight line; refuse, badjson, short,
negative, nosegment and slow (waits for `release`) answer as a broken or slow server would.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

from dispatch.geo.distance import haversine_m


def route_duration_s(a: tuple[float, float], b: tuple[float, float]) -> float:
    return round(haversine_m(*a, *b) / 10.0, 1)


@dataclass
class FakeOsrm:
    """Answers /<mode>/table/v1/driving/<coords>?sources=..&destinations=.. like OSRM does."""

    paths: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    base: str = ""

    def answer(self, target: str) -> tuple[int, bytes]:
        url = urlsplit(target)
        mode, _, _, profile, coords = url.path.strip("/").split("/", 4)
        q = parse_qs(url.query)
        pts = [tuple(map(float, c.split(","))) for c in unquote(coords).split(";")]
        src = [int(i) for i in q["sources"][0].split(";")]
        dst = [int(i) for i in q["destinations"][0].split(";")]
        if mode == "refuse" or q.get("annotations") != ["duration"] or profile != "driving":
            return 400, orjson.dumps({"code": "InvalidQuery", "message": "bad"})
        if mode == "badjson":
            return 200, b"{not json"
        if mode == "short":
            return 200, orjson.dumps({"code": "Ok", "durations": [[1.0]]})
        if mode == "negative":
            return 200, orjson.dumps({"code": "Ok", "durations": [[-1.0] * len(dst)] * len(src)})
        if mode == "nosegment":
            return 200, orjson.dumps({"code": "NoSegment", "message": "no road"})
        rows = []
        for i in src:
            row = []
            for j in dst:
                # points east of 119.5 are across water with no road: OSRM answers null
                far = pts[j][0] > 119.5 or pts[i][0] > 119.5
                row.append(None if far else route_duration_s(pts[i], pts[j]))  # type: ignore[arg-type]
            rows.append(row)
        return 200, orjson.dumps({"code": "Ok", "durations": rows})

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
            self.paths.append(target)
            if target.startswith("/slow/"):
                await self.release.wait()
            status, body = self.answer(target)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
            )
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client gave up (timeout test); nothing to answer
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
