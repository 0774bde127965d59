"""Complaint text that names a chief-complaint card (大面积烧伤 -> burns, 喝农药 ->
poisoning) and answers its card-only questions, so the card's rules fire on a call taken
on no card; a card taken, and its answers, still win over the text."""

from __future__ import annotations

from typing import Any

import pytest

from dispatch.errors import TriageError
from dispatch.triage import Answers, triage_call
from dispatch.triage.protocol import _keyword, load_protocol
from dispatch.triage.result import TriageResult
from dispatch.triage.textnums import read_card_numbers, read_numbers
from tests.triage.cases import NOW

AWAKE: dict[str, Any] = {"conscious": True, "breathing": True}


def intake(text: str, card: str | None = None, card_answers: dict[str, Any] | None = None,
           **answers: Any) -> TriageResult:
    return triage_call(Answers.model_validate({**AWAKE, **answers}), complaint=text, now=NOW,
                       card=card, card_answers=card_answers)


@pytest.mark.parametrize(
    ("text", "level", "rule"),
    [
        # burns (ABA referral criteria)
        ("大面积烧伤，人清醒", 2, "CC-BURN-LARGE"),
        ("全身都烧伤了，还能说话", 2, "CC-BURN-LARGE"),
        ("severe burns to his chest and arms, talking", 2, "CC-BURN-LARGE"),
        ("烧伤面积大概30%，人是醒的", 2, "CC-BURN-PERCENT-MAJOR"),
        ("scalded, about 15% tbsa", 2, "CC-BURN-PERCENT-MAJOR"),
        ("开水烫伤，烫伤面积5%左右", 3, "CC-BURN-PERCENT-MINOR"),
        ("家里着火，吸入浓烟，声音嘶哑", 2, "CC-BURN-AIRWAY"),
        ("被开水烫伤，声音嘶哑", 2, "CC-BURN-AIRWAY"),
        ("双手烫伤，起水泡", 3, "CC-BURN-SPECIAL"),
        ("被硫酸泼到胳膊", 3, "CC-BURN-SPECIAL"),
        # poisoning (CN poisoning consensus)
        ("喝农药了，人还清醒", 2, "CC-POISON-LETHAL"),
        ("老伴喝了敌敌畏，现在还能说话", 2, "CC-POISON-LETHAL"),
        ("喝了百草枯，没什么感觉", 2, "CC-POISON-LETHAL"),
        ("drank paraquat an hour ago, alert", 2, "CC-POISON-LETHAL"),
        ("一家三口煤气中毒，头晕", 2, "CC-POISON-LETHAL"),
        ("烧炭，人还醒着", 2, "CC-POISON-LETHAL"),
        ("吃了一瓶安眠药，还能叫醒", 3, "CC-POISON-OTHER"),
        ("孩子误服了洁厕灵", 3, "CC-POISON-OTHER"),
        # heat and cold
        ("工地上中暑了，说胡话", 2, "CC-HEAT-STROKE"),
        ("中暑，体温40.6度", 2, "CC-HEAT-HYPERTHERMIA"),
        ("冻了一夜，人糊涂了", 2, "CC-COLD-ALTERED"),
        # allergy (WAO 2020: skin signs with reduced blood pressure / end-organ dysfunction)
        ("被马蜂蜇了，脸色苍白出冷汗", 2, "CC-ANAPHYLAXIS-CIRCULATION"),
        ("吃了海鲜过敏，全身起疹子，要晕倒", 2, "CC-ANAPHYLAXIS-CIRCULATION"),
        ("被蜂蜇了全身起风团，反复呕吐", 2, "CC-ANAPHYLAXIS-GI"),
        # headache, back pain (SAH, aortic dissection)
        ("突然剧烈头痛，这辈子最痛", 2, "CC-HEAD-THUNDERCLAP"),
        ("后背撕裂样疼痛，窜到肚子", 2, "CC-BACK-DISSECTION"),
        # drowning, electric shock, intoxication
        ("孩子掉水里了，捞上来一直咳嗽", 3, "CC-DROWNING-COUGH"),
        ("碰到高压线了，人醒着", 2, "CC-ELECTRIC-HIGH"),
        ("触电了，手还抓着电线", 2, "CC-ELECTRIC-CONTACT"),
        ("家里触电了，人没事", 3, "CC-ELECTRIC-ANY"),
        ("喝醉了，使劲摇才醒", 2, "CC-INTOX-STUPOR"),
        ("喝多了，迷迷糊糊的", 3, "CC-INTOX-DROWSY"),
        # phrasings the new vignettes showed missing
        ("洗澡时燃气热水器漏气，人晕倒了，现在醒了", 2, "CC-POISON-LETHAL"),
        ("老人家里不开空调，一直说胡话", 2, "CC-HEAT-STROKE"),
        ("头痛得像要炸开，这辈子没这么疼过", 2, "CC-HEAD-THUNDERCLAP"),
        ("1岁半的孩子被开水烫了，胸口肚子都烫了", 2, "CC-BURN-CHILD"),
        # abdominal pain
        ("肚子疼，刚才晕倒了一次", 2, "CC-ABDO-FAINT"),
        ("肚子疼，拉黑便", 3, "CC-ABDO-GI-BLEED"),
        # more wordings: rough words, English, ingestions, burn extents
        ("中暑，体温39.8，有点迷糊", 2, "CC-HEAT-STROKE"),  # drowsiness may be all it shows
        ("一条腿都烫了，起泡", 2, "CC-BURN-LARGE"),
        ("8个月大的宝宝发烧39度，抽了一下", 2, "GEN-SEIZURE"),
        ("醉酒后呕吐，呼吸有呼噜声", 2, "GEN-DYSPNOEA"),
        ("charcoal burner in a closed room, headache and vomiting", 2, "CC-POISON-LETHAL"),
        ("burns to both hands and face from a firework", 2, "CC-BURN-AIRWAY"),
        ("heatstroke at a building site, talking rubbish", 2, "CC-HEAT-STROKE"),
        ("found in a hot flat in a heatwave, confused", 2, "CC-HEAT-STROKE"),
        ("fell through ice into a lake, shivering, confused", 2, "CC-COLD-ALTERED"),
        ("stung by hornets, throat feels tight", 2, "GEN-DYSPNOEA"),
        ("喝了一瓶农药", 2, "CC-POISON-LETHAL"),
        # 喝药了 in a 120 call: drinking pesticide, the commonest poison in China
        ("我老公喝药了，还能说话", 2, "CC-POISON-LETHAL"),
        ("吃了耗子药", 2, "CC-POISON-LETHAL"),
        ("被煤气熏晕了，现在醒了", 2, "CC-POISON-LETHAL"),
        ("drank a cup of weedkiller", 2, "CC-POISON-LETHAL"),
        ("吃了半瓶安眠药，叫得醒", 3, "CC-POISON-OTHER"),
        ("吃了一大把降压药", 3, "CC-POISON-OTHER"),
        ("烫伤了，面积很大", 2, "CC-BURN-LARGE"),
        ("被开水烫了一大片", 2, "CC-BURN-LARGE"),
        ("烧伤面积大概5%", 3, "CC-BURN-PERCENT-MINOR"),
    ],
)
def test_the_text_reaches_the_rule(text: str, level: int, rule: str) -> None:
    r = intake(text)
    assert int(r.acuity) == level, r.rule_ids
    assert rule in r.rule_ids
    assert r.card is None  # no card was taken: the text named it, or no card was needed


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("没有喝农药，只是头晕", "CC-POISON-LETHAL"),
        ("否认煤气中毒", "CC-POISON-LETHAL"),
        ("烧伤了手指，不是大面积烧伤", "CC-BURN-LARGE"),
        ("did not drink any pesticide", "CC-POISON-LETHAL"),
        ("中暑了，没有说胡话", "CC-HEAT-STROKE"),
        ("过敏起疹子，没有头晕要晕倒", "CC-ANAPHYLAXIS-CIRCULATION"),
        # a card-only answer counts only with its card: confusion alone is no heat stroke
        ("老人说胡话", "CC-HEAT-STROKE"),
    ],
)
def test_negated_or_unnamed_text_brings_in_nothing(text: str, rule: str) -> None:
    assert rule not in intake(text).rule_ids


