"""The tables load, cite their sources, serialise, and the public surface is as agreed."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

import dispatch.triage as triage
from dispatch.errors import TriageError
from dispatch.triage import PROTOCOL_VERSION, Answers, Findings, protocol_tables, triage_call
from dispatch.triage.protocol import load_protocol
from tests.triage.cases import NOW, OK, hours_ago


def test_public_surface() -> None:
    assert {
        "Answers",
        "Findings",
        "Reason",
        "TriageResult",
        "triage_call",
        "retriage",
        "HospitalOption",
        "DestinationChoice",
        "choose_destination",
        "protocol_tables",
        "PROTOCOL_VERSION",
    } <= set(triage.__all__)
    assert all(hasattr(triage, name) for name in triage.__all__)


def test_tables_are_versioned_and_json_safe() -> None:
    tables = protocol_tables()
    assert tables["version"] == PROTOCOL_VERSION
    assert set(tables["tables"]) == {"protocol", "rules", "vitals", "keywords", "destination"}
    orjson.dumps(tables)
    tables["tables"]["rules"]["rules"].clear()  # a copy: the engine's tables are untouched
    assert load_protocol().raw["rules"]["rules"]


def test_every_rule_names_its_source_and_text() -> None:
    p = load_protocol()
    rules = [*p.rules, *p.vitals_all_ages, *(r for b in p.bands for r in b.rules)]
    assert len(rules) > 80
    for rule in rules:
        assert rule.id and rule.text and rule.source


def test_result_is_json_safe_and_carries_version() -> None:
    result = triage_call(Answers(**OK, age_years=60, chest_pain=True), complaint="", now=NOW)
    data = orjson.loads(orjson.dumps(result.to_dict()))
    assert data["protocol_version"] == PROTOCOL_VERSION
    assert data["acuity"] == 2 and data["pathway"] == "chest_pain"
    assert all({"rule_id", "source", "text", "text_zh", "text_en"} == set(r)
               for r in data["reasons"])


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"age_years": 131}, "age_years"),
        ({"age_years": -1}, "age_years"),
        ({"gestation_weeks": 46}, "gestation_weeks"),
        ({"mechanism": "teleport"}, "mechanism"),
        ({"booking_reason": "shopping"}, "booking_reason"),
        ({"nonsense": True}, "nonsense"),
        ({"onset_at": "2025-03-01T08:00:00"}, "onset_at"),
    ],
)
def test_validation_errors_name_the_field(payload: dict, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        Answers.model_validate(payload)
    assert field in str(err.value)


def test_findings_validate_ranges() -> None:
    with pytest.raises(ValidationError) as err:
        Findings.model_validate({"stroke": {"lams": 6}})
    assert "lams" in str(err.value)


def test_labels_in_both_languages() -> None:
    schema = Answers.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("label_zh") and prop.get("label_en"), name


def test_future_onset_is_refused() -> None:
    with pytest.raises(TriageError) as err:
        triage_call(Answers(**OK, facial_droop=True, onset_at=hours_ago(-1)), complaint="", now=NOW)
    assert err.value.field == "onset_at"


def test_naive_now_is_refused() -> None:
    with pytest.raises(TriageError):
        triage_call(Answers(), complaint="", now=NOW.replace(tzinfo=None))
