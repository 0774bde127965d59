"""The dispatcher console in a real browser: a chest-pain call from the form to a
confirmed vehicle, the queue's order and labels, live vehicle positions, both languages."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import websockets
from playwright.async_api import Browser, Page, expect

from dispatch.domain import Role
from tests.web.conftest import Site
from tests.web.pages import screenshot, signed_in

# Next to the demo's station ST001, where V001 (ALS) waits.
SCENE = (118.846, 32.035)


async def click_map_at(page: Page, lon: float, lat: float) -> None:
    # any zoom or pan still running (the first fit to the districts) stops first
    await page.evaluate(f"dispatchMap.map.stop(); dispatchMap.map.setView("
                        f"dispatchMap.toMap({lon}, {lat}), 16, {{animate: false}}); "
                        "new Promise((r) => requestAnimationFrame(() => "
                        "requestAnimationFrame(r)))")
    # the point in the page: the container's inner (border-less) box plus the map's pixel
    point = await page.evaluate(
        f"(() => {{ const c = dispatchMap.map.getContainer(); const r = c.getBoundingClientRect();"
        f" const p = dispatchMap.pixelOf({lon}, {lat});"
        " return {x: r.left + c.clientLeft + p.x, y: r.top + c.clientTop + p.y}; })()")
    await page.mouse.click(point["x"], point["y"])


async def take_card(page: Page, search: str, card_id: str) -> None:
    """Find a chief-complaint card by typing, and take the first match with Enter."""
    await page.fill("#card-search", search)
    await expect(page.locator("#card option").first).to_have_attribute("value", card_id)
    await page.press("#card-search", "Enter")
    await expect(page.locator("#card")).to_have_attribute("data-chosen", card_id)


async def answer(page: Page, question: str, value: str) -> None:
    control = page.locator(f"#questions li[data-question={question}] select, "
                           f"#questions li[data-question={question}] input")
    if await control.evaluate("e => e.tagName") == "SELECT":
        await control.select_option(value)
    else:
        await control.fill(value)


async def test_dispatcher_takes_a_chest_pain_call_and_confirms_the_vehicle(
    site: Site, browser: Browser
) -> None:
    page = await signed_in(browser, site, "disp1")
    await expect(page.locator("#protocol-version")).to_contain_text("cn120-triage")
    await page.click("#submit-call")  # no caller number yet: refused on the page, in Chinese
    await expect(page.locator("#form-error")).to_have_text("主叫号码: 请输入 3–32 位数字")
    # the screen waits between calls; the call starts when the call-taker starts on it
    await page.wait_for_timeout(2000)
    started = datetime.now(UTC)
    await page.fill("#caller", "13912345678")
    await page.fill("#complaint", "胸痛 30 分钟，大汗")
    await take_card(page, "胸痛", "chest_pain")
    for question, value in (("age", "62"), ("conscious", "true"), ("breathing", "true"),
                            ("breathing_normally", "true")):
        await answer(page, question, value)
    await expect(page.locator("#preview .badge")).to_have_text("II 级 危重")
    await click_map_at(page, *SCENE)
    await expect(page.locator("#fix-text")).to_contain_text("manual")
    fix_text = await page.locator("#fix-text").inner_text()
    lon, lat = (float(x.rstrip(",")) for x in fix_text.split(" ")[0:2])
    assert abs(lon - SCENE[0]) < 0.0005 and abs(lat - SCENE[1]) < 0.0005
    await page.click("#submit-call")

    # the call is in the queue, selected, with its location and recommendations
    row = page.locator("#queue tr").first
    await expect(row).to_contain_text("胸痛")
    await expect(row.locator(".badge")).to_have_text("II 级 危重")
    await expect(row).to_have_class("selected")
    first = page.locator("#recommendations > li").first
    await expect(first).to_have_attribute("data-vehicle-id", "V001")
    # the unit's reasons in the page's language (English after the switch, below)
    await expect(first.locator(".reasons li").first).to_contain_text("按预计到达时间排第 1")
    await expect(first.locator(".reasons li[data-code=crew]")).to_contain_text("车组")
    await expect(page.locator("#detail-body")).to_contain_text("(manual)")
    call_id = await row.get_attribute("data-call-id")
    call = await site.api("GET", f"/v1/calls/{call_id}")
    assert call["status"] == "queued"
    began = datetime.fromisoformat(call["received_at"])
    assert started - timedelta(seconds=0.5) <= began < started + timedelta(seconds=2)
    assert call["answered_at"] == call["received_at"]
    assert call["location"]["method"] == "manual"
    assert abs(call["location"]["lon"] - SCENE[0]) < 0.0005
    # the browser runs in UTC; the page shows the centre's time (Asia/Shanghai)
    received = datetime.fromisoformat(call["received_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    await expect(row.locator("td").nth(4)).to_have_text(received.strftime("%H:%M:%S"))
    await page.locator("#detail").scroll_into_view_if_needed()
    await screenshot(page, "console-zh.png")

    await first.locator("[data-action=confirm]").click()
    await expect(page.locator("#assigned li[data-vehicle-id=V001]")).to_be_visible()
    await expect(page.locator("#detail-status")).to_have_text("已派车")
    call = await site.api("GET", f"/v1/calls/{call_id}")
    assert [a["vehicle_id"] for a in call["assignments"]] == ["V001"]
    # one more vehicle, in one click, from the recommendations still shown
    more = page.locator("#recommendations > li").first
    extra = await more.get_attribute("data-vehicle-id")
    assert extra != "V001"
    await more.locator("[data-action=add]").click()
    await expect(page.locator(f"#assigned li[data-vehicle-id={extra}]")).to_be_visible()
    call = await site.api("GET", f"/v1/calls/{call_id}")
    assert sorted(a["vehicle_id"] for a in call["assignments"]) == sorted(["V001", extra])

    # the crew's tablet reports a position (crew websocket): the vehicle moves on the map
    token = site.auth(Role.CREW, vehicle_id="V001")["Authorization"].split()[1]
    ws_url = site.url.replace("http://", "ws://") + f"/v1/ws/crew?token={token}"
    async with websockets.connect(ws_url) as crew:
        await crew.recv()  # the mission snapshot
        await crew.send(json.dumps({"type": "position", "msg_id": "p1", "call_id": call_id,
                                    "lon": 118.8501, "lat": 32.0402,
                                    "at": datetime.now(UTC).isoformat()}))
        await page.wait_for_function(
            "dispatchMap.vehicles.get('V001') && "
            "Math.abs(dispatchMap.vehicles.get('V001').lonlat[0] - 118.8501) < 1e-6",
            timeout=5000)
    await expect(page.locator("#alerts")).to_contain_text("已派车")

    # cancelled from the console: it leaves the live queue
    await page.fill("#cancel-reason", "测试结束")
    await page.click("[data-action=cancel]")
    await expect(page.locator(f"#queue tr[data-call-id='{call_id}']")).to_have_count(0)
    assert page.errors == []  # type: ignore[attr-defined]


async def test_queue_is_ordered_by_level_then_age_with_text_labels_in_english(
    site: Site, browser: Browser
) -> None:
    now = datetime.now(UTC).isoformat()

    def body(number: str, complaint: str, answers: dict[str, object]) -> dict[str, object]:
        return {"caller_number": number, "complaint": complaint, "answers": answers,
                "fixes": [{"lon": 118.78, "lat": 32.05, "accuracy_m": 40, "source": "gnss",
                           "observed_at": now}], "received_at": now, "answered_at": now}

    minor = await site.api("POST", "/v1/calls", json=body(
        "13900000001", "minor cut", {"conscious": True, "breathing": True,
                                     "breathing_normally": True, "age_years": 30,
                                     "severe_pain": False, "major_bleeding": False}))
    arrest = await site.api("POST", "/v1/calls", json=body(
        "13900000002", "collapsed", {"conscious": False, "breathing": False}))
    page = await signed_in(browser, site, "disp1", lang="en")
    rows = page.locator("#queue tr")
    await expect(rows.first).to_have_attribute("data-call-id", arrest["id"])
    await expect(rows.first.locator(".badge")).to_have_text("I Dying")
    assert await rows.first.locator(".badge").evaluate(
        "e => getComputedStyle(e).backgroundColor") == "rgb(198, 40, 40)"
    last = rows.last
    assert await last.get_attribute("data-call-id") == minor["id"]
    assert minor["acuity"] > arrest["acuity"]
    await expect(page.locator("h1")).to_have_text("Dispatcher console")
    await expect(page.locator("#card option[value=chest_pain]")).to_have_text(
        "Chest pain or heart problem · MPDS 10, 19")
    # a call with a location gets its units' reasons in English
    await rows.first.click()
    reasons = page.locator("#recommendations > li").first.locator(".reasons li")
    await expect(reasons.first).to_contain_text("#1 by ETA")
    await expect(page.locator("#recommendations .reasons li[data-code=position_age]").first
                 ).to_contain_text("s old")
    # no pathway, no empty field between the separators
    await expect(page.locator("#detail-body p").first).not_to_have_text(re.compile(r"·\s*·"))
    # the dispatcher sends the second unit instead of the first, in one click
    second = page.locator("#recommendations > li").nth(1)
    chosen = await second.get_attribute("data-vehicle-id")
    await second.locator("[data-action=override]").click()
    await expect(page.locator(f"#assigned li[data-vehicle-id={chosen}]")).to_be_visible()
    assert [a["vehicle_id"] for a in (await site.api("GET", f"/v1/calls/{arrest['id']}"))[
        "assignments"]] == [chosen]
    await expect(page.locator("#clock")).to_contain_text("China Standard Time")
    await screenshot(page, "console-en.png")
    # and the switch goes back to Chinese on the page itself
    await page.click("#lang")
    await expect(page.locator("h1")).to_have_text("调度台")
    await expect(rows.first.locator(".badge")).to_have_text("I 级 濒危")
    await expect(page.locator("#detail-status")).to_have_text("已派车")
    for call in (minor, arrest):
        await site.api("POST", f"/v1/calls/{call['id']}/cancel", json={"reason": "test"})
    assert page.errors == []  # type: ignore[attr-defined]


async def test_coverage_layer_and_move_ups(site: Site, browser: Browser) -> None:
    # ST047's two vehicles go out of service: its rural area is left uncovered, and a
    # move-up from ST048 is recommended
    emptied = ["V104", "V105"]
    for vid in emptied:
        await site.api("POST", f"/v1/vehicles/{vid}/status", json={"status": "out_of_service"},
                       headers=site.auth(Role.CREW, vehicle_id=vid))
    page = await signed_in(browser, site, "disp1")
    started = time.monotonic()
    await page.click("#coverage-refresh")
    await expect(page.locator("#coverage-share")).to_contain_text("%", timeout=20000)
    took_s = time.monotonic() - started
    share = await site.api("GET", "/v1/coverage/moves?target_s=480")
    await expect(page.locator("#coverage-share")).to_contain_text(
        f"{round(share['coverage_share'] * 100)}%")
    await page.check("#coverage-on")
    await page.wait_for_function("dispatchMap.layers.coverage.getLayers().length === 1 && "
                                 "dispatchMap.layers.coverage.getLayers()[0]"
                                 ".getLayers().length > 0")
    move = share["moves"][0]
    assert move["to_station_id"] == "ST047"
    line = page.locator(f"#moves li[data-vehicle-id={move['vehicle_id']}]").first
    await expect(line).to_contain_text(f"{move['from_station_id']} → ST047")
    await line.locator("[data-action=accept-move]").click()
    await expect(line).to_contain_text("已采纳")
    vehicle = await site.api("GET", f"/v1/vehicles/{move['vehicle_id']}")
    assert vehicle["station_id"] == "ST047" and vehicle["status"] == "available"
    # the move comes back on the live channel, named in Chinese
    await expect(page.locator("#alerts li[data-kind=move_up]").first).to_contain_text(
        f"车辆前移 · {move['vehicle_id']}: {move['from_station_id']} → ST047")
    assert took_s < 20
    # as it was, for the other tests
    await site.api("POST", "/v1/coverage/moves/accept", json={
        "vehicle_id": move["vehicle_id"], "to_station_id": move["from_station_id"]})
    for vid in emptied:
        await site.api("POST", f"/v1/vehicles/{vid}/status", json={"status": "available"},
                       headers=site.auth(Role.CREW, vehicle_id=vid))
    assert page.errors == []  # type: ignore[attr-defined]


async def test_alerts_arrive_named_and_those_to_act_on_marked(
    site: Site, browser: Browser
) -> None:
    page = await signed_in(browser, site, "disp1")
    at = datetime.now(UTC).isoformat()
    # located in Beijing, outside every district of this centre
    far = await site.api("POST", "/v1/calls", json={
        "caller_number": "13900000099", "complaint": "胸痛", "received_at": at,
        "answered_at": at, "fixes": [{"lon": 116.397, "lat": 39.909, "accuracy_m": 30,
                                      "source": "gnss", "observed_at": at}]})
    alert = page.locator("#alerts li[data-kind=out_of_area]")
    await expect(alert).to_have_class("urgent")
    await expect(alert).to_contain_text("需处理: 辖区外警情")
    await expect(alert).to_contain_text("定位在本中心所有辖区之外")
    await expect(page.locator("#alerts li[data-kind=call_created]")).to_contain_text(
        f"新警情 · {far['id'][:8]}")
    await site.api("POST", f"/v1/calls/{far['id']}/cancel", json={"reason": "test"})
    await expect(page.locator("#alerts li[data-kind=call_cancelled]")).to_contain_text(
        "警情已取消")
    # English names after the switch
    await page.click("#lang")
    await site.api("POST", "/v1/vehicles/V050/status", json={"status": "out_of_service"},
                   headers=site.auth(Role.CREW, vehicle_id="V050"))
    await expect(page.locator("#alerts li[data-kind=vehicle_status]").first).to_contain_text(
        "Vehicle status · V050 → Out of service")
    await site.api("POST", "/v1/vehicles/V050/status", json={"status": "available"},
                   headers=site.auth(Role.CREW, vehicle_id="V050"))
    # a refusal reads in the page's language, with the field it is about
    failed = ("import('/web/js/session.js').then((m) => m.api('/v1/calls/"
              "00000000-0000-4000-8000-000000000000/cancel', {method: 'POST', body: "
              "{reason: 'x'}})).then(() => 'no error', (e) => e.message)")
    assert (await page.evaluate(failed)).startswith("The record asked for does not exist.")
    await page.click("#lang")
    assert (await page.evaluate(failed)).startswith("未找到所请求的记录。 call_id: ")
    assert page.errors == []  # type: ignore[attr-defined]


async def test_call_taken_on_a_card_its_questions_in_order_and_the_preview(
    site: Site, browser: Browser
) -> None:
    protocol = await site.api("GET", "/v1/triage/protocol")
    burns = next(c for c in protocol["cards"] if c["id"] == "burns")
    page = await signed_in(browser, site, "disp1")
    await expect(page.locator("#questions")).to_contain_text("请先选择主诉卡")
    # searched by its Chinese name, its English name or its code
    await page.fill("#card-search", "MPDS 7;")
    await expect(page.locator("#card option")).to_have_count(1)
    await page.fill("#card-search", "explosion")
    await expect(page.locator("#card option")).to_have_count(1)
    # by keyboard: arrows browse the matches without taking one, Enter takes it
    await page.fill("#card-search", "痛")
    matches = await page.locator("#card option").evaluate_all("o => o.map(x => x.value)")
    assert len(matches) > 2 and "chest_pain" in matches
    await page.press("#card-search", "ArrowDown")
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("ArrowDown")
    assert await page.locator("#card").get_attribute("data-chosen") is None
    await page.keyboard.press("Enter")
    await expect(page.locator("#card")).to_have_attribute("data-chosen", matches[1])
    await expect(page.locator("#questions li").first.locator("select, input")).to_be_focused()
    await take_card(page, "烧", "burns")
    questions = page.locator("#questions li")
    assert await questions.evaluate_all("li => li.map(x => x.dataset.question)") == [
        q["id"] for q in burns["questions"]]
    await expect(questions.first.locator(".q-text")).to_have_text(burns["questions"][0]["text_zh"])
    size = page.locator("#questions li[data-question=burn_size]")
    choices = next(q["choices"] for q in burns["questions"] if q["id"] == "burn_size")
    await expect(size.locator("option")).to_have_text(["未知", *(c["label_zh"] for c in choices)])
    await page.fill("#caller", "13700000077")
    await page.fill("#complaint", "厨房着火，手臂烫伤")
    # nothing answered yet: the engine asks for consciousness and breathing first
    await expect(page.locator("#questions li[data-question=conscious]")).to_have_class(
        re.compile(r"\bask\b"))
    for question in ("conscious", "breathing", "breathing_normally"):
        await answer(page, question, "true")
    await expect(page.locator("#questions li[data-question=conscious]")).not_to_have_class(
        re.compile(r"\bask\b"))
    # a card-only question is still missing: asked next, by its wording
    await expect(size).to_have_class(re.compile(r"\bask\b"))
    await expect(size).to_contain_text("待问")
    await expect(page.locator("#ask-next")).to_contain_text("烧伤面积多大？")
    await expect(page.locator("#preview .badge")).to_have_text("IV 级 非急症")
    await expect(page.locator("#preview-transport")).to_have_text("急救转运")
    await answer(page, "burn_size", "large")
    await expect(page.locator("#preview .badge")).to_have_text("II 级 危重")
    await expect(page.locator("#preview-reasons li[data-rule=CC-BURN-LARGE]")).to_be_visible()
    await expect(page.locator("#preview-reasons li[data-rule='CARD-burns.conscious']")
                 ).to_contain_text("病人现在清醒吗")
    await expect(size).not_to_have_class(re.compile(r"\bask\b"))
    await screenshot(page, "console-card-zh.png")
    # the question in English when switched, its answer kept
    await page.click("#lang")
    await expect(questions.first.locator(".q-text")).to_have_text(burns["questions"][0]["text_en"])
    await expect(size.locator("select")).to_have_value("large")
    await expect(page.locator("#preview-transport")).to_have_text("Emergency transport")
    await page.click("#lang")

    await click_map_at(page, *SCENE)
    await page.click("#submit-call")
    row = page.locator("#queue tr.selected")
    await expect(row.locator(".badge")).to_have_text("II 级 危重")
    call_id = await row.get_attribute("data-call-id")
    call = await site.api("GET", f"/v1/calls/{call_id}")
    assert call["acuity"] == 2
    assert call["triage"]["card"] == "burns"
    assert call["triage"]["card_answers"] == {"conscious": True, "breathing": True,
                                              "breathing_normally": True, "burn_size": "large"}
    assert call["complaint"] == "厨房着火，手臂烫伤"
    await expect(page.locator("#call-reasons li[data-rule='CARD-burns.conscious']")).to_have_text(
        burns["questions"][0]["text_zh"] + " 是")
    await expect(page.locator("#call-reasons li[data-rule=CC-BURN-LARGE]")).to_be_visible()
    # the form is ready for the next call
    await expect(page.locator("#questions")).to_contain_text("请先选择主诉卡")
    await site.api("POST", f"/v1/calls/{call_id}/cancel", json={"reason": "test"})
    assert page.errors == []  # type: ignore[attr-defined]