def test_a_card_taken_is_not_replaced_by_the_cards_the_text_names() -> None:
    # the call-taker chose the chest-pain card: the pesticide phrase names another card,
    # whose rules stay out (the chosen card is a structured answer)
    r = intake("胸口闷，家里有农药", card="chest_pain", chest_pain=True)
    assert "CC-POISON-LETHAL" not in r.rule_ids
    assert r.card == "chest_pain"


def test_the_text_answers_the_taken_cards_unanswered_question() -> None:
    r = intake("喝了百草枯", card="poisoning_overdose")
    assert "CC-POISON-LETHAL" in r.rule_ids and int(r.acuity) == 2
    assert "KW-PESTICIDE" in r.rule_ids


def test_the_card_answer_wins_over_the_text_and_the_conflict_is_reported() -> None:
    r = intake("大面积烧伤", card="burns", card_answers={"burn_size": "small"})
    assert "CC-BURN-LARGE" not in r.rule_ids
    assert "XCHECK-KW-BURN-LARGE" in r.rule_ids
    assert int(r.acuity) == 4


def test_a_structured_answer_still_wins_over_the_text() -> None:
    # the text's burn mechanism disagrees with the answered mechanism: the answer stands
    r = intake("大面积烧伤", mechanism="fall")
    assert "XCHECK-KW-BURN-LARGE" in r.rule_ids
    assert "CC-BURN-LARGE" in r.rule_ids  # the card's rule reads the card fact, not mechanism


