"""A server that answers every HTTP/1.1 request with a fixed small JSON body at once.

It measures the harness, not a service: the lean client's own CPU per request against it
is the harness's share of any run (`python -m loadtests.harness_check`).

    python -m loadtests.trivial_server --port 8199
"""

from __future__ import annotations

import argparse
import asyncio
from typing import cast

import httptools

BODY = b'{"id":"trivial","assignments":[]}'
RESPONSE = (b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(BODY), BODY))


class _Answer(asyncio.Protocol):
    def __init__(self) -> None:
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            if self._transport is not None:
                self._transport.close()

    def on_message_complete(self) -> None:
        if self._transport is not None:
            self._transport.write(RESPONSE)


async def serve(*, host: str, port: int) -> None:
    """Answer until killed."""
    server = await asyncio.get_running_loop().create_server(_Answer, host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    import uvloop

    uvloop.run(serve(host=args.host, port=args.port))


if __name__ == "__main__":
    main()
