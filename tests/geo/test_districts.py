"""District lookup: Nanjing's real boundaries and small hand-made maps with known answers."""

from __future__ import annotations

import functools
import random

import pytest
import shapely
from shapely.geometry import Point, box, mapping

from dispatch.errors import GeoError
from dispatch.geo.districts import (
    District,
    DistrictIndex,
    _distance_m,
    from_geojson,
    nanjing_districts,
)


@functools.cache
def nanjing() -> DistrictIndex:
    # Parsing the 10 MB national boundary file once keeps the module fast.
    return from_geojson(nanjing_districts())


def test_nanjing_has_its_eleven_districts_with_pinyin_and_area_types():
    features = nanjing_districts()
    table = {
        f["properties"]["id"]: (
            f["properties"]["name"],
            f["properties"]["name_en"],
            f["properties"]["area_type"],
        )
        for f in features
    }
    assert table == {
        "156320102": ("玄武区", "Xuanwu", "urban"),
        "156320104": ("秦淮区", "Qinhuai", "urban"),
        "156320105": ("建邺区", "Jianye", "urban"),
        "156320106": ("鼓楼区", "Gulou", "urban"),
        "156320111": ("浦口区", "Pukou", "suburban"),
        "156320113": ("栖霞区", "Qixia", "urban"),
        "156320114": ("雨花台区", "Yuhuatai", "urban"),
        "156320115": ("江宁区", "Jiangning", "suburban"),
        "156320116": ("六合区", "Luhe", "suburban"),
        "156320117": ("溧水区", "Lishui", "rural"),
        "156320118": ("高淳区", "Gaochun", "rural"),
    }
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)


def test_nanjing_districts_tile_without_overlap():
    districts = nanjing().districts
    total = sum(d.geometry.area for d in districts)
    union = shapely.union_all([d.geometry for d in districts]).area
    assert union == pytest.approx(total, rel=1e-3)
    # Nanjing covers about 6,587 km2; in square degrees at 32 N that is ~0.62.
    assert 0.55 < union < 0.70


# Landmarks well inside their district (WGS-84, approximate).
LANDMARKS = [
    ("Xinjiekou", (118.7784, 32.0415), "秦淮区"),
    ("Nanjing South railway station", (118.7979, 31.9686), "雨花台区"),
    ("Lukou international airport", (118.862, 31.742), "江宁区"),
    ("Sun Yat-sen Mausoleum", (118.848, 32.064), "玄武区"),
    ("Olympic Sports Centre, Hexi", (118.733, 32.008), "建邺区"),
    ("Xianlin university town", (118.956, 32.118), "栖霞区"),
    ("Jiangpu, Pukou", (118.63, 32.06), "浦口区"),
    ("Luhe town centre", (118.84, 32.34), "六合区"),
    ("Lishui town centre", (119.03, 31.65), "溧水区"),
    ("Gaochun town centre", (118.88, 31.33), "高淳区"),
]


@pytest.mark.parametrize(("place", "point", "district"), LANDMARKS)
def test_landmarks_are_in_their_district(place, point, district):
    found = nanjing().locate(lon=point[0], lat=point[1])
    assert found is not None, place
    assert found.name == district, place
    assert nanjing().nearest(lon=point[0], lat=point[1]) == found


OUTSIDE = [
    # (place, point, nearest Nanjing district)
    ("Ma'anshan, Anhui", (118.51, 31.67), "江宁区"),
    ("Chuzhou, Anhui", (118.32, 32.30), "浦口区"),
    ("Zhenjiang", (119.45, 32.20), "栖霞区"),
    ("Shanghai", (121.47, 31.23), "高淳区"),
]


@pytest.mark.parametrize(("place", "point", "nearest"), OUTSIDE)
def test_points_outside_the_city(place, point, nearest):
    assert nanjing().locate(lon=point[0], lat=point[1]) is None, place
    found = nanjing().nearest(lon=point[0], lat=point[1])
    assert found is not None
    assert found.name == nearest, place


def test_locate_agrees_with_brute_force_point_in_polygon():
    rng = random.Random(8)
    districts = nanjing().districts
    inside = 0
    for _ in range(400):
        lon, lat = rng.uniform(118.3, 119.3), rng.uniform(31.2, 32.7)
        expected = [d for d in districts if d.geometry.covers(Point(lon, lat))]
        found = nanjing().locate(lon=lon, lat=lat)
        if expected:
            inside += 1
            assert found == expected[0]
        else:
            assert found is None
    assert 150 < inside < 400  # the sample really exercised both answers


def test_nearest_agrees_with_brute_force_in_metres():
    rng = random.Random(9)
    districts = nanjing().districts
    for _ in range(60):
        lon, lat = rng.uniform(117.8, 119.8), rng.uniform(30.8, 33.1)
        point = Point(lon, lat)
        best = min(districts, key=lambda d: _distance_m(point, d.geometry))
        found = nanjing().nearest(lon=lon, lat=lat)
        assert found is not None
        assert _distance_m(point, found.geometry) == pytest.approx(
            _distance_m(point, best.geometry)
        )


def feature(fid: str, geometry, area_type: str = "urban", name: str | None = None) -> dict:
    return {
        "type": "Feature",
        "geometry": mapping(geometry),
        "properties": {"id": fid, "name": name or fid.upper(), "area_type": area_type},
    }


