"""Access logs name the path only: a websocket's `?token=` (browsers cannot set headers on
a websocket) is a bearer credential and must never reach a log file.

uvicorn logs an HTTP request on `uvicorn.access` with the path and query as one argument,
and a websocket handshake on `uvicorn.error` as '%s - "WebSocket %s" ...'; the filter cuts
the query off those arguments before the record is formatted.
"""

from __future__ import annotations

import logging

__all__ = ["PathOnly", "install_path_only_filter"]

_LOGGERS = ("uvicorn.access", "uvicorn.error")


def path_only(value: object) -> object:
    """'/v1/ws/crew?token=...' -> '/v1/ws/crew'; anything that is not a path unchanged."""
    if isinstance(value, str) and value.startswith("/") and "?" in value:
        return value.partition("?")[0]
    return value


class PathOnly(logging.Filter):
    """Drop the query string from the request path of uvicorn's access records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.error" and '"WebSocket %s"' not in str(record.msg):
            return True
        if isinstance(record.args, tuple):
            record.args = tuple(path_only(arg) for arg in record.args)
        return True


def install_path_only_filter() -> None:
    """Attach the filter to uvicorn's loggers once per process."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, PathOnly) for f in logger.filters):
            logger.addFilter(PathOnly())
