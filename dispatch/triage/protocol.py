"""Load and check the protocol's rule tables (JSON files shipped in `tables/`).

The tables are the medical director's text; this module only reads them, resolves each
rule's source key to its citation, and refuses a table that names an unknown fact,
constant, definition, pathway, need or team, so a typo fails at start-up, not mid-call.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from pydantic import ValidationError

from dispatch.domain import Capability, Need, Pathway, Team, VehicleKind
from dispatch.errors import TriageError
from dispatch.lru import LRU
from dispatch.triage.cards import (
    CARDS_FACT,
    Card,
    CardTable,
    card_facts_known,
    read_card,
    text_answer,
)
from dispatch.triage.conditions import check, facts_named
from dispatch.triage.facts import KNOWN_FACTS
from dispatch.triage.inputs import Answers
from dispatch.triage.keywords import Keyword, Lexicon
from dispatch.triage.signature import FactSigner

# Signatures whose rule outcomes are kept (a few hundred bytes each).
_OUTCOMES_KEPT = 4_096
TABLE_FILES = ("protocol.json", "rules.json", "vitals.json", "keywords.json", "destination.json")
CARD_FILE = "cards.json"


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule of a table, with its citation resolved."""

    id: str
    acuity: int
    source: str
    text: str  # English
    text_zh: str
    when: dict[str, Any]
    scope: dict[str, Any] | None = None
    unknown_scope: dict[str, Any] | None = None
    unknown_acuity: int | None = None
    pathway: Pathway | None = None
    needs: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    vehicle_kinds: tuple[VehicleKind, ...] | None = None


@dataclass(frozen=True, slots=True)
class Band:
    """An age band of vital-sign thresholds; `when` None is the default (adult) band."""

    id: str
    when: dict[str, Any] | None
    rules: tuple[Rule, ...]


@dataclass(frozen=True, slots=True)
class Protocol:
    """Every table, checked and ready for the engine."""

    version: str
    raw: dict[str, Any]
    sources: dict[str, str]
    constants: dict[str, Any]
    definitions: dict[str, Any]
    rules: tuple[Rule, ...]
    vitals_all_ages: tuple[Rule, ...]
    bands: tuple[Band, ...]
    keywords: tuple[Keyword, ...]
    keyword_source: str
    negations: tuple[str, ...]
    lexicon: Lexicon
    pathway_priority: tuple[Pathway, ...]
    team_order: tuple[str, ...]
    emergency_kinds: dict[int, tuple[VehicleKind, ...]]
    non_emergency_kinds: tuple[VehicleKind, ...]
    vehicle_rule: Rule
    default_rule: Rule
    booking_rule: Rule
    upgrade_rule: Rule
    sbp_floor_bands: tuple[tuple[float | None, float, float], ...]
    sbp_floor_rule: Rule
    destination: dict[str, Any]
    # ECG lead groups in which elevation in two leads is contiguous (lower-cased names)
    lead_groups: tuple[frozenset[str], ...]
    # What the conditions of every rule and band can tell apart in a call's facts; the
    # engine keeps the rules' outcomes per signature (dispatch.triage.signature).
    signer: FactSigner
    # chief-complaint cards by id, and each card's own rules (tables/cards.json)
    cards: dict[str, Card]
    card_rules: dict[str, tuple[Rule, ...]]
    card_version: str
    card_table: CardTable
    outcomes: LRU[Any, Any] = field(
        default_factory=lambda: LRU(size=_OUTCOMES_KEPT), compare=False)

    def cite(self, key_list: str) -> str:
        """The full citation for a rule's source keys ("A; B")."""
        return _cite(key_list, sources=self.sources)


def _cite(key_list: str, *, sources: Mapping[str, str]) -> str:
    """The full citation for source keys ("A; B") from a sources table."""
    return "; ".join(sources[k.strip()] for k in key_list.split(";"))


