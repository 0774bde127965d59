"""Logs an operator can search: one JSON object a line (DISPATCH_LOG_FORMAT=json) with the
request, call and vehicle a line concerns; bearer tokens are never written, in either
format (a websocket's `?token=` is in the access log's request line otherwise).

The ids come from context variables that `enter_request` sets for each HTTP request
(`X-Request-ID`, or a new one, echoed in the answer) and from the path (`/v1/calls/{id}`,
`/v1/vehicles/{id}`, `/v1/incidents/{id}`); a log call may also pass them as `extra`.
"""

from __future__ import annotations

import logging
import logging.config
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import Scope

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
call_id: ContextVar[str | None] = ContextVar("call_id", default=None)
vehicle_id: ContextVar[str | None] = ContextVar("vehicle_id", default=None)
_CONTEXT = (("request_id", request_id), ("call_id", call_id), ("vehicle_id", vehicle_id))

# A JWT (three base64url parts, the first an encoded '{"'), or whatever follows "Bearer "
# or a token= parameter.
_SECRET = re.compile(
    r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    r"|(?i:(?<=bearer )|(?<=token=))[^\s&\"']+"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` without any bearer token in it."""
    return _SECRET.sub(REDACTED, text)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, the ids, the error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for name, var in _CONTEXT:
            value = getattr(record, name, None) or var.get()
            if value is not None:
                line[name] = str(value)
        if record.exc_info:
            line["error"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(line).decode()


class RedactingFormatter(logging.Formatter):
    """The plain text format, without tokens."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def dict_config(*, level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """logging.config.dictConfig for the root logger on stderr in `fmt` (json or text), with
    uvicorn's loggers going through it (also what uvicorn applies in each worker)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt == "json"
        else {"()": f"{__name__}.RedactingFormatter",
              "fmt": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"dispatch": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "dispatch",
                                "stream": "ext://sys.stderr"}},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {name: {"handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def configure(*, level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """Apply `dict_config`; return it (for uvicorn's `log_config`)."""
    config = dict_config(level=level, fmt=fmt)
    logging.config.dictConfig(config)
    return config


_PATH_IDS = (
    (re.compile(r"^/v1/(?:calls|incidents)/([0-9a-fA-F-]{36})(?:/|$)"), call_id),
    (re.compile(r"^/v1/vehicles/([^/]{1,64})(?:/|$)"), vehicle_id),
)
_GOOD_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def enter_request(scope: Scope) -> str:
    """Put the request id (the client's X-Request-ID if sane, else new) and the call or
    vehicle of the path in the context of everything the request logs; the id."""
    given = next((v.decode("latin-1") for k, v in scope["headers"]
                  if k == b"x-request-id"), "")
    rid = given if _GOOD_REQUEST_ID.match(given) else uuid.uuid4().hex
    request_id.set(rid)
    call_id.set(None)
    vehicle_id.set(None)
    path = scope.get("path", "")
    for pattern, var in _PATH_IDS:
        if found := pattern.match(path):
            var.set(found.group(1))
    return rid
