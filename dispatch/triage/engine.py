"""The triage engine: evaluate the rule tables over one call's facts.

Decision, in order:
0. Fill unanswered questions from the chief-complaint card's answers (dispatch.triage.
   cards), report card/answer conflicts; the card's rules join the tables' rules. With no
   card taken, the cards the complaint text names (大面积烧伤 -> burns, 喝农药 ->
   poisoning) bring in their rules, and the text answers their card-only questions (a
   card answer given by the call-taker wins).
1. Fill questions still unanswered from the complaint text (lexicon phrases and numbers);
   report text/answer conflicts. Vital signs in the text count where the crew has not
   measured them, and bring in the age band's vital-sign rules even before findings.
2. Evaluate every rule (and the vital-sign band for the patient's age) in three-valued
   logic. TRUE fires the rule. UNKNOWN inside the rule's scope lists the facts it lacks
   as missing and, where the table sets `unknown_acuity`, assumes the rule: missing data
   errs to the higher level. Assumed rules never activate a team.
3. Acuity is the most severe fired or assumed level (IV if none).
4. A booking stays non-emergency only at level IV (a clean red-flag screen).
5. Pathway: the most acute rule with a pathway, ties broken by the protocol's priority.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dispatch.domain import Acuity, Pathway, TransportClass, VehicleKind
from dispatch.errors import TriageError
from dispatch.triage.cards import (
    CARD_ANSWER_PREFIX,
    CARD_FACT,
    CARDS_FACT,
    CardReading,
    read_card,
)
from dispatch.triage.conditions import Truth, evaluate
from dispatch.triage.facts import VITALS, build_facts, input_name
from dispatch.triage.inputs import Answers, Findings
from dispatch.triage.keywords import (
    CardText,
    Reading,
    card_readings,
    find_matches,
    readings,
    text_facts,
)
from dispatch.triage.protocol import Protocol, Rule, load_protocol
from dispatch.triage.result import Reason, TriageResult
from dispatch.triage.textnums import read_card_numbers, read_numbers
from dispatch.triage.wording import input_zh, question_zh, value_zh

# trauma_1 (level 1 centre) satisfies trauma_2 (level <= 2): keep only the stricter need
SUBSUMES = {"trauma_1": "trauma_2"}


@dataclass(frozen=True, slots=True)
class _Hit:
    rule: Rule
    acuity: int
    assumed: bool
    missing: tuple[str, ...]


def _eval(cond: Mapping[str, Any] | None, *, facts: Mapping[str, Any], protocol: Protocol) -> Truth:
    """Truth of an optional condition (absent is FALSE: a rule without scope never asks)."""
    if cond is None:
        return Truth.FALSE
    return evaluate(
        cond, facts=facts, constants=protocol.constants, definitions=protocol.definitions
    ).truth


def _apply(
    rule: Rule, *, facts: Mapping[str, Any], protocol: Protocol, with_findings: bool
) -> tuple[_Hit | None, tuple[str, ...]]:
    """Fire, assume or skip one rule; also the inputs it lacks within its scope."""
    outcome = evaluate(
        rule.when, facts=facts, constants=protocol.constants, definitions=protocol.definitions
    )
    if outcome.truth is Truth.TRUE:
        return _Hit(rule, rule.acuity, False, ()), ()
    if outcome.truth is Truth.FALSE:
        return None, ()
    if _eval(rule.scope, facts=facts, protocol=protocol) is not Truth.TRUE:
        return None, ()
    missing = tuple(
        sorted(
            {
                name
                for fact in outcome.missing
                if (name := input_name(fact, with_findings=with_findings)) is not None
            }
        )
    )
    # the scope is already TRUE, so only a narrower `unknown_scope` needs evaluating
    if rule.unknown_acuity is not None and (
        rule.unknown_scope is None
        or _eval(rule.unknown_scope, facts=facts, protocol=protocol) is Truth.TRUE
    ):
        return _Hit(rule, rule.unknown_acuity, True, missing), missing
    return None, missing


_Missing = tuple[int, int, str]  # (level, rule order, input): the order missing inputs are asked


def _rule_outcomes(
    *, facts: Mapping[str, Any], protocol: Protocol, with_findings: bool, with_bands: bool,
    card_rules: tuple[Rule, ...] = (),
) -> tuple[list[_Hit], list[_Missing]]:
    """Every rule fired or assumed, and the inputs the rules lack, in protocol order.

    A function of the facts' signature (dispatch.triage.signature): evaluated once per
    signature and kept, so re-triaging a crew's vitals that stay in their bands is a
    look-up."""

    def evaluate_rules() -> tuple[tuple[_Hit, ...], tuple[_Missing, ...]]:
        # a card's rules read the card fact, so the signature tells cards apart
        rules = protocol.rules + card_rules + (
            _band_rules(facts=facts, protocol=protocol) if with_bands else ())
        hits: list[_Hit] = []
        missing: list[_Missing] = []
        for order, rule in enumerate(rules):
            hit, lacking = _apply(rule, facts=facts, protocol=protocol,
                                  with_findings=with_findings)
            if hit is not None:
                hits.append(hit)
            level = rule.unknown_acuity or rule.acuity
            missing += [(level, order, name) for name in lacking]
        return tuple(hits), tuple(missing)

    signature = protocol.signer.sign(facts)
    key = None if signature is None else (with_findings, with_bands, signature)
    hits, missing = protocol.outcomes.get_or_compute(key, evaluate_rules)
    return list(hits), list(missing)


def _band_rules(*, facts: Mapping[str, Any], protocol: Protocol) -> tuple[Rule, ...]:
    """Vital-sign rules for the patient's age band (unknown age: the default band)."""
    for band in protocol.bands:
        if band.when is None or _eval(band.when, facts=facts, protocol=protocol) is Truth.TRUE:
            return protocol.vitals_all_ages + band.rules
    raise TriageError("vitals: no default band")


