"""The console under load (issue 17): 500 vehicles and 200 queued calls. Measures the
first paint of the queue and the fleet, and the page's cost of one 1 Hz positions
message moving all 500 vehicles (handled and drawn, to the next animation frame)."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, expect

from dispatch.domain import Role
from tests.service.city import CENTRE, city
from tests.web.conftest import Site, start_site
from tests.web.pages import signed_in

VEHICLES = 500
CALLS = 200


@pytest.fixture(scope="module")
async def busy() -> AsyncIterator[Site]:
    async with start_site(city(n_vehicles=VEHICLES, kinds=("als", "bls")),
                          users=[("disp1", Role.DISPATCHER, {})]) as site:
        rng = random.Random(5)
        at = datetime.now(UTC).isoformat()

        async def one(i: int) -> None:
            lon, lat = CENTRE[0] + rng.uniform(-0.08, 0.08), CENTRE[1] + rng.uniform(-0.08, 0.08)
            await site.api("POST", "/v1/calls", json={
                "caller_number": f"139{i:08d}", "complaint": "胸痛" if i % 3 else "跌倒",
                "answers": {"conscious": True, "breathing": i % 7 != 0},
                "fixes": [{"lon": lon, "lat": lat, "accuracy_m": 30, "source": "gnss",
                           "observed_at": at}], "received_at": at, "answered_at": at})

        for start in range(0, CALLS, 20):
            await asyncio.gather(*(one(i) for i in range(start, start + 20)))
        yield site


async def test_console_stays_responsive_with_500_vehicles_and_200_calls(
    busy: Site, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    page = await signed_in(browser, busy, "disp1")
    started = time.monotonic()
    await page.reload()
    await expect(page.locator("#queue tr")).to_have_count(CALLS, timeout=15000)
    await expect(page.locator("#count-available")).to_have_text(str(VEHICLES))
    first_paint_s = time.monotonic() - started

    # one positions message a second moving every vehicle, fed through the page's handler
    timings = await page.evaluate("""async ([n, frames]) => {
        const ids = [...dispatchMap.vehicles.keys()].slice(0, n);
        const out = [];
        for (let f = 0; f < frames; f++) {
          const vehicles = ids.map((id, i) => ({vehicle_id: id, call_id: null,
            lon: 118.7 + ((i * 37 + f) % 1000) / 6000, lat: 31.95 + ((i * 53 + f) % 1000) / 6000,
            at: new Date().toISOString()}));
          const data = JSON.stringify({type: "event", id: `${Date.now()}-${f}`,
            kind: "positions", data: {vehicles}});
          const t0 = performance.now();
          consoleLive.ws.onmessage({data});
          await new Promise((r) => requestAnimationFrame(() => r()));
          out.push(performance.now() - t0);
        }
        return out;
    }""", [VEHICLES, 20])
    timings.sort()
    median_ms, worst_ms = timings[len(timings) // 2], timings[-1]
    moved = await page.evaluate("dispatchMap.vehicles.size")
    assert moved >= VEHICLES
    # a frame of work at 1 Hz must leave the page free: well under one second, and
    # under a 60 Hz frame's budget on a developer machine (10x slack for shared CI)
    assert median_ms < 160, timings
    # and a keypress still selects a call at once
    t0 = time.monotonic()
    await page.locator("#queue tr").first.focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#detail")).to_be_visible()
    select_s = time.monotonic() - t0
    report = (f"console with {VEHICLES} vehicles and {CALLS} calls: first paint "
              f"{first_paint_s:.2f} s; a positions message moving every vehicle "
              f"{median_ms:.1f} ms median, {worst_ms:.1f} ms worst (to the next frame); "
              f"selecting a call {select_s:.2f} s\n")
    with capsys.disabled():
        sys.stdout.write(report)  # the figures docs/benchmarks.md records
    assert first_paint_s < 10, report
    assert select_s < 3, report
    assert page.errors == []  # type: ignore[attr-defined]