def test_text_naming_two_cards_brings_in_both() -> None:
    r = intake("喝了农药后又触电了")
    assert {"CC-POISON-LETHAL", "CC-ELECTRIC-ANY"} <= set(r.rule_ids)
    # offered to the console in the table's order
    assert r.to_dict()["text_cards"] == ["poisoning_overdose", "electrocution"]


def test_a_card_taken_offers_no_text_cards() -> None:
    assert intake("喝了农药", card="poisoning_overdose").to_dict()["text_cards"] == []


def test_a_text_named_card_does_not_count_as_a_presentation_answered() -> None:
    # unlike a card taken (whose key questions were asked), the text naming a card leaves
    # the presentation-unknown rule in place: naming a card can only add rules
    r = intake("被蜜蜂蜇了一下")
    assert "GEN-PRESENTATION-UNKNOWN" in r.rule_ids and int(r.acuity) == 3


@pytest.mark.parametrize(
    ("text", "height", "level"),
    [
        ("从6楼跳下来，人是醒的", 16.0, 2),
        ("从四楼摔下来", 10.0, 2),
        ("从三楼摔下来，能说话", 7.0, 3),
        ("fell from the 4th floor, awake", 10.0, 2),
        ("fell 10 metres off scaffolding", 10.0, 2),
        ("fell 35 feet", 10.668, 2),
        ("从12米高的脚手架上掉下来", 12.0, 2),
    ],
)
def test_a_fall_height_from_the_text_reaches_the_extreme_fall_rule(
        text: str, height: float, level: int) -> None:
    r = intake(text)
    assert int(r.acuity) == level, r.rule_ids
    assert ("TR-FALL-EXTREME" in r.rule_ids) is (level == 2)
    assert any(f"fall_height_m = {height}" in x.text for x in r.reasons), r.reasons


def test_the_extreme_fall_rule_reads_a_structured_height_with_no_card_or_text() -> None:
    r = intake("", fall_height_m=12, mechanism="fall")
    assert int(r.acuity) == 2 and "TR-FALL-EXTREME" in r.rule_ids


@pytest.mark.parametrize("text", ["没有从6楼摔下来，是在家里摔的", "不是从5楼掉下来的"])
def test_a_negated_fall_height_is_not_read(text: str) -> None:
    lexicon = load_protocol().lexicon
    assert "fall_height_m" not in {r.fact for r in read_numbers(text, lexicon)}
    assert "TR-FALL-EXTREME" not in intake(text).rule_ids


def test_a_storey_without_a_fall_is_not_a_fall_height() -> None:
    assert "fall_height_m" not in {r.fact for r in read_numbers("从6楼抱下来，人没事")}


