"""/asyncapi.json: every websocket frame the code parses or sends, with the model's own
JSON Schema, in a document valid against the official AsyncAPI 3.0 schema."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import jsonschema
from fastapi.routing import APIWebSocketRoute
from pydantic import BaseModel

from dispatch.api import ws, ws_session
from dispatch.handover import messages
from dispatch.handover.asyncapi import (
    CHANNELS,
    CLOSE_CODES,
    asyncapi_document,
    frame_schema,
    frames_of,
)

ASYNCAPI_SCHEMA = json.loads((Path(__file__).parent / "asyncapi" / "3.0.0.json").read_text())


def _document() -> dict[str, Any]:
    return asyncapi_document(title="dispatch", version="0", host="localhost:8120",
                             secure=False)


def _frame_models() -> list[type[BaseModel]]:
    """Every public model of the messages module that is a frame (has a `type` field)."""
    return [cls for name, cls in vars(messages).items()
            if inspect.isclass(cls) and issubclass(cls, BaseModel)
            and not name.startswith("_") and "type" in cls.model_fields]


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = jsonschema.Draft7Validator(ASYNCAPI_SCHEMA)
    errors = [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(_document())]
    assert errors == []


def test_the_validation_would_catch_a_broken_document() -> None:
    doc = _document()
    doc["channels"]["crew"]["address"] = 42
    del doc["info"]["version"]
    assert not jsonschema.Draft7Validator(ASYNCAPI_SCHEMA).is_valid(doc)


def test_every_frame_model_is_a_message_with_its_json_schema() -> None:
    doc = _document()
    models = _frame_models()
    assert len(models) >= 20  # the discovery itself works
    for model in models:
        name = model.__name__
        message = doc["components"]["messages"].get(name)
        assert message is not None, f"{name} is not in the AsyncAPI document"
        assert message["payload"] == {"$ref": f"#/components/schemas/{name}"}
        schema, defs = frame_schema(model)
        assert doc["components"]["schemas"][name] == schema
        for sub, sub_schema in defs.items():
            assert doc["components"]["schemas"][sub] == sub_schema
        assert any(name in channel["messages"] for channel in doc["channels"].values()), name


def test_every_frame_of_a_channel_union_is_on_its_channel() -> None:
    doc = _document()
    unions = {"crew": messages.CrewMessage, "hospital": messages.HospitalMessage}
    for channel, union in unions.items():
        operation = doc["operations"][f"{channel}Receive"]["messages"]
        assert [m["$ref"].rsplit("/", 1)[1] for m in operation] == \
            [f.__name__ for f in frames_of(union)]
    for channel in doc["channels"]:
        sent = {m["$ref"].rsplit("/", 1)[1] for m in doc["operations"][f"{channel}Send"]
                ["messages"]}
        assert sent >= {"EventFrame", "ErrorFrame", "SnapshotFrame", "ResyncFrame"}


def test_every_websocket_endpoint_is_a_channel() -> None:
    served = {route.path for route in ws.router.routes if isinstance(route, APIWebSocketRoute)}
    assert served == {c.address for c in CHANNELS}
    assert set(_document()["channels"]) == {c.name for c in CHANNELS}


def test_every_code_the_endpoints_use_is_documented() -> None:
    documented = {c["code"] for c in CLOSE_CODES}
    used = {messages.CLOSE_INVALID_DATA, messages.CLOSE_POLICY, messages.CLOSE_TOO_BIG,
            ws_session.CLOSE_SERVER_ERROR, 4400,
            *(code for _, code in ws_session._ERROR_CODES)}
    assert used == documented
    assert _document()["x-close-codes"] == list(CLOSE_CODES)


def test_each_document_is_the_callers_own() -> None:
    changed = _document()
    changed["channels"]["crew"]["address"] = "/elsewhere"
    assert _document()["channels"]["crew"]["address"] == "/v1/ws/crew"