def _vehicle_kinds(
    *, hits: list[_Hit], acuity: int, transport: TransportClass, protocol: Protocol
) -> tuple[VehicleKind, ...]:
    """Acceptable vehicle kinds in preference order, narrowed by any rule that restricts them."""
    if transport is TransportClass.NON_EMERGENCY:
        return protocol.non_emergency_kinds
    kinds = protocol.emergency_kinds[acuity]
    for hit in hits:
        if hit.rule.vehicle_kinds is not None:
            narrowed = tuple(k for k in kinds if k in hit.rule.vehicle_kinds)
            kinds = narrowed or kinds
    return kinds


def _pathway(*, hits: list[_Hit], protocol: Protocol) -> Pathway | None:
    """The most acute pathway; equal acuity goes by the protocol's pathway priority."""
    ranked = [
        (h.acuity, protocol.pathway_priority.index(h.rule.pathway), h.rule.pathway)
        for h in hits
        if h.rule.pathway is not None
    ]
    return min(ranked)[2] if ranked else None


def _reason(hit: _Hit, protocol: Protocol) -> Reason:
    """A fired rule's reason, or an assumed rule's with what it assumed."""
    if not hit.assumed:
        return _as_reason(hit.rule)
    # an assumption with no call-taker question behind it waits for the crew's findings
    if hit.missing:
        card = next((protocol.cards[c] for c in protocol.card_rules
                     if hit.rule in protocol.card_rules[c]), None)
        lacking = f"missing: {', '.join(hit.missing)}"
        lacking_zh = "缺少：" + "、".join(input_zh(m, card=card) for m in hit.missing)
    else:
        lacking = "until the crew's findings confirm or rule it out"
        lacking_zh = "待出车组的检查结果确认或排除"
    return Reason(
        rule_id=hit.rule.id,
        source=hit.rule.source,
        text=f"Assumed ({lacking}): {hit.rule.text}",
        text_zh=f"推定（{lacking_zh}）：{hit.rule.text_zh}",
    )


def _text_readings(complaint: str, protocol: Protocol) -> tuple[list[Reading], list[CardText]]:
    """Numbers first (an age in years beats 老人), then the lexicon's phrases; and what
    they say about chief-complaint cards."""
    if not complaint:
        return [], []
    matches = find_matches(text=complaint, lexicon=protocol.lexicon)
    return ([*read_numbers(complaint, protocol.lexicon), *readings(matches)],
            [*card_readings(matches), *read_card_numbers(complaint, protocol.lexicon)])