def test_a_fall_height_says_the_mechanism_is_a_fall() -> None:
    found = {r.fact: r.value for r in read_numbers("从5米高处摔下来")}
    assert found == {"fall_height_m": 5.0, "mechanism": "fall"}


@pytest.mark.parametrize(
    ("text", "percent"),
    [("烧伤面积约30%", 30.0), ("烫伤面积百分之二十", 20.0), ("百分之二十的烧伤", 20.0),
     ("全身80%烧伤", 80.0), ("两个巴掌大的烫伤", 2.0), ("被打了两个巴掌", None),
     ("about 40% tbsa", 40.0), ("血氧85%", None), ("没有烧伤面积30%那么大", None)],
)
def test_the_burned_percentage_is_read(text: str, percent: float | None) -> None:
    got = [t.value for t in read_card_numbers(text, load_protocol().lexicon)
           if t.question == "burn_percent"]
    assert got == ([] if percent is None else [percent])


def test_a_lexicon_card_answer_is_checked_at_load() -> None:
    cards = load_protocol().cards
    with pytest.raises(TriageError, match="no card"):
        _keyword({"id": "KW-X", "proposes": "meteor", "phrases": ["x"]}, cards=cards)
    with pytest.raises(TriageError, match="card-only"):
        _keyword({"id": "KW-X", "card_answers": {"burns": {"conscious": True}},
                  "phrases": ["x"]}, cards=cards)
    with pytest.raises(TriageError, match="answer one of"):
        _keyword({"id": "KW-X", "card_answers": {"burns": {"burn_size": "huge"}},
                  "phrases": ["x"]}, cards=cards)
    with pytest.raises(TriageError, match="sets no fact"):
        _keyword({"id": "KW-X", "phrases": ["x"]}, cards=cards)


def test_a_distance_walked_is_not_a_fall_height() -> None:
    assert "fall_height_m" not in {r.fact for r in read_numbers("走了200米摔倒了")}


@pytest.mark.parametrize(
    ("text", "level", "absent"),
    [
        # breathless, not a speech (stroke) sign
        ("COPD老病号，喘得说不出话，SpO2 82", 2, "ST-SIGNS"),
        # a fall from a chair is a low fall, not a fall of unknown height
        ("Fell off a chair, bruised knee", 4, "TR-YELLOW-FALL"),
        ("Small burn on her finger from the stove", 4, "GEN-PRESENTATION-UNKNOWN"),
    ],
)
def test_phrasings_the_new_vignettes_showed(text: str, level: int, absent: str) -> None:
    r = intake(text)
    assert int(r.acuity) == level and absent not in r.rule_ids, r.rule_ids


def test_a_burned_child_goes_on_the_paediatric_pathway() -> None:
    r = intake("scalded, about 15% tbsa", age_years=2)
    assert r.pathway is not None and r.pathway.value == "paediatric"
    assert "paediatric" in r.needs


def test_an_english_storey_after_the_fall_is_read() -> None:
    found = {r.fact: r.value for r in read_numbers("fell from scaffolding on the 5th floor")}
    assert found["fall_height_m"] == 13.0


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("从6楼走下来摔了一跤，膝盖擦破", "TR-FALL-EXTREME"),
        ("在6楼摔了一跤", "TR-FALL-EXTREME"),
        ("从6楼楼梯上摔下来", "TR-FALL-EXTREME"),
        ("she fell on the 5th floor corridor", "TR-FALL-EXTREME"),
        ("打农药的时候扭了脚", "CC-POISON-LETHAL"),
        ("家里有一氧化碳报警器，今天没响，人头晕", "CC-POISON-LETHAL"),
        ("孩子全身烧得滚烫", "CC-BURN-LARGE"),
        ("吃了很多药都不见好，咳嗽一个月", "CC-POISON-OTHER"),
        ("吃了降压药，头晕", "CC-POISON-OTHER"),
        ("皮疹面积很大", "CC-BURN-LARGE"),
        ("孩子发烧，不肯喝药了", "CC-POISON-LETHAL"),
        ("感冒了，喝了药，还发烧", "CC-POISON-LETHAL"),
        ("烧伤面积大概5%", "CC-BURN-LARGE"),
    ],
)
def test_everyday_wording_names_no_card_and_no_height(text: str, absent: str) -> None:
    assert absent not in intake(text).rule_ids


