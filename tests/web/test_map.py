"""The console's map in a real browser: with no basemap (a centre with no internet) the
service's vectors stand alone and nothing is fetched from elsewhere; with GCJ-02 tiles
(AMap, Tencent) every WGS-84 position is drawn shifted onto them and a click on them gives
back WGS-84. And the tokens the pages use never reach the service's log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route, expect

from dispatch.cli import demo_collection
from dispatch.geo.coords import gcj02_to_wgs84, wgs84_to_gcj02
from tests.web.conftest import Site, start_site
from tests.web.pages import signed_in
from tests.web.test_console import SCENE, click_map_at

TILES = "http://tiles.example.test/{z}/{x}/{y}.png"
# a 1x1 PNG: the tile server answers every tile with it
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
                    "0000000d4944415478da63f8cfc0f01f0005000201a2dd8a2b0000000049454e44ae426082")


@pytest.fixture(scope="module")
async def tiled(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Site, Path]]:
    """A site whose basemap is GCJ-02 tiles, its log kept."""
    log_path = tmp_path_factory.mktemp("tiled") / "service.log"
    with log_path.open("wb") as log:
        async with start_site(demo_collection(), log=log, env={
                "DISPATCH_MAP_TILE_URL": TILES,
                "DISPATCH_MAP_TILE_COORD_SYSTEM": "gcj02"}) as site:
            yield site, log_path


async def test_with_no_tiles_the_vectors_stand_alone(site: Site, browser: Browser) -> None:
    page = await signed_in(browser, site, "disp1")
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url)
            if urlsplit(r.url).netloc != urlsplit(site.url).netloc else None)
    await page.reload()
    await page.wait_for_function(
        "dispatchMap.layers.districts.getLayers().length === 1"
        " && dispatchMap.layers.stations.getLayers().length > 0"
        " && dispatchMap.layers.hospitals.getLayers().length > 0"
        " && dispatchMap.vehicles.size > 0")
    assert await page.locator(".leaflet-tile").count() == 0
    # each vehicle is drawn where the service says it is (no shift without GCJ-02 tiles)
    vehicle = await site.api("GET", "/v1/vehicles/V001")
    drawn = await page.evaluate("(() => { const p = dispatchMap.vehicles.get('V001')"
                                ".getLatLng(); return [p.lng, p.lat]; })()")
    assert drawn == pytest.approx([vehicle["lon"], vehicle["lat"]], abs=1e-9)
    # SCENE is a few metres from station ST001's marker: the fix is the point clicked,
    # never the marker's position
    await click_map_at(page, *SCENE)
    fix = (await page.locator("#fix-text").inner_text()).split(" ")[:2]
    assert [float(x.rstrip(",")) for x in fix] == pytest.approx(list(SCENE), abs=5e-5)
    assert elsewhere == []
    assert page.errors == []  # type: ignore[attr-defined]


async def test_gcj02_tiles_shift_what_is_drawn_and_clicks_come_back_wgs84(
    tiled: tuple[Site, Path], browser: Browser
) -> None:
    site, _ = tiled
    page = await signed_in(browser, site, "disp1")
    fetched: list[str] = []

    async def tile(route: Route) -> None:
        fetched.append(route.request.url)
        await route.fulfill(status=200, content_type="image/png", body=PNG)

    await page.context.route("http://tiles.example.test/**", tile)
    await page.reload()
    await page.wait_for_function("dispatchMap.vehicles.size > 0 && dispatchMap.gcj")
    await expect(page.locator(".leaflet-tile-loaded").first).to_be_attached()
    assert fetched
    vehicle = await site.api("GET", "/v1/vehicles/V001")
    drawn = await page.evaluate("(() => { const p = dispatchMap.vehicles.get('V001')"
                                ".getLatLng(); return [p.lng, p.lat]; })()")
    assert drawn == pytest.approx(list(wgs84_to_gcj02(vehicle["lon"], vehicle["lat"])),
                                  abs=1e-9)
    # the shift is hundreds of metres in Nanjing: drawing WGS-84 on these tiles is visibly off
    assert abs(drawn[0] - vehicle["lon"]) > 0.003
    hospital = next(h for h in (await site.api("GET", "/v1/hospitals"))["hospitals"]
                    if h["id"] == "H02")
    marker = await page.evaluate(
        "(() => { const m = dispatchMap.layers.hospitals.getLayers()"
        f".find((x) => x.options.title === {hospital['name']!r}); const p = m.getLatLng();"
        " return [p.lng, p.lat]; })()")
    assert marker == pytest.approx(list(wgs84_to_gcj02(hospital["lon"], hospital["lat"])),
                                   abs=1e-9)

    # a click on the tiles is stored as the WGS-84 point under it
    await click_map_at(page, *SCENE)
    fix = (await page.locator("#fix-text").inner_text()).split(" ")[:2]
    lon, lat = (float(x.rstrip(",")) for x in fix)
    assert [lon, lat] == pytest.approx(list(SCENE), abs=5e-5)
    centre = await page.evaluate("(() => { const c = dispatchMap.map.getCenter();"
                                 " return [c.lng, c.lat]; })()")
    assert gcj02_to_wgs84(*centre) == pytest.approx(SCENE, abs=5e-5)
    await page.fill("#caller", "13600000001")
    await page.fill("#complaint", "胸痛")
    await page.click("#submit-call")
    row = page.locator("#queue tr.selected")
    await expect(row).to_be_visible()
    call = await site.api("GET", f"/v1/calls/{await row.get_attribute('data-call-id')}")
    assert [call["location"]["lon"], call["location"]["lat"]] == pytest.approx(list(SCENE),
                                                                               abs=5e-5)
    # and the call's accuracy circle is drawn on the tiles' datum too
    focus = await page.evaluate(
        "(() => { const p = dispatchMap.layers.focus.getLayers()[0].getLatLng();"
        " return [p.lng, p.lat]; })()")
    assert focus == pytest.approx(list(wgs84_to_gcj02(*SCENE)), abs=5e-5)
    await site.api("POST", f"/v1/calls/{call['id']}/cancel", json={"reason": "test"})
    assert page.errors == []  # type: ignore[attr-defined]


async def test_the_pages_tokens_never_reach_the_log(
    tiled: tuple[Site, Path], browser: Browser
) -> None:
    site, log_path = tiled
    tokens = []
    for name in ("disp1", "ed-h02", "crew-v001"):
        page = await signed_in(browser, site, name)  # each page opens its websocket
        tokens.append(await page.evaluate(
            "JSON.parse(sessionStorage.getItem('dispatch.session')).token"))
        await page.context.close()
    text = log_path.read_text(encoding="utf-8")
    assert '"WebSocket /v1/ws/console"' in text and '"WebSocket /v1/ws/hospital"' in text
    assert '"WebSocket /v1/ws/crew"' in text
    assert '"POST /v1/auth/login HTTP/1.1" 200' in text
    for token in tokens:
        assert token not in text
    assert "token=" not in text
