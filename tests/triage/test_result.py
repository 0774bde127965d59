"""TriageResult's JSON form: every member, enums as values, sets sorted."""

from __future__ import annotations

from dataclasses import replace

from dispatch.domain import Acuity, Pathway, TransportClass, VehicleKind
from dispatch.triage.inputs import _label
from dispatch.triage.result import Reason, TriageResult

RESULT = TriageResult(
    acuity=Acuity.II,
    transport_class=TransportClass.EMERGENCY,
    pathway=Pathway.STROKE,
    vehicle_kinds=(VehicleKind.ALS, VehicleKind.BLS),
    needs=frozenset({"ct", "thrombolysis"}),
    teams=("stroke_team",),
    missing=("age_years", "onset"),
    reasons=(Reason(rule_id="R1", source="BE-FAST", text="facial droop",
                   text_zh="面部下垂"),),
    protocol_version="2026.1",
    text_cards=("stroke", "fall"),
)


def test_to_dict_exactly() -> None:
    assert RESULT.to_dict() == {
        "acuity": 2,
        "transport_class": "emergency",
        "pathway": "stroke",
        "vehicle_kinds": ["als", "bls"],
        "needs": ["ct", "thrombolysis"],
        "teams": ["stroke_team"],
        "missing": ["age_years", "onset"],
        "reasons": [{"rule_id": "R1", "source": "BE-FAST", "text": "facial droop",
                     "text_zh": "面部下垂", "text_en": "facial droop"}],
        "protocol_version": "2026.1",
        "card": None,
        "card_answers": None,
        "text_cards": ["stroke", "fall"],
    }
    assert RESULT.rule_ids == ("R1",)


def test_card_answers_only_with_a_card() -> None:
    on_card = replace(RESULT, card="stroke", card_answers=(("facial_droop", True),),
                      pathway=None)
    data = on_card.to_dict()
    assert (data["card"], data["card_answers"], data["pathway"]) == (
        "stroke", {"facial_droop": True}, None)


def test_bilingual_schema_label() -> None:
    assert _label("年龄", "Age") == {"label_zh": "年龄", "label_en": "Age"}