@pytest.mark.parametrize(
    ("text", "height"),
    [("从十几米高的楼顶摔下去了", 10.0), ("几十米高的地方掉下来", 20.0), ("10来米高处坠落", 10.0),
     ("从5层楼高的地方摔下来", 15.0), ("三层楼高的脚手架上掉下来", 9.0),
     ("从三楼阳台翻下去了", 7.0)],
)
def test_rough_heights_and_storeys_tall_are_read(text: str, height: float) -> None:
    found = {r.fact: r.value for r in read_numbers(text)}
    assert found.get("fall_height_m") == height


def test_a_rough_age_agrees_with_answers_up_to_ten_above() -> None:
    (age,) = [r for r in read_numbers("七十几岁的老人") if r.fact == "age_years"]
    assert age.value == 70.0 and age.accepts == (70.0, 80.0)


def _worded(r: TriageResult) -> list[tuple[str, str, str, str]]:
    source = load_protocol().keyword_source
    return [(x.rule_id, x.text, x.text_zh, x.source == source) for x in r.reasons
            if "complaint" in x.text]


def test_text_cards_reasons_are_worded_exactly() -> None:
    # no card taken: the first phrase naming a card brings it in once, and the first
    # answer the text gives a card-only question stands (冻僵 neither repeats the card nor
    # overrides 中暑)
    assert _worded(triage_call(Answers(), complaint="中暑了，又冻僵了", now=NOW)) == [
        ("KW-HEAT", "complaint text '中暑了' (no card taken) -> the rules of card heat_cold "
                    "(Heat or cold exposure)",
         "主诉文字“中暑了”（未选卡）→ 采用中暑/冻伤低体温卡（heat_cold）的规则", True),
        ("KW-HEAT", "complaint text '中暑了' -> heat_cold.exposure = heat (not answered)",
         "主诉文字“中暑了”→ “是热着了（中暑）还是冻着了（低体温）？”：热/中暑（未回答）", True),
    ]
    # the card taken: the text answers what the card left open
    assert _worded(intake("喝了百草枯", card="poisoning_overdose")) == [
        ("KW-PESTICIDE", "complaint text '百草枯' -> poisoning_overdose.substance = "
                         "pesticide (not answered)",
         "主诉文字“百草枯”→ “吃了/接触了什么？”：农药、除草剂（敌敌畏、百草枯等）（未回答）", True),
    ]
    # ... and only cross-checks what it answered otherwise
    answered = {"still_in_contact": False}
    assert _worded(intake("还抓着电线", card="electrocution", card_answers=answered)) == [
        ("XCHECK-KW-STILL-IN-CONTACT",
         "complaint text '还抓着电线' suggests electrocution.still_in_contact = True but the "
         "card's answer is False: the card's answer stands; confirm with the caller",
         "主诉文字“还抓着电线”提示“病人还接触着电源吗？（先断电，不要直接碰病人）”：是，"
         "但卡的回答是否：以卡的回答为准，请与呼救者核实", True),
    ]
    agreed = {"still_in_contact": True}
    assert _worded(intake("还抓着电线", card="electrocution", card_answers=agreed)) == []


def test_a_negated_burned_percentage_answers_nothing_on_the_card() -> None:
    # the engine reads the text's numbers with the lexicon's negations
    burns = {"card": "burns"}
    assert _worded(intake("没有烧伤面积30%那么大", **burns)) == []
    assert [t for _, t, _, _ in _worded(intake("烧伤面积30%", **burns))] == [
        "complaint text '烧伤面积30%' -> burns.burn_percent = 30.0 (not answered)"]


def test_a_choice_cross_checked_reads_both_answers_by_their_labels() -> None:
    crossed = intake("大面积烧伤", card="burns", card_answers={"burn_size": "small"})
    assert [z for rid, _, z, _ in _worded(crossed) if rid.startswith("XCHECK-")] == [
        "主诉文字“大面积烧伤”提示“烧伤面积多大？”：一整条胳膊以上，或大片胸背部，但卡的回答是"
        "几块，合起来不到病人一个手掌大：以卡的回答为准，请与呼救者核实"]
