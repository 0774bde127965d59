"""The tables load, cite their sources, serialise, and the public surface is as agreed."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

import dispatch.triage as triage
from dispatch.domain import Pathway, VehicleKind
from dispatch.errors import TriageError
from dispatch.triage import PROTOCOL_VERSION, Answers, Findings, protocol_tables, triage_call
from dispatch.triage import protocol as protocol_module
from dispatch.triage.keywords import Keyword
from dispatch.triage.protocol import (
    CARD_FILE,
    Rule,
    _keyword,
    _plain_rule,
    _read,
    _rule,
    check_vocabulary,
    load_protocol,
)
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


# --- each table row is built and checked as written (the loaded tables are cached, so
# the builders are called directly here)

def _ctx() -> dict[str, Any]:
    p = load_protocol()
    return {"sources": p.sources, "constants": p.constants, "definitions": p.definitions}


def _raw_rule(rule_id: str) -> dict[str, Any]:
    return copy.deepcopy(next(r for r in _read("rules.json")["rules"] if r["id"] == rule_id))


def _cited(*keys: str) -> str:
    return "; ".join(load_protocol().sources[k] for k in keys)


def test_a_rule_carries_every_field_of_its_row() -> None:
    raw = _raw_rule("ST-LVO-WINDOW")
    assert _rule(raw, **_ctx()) == Rule(
        id="ST-LVO-WINDOW", acuity=2, source=_cited("LAMS_2008", "RACE_2014", "STROKE_2018"),
        text=raw["text"], text_zh=raw["text_zh"], when=raw["when"], scope=raw["scope"],
        unknown_scope=raw["unknown_scope"], unknown_acuity=2, pathway=Pathway.STROKE,
        needs=frozenset({"thrombectomy"}), teams=frozenset({"stroke_team"}),
        vehicle_kinds=None)
    raw = _raw_rule("NE-RF-MONITORING")
    assert _rule(raw, **_ctx()) == Rule(
        id="NE-RF-MONITORING", acuity=3, source=_cited("CBD_2012"), text=raw["text"],
        text_zh=raw["text_zh"], when=raw["when"], scope=raw["scope"], unknown_scope=None,
        unknown_acuity=None, pathway=None, needs=frozenset(), teams=frozenset(),
        vehicle_kinds=(VehicleKind.ALS,))


def test_a_rows_own_values_beat_its_bands_defaults() -> None:
    raw = {"id": "VS-X", "acuity": 1, "source": "CBD_2012", "text": "x", "text_zh": "x",
           "when": {"fact": "hr", "lt": 60}, "needs": ["ed"]}
    rule = _rule(raw, **_ctx(), defaults={"acuity": 4, "pathway": "paediatric",
                                           "needs": ["picu"], "teams": []})
    assert (rule.acuity, rule.pathway, rule.needs, rule.teams) == (
        1, Pathway.PAEDIATRIC, frozenset({"ed"}), frozenset())


@pytest.mark.parametrize("key", ["id", "acuity", "source", "text", "text_zh", "when"])
def test_a_rule_missing_a_key_is_refused(key: str) -> None:
    raw = _raw_rule("ST-LVO-WINDOW")
    del raw[key]
    where = "rule ?" if key == "id" else "rule ST-LVO-WINDOW"
    with pytest.raises(TriageError) as err:
        _rule(raw, **_ctx())
    assert err.value.message == f"{where}: missing {key!r}"


@pytest.mark.parametrize("key", ["text", "text_zh"])
@pytest.mark.parametrize("value", [" ", 5])
def test_a_rule_without_both_texts_is_refused(key: str, value: Any) -> None:
    with pytest.raises(TriageError) as err:
        _rule({**_raw_rule("ST-LVO-WINDOW"), key: value}, **_ctx())
    assert err.value.message == f"rule ST-LVO-WINDOW: missing {key!r}"
    with pytest.raises(TriageError) as err:
        _plain_rule({"id": "X", "source": "CBD_2012", "text": "x", "text_zh": "x", key: value},
                    sources=load_protocol().sources)
    assert err.value.message == f"rule X: missing {key!r}"


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("acuity", 0, False), ("acuity", 1, True), ("acuity", 4, True), ("acuity", 5, False),
    ("unknown_acuity", 0, False), ("unknown_acuity", 1, True), ("unknown_acuity", 3, True),
    ("unknown_acuity", 4, True),
    ("unknown_acuity", 5, False), ("unknown_acuity", None, True),
])
def test_acuity_is_one_to_four(key: str, value: int | None, ok: bool) -> None:
    raw = {**_raw_rule("ST-LVO-WINDOW"), key: value}
    if ok:
        assert getattr(_rule(raw, **_ctx()), key) == value
        return
    with pytest.raises(TriageError) as err:
        _rule(raw, **_ctx())
    assert err.value.message == "rule ST-LVO-WINDOW: acuity must be 1..4"


@pytest.mark.parametrize(("change", "message"), [
    ({"source": "LAMS_2008; NOPE"}, "unknown source 'NOPE'"),
    ({"when": {"fact": "zzz", "eq": 1}}, "unknown facts ['zzz']"),
    ({"scope": {"fact": "zzz", "eq": 1}}, "unknown facts ['zzz']"),
    ({"unknown_scope": {"all": [{"fact": "zzz", "eq": 1}, {"fact": "aaa", "eq": 2}]}},
     "unknown facts ['aaa', 'zzz']"),
    ({"when": {"fact": "hr", "zz": 1}}, "a leaf is {'fact': name, <one comparison>: value}"),
    ({"scope": {"fact": "hr", "zz": 1}}, "a leaf is {'fact': name, <one comparison>: value}"),
    ({"unknown_scope": {"fact": "hr", "zz": 1}},
     "a leaf is {'fact': name, <one comparison>: value}"),
    ({"needs": ["helipad"]}, "unknown need or team"),
    ({"teams": ["ninjas"]}, "unknown need or team"),
])
def test_a_rule_naming_what_the_tables_do_not_know_is_refused(
        change: dict[str, Any], message: str) -> None:
    with pytest.raises(TriageError) as err:
        _rule({**_raw_rule("ST-LVO-WINDOW"), **change}, **_ctx())
    assert err.value.message == f"rule ST-LVO-WINDOW: {message}"


def test_a_card_rule_may_read_its_cards_facts() -> None:
    raw = {**_raw_rule("NE-RF-MONITORING"), "when": {"fact": "card.x", "eq": True}}
    with pytest.raises(TriageError, match=r"unknown facts \['card.x'\]"):
        _rule(raw, **_ctx())
    known = frozenset({"card.x", "booking_reason"})
    assert _rule(raw, **_ctx(), known=known).when == {"fact": "card.x", "eq": True}


def test_a_plain_rule_only_names_a_decision() -> None:
    raw = _read("protocol.json")["default_rule"]
    assert _plain_rule(raw, sources=load_protocol().sources) == Rule(
        id="GEN-DEFAULT-IV", acuity=4, source=_cited("GRADING_2011"), text=raw["text"],
        text_zh=raw["text_zh"], when={})
    assert load_protocol().cite(" GRADING_2011 ;CBD_2012") == _cited("GRADING_2011",
                                                                      "CBD_2012")


def test_a_lexicon_row_is_read_as_written() -> None:
    cards = load_protocol().cards
    one = _keyword({"id": "KW-X", "fact": "chest_pain", "value": True,
                    "phrases": ["a", "b", "a"], "combine": [[["c", "d"], ["e"]]],
                    "accepts": [60, 120]}, cards=cards)
    assert one == Keyword(id="KW-X", facts=(("chest_pain", True),),
                          phrases=("a", "b", "ce", "de"), accepts=(60.0, 120.0))
    assert isinstance(one.accepts[0], float) and isinstance(one.accepts[1], float)
    several = _keyword({"id": "KW-Y", "facts": {"chest_pain": True, "conscious": False},
                        "phrases": ["a"], "proposes": "burns",
                        "card_answers": {"burns": {"burn_size": "large"}}}, cards=cards)
    assert several == Keyword(id="KW-Y", facts=(("chest_pain", True), ("conscious", False)),
                              phrases=("a",), proposes="burns",
                              card_answers=(("burns", "burn_size", "large"),))
    only_card = _keyword({"id": "KW-Z", "combine": [[["x"]]], "proposes": "burns"},
                         cards=cards)
    assert (only_card.facts, only_card.phrases, only_card.proposes) == ((), ("x",), "burns")


@pytest.mark.parametrize(("raw", "message"), [
    ({"fact": "chest_pain", "value": True}, "no phrases"),
    ({"phrases": ["x"]}, "sets no fact, card or card answer"),
    ({"fact": "age_years", "value": -1, "phrases": ["x"]},
     "Input should be greater than or equal to 0"),
    ({"proposes": "meteor", "phrases": ["x"]}, "no card 'meteor'"),
    ({"card_answers": {"meteor": {}}, "phrases": ["x"]}, "no card 'meteor'"),
    ({"card_answers": {"burns": {"burn_size": "huge"}}, "phrases": ["x"]},
     "answer one of ['small', 'moderate', 'large']"),
    ({"card_answers": {"burns": {"conscious": True}}, "phrases": ["x"]},
     "card burns: 'conscious' is not a card-only question"),
])
def test_a_lexicon_row_the_tables_refuse_names_itself(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(TriageError) as err:
        _keyword({"id": "KW-X", **raw}, cards=load_protocol().cards)
    assert err.value.message == f"keyword KW-X: {message}"


def _vocabulary_refusal(spoil: Any) -> str:
    raw = load_protocol().raw
    protocol, destination = copy.deepcopy(raw["protocol"]), copy.deepcopy(raw["destination"])
    check_vocabulary(protocol=protocol, destination=destination)  # as shipped
    spoil(protocol, destination)
    with pytest.raises(TriageError) as err:
        check_vocabulary(protocol=protocol, destination=destination)
    return err.value.message


NEEDS = ("'ed', 'maternal', 'neonatal', 'paediatric', 'pci', 'thrombectomy', 'thrombolysis', "
         "'trauma_1', 'trauma_2'")


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda p, d: d["need_capability"].pop("neonatal"),
     "destination.need_capability: needs ['ed', 'maternal', 'paediatric', 'pci', "
     f"'thrombectomy', 'thrombolysis', 'trauma_1', 'trauma_2'] are not the domain's [{NEEDS}]"),
    (lambda p, d: d["need_capability"].update(pci={"capability": "cath"}),
     "destination.need_capability.pci: unknown capability 'cath'"),
    (lambda p, d: d["need_capability"].update(pci={}),
     "destination.need_capability.pci: unknown capability None"),
    (lambda p, d: d["fallbacks"]["steps"].update(thrombolysis="thrombectomy"),
     "destination.fallbacks.steps: thrombectomy never falls back to ed"),
    (lambda p, d: d["fallbacks"]["steps"].update(paediatric="helipad"),
     "destination.fallbacks.steps: neonatal never falls back to ed"),
    (lambda p, d: d["fallbacks"]["steps"].pop("maternal"),
     "destination.fallbacks.steps: every need but ed falls back, once"),
    (lambda p, d: d["fallbacks"]["steps"].update(ed="ed"),
     "destination.fallbacks.steps: every need but ed falls back, once"),
    (lambda p, d: p.update(team_order=p["team_order"][:-1]),
     "protocol.team_order: ['cath_lab', 'stroke_team', 'trauma_team', 'obstetric'] must name "
     "each of ['cath_lab', 'neonatal', 'obstetric', 'stroke_team', 'trauma_team'] once"),
    (lambda p, d: p.update(pathway_priority=[*p["pathway_priority"], "stroke"]),
     "protocol.pathway_priority: ['chest_pain', 'stroke', 'trauma', 'maternal', 'paediatric', "
     "'stroke'] must name each of ['chest_pain', 'maternal', 'paediatric', 'stroke', "
     "'trauma'] once"),
])
def test_tables_off_the_domain_vocabulary_name_what_is_wrong(spoil: Any, message: str) -> None:
    assert _vocabulary_refusal(spoil) == message


def test_any_order_of_the_vocabulary_is_accepted() -> None:
    raw = load_protocol().raw
    protocol = {**raw["protocol"], "team_order": raw["protocol"]["team_order"][::-1]}
    check_vocabulary(protocol=protocol, destination=raw["destination"])


def _cards_of(monkeypatch: pytest.MonkeyPatch, spoil: Any) -> dict[str, tuple[Rule, ...]]:
    """The card table read with `spoil` applied to a copy of cards.json."""
    broken = copy.deepcopy(_read(CARD_FILE))
    spoil(broken)
    monkeypatch.setattr(protocol_module, "_read",
                        lambda name: copy.deepcopy({CARD_FILE: broken}[name]))
    return protocol_module._cards(_ctx())[1]


def _card(cards: dict[str, Any], card_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in cards["cards"] if c["id"] == card_id)
    return found


def test_a_card_rule_is_scoped_to_calls_on_its_card(monkeypatch: pytest.MonkeyPatch) -> None:
    on_card = {"fact": "cards", "has_any": ["breathing_problem"]}
    scope = {"fact": "age_years", "ge": 18}

    def scoped(cards: dict[str, Any]) -> None:
        _card(cards, "breathing_problem")["rules"][0]["scope"] = scope

    rule = _cards_of(monkeypatch, lambda cards: None)["breathing_problem"][0]
    assert (rule.id, rule.acuity, rule.when, rule.scope, rule.source) == (
        "CC-BREATHING-NOW-NORMAL", 3,
        {"all": [on_card, {"fact": "breathing_normally", "eq": True}]}, on_card,
        _cited("MPDS_PROTOCOLS", "CONSENSUS_2018"))
    rule = _cards_of(monkeypatch, scoped)["breathing_problem"][0]
    assert rule.scope == {"all": [on_card, scope]}


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda c: c["cards"].append(copy.deepcopy(c["cards"][0])), "cards.json: card ids repeat"),
    (lambda c: _card(c, "fall")["questions"].append(
        next(q for q in _card(c, "burns")["questions"]
             if isinstance(q, dict) and q["id"] == "burn_size")),
     "cards.json: a card-only question id is used by two cards"),
    (lambda c: c.update(version=5), "cards.json ['version']: Input should be a valid string"),
    (lambda c: _card(c, "cardiac_arrest").update(source="GRADING_2011; NOPE"),
     "card cardiac_arrest: unknown source 'NOPE'"),
    (lambda c: _card(c, "cardiac_arrest")["determinants"][0].update(source="NOPE"),
     "card cardiac_arrest: unknown source 'NOPE'"),
    (lambda c: _card(c, "cardiac_arrest")["determinants"][0].update(answers={"zzz": 1}),
     "card cardiac_arrest determinant ARR-1: card_answers.zzz: not a question of card "
     "'cardiac_arrest'"),
    (lambda c: _card(c, "cardiac_arrest")["determinants"][0].update(pathway="space"),
     "card cardiac_arrest determinant ARR-1: unknown pathway"),
    (lambda c: _card(c, "breathing_problem")["rules"][0].pop("when"),
     "card breathing_problem rule CC-BREATHING-NOW-NORMAL: missing 'when'"),
    (lambda c: [_card(c, "breathing_problem")["rules"][0].pop(k) for k in ("when", "id")],
     "card breathing_problem rule ?: missing 'when'"),
])
def test_a_card_table_the_domain_refuses_names_what_is_wrong(
        monkeypatch: pytest.MonkeyPatch, spoil: Any, message: str) -> None:
    with pytest.raises(TriageError) as err:
        _cards_of(monkeypatch, spoil)
    assert err.value.message == message


def test_the_cards_are_served_as_json_with_their_citations() -> None:
    tables = protocol_tables()
    p = load_protocol()
    assert (tables["card_version"], tables["card_evaluated_at"]) == (
        p.card_version, p.card_table.evaluated_at.isoformat())
    assert [c["id"] for c in tables["cards"]] == list(p.cards)
    for served in tables["cards"]:
        card = p.cards[served["id"]]
        assert type(served["questions"]) is list  # JSON form: lists, not tuples
        assert served["source_text"] == p.cite(card.source)
        assert [d["source_text"] for d in served["determinants"]] == [
            p.cite(d.source) for d in card.determinants]


def test_a_fallback_loop_away_from_its_start_is_refused() -> None:
    assert _vocabulary_refusal(
        lambda p, d: d["fallbacks"]["steps"].update(trauma_2="trauma_2")) == (
        "destination.fallbacks.steps: trauma_1 never falls back to ed")


def test_a_plain_rule_without_an_id_or_text_is_refused() -> None:
    with pytest.raises(TriageError) as err:
        _plain_rule({"source": "CBD_2012", "text": "x"}, sources=load_protocol().sources)
    assert err.value.message == "rule ?: missing 'text_zh'"
