"""The crew tablet in a real browser: the mission, the status steps in order, vitals,
and frames kept pending across a lost link until the server acknowledges them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import websockets
from playwright.async_api import Browser, Page, expect

from dispatch.domain import Role
from tests.web.conftest import Site
from tests.web.pages import screenshot, signed_in

SCENE = (118.846, 32.035)  # next to V001's station


async def chest_pain_call(site: Site, number: str, *, age: int) -> dict[str, Any]:
    """A chest-pain call at SCENE, located by the handset's GNSS."""
    at = datetime.now(UTC).isoformat()
    call: dict[str, Any] = await site.api("POST", "/v1/calls", json={
        "caller_number": number, "complaint": "胸痛",
        "answers": {"chest_pain": True, "age_years": age, "conscious": True, "breathing": True},
        "fixes": [{"lon": SCENE[0], "lat": SCENE[1], "accuracy_m": 15, "source": "gnss",
                   "observed_at": at}], "received_at": at, "answered_at": at})
    return call


async def step(page: Page, status: str) -> None:
    button = page.locator(f"#steps button[data-status={status}]")
    await expect(button).to_have_class("next")
    await button.click()
    await expect(button).to_have_class("done")


async def test_crew_goes_through_its_steps_and_keeps_frames_across_a_reconnect(
    site: Site, browser: Browser
) -> None:
    call = await chest_pain_call(site, "13800002222", age=58)
    dispatched = await site.api("POST", f"/v1/calls/{call['id']}/dispatch",
                                json={"vehicle_id": "V001"})
    assert dispatched["assignments"][0]["vehicle_id"] == "V001"

    page = await signed_in(browser, site, "crew-v001", width=1024, height=1300,
                           geolocation={"longitude": SCENE[0], "latitude": SCENE[1]})
    console = await signed_in(browser, site, "disp1")
    await expect(page.locator("#mission")).to_contain_text("胸痛")
    await expect(page.locator("#mission .badge")).to_have_text("II 级 危重")
    await step(page, "en_route")
    # each step's text is readable on its colour: dark on the light "on scene" cyan
    assert await page.locator("#steps button[data-status=on_scene]").evaluate(
        "b => getComputedStyle(b).color") == "rgb(17, 17, 17)"

    # the link drops: the next step stays pending, and is sent again once back
    await page.evaluate("crewLive.stopped = true; crewLive.ws.close()")
    await expect(page.locator("#link")).not_to_have_attribute("data-state", "connected")
    await page.click("#steps button[data-status=on_scene]")
    pending = page.locator("#pending li").first
    await expect(pending).to_have_attribute("data-state", "pending")
    await expect(page.locator("#pending-count")).to_have_text("1")
    vehicle = await site.api("GET", "/v1/vehicles/V001")
    assert vehicle["status"] == "en_route"  # not sent yet
    # even a reload keeps it (this browser's storage) and sends it on connecting
    await page.reload()
    await expect(page.locator("#pending-count")).to_have_text("0")
    await expect(page.locator("#pending li").first).to_have_attribute("data-state", "acked")
    await expect(page.locator("#steps button[data-status=transporting]")).to_have_class("next")
    vehicle = await site.api("GET", "/v1/vehicles/V001")
    assert vehicle["status"] == "on_scene"

    await page.fill("#vitals-form input[name=hr]", "120")
    await page.fill("#vitals-form input[name=spo2]", "94")
    await page.click("#vitals-form button[type=submit]")
    await expect(page.locator("#pending li").first).to_have_attribute("data-state", "acked")
    await expect(page.locator("#pending li").first).to_contain_text("心率 120")

    # the network goes (a tunnel): the tablet reconnects on its own once it is back, and
    # the step pressed meanwhile goes then, without a reload
    await page.context.set_offline(True)
    await page.evaluate("crewLive.ws.close()")
    await expect(page.locator("#link")).to_have_attribute("data-state", "disconnected")
    await page.click("#steps button[data-status=transporting]")
    await expect(page.locator("#pending li").first).to_have_attribute("data-state", "pending")
    await expect(page.locator("#steps button[data-status=transporting]")).to_contain_text(
        "待确认")
    assert (await site.api("GET", "/v1/vehicles/V001"))["status"] == "on_scene"
    await page.context.set_offline(False)
    await expect(page.locator("#link")).to_have_attribute("data-state", "connected",
                                                          timeout=15000)
    await expect(page.locator("#pending li").first).to_have_attribute("data-state", "acked")
    await expect(page.locator("#pending-count")).to_have_text("0")
    await expect(page.locator("#steps button[data-status=transporting]")).to_have_class("done")
    # the steps keep the times they were acknowledged at, across the reload and reconnect
    for done in ("en_route", "on_scene", "transporting"):
        await expect(page.locator(f"#steps button[data-status={done}]")).to_contain_text(
            re.compile(r"· \d\d:\d\d:\d\d"))
    assert (await site.api("GET", "/v1/vehicles/V001"))["status"] == "transporting"
    # the tablet's GNSS: its position reaches the console's map
    await page.context.set_geolocation({"longitude": 118.8612, "latitude": 32.0498})
    await console.wait_for_function(
        "dispatchMap.vehicles.get('V001') && "
        "Math.abs(dispatchMap.vehicles.get('V001').lonlat[0] - 118.8612) < 1e-6", timeout=8000)
    await step(page, "at_hospital")
    await screenshot(page, "crew-zh.png")
    vehicle = await site.api("GET", "/v1/vehicles/V001")
    assert vehicle["status"] == "at_hospital"
    record = await site.api("GET", f"/v1/calls/{call['id']}")
    kinds = [e["kind"] for e in record["timeline"]]
    for kind in ("departed", "on_scene", "left_scene", "at_destination"):
        assert kind in kinds, kinds
    assert kinds.count("on_scene") == 1  # sent again after the reconnect, recorded once

    await page.click("#lang")
    await expect(page.locator("#steps button[data-status=available]")).to_contain_text(
        "Available")
    await expect(page.locator("h1")).to_contain_text("Crew tablet")
    await screenshot(page, "crew-en.png")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_crew_asks_for_another_centre_and_hears_why_one_is_refused(
    site: Site, browser: Browser
) -> None:
    call = await chest_pain_call(site, "13800003333", age=61)
    held = (await site.api("GET", "/v1/vehicles/V001"))["call_id"]
    if held is not None and held != call["id"]:  # the crew's earlier mission, if any
        await site.api("POST", f"/v1/calls/{held}/cancel", json={"reason": "test"})
    if (await site.api("GET", "/v1/vehicles/V001"))["call_id"] != call["id"]:
        await site.api("POST", f"/v1/calls/{call['id']}/dispatch", json={"vehicle_id": "V001"})
    # H05 diverts its trauma patients: the picker says so
    token = site.auth(Role.HOSPITAL, hospital_id="H05")["Authorization"].split()[1]
    async with websockets.connect(site.url.replace("http://", "ws://")
                                  + f"/v1/ws/hospital?token={token}") as board:
        await board.recv()  # the snapshot
        await board.send(json.dumps({"type": "diversion", "msg_id": "d1",
                                     "capability": "trauma", "on": True}))
        assert json.loads(await board.recv())["type"] in ("ack", "event")
    page = await signed_in(browser, site, "crew-v001", width=1024, height=1300)
    await expect(page.locator("#mission")).to_contain_text("胸痛")
    await expect(page.locator("#hospital option[value=H05]")).to_contain_text("分流: 创伤")
    await expect(page.locator("#hospital option[value=H03]")).not_to_contain_text("分流")
    # the picker starts on the mission's centre
    await expect(page.locator("#hospital")).to_have_value(call["destination_id"])
    # H04 has no PCI: the chest-pain call cannot go there, and the crew is told why
    await page.select_option("#hospital", "H04")
    await page.click("#request-destination")
    refused = page.locator("#pending li").first
    await expect(refused).to_have_attribute("data-state", "refused")
    await expect(refused).to_contain_text("H04 不具备急诊PCI")  # the Chinese half only
    await expect(refused).not_to_contain_text("has no")
    # H03 has it: accepted, and the mission shows the new centre
    await page.select_option("#hospital", "H03")
    await page.click("#request-destination")
    await expect(page.locator("#pending li").first).to_have_attribute("data-state", "acked")
    await expect(page.locator("#destination")).to_contain_text("Qinhuai")
    record = await site.api("GET", f"/v1/calls/{call['id']}")
    assert record["destination_id"] == "H03"
    assert page.errors == []  # type: ignore[attr-defined]