def _text_cards(
    *, reading: CardReading | None, found: list[CardText], protocol: Protocol
) -> tuple[tuple[str, ...], dict[str, Any], list[Reason]]:
    """The cards whose rules apply, their card-only facts and the reasons: the card taken
    (its own answers win over the text's), or with none taken every card the text names,
    in the table's order."""
    if reading is not None:
        active: tuple[str, ...] = (reading.card,)
    else:
        named = {t.card for t in found if t.question is None}
        active = tuple(c for c in protocol.cards if c in named)
    facts: dict[str, Any] = {} if reading is None else dict(reading.facts)
    answered = frozenset(facts)
    reasons: list[Reason] = []
    shown: set[str] = set()
    for t in found:
        if t.card not in active:
            continue
        card = protocol.cards[t.card]
        if t.question is None:
            if reading is None and t.card not in shown:
                shown.add(t.card)
                reasons.append(Reason(rule_id=t.source_id, source=protocol.keyword_source,
                                      text=f"complaint text '{t.phrase}' (no card taken) -> "
                                           f"the rules of card {t.card} ({card.title_en})",
                                      text_zh=f"主诉文字“{t.phrase}”（未选卡）→ 采用"
                                              f"{card.title_zh}卡（{t.card}）的规则"))
            continue
        name = CARD_ANSWER_PREFIX + t.question
        asked_zh = f"“{question_zh(card, t.question)}”"
        if facts.get(name) is None:
            facts[name] = t.value
            said = value_zh(t.value, card=card, question=t.question)
            reasons.append(Reason(rule_id=t.source_id, source=protocol.keyword_source,
                                  text=f"complaint text '{t.phrase}' -> {t.card}.{t.question}"
                                       f" = {t.value} (not answered)",
                                  text_zh=f"主诉文字“{t.phrase}”→ {asked_zh}：{said}（未回答）"))
        elif name in answered and facts[name] != t.value:
            said = value_zh(t.value, card=card, question=t.question)
            given = value_zh(facts[name], card=card, question=t.question)
            reasons.append(Reason(rule_id=f"XCHECK-{t.source_id}", source=protocol.keyword_source,
                                  text=f"complaint text '{t.phrase}' suggests {t.card}."
                                       f"{t.question} = {t.value} but the card's answer is "
                                       f"{facts[name]}: the card's answer stands; confirm "
                                       "with the caller",
                                  text_zh=f"主诉文字“{t.phrase}”提示{asked_zh}：{said}，但卡的"
                                          f"回答是{given}：以卡的回答为准，请与呼救者核实"))
    return active, facts, reasons


def _text_reasons(
    *, answers: Answers, found: list[Reading], protocol: Protocol
) -> tuple[Answers, list[Reason]]:
    """Answers with the text's fills, and reasons for every fill and conflict."""
    given = answers.model_dump()
    text = text_facts(answers=given, found=[r for r in found if r.fact in given])
    reasons = [
        Reason(
            rule_id=rid,
            source=protocol.keyword_source,
            text=f"complaint text '{phrase}' -> {fact} = {value} (not answered)",
            text_zh=f"主诉文字“{phrase}”→ {input_zh(fact)}：{value_zh(value)}（未回答）",
        )
        for fact, (value, phrase, rid) in text.filled.items()
    ]
    reasons += [
        Reason(
            rule_id=f"XCHECK-{rid}",
            source=protocol.keyword_source,
            text=(
                f"complaint text '{phrase}' suggests {fact} = {text_value} but the answer is "
                f"{answer_value}: the structured answer stands; confirm with the caller"
            ),
            text_zh=(
                f"主诉文字“{phrase}”提示{input_zh(fact)}：{value_zh(text_value)}，但回答是"
                f"{value_zh(answer_value)}：以结构化回答为准，请与呼救者核实"
            ),
        )
        for fact, answer_value, text_value, phrase, rid in text.conflicts
    ]
    if text.filled:
        update = {fact: value for fact, (value, _, _) in text.filled.items()}
        answers = Answers.model_validate({**given, **update})
    return answers, reasons


def _card_reading(
    card: str | None, card_answers: Mapping[str, Any] | None, protocol: Protocol
) -> CardReading | None:
    """The card's answers as facts (a 422 names `card` or the question)."""
    if card is None:
        if card_answers:
            raise TriageError("card_answers need the card they answer", field="card")
        return None
    found = protocol.cards.get(card)
    if found is None:
        raise TriageError(f"no chief-complaint card {card!r}", field="card")
    return read_card(found, card_answers or {})