def _read(name: str) -> dict[str, Any]:
    """One JSON table from the package."""
    text = resources.files("dispatch.triage.tables").joinpath(name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _check_text(raw: dict[str, Any]) -> None:
    """A rule's reason is shown in zh-CN first and English second: it needs both."""
    for key in ("text_zh", "text"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise TriageError(f"rule {raw.get('id', '?')}: missing {key!r}")


def _rule(
    raw: dict[str, Any],
    *,
    sources: dict[str, str],
    constants: dict[str, Any],
    definitions: dict[str, Any],
    defaults: dict[str, Any] | None = None,
    known: frozenset[str] = KNOWN_FACTS,
) -> Rule:
    """Build and check one rule (`known`: the facts its conditions may read)."""
    raw = {**(defaults or {}), **raw}
    where = f"rule {raw.get('id', '?')}"
    for key in ("id", "acuity", "source", "text", "text_zh", "when"):
        if key not in raw:
            raise TriageError(f"{where}: missing {key!r}")
    _check_text(raw)
    if raw["acuity"] not in (1, 2, 3, 4) or raw.get("unknown_acuity") not in (None, 1, 2, 3, 4):
        raise TriageError(f"{where}: acuity must be 1..4")
    for key in (k.strip() for k in raw["source"].split(";")):
        if key not in sources:
            raise TriageError(f"{where}: unknown source {key!r}")
    for key in ("when", "scope", "unknown_scope"):
        if raw.get(key) is not None:
            check(raw[key], constants=constants, definitions=definitions, where=where)
            unknown = facts_named(raw[key], definitions=definitions) - known
            if unknown:
                raise TriageError(f"{where}: unknown facts {sorted(unknown)}")
    if set(raw.get("needs", ())) - set(Need) or set(raw.get("teams", ())) - set(Team):
        raise TriageError(f"{where}: unknown need or team")
    kinds = raw.get("vehicle_kinds")
    return Rule(
        id=raw["id"],
        acuity=raw["acuity"],
        source=_cite(raw["source"], sources=sources),
        text=raw["text"],
        text_zh=raw["text_zh"],
        when=raw["when"],
        scope=raw.get("scope"),
        unknown_scope=raw.get("unknown_scope"),
        unknown_acuity=raw.get("unknown_acuity"),
        pathway=Pathway(raw["pathway"]) if raw.get("pathway") else None,
        needs=frozenset(raw.get("needs", ())),
        teams=frozenset(raw.get("teams", ())),
        vehicle_kinds=tuple(VehicleKind(k) for k in kinds) if kinds else None,
    )


def _plain_rule(raw: dict[str, Any], *, sources: dict[str, str]) -> Rule:
    """A rule that only names a decision (no condition)."""
    _check_text(raw)
    return Rule(
        id=raw["id"],
        acuity=4,
        source=_cite(raw["source"], sources=sources),
        text=raw["text"],
        text_zh=raw["text_zh"],
        when={},
    )


def expand(parts: list[list[str]]) -> list[str]:
    """Every phrase a `combine` template spells: one choice from each part, in order."""
    phrases = [""]
    for options in parts:
        phrases = [p + o for p in phrases for o in options]
    return phrases


def _keyword(raw: dict[str, Any], *, cards: Mapping[str, Card]) -> Keyword:
    """One phrase group: `fact` + `value` or several `facts` (answers), and / or the card it
    `proposes` and its `card_answers` ({card: {card-only question: answer}}); literal
    `phrases` and any `combine` templates."""
    facts = raw["facts"] if "facts" in raw else (
        {raw["fact"]: raw["value"]} if "fact" in raw else {})
    phrases = [*raw.get("phrases", ()), *(p for t in raw.get("combine", ()) for p in expand(t))]
    where = f"keyword {raw['id']}"
    if not phrases:
        raise TriageError(f"{where}: no phrases")
    proposes = raw.get("proposes")
    card_answers = raw.get("card_answers", {})
    if not facts and proposes is None and not card_answers:
        raise TriageError(f"{where}: sets no fact, card or card answer")
    try:
        # a phrase fills answers only, with a value the answer itself would accept
        Answers.model_validate(facts)
    except ValidationError as exc:
        raise TriageError(f"{where}: {exc.errors()[0]['msg']}") from exc
    for card_id in (proposes, *card_answers):
        if card_id is not None and card_id not in cards:
            raise TriageError(f"{where}: no card {card_id!r}")
    try:
        answered = tuple((card_id, qid, text_answer(cards[card_id], qid, value))
                         for card_id, given in card_answers.items()
                         for qid, value in given.items())
    except TriageError as exc:
        raise TriageError(f"{where}: {exc.message}") from exc
    accepts = raw.get("accepts")
    return Keyword(
        id=raw["id"],
        facts=tuple(facts.items()),
        phrases=tuple(dict.fromkeys(phrases)),
        accepts=None if accepts is None else (float(accepts[0]), float(accepts[1])),
        proposes=proposes,
        card_answers=answered,
    )


def check_vocabulary(*, protocol: Mapping[str, Any], destination: Mapping[str, Any]) -> None:
    """Refuse tables that do not speak the domain's vocabulary (dispatch.domain): every
    need mapped to a capability and falling back, step by step, to the ED; every team and
    pathway ordered once."""
    mapped = destination["need_capability"]
    if set(mapped) != set(Need):
        raise TriageError(f"destination.need_capability: needs {sorted(mapped)} are not "
                          f"the domain's {sorted(map(str, Need))}")
    for need, spec in mapped.items():
        if spec.get("capability") not in set(Capability):
            raise TriageError(f"destination.need_capability.{need}: unknown capability "
                              f"{spec.get('capability')!r}")
    steps: dict[str, str] = destination["fallbacks"]["steps"]
    if set(steps) != set(Need) - {Need.ED}:
        raise TriageError("destination.fallbacks.steps: every need but ed falls back, once")
    for start in steps:
        need, seen = start, {start}
        while need != Need.ED:
            need = steps.get(need, "")
            if need in seen or need not in set(Need):
                raise TriageError(f"destination.fallbacks.steps: {start} never falls back to ed")
            seen.add(need)
    for key, vocabulary in (("team_order", Team), ("pathway_priority", Pathway)):
        order = protocol[key]
        if sorted(order) != sorted(vocabulary):
            raise TriageError(f"protocol.{key}: {order} must name each of "
                              f"{sorted(map(str, vocabulary))} once")


@cache
def load_protocol() -> Protocol:
    """Read, check and cache the shipped tables."""
    raw = {name.removesuffix(".json"): _read(name) for name in TABLE_FILES}
    proto = raw["protocol"]
    check_vocabulary(protocol=proto, destination=raw["destination"])
    sources: dict[str, str] = proto["sources"]
    constants: dict[str, Any] = proto["constants"]
    definitions: dict[str, Any] = proto["definitions"]
    for name, cond in definitions.items():
        check(cond, constants=constants, definitions=definitions, where=f"definition {name}")
    ctx: dict[str, Any] = {"sources": sources, "constants": constants,
                           "definitions": definitions}
    rules = tuple(_rule(r, **ctx) for r in raw["rules"]["rules"])
    ids = [r.id for r in rules]
    all_ages = tuple(_rule(r, **ctx) for r in raw["vitals"]["all_ages"])
    bands = []
    for b in raw["vitals"]["bands"]:
        critical = {
            "pathway": b["critical_pathway"],
            "needs": b["critical_needs"],
            "teams": b["critical_teams"],
        }
        band_rules = tuple(
            _rule(t, **ctx, defaults=critical if t["acuity"] <= 2 else None)
            for t in b["thresholds"]
        )
        if b["when"] is not None:
            check(b["when"], constants=constants, definitions=definitions, where=f"band {b['id']}")
        bands.append(Band(id=b["id"], when=b["when"], rules=band_rules))
        ids += [r.id for r in band_rules]
    ids += [r.id for r in all_ages]
    if bands[-1].when is not None or any(b.when is None for b in bands[:-1]):
        raise TriageError("vitals: the last band, and only it, must be the default (when: null)")
    table, card_rules = _cards(ctx)
    kw = raw["keywords"]
    cards = {c.id: c for c in table.cards}
    keywords = tuple(_keyword(k, cards=cards) for k in kw["keywords"])
    ids += [k.id for k in keywords]
    ids += [r.id for rules_of in card_rules.values() for r in rules_of]
    if len(ids) != len(set(ids)):
        raise TriageError("rule ids must be unique across tables and cards")
    vehicles = proto["vehicle_kinds"]
    floor = proto["sbp_floor_by_age"]
    every_rule = (rules + all_ages + tuple(r for b in bands for r in b.rules)
                  + tuple(r for rules_of in card_rules.values() for r in rules_of))
    signer = FactSigner(
        [*(c for r in every_rule for c in (r.when, r.scope, r.unknown_scope)),
         *(b.when for b in bands)],
        constants=constants, definitions=definitions)
    return Protocol(
        version=proto["version"],
        raw=raw,
        sources=sources,
        constants=constants,
        definitions=definitions,
        rules=rules,
        vitals_all_ages=all_ages,
        bands=tuple(bands),
        keywords=keywords,
        keyword_source=kw["source"],
        negations=tuple(kw["negations"]),
        lexicon=Lexicon.build(
            keywords=keywords,
            negations=tuple(kw["negations"]),
            adjacent=tuple(kw["negations_adjacent"]),
            breaks=tuple(kw["negation_breaks"]),
            neutral=tuple(kw["neutral"]),
        ),
        pathway_priority=tuple(Pathway(p) for p in proto["pathway_priority"]),
        team_order=tuple(proto["team_order"]),
        emergency_kinds={
            int(level): tuple(VehicleKind(k) for k in kinds)
            for level, kinds in vehicles["emergency"].items()
        },
        non_emergency_kinds=tuple(VehicleKind(k) for k in vehicles["non_emergency"]),
        vehicle_rule=_plain_rule({"id": "VEHICLE-KINDS", **vehicles}, sources=sources),
        default_rule=_plain_rule(proto["default_rule"], sources=sources),
        booking_rule=_plain_rule(proto["booking_rule"], sources=sources),
        upgrade_rule=_plain_rule(proto["upgrade_rule"], sources=sources),
        sbp_floor_bands=tuple(
            (b["below_age_years"], b["base_mmhg"], b["per_year_mmhg"]) for b in floor["bands"]
        ),
        sbp_floor_rule=_plain_rule({"id": "SBP-FLOOR-AGE", **floor}, sources=sources),
        destination=raw["destination"],
        lead_groups=tuple(
            frozenset(lead.lower() for lead in group)
            for group in proto["ecg"]["contiguous_lead_groups"]
        ),
        signer=signer,
        cards=cards,
        card_rules=card_rules,
        card_version=table.version,
        card_table=table,
    )


def _cards(ctx: dict[str, Any]) -> tuple[CardTable, dict[str, tuple[Rule, ...]]]:
    """The card table, checked, and each card's rules scoped to calls on that card."""
    try:
        table = CardTable.model_validate(_read(CARD_FILE))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise TriageError(f"{CARD_FILE} {list(err['loc'])}: {err['msg']}") from exc
    ids = [c.id for c in table.cards]
    if len(ids) != len(set(ids)):
        raise TriageError(f"{CARD_FILE}: card ids repeat")
    # the text can bring several cards' rules into one call: their card-only facts
    # (card.<question>) must not collide
    card_only = [q.id for c in table.cards for q in c.questions if q.card_only]
    if len(card_only) != len(set(card_only)):
        raise TriageError(f"{CARD_FILE}: a card-only question id is used by two cards")
    sources: dict[str, str] = ctx["sources"]
    card_rules: dict[str, tuple[Rule, ...]] = {}
    for card in table.cards:
        cited = [card.source, *(d.source for d in card.determinants)]
        for key in (k.strip() for keys in cited for k in keys.split(";")):
            if key not in sources:
                raise TriageError(f"card {card.id}: unknown source {key!r}")
        for det in card.determinants:
            try:
                read_card(card, det.answers)
            except TriageError as exc:
                raise TriageError(f"card {card.id} determinant {det.id}: {exc.field}: "
                                  f"{exc.message}") from exc
            if det.pathway is not None and det.pathway not in set(Pathway):
                raise TriageError(f"card {card.id} determinant {det.id}: unknown pathway")
        known = KNOWN_FACTS | card_facts_known(card)
        on_card = {"fact": CARDS_FACT, "has_any": [card.id]}
        built = []
        for raw in card.rules:
            if "when" not in raw:
                raise TriageError(f"card {card.id} rule {raw.get('id', '?')}: missing 'when'")
            # a call on the card is the rule's scope, so what it lacks is asked
            # (`card.<question>` among `missing`)
            scoped = {**raw, "when": {"all": [on_card, raw["when"]]},
                      "scope": on_card if raw.get("scope") is None
                      else {"all": [on_card, raw["scope"]]}}
            built.append(_rule(scoped, **ctx, known=known))
        card_rules[card.id] = tuple(built)
    return table, card_rules


def protocol_tables() -> dict[str, Any]:
    """The rule tables with their version, and the chief-complaint cards (questions in
    order, common questions written out, sources cited), JSON-safe (for GET
    /v1/triage/protocol)."""
    protocol = load_protocol()
    cards = []
    for card in protocol.cards.values():
        body = card.model_dump(mode="json")
        body["source_text"] = protocol.cite(card.source)
        for det in body["determinants"]:
            det["source_text"] = protocol.cite(det["source"])
        cards.append(body)
    return {"version": protocol.version, "tables": copy.deepcopy(protocol.raw),
            "card_version": protocol.card_version,
            "card_evaluated_at": protocol.card_table.evaluated_at.isoformat(), "cards": cards}
