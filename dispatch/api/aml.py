"""`POST /v1/aml`: Advanced Mobile Location reports from the carrier gateway.

Accepts the SMS form (text/plain body, the originating number in `sender`), the HTTPS
form (application/x-www-form-urlencoded, as handsets post it), or JSON
`{"sms": ..., "sender": ...}` / `{"fields": {...}}`. A bad message gets a 422 naming the
AML attribute; it is logged and nothing else is affected.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Query, Request

from dispatch.api.deps import Now, PrincipalDep, RuntimeDep
from dispatch.api.json import JSON
from dispatch.errors import InvalidInput
from dispatch.flows import aml
from dispatch.geo.aml import AmlMessage, AmlParseError, parse_aml_https, parse_aml_sms

log = logging.getLogger(__name__)

router = APIRouter(tags=["location"])


def _parse(content_type: str, body: bytes, sender: str | None) -> tuple[AmlMessage, str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("body is not UTF-8 text", field="body") from exc
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_aml_https(dict(parse_qsl(text, keep_blank_values=True))), "https"
    if content_type.startswith("application/json"):
        try:
            doc: Any = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"malformed JSON: {exc}", field="body") from exc
        if not isinstance(doc, dict):
            raise InvalidInput("expected an object with 'sms' or 'fields'", field="body")
        if isinstance(doc.get("sms"), str):
            return parse_aml_sms(doc["sms"], sender=doc.get("sender") or sender), "sms"
        if isinstance(doc.get("fields"), dict):
            fields = {str(k): str(v) for k, v in doc["fields"].items()}
            return parse_aml_https(fields), "https"
        raise InvalidInput("expected 'sms' (a string) or 'fields' (an object)", field="body")
    return parse_aml_sms(text, sender=sender), "sms"


@router.post("/v1/aml", status_code=202, summary="An AML location report")
async def receive_aml(
    request: Request, rt: RuntimeDep, principal: PrincipalDep, now: Now,
    sender: Annotated[str | None, Query(max_length=32, description="SMS originating number")] =
    None,
) -> JSON:
    principal.require_gateway()
    body = await request.body()
    content_type = request.headers.get("content-type", "text/plain").lower()
    try:
        message, form = _parse(content_type, body, sender)
    except AmlParseError as exc:
        log.warning("refused AML message: %s (%s)", exc.reason, exc.field)
        raise
    result = await aml.receive_aml(rt=rt, message=message, form=form, sender=sender,
                                   principal=principal, now=now)
    return JSON(result, status_code=202)