def _card_answers(
    *, answers: Answers, reading: CardReading, protocol: Protocol
) -> tuple[Answers, list[Reason]]:
    """Answers with the card's fills where unanswered, and a reason for every fill and for
    every card answer that disagrees with a structured answer (which stands)."""
    card = protocol.cards[reading.card]
    source = protocol.cite(card.source)
    given = answers.model_dump()
    update: dict[str, Any] = {}
    reasons: list[Reason] = []
    for name, (value, qid) in reading.fills.items():
        asked = "the card" if qid == CARD_FACT else f"question {qid}"
        asked_zh = "本卡" if qid == CARD_FACT else f"问题“{question_zh(card, qid)}”"
        rid = f"CARD-{card.id}" + ("" if qid == CARD_FACT else f".{qid}")
        if given[name] is None:
            update[name] = value
            reasons.append(Reason(rule_id=rid, source=source, text=(
                f"card {card.id} ({card.title_en}) {asked} -> {name} = {_shown(value)} "
                "(not answered)"), text_zh=(
                f"{card.title_zh}卡（{card.id}）{asked_zh} → {input_zh(name)}："
                f"{value_zh(_shown(value))}（未回答）")))
        elif given[name] != value:
            reasons.append(Reason(rule_id=f"XCHECK-{rid}", source=source, text=(
                f"card {card.id} {asked} suggests {name} = {_shown(value)} but the answer "
                f"is {_shown(given[name])}: the structured answer stands; confirm with the "
                "caller"), text_zh=(
                f"{card.title_zh}卡（{card.id}）{asked_zh}提示{input_zh(name)}："
                f"{value_zh(_shown(value))}，但回答是{value_zh(_shown(given[name]))}："
                "以结构化回答为准，请与呼救者核实")))
    if update:
        answers = Answers.model_validate({**given, **update})
    return answers, reasons


def _shown(value: Any) -> Any:
    """A value as a reason shows it (enum values, sets sorted)."""
    if isinstance(value, frozenset):
        return sorted(getattr(v, "value", v) for v in value)
    return getattr(value, "value", value)


def _card_vitals(
    *, reading: CardReading | None, findings: Findings | None, protocol: Protocol
) -> tuple[dict[str, Any], list[Reason]]:
    """Measurements the caller read out on the card that the crew has not measured."""
    if reading is None:
        return {}, []
    card = protocol.cards[reading.card]
    source = protocol.cite(card.source)
    vitals: dict[str, Any] = {}
    reasons: list[Reason] = []
    for name, (value, qid) in reading.vitals.items():
        if findings is not None and getattr(findings, name) is not None:
            continue  # the crew's measurement is newer
        vitals[name] = value
        reasons.append(Reason(
            rule_id=f"CARD-{reading.card}.{qid}", source=source,
            text=f"card {reading.card} question {qid} -> {name} = {value} "
                 "(not measured by a crew)",
            text_zh=f"{card.title_zh}卡（{card.id}）问题“{question_zh(card, qid)}”"
                    f" → {input_zh(name)}：{value}（出车组未测量）"))
    return vitals, reasons


def _text_vitals(
    *, found: list[Reading], findings: Findings | None, protocol: Protocol,
    known: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Reason]]:
    """Vital signs read from the text that the crew has not measured (nor the card's
    answers, in `known`), with reasons."""
    vitals: dict[str, Any] = {}
    reasons: list[Reason] = []
    for r in found:
        if r.fact not in VITALS or r.fact in vitals or r.fact in (known or {}):
            continue
        if findings is not None and getattr(findings, r.fact) is not None:
            continue  # the crew's measurement is newer
        vitals[r.fact] = r.value
        reasons.append(Reason(
            rule_id=r.source_id,
            source=protocol.keyword_source,
            text=f"complaint text '{r.phrase}' -> {r.fact} = {r.value} (not measured by a crew)",
            text_zh=f"主诉文字“{r.phrase}”→ {input_zh(r.fact)}：{r.value}（出车组未测量）",
        ))
    return vitals, reasons