def test_hand_made_map():
    index = from_geojson(
        [
            feature("west", box(0.0, 0.0, 1.0, 1.0)),
            feature("east", box(1.0, 0.0, 2.0, 1.0), "rural"),
        ]
    )
    assert index.locate(lon=0.5, lat=0.5).id == "west"
    assert index.locate(lon=1.5, lat=0.5).area_type == "rural"
    assert index.locate(lon=2.5, lat=0.5) is None
    # On the shared edge both districts touch the point; the first given wins, every time.
    assert index.locate(lon=1.0, lat=0.5).id == "west"
    assert index.nearest(lon=2.5, lat=0.5).id == "east"
    assert index.nearest(lon=-3.0, lat=0.5).id == "west"


def test_locate_is_point_in_polygon_not_bounding_box():
    # An L-shaped district whose bounding box covers the notch where another district is.
    ell = shapely.Polygon([(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)])
    index = from_geojson(
        [feature("ell", ell), feature("notch", box(1.2, 1.2, 1.8, 1.8), "suburban")]
    )
    assert index.locate(lon=1.5, lat=1.5).id == "notch"
    assert index.locate(lon=1.1, lat=1.1) is None  # in the L's bounding box only
    assert index.locate(lon=0.5, lat=1.5).id == "ell"


def test_nearest_measures_metres_not_degrees():
    # At 60 N a degree of longitude is half a degree of latitude. East is 0.15 degrees
    # away (8.3 km), north 0.1 degrees (11.1 km): nearest in degrees is north, in metres
    # east.
    index = from_geojson(
        [
            feature("north", box(-0.5, 60.1, 0.5, 60.5)),
            feature("east", box(0.15, 59.5, 0.6, 60.05)),
        ]
    )
    assert index.nearest(lon=0.0, lat=60.0).id == "east"


def test_invalid_geometry_is_repaired():
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])  # self-intersecting
    assert not bowtie.is_valid
    index = from_geojson([feature("bow", bowtie)])
    assert index.locate(lon=0.2, lat=1.0).id == "bow"
    assert index.locate(lon=1.0, lat=0.2) is None


def test_empty_index():
    index = DistrictIndex([])
    assert len(index) == 0
    assert index.locate(lon=118.0, lat=32.0) is None
    assert index.nearest(lon=118.0, lat=32.0) is None


BAD_FEATURES = [
    ("no id", [{"geometry": mapping(box(0, 0, 1, 1)), "properties": {"name": "a",
                                                                     "area_type": "urban"}}],
     "properties.id"),
    ("no area type", [{"geometry": mapping(box(0, 0, 1, 1)), "properties": {"id": "a",
                                                                            "name": "a"}}],
     "properties.area_type"),
    ("unknown area type", [feature("a", box(0, 0, 1, 1), "downtown")], "area_type"),
    ("duplicate id", [feature("a", box(0, 0, 1, 1)), feature("a", box(1, 0, 2, 1))], "id"),
    ("a point is not a district", [feature("a", Point(0, 0))], "geometry"),
    ("no geometry", [{"properties": {"id": "a", "name": "a", "area_type": "urban"}}],
     "geometry"),
]


@pytest.mark.parametrize(("case", "features", "field"), BAD_FEATURES)
def test_bad_features_are_refused(case, features, field):
    with pytest.raises(GeoError) as err:
        from_geojson(features)
    assert err.value.field == field, case


def test_district_index_accepts_districts_directly():
    d = District(id="x", name="X", area_type="suburban", geometry=box(0, 0, 1, 1))
    index = DistrictIndex([d])
    assert index.locate(lon=0.5, lat=0.5) is d
    assert DistrictIndex.from_geojson([feature("x", box(0, 0, 1, 1))]).districts[0].id == "x"


def _reference_locate(index: DistrictIndex, lon: float, lat: float) -> District | None:
    """locate as first written: an STRtree query, the first district given wins."""
    tree = shapely.STRtree([d.geometry for d in index.districts])
    hits = tree.query(Point(lon, lat), predicate="intersects")
    return index.districts[int(min(hits))] if len(hits) else None


def test_locate_and_locate_many_agree_with_the_tree_query_on_edges_too():
    rng = random.Random(21)
    index = nanjing()
    points = [(rng.uniform(118.3, 119.3), rng.uniform(31.2, 32.7)) for _ in range(300)]
    # vertices of the boundaries: on one district's edge or on two districts' shared one
    for d in index.districts[:4]:
        coords = shapely.get_coordinates(d.geometry)
        points += [(float(x), float(y)) for x, y in coords[:: max(1, len(coords) // 20)]]
    expected = [_reference_locate(index, lon, lat) for lon, lat in points]
    assert index.locate_many(points) == expected
    assert [index.locate(lon=lon, lat=lat) for lon, lat in points] == expected
    # asked again (remembered answers) and in another order
    assert [index.locate(lon=lon, lat=lat) for lon, lat in points] == expected
    assert index.locate_many(points[::-1]) == expected[::-1]


def test_shared_boundary_goes_to_the_first_district_given_in_both_lookups():
    left = District("a", "A", "urban", box(0, 0, 1, 1))
    right = District("b", "B", "rural", box(1, 0, 2, 1))
    for order in ([left, right], [right, left]):
        index = DistrictIndex(order)
        assert index.locate(lon=1.0, lat=0.5) == order[0]
        assert index.locate_many([(1.0, 0.5), (1.5, 0.5), (3.0, 0.5)]) == [order[0], right, None]
    assert DistrictIndex([]).locate_many([(0.5, 0.5)]) == [None]


def test_remembered_points_stay_bounded_and_right():
    index = DistrictIndex([District("a", "A", "urban", box(0, 0, 1, 1))])
    for i in range(2000):
        x = i / 1000
        assert (index.locate(lon=x, lat=0.5) is not None) == (x <= 1)
    assert len(index._recent) <= 256
