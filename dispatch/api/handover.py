"""HTTP: the handover record of an incident (ATMIST JSON and text, or a FHIR Bundle)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import PlainTextResponse, Response

from dispatch.api.deps import Now, PrincipalDep, RuntimeDep
from dispatch.api.json import JSON
from dispatch.flows.record import handover_record as read_record
from dispatch.jsoncodec import dumps

__all__ = ["router"]

router = APIRouter(prefix="/v1/incidents", tags=["handover"])

Format = Annotated[Literal["json", "text", "fhir"], Query(alias="format")]


class FhirJSON(Response):
    # HL7 FHIR R5 "JSON representation": the mime type is application/fhir+json.
    media_type = "application/fhir+json"


@router.get("/{call_id}/handover", summary="The handover record (ATMIST or FHIR)")
async def handover_record(
    call_id: UUID, rt: RuntimeDep, principal: PrincipalDep, now: Now, fmt: Format = "json"
) -> Response:
    """For the receiving centre, the crew on the call and dispatchers; every read is audited.

    `format=json` (default): the ATMIST summary, its printable text, the handover state
    and the handover's timeline. `format=text`: the printable text alone.
    `format=fhir`: a FHIR R5 Bundle (Patient, Encounter, Observations, Conditions,
    Procedures / MedicationAdministrations).
    """
    record = await read_record(rt=rt, call_id=call_id, principal=principal, fmt=fmt, now=now)
    if isinstance(record, str):
        return PlainTextResponse(record)
    if fmt == "fhir":
        return FhirJSON(dumps(record))
    return JSON(record)