def evaluate_call(
    *, answers: Answers, findings: Findings | None, complaint: str, now: datetime,
    card: str | None = None, card_answers: Mapping[str, Any] | None = None,
) -> TriageResult:
    """Triage from answers, optional findings, a chief-complaint card with its answers, and
    complaint text at `now`. Precedence: crew findings, structured answers, the card's
    answers, then the text."""
    if now.tzinfo is None:
        raise TriageError("now must carry a timezone", field="now")
    protocol = load_protocol()
    reading = _card_reading(card, card_answers, protocol)
    text_reasons: list[Reason] = []
    if reading is not None:
        answers, text_reasons = _card_answers(answers=answers, reading=reading,
                                              protocol=protocol)
    card_vitals, card_vital_reasons = _card_vitals(reading=reading, findings=findings,
                                                   protocol=protocol)
    text_reasons += card_vital_reasons
    found, card_found = _text_readings(complaint, protocol)
    active_cards, card_facts, card_text_reasons = _text_cards(
        reading=reading, found=card_found, protocol=protocol)
    answers, found_reasons = _text_reasons(answers=answers, found=found, protocol=protocol)
    text_reasons += found_reasons
    text_vitals, vital_reasons = _text_vitals(found=found, findings=findings, protocol=protocol,
                                              known=card_vitals)
    text_vitals.update(card_vitals)
    text_reasons += vital_reasons + card_text_reasons
    facts = build_facts(
        answers=answers,
        findings=findings,
        now=now,
        floor_bands=protocol.sbp_floor_bands,
        future_tolerance_s=float(protocol.constants["onset_future_tolerance_s"]),
        lead_groups=protocol.lead_groups,
        qsofa_alert=int(protocol.constants["qsofa_alert"]),
        text_vitals=text_vitals,
    )
    facts[CARD_FACT] = None if reading is None else reading.card
    facts[CARDS_FACT] = frozenset(active_cards) or None
    facts.update(card_facts)
    with_findings = findings is not None
    with_bands = with_findings or bool(text_vitals)
    hits, missing = _rule_outcomes(
        facts=facts, protocol=protocol, with_findings=with_findings, with_bands=with_bands,
        card_rules=tuple(r for c in active_cards for r in protocol.card_rules[c]))
    if (
        with_bands
        and answers.age_years is None
        and any(facts[v] is not None for v in ("hr", "sbp", "rr", "spo2", "temp_c"))
    ):
        # vital signs were judged on adult bands; a child's age would change that
        missing.append((1, -1, "age_years"))
    hits.sort(key=lambda h: (h.acuity, h.assumed))  # stable: ties keep protocol rule order
    acuity = min((h.acuity for h in hits), default=4)

    booking = answers.booking_reason is not None
    transport = (
        TransportClass.NON_EMERGENCY if booking and acuity == 4 else TransportClass.EMERGENCY
    )
    reasons = [_reason(h, protocol) for h in hits]
    if not hits:
        reasons.append(_as_reason(protocol.default_rule))
    if booking:
        reasons.append(
            _as_reason(
                protocol.booking_rule
                if transport is TransportClass.NON_EMERGENCY
                else protocol.upgrade_rule
            )
        )
    pathway = (
        None
        if transport is TransportClass.NON_EMERGENCY
        else _pathway(hits=hits, protocol=protocol)
    )
    on_path = [h for h in hits if h.rule.pathway in (None, pathway)]
    needs: set[str] = set().union(*(h.rule.needs for h in on_path))
    if transport is TransportClass.EMERGENCY:
        needs.add("ed")
    for strong, weak in SUBSUMES.items():
        if strong in needs:
            needs.discard(weak)
    team_set = set().union(*(h.rule.teams for h in on_path if not h.assumed))
    ordered_missing = dict.fromkeys(name for _, _, name in sorted(missing))  # first wins
    return TriageResult(
        acuity=Acuity(acuity),
        transport_class=transport,
        pathway=pathway,
        vehicle_kinds=_vehicle_kinds(
            hits=hits, acuity=acuity, transport=transport, protocol=protocol
        ),
        needs=frozenset(needs),
        teams=tuple(t for t in protocol.team_order if t in team_set),
        missing=tuple(ordered_missing),
        reasons=tuple(reasons + text_reasons),
        protocol_version=protocol.version,
        card=None if reading is None else reading.card,
        card_answers=tuple(
            (qid, value.isoformat() if isinstance(value, datetime) else value)
            for qid, value in (card_answers or {}).items()) if reading is not None else (),
        text_cards=active_cards if reading is None else (),
    )


def _as_reason(rule: Rule) -> Reason:
    """A plain decision rule as a reason."""
    return Reason(rule_id=rule.id, source=rule.source, text=rule.text, text_zh=rule.text_zh)


def triage_call(
    answers: Answers, *, complaint: str, now: datetime, card: str | None = None,
    card_answers: Mapping[str, Any] | None = None,
) -> TriageResult:
    """Triage at intake from the call-taker's answers, the chief-complaint card's answers
    and the complaint text."""
    return evaluate_call(answers=answers, findings=None, complaint=complaint, now=now,
                         card=card, card_answers=card_answers)


def retriage(
    answers: Answers, findings: Findings, *, complaint: str, now: datetime,
    card: str | None = None, card_answers: Mapping[str, Any] | None = None,
) -> TriageResult:
    """Triage again once the crew reports findings (vitals, ECG, stroke scale, injuries)."""
    return evaluate_call(answers=answers, findings=findings, complaint=complaint, now=now,
                         card=card, card_answers=card_answers)
