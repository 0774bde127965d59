"""The reference-data format as a JSON Schema: served, met by the demo data, and checked
on every load (POST /v1/admin/reference, `dispatch load`) with the JSON path and reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, get_args

import jsonschema
import orjson
import pytest
from pydantic import TypeAdapter, ValidationError
from shapely.geometry import mapping, shape

from dispatch.cli import demo_collection
from dispatch.domain import Role
from dispatch.errors import InvalidInput
from dispatch.reference_format import KINDS, Props, check_reference, reference_schema
from tests.conftest import Service
from tests.service.city import city
from tests.service.test_cli import _env, _one_line_error, _run

_PROPS: TypeAdapter[Any] = TypeAdapter(Props)


def _demo() -> dict[str, Any]:
    return copy.deepcopy(demo_collection())


def _index(collection: dict[str, Any], kind: str) -> int:
    return next(i for i, f in enumerate(collection["features"])
                if f["properties"]["type"] == kind)


def test_the_schema_is_valid_json_schema_and_the_demo_data_meets_it() -> None:
    jsonschema.Draft202012Validator.check_schema(reference_schema())
    demo = _demo()
    jsonschema.Draft202012Validator(reference_schema()).validate(demo)
    check_reference(demo)
    kinds = {f["properties"]["type"] for f in demo["features"]}
    assert kinds == {"district", "station", "vehicle", "hospital"}


def test_every_kind_the_models_parse_is_in_the_schema() -> None:
    kinds = {get_args(model.model_fields["type"].annotation)[0]
             for model in get_args(get_args(Props)[0])}
    feature = reference_schema()["$defs"]["Feature"]
    assert kinds == set(KINDS) == set(feature["properties"]["properties"]["properties"]
                                      ["type"]["enum"])
    assert len(feature["allOf"]) == len(kinds)


# (what is wrong, the feature kind to spoil, how, the path named)
BAD: list[tuple[str, str | None, Any, str]] = [
    ("not a collection", None, lambda c, i: c.update(type="Feature"), "type"),
    ("features not a list", None, lambda c, i: c.update(features={}), "features"),
    ("unknown kind", "station", lambda c, i: c["features"][i]["properties"].update(
        type="helipad"), "features[{i}].properties.type"),
    ("unknown vehicle kind", "vehicle", lambda c, i: c["features"][i]["properties"].update(
        kind="helicopter"), "features[{i}].properties.kind"),
    ("missing name", "hospital", lambda c, i: c["features"][i]["properties"].pop("name"),
     "features[{i}].properties.name"),
    ("unknown capability", "hospital", lambda c, i: c["features"][i]["properties"].update(
        capabilities=["burns"]), "features[{i}].properties.capabilities[0]"),
    ("crew count a bool", "vehicle", lambda c, i: c["features"][i]["properties"].update(
        crew_count=True), "features[{i}].properties.crew_count"),
    ("a property of another kind", "station", lambda c, i: c["features"][i]["properties"]
     .update(kind="als"), "features[{i}].properties"),
    ("district with a Point", "district", lambda c, i: c["features"][i].update(
        geometry={"type": "Point", "coordinates": [118.8, 32.0]}),
     "features[{i}].geometry.type"),
    ("station with a Polygon", "station", lambda c, i: c["features"][i].update(
        geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}),
     "features[{i}].geometry.type"),
    ("longitude off the earth", "vehicle", lambda c, i: c["features"][i]["geometry"].update(
        coordinates=[200, 32.0]), "features[{i}].geometry.coordinates[0]"),
    ("a ring of two positions", "district", lambda c, i: c["features"][i].update(
        geometry={"type": "Polygon", "coordinates": [[[0, 0], [1, 0]]]}),
     "features[{i}].geometry.coordinates[0]"),
    ("no geometry", "hospital", lambda c, i: c["features"][i].update(geometry=None),
     "features[{i}].geometry"),
]


@pytest.mark.parametrize(("what", "kind", "spoil", "path"), BAD, ids=[b[0] for b in BAD])
def test_a_collection_off_the_format_is_refused_with_path_and_reason(
        what: str, kind: str | None, spoil: Any, path: str) -> None:
    collection = _demo()
    i = _index(collection, kind) if kind else -1
    spoil(collection, i)
    with pytest.raises(InvalidInput) as refused:
        check_reference(collection)
    assert refused.value.field == path.format(i=i), refused.value.message
    assert refused.value.message and len(refused.value.message) <= 300
    assert not jsonschema.Draft202012Validator(reference_schema()).is_valid(collection)


@pytest.mark.parametrize(("what", "kind", "spoil", "path"),
                         [b for b in BAD if b[1] and "properties" in b[3]],
                         ids=[b[0] for b in BAD if b[1] and "properties" in b[3]])
def test_the_schema_agrees_with_the_models_on_properties(
        what: str, kind: str, spoil: Any, path: str) -> None:
    collection = _demo()
    i = _index(collection, kind)
    with_props = collection["features"][i]["properties"]
    _PROPS.validate_python(with_props)
    spoil(collection, i)
    with pytest.raises(ValidationError):
        _PROPS.validate_python(collection["features"][i]["properties"])


async def test_a_post_off_the_format_is_422_with_path_and_reason(service: Service) -> None:
    bad = city(n_vehicles=1)
    bad["features"][2]["geometry"] = {"type": "Point", "coordinates": [118.8, 95]}
    r = await service.client.post("/v1/admin/reference", json=bad,
                                  headers=service.auth(Role.ADMIN))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail == [{"field": "features[2].geometry.coordinates[1]",
                       "reason": "95 is greater than the maximum of 90"}]
    r = await service.client.get("/v1/vehicles", headers=service.auth())
    assert r.json()["vehicles"] == []  # nothing of the refused collection was loaded


async def test_dispatch_load_off_the_format_is_one_line(service: Service,
                                                        tmp_path: Path) -> None:
    bad = tmp_path / "bad.geojson"
    collection = city(n_vehicles=1)
    collection["features"][2]["properties"]["kind"] = "helicopter"
    bad.write_bytes(orjson.dumps(collection))
    rc, _, err = await _run("load", str(bad), env=_env(service.settings))
    line = _one_line_error(rc, err)
    assert "bad GeoJSON: features[2].properties.kind: 'helicopter' is not one of" in line


def test_tuples_from_shapely_are_arrays() -> None:
    # a collection built in the process (shapely's mapping()) holds tuples, not lists
    collection = city(n_vehicles=1)
    for feature in collection["features"]:
        feature["geometry"] = mapping(shape(feature["geometry"]))
    assert isinstance(collection["features"][0]["geometry"]["coordinates"], tuple)
    check_reference(collection)
