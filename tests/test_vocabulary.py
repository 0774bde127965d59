"""One vocabulary of capabilities, needs, teams and pathways (dispatch.domain): the protocol's
tables, the reference data's schema, the handover frames and the screens all speak it, so a
new pathway or service is added in the domain (and its clinical rules), nowhere else."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from dispatch.domain import (
    CAPABILITY_ZH,
    CENTRE_TEAMS,
    LISTED_CAPABILITIES,
    Capability,
    Need,
    Pathway,
    Team,
)
from dispatch.errors import InvalidInput, TriageError
from dispatch.handover import messages
from dispatch.refdata import parse_features
from dispatch.reference_format import HospitalProps
from dispatch.triage.destination import NEED_ORDER
from dispatch.triage.protocol import check_vocabulary, load_protocol
from dispatch.web.vocabulary import vocabulary_module

JS = Path(__file__).parents[1] / "dispatch" / "web" / "static" / "js"


def _enum(model: type[BaseModel], field: str) -> set[str]:
    schema = model.model_json_schema()
    prop = schema["properties"][field]
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
    items = prop.get("items", prop)
    return set(items["enum"])


def test_the_tables_map_every_need_onto_a_capability() -> None:
    protocol = load_protocol()
    mapped = protocol.destination["need_capability"]
    assert set(mapped) == set(Need)
    assert {spec["capability"] for spec in mapped.values()} == set(Capability)
    assert set(protocol.team_order) == set(Team)
    assert set(protocol.pathway_priority) == set(Pathway)
    rules = [*protocol.rules, *protocol.vitals_all_ages,
             *(r for b in protocol.bands for r in b.rules),
             *(r for rs in protocol.card_rules.values() for r in rs)]
    assert set().union(*(r.needs for r in rules)) <= set(Need)
    assert set().union(*(r.teams for r in rules)) <= set(Team)


def test_destination_tries_every_need_but_the_ed_most_specific_first() -> None:
    assert NEED_ORDER == tuple(n for n in Need if n is not Need.ED)
    assert NEED_ORDER[0] is Need.PCI and Need.TRAUMA_1 in NEED_ORDER[:NEED_ORDER.index(
        Need.TRAUMA_2)]


def _tables() -> tuple[dict[str, Any], dict[str, Any]]:
    raw = load_protocol().raw
    return copy.deepcopy(raw["protocol"]), copy.deepcopy(raw["destination"])


def _drop_need(p: dict[str, Any], d: dict[str, Any]) -> None:
    del d["need_capability"]["neonatal"]


def _unknown_capability(p: dict[str, Any], d: dict[str, Any]) -> None:
    d["need_capability"]["pci"] = {"capability": "cath"}


def _fallback_cycle(p: dict[str, Any], d: dict[str, Any]) -> None:
    d["fallbacks"]["steps"]["thrombolysis"] = "thrombectomy"


def _fallback_missing(p: dict[str, Any], d: dict[str, Any]) -> None:
    del d["fallbacks"]["steps"]["maternal"]


def _team_missing(p: dict[str, Any], d: dict[str, Any]) -> None:
    p["team_order"] = p["team_order"][:-1]


def _pathway_twice(p: dict[str, Any], d: dict[str, Any]) -> None:
    p["pathway_priority"] = [*p["pathway_priority"], "stroke"]


@pytest.mark.parametrize(("spoil", "names"), [
    (_drop_need, "need_capability"),
    (_unknown_capability, "need_capability.pci"),
    (_fallback_cycle, "fallbacks.steps"),
    (_fallback_missing, "fallbacks.steps"),
    (_team_missing, "team_order"),
    (_pathway_twice, "pathway_priority"),
])
def test_tables_off_the_vocabulary_are_refused(spoil: Any, names: str) -> None:
    protocol, destination = _tables()
    check_vocabulary(protocol=protocol, destination=destination)  # as shipped
    spoil(protocol, destination)
    with pytest.raises(TriageError, match=re.escape(names)):
        check_vocabulary(protocol=protocol, destination=destination)


def test_reference_data_lists_every_capability_but_the_ed() -> None:
    assert _enum(HospitalProps, "capabilities") == {c.value for c in LISTED_CAPABILITIES}
    assert set(LISTED_CAPABILITIES) == set(Capability) - {Capability.ED}

    def hospital(*capabilities: str) -> dict[str, Any]:
        return {"type": "FeatureCollection", "features": [{
            "type": "Feature", "geometry": {"type": "Point", "coordinates": [118.8, 32.0]},
            "properties": {"type": "hospital", "id": "H1", "name": "医院",
                           "capabilities": list(capabilities)}}]}

    rows = parse_features(hospital(*LISTED_CAPABILITIES))
    assert rows["hospital"][0]["capabilities"] == list(LISTED_CAPABILITIES)
    for wrong in ("ed", "cath"):
        with pytest.raises(InvalidInput) as err:
            parse_features(hospital("pci", wrong))
        assert err.value.field == "features[0].properties.capabilities[1]"
        allowed = err.value.message.split("one of", 1)[1]  # the list the refusal offers
        assert "'pci'" in allowed and "'ed'" not in allowed


def test_the_handover_frames_take_the_domain_values() -> None:
    assert messages.Capability is Capability and messages.Team is Team
    assert _enum(messages.DiversionMsg, "capability") == set(Capability)
    assert _enum(messages.ActivateTeamMsg, "team") == set(Team)
    assert _enum(messages.CrewActivateTeamMsg, "team") == set(Team)


def test_every_value_has_its_names() -> None:
    assert set(CAPABILITY_ZH) == set(Capability)
    assert set(CENTRE_TEAMS) == set(Pathway)
    assert {t for teams in CENTRE_TEAMS.values() for t in teams} <= set(Team)


def _js_labels(group: str) -> set[str]:
    """The codes the screens' label table (i18n.js CODES) names in one group."""
    text = (JS / "i18n.js").read_text(encoding="utf-8")
    block = re.search(rf"\n  {group}: \{{(.*?)\}},?\n", text, re.DOTALL)
    assert block is not None, group
    return set(re.findall(r"(\w+): \[", block.group(1)))


def test_the_screens_label_every_value_and_list_none_of_their_own() -> None:
    assert _js_labels("capability") == {c.value for c in Capability}
    assert _js_labels("team") >= {t.value for t in Team}
    assert _js_labels("pathway") == {p.value for p in Pathway}
    # the menus come from the served module, not from lists written into the pages
    module = vocabulary_module()
    for name, values in (("CAPABILITIES", list(Capability)), ("TEAMS", list(Team)),
                         ("PATHWAYS", list(Pathway))):
        assert f'export const {name} = ["{values[0].value}"' in module
        assert all(f'"{v.value}"' in module for v in values)
    for page in JS.glob("*.js"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r'\[\s*"(cath_lab|pci|ed)",', text), page.name


async def test_the_service_serves_the_vocabulary_module(service: Any) -> None:
    r = await service.client.get("/web/js/vocabulary.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.text == vocabulary_module()
    # the files beside it are still served from the static directory
    assert (await service.client.get("/web/js/i18n.js")).status_code == 200
