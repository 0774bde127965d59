"""`GET /v1/indicators?format=csv` as a director opens it: zh-CN by default, English with
`lang=en`; districts and stations by name (their ids beside), hours in the centre's time."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Service, running_service
from tests.metrics.test_indicators_api import CLOCK, _run_call
from tests.service.city import city


@pytest.fixture
async def service() -> AsyncIterator[Service]:
    """A service whose requests' clock the call chain of `_run_call` sets."""
    async with running_service(clock=CLOCK) as s:
        yield s


def _chinese_city() -> dict[str, Any]:
    collection = city(n_vehicles=2)
    for feature in collection["features"]:
        props = feature["properties"]
        if props["type"] == "district":
            props["name"] = "玄武区"
        elif props["type"] == "station":
            props["name"] = "鼓楼急救站"
    return collection


def _rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # Excel on a Chinese Windows reads it as UTF-8
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


async def test_csv_is_chinese_with_names_and_local_hours(service: Service) -> None:
    await service.load(_chinese_city())
    now = datetime.now(UTC)
    await _run_call(service, turnout_s=60, now=now)
    await _run_call(service, turnout_s=240, now=now)
    params = {"from": (now - timedelta(hours=1)).isoformat(),
              "to": (now + timedelta(hours=1)).isoformat(), "format": "csv"}
    r = await service.client.get("/v1/indicators", params={**params, "by": "district,station"},
                                 headers=service.auth())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    rows = _rows(r.text)
    group, total = rows
    assert group["区县"] == "玄武区" and group["区县编码"] == "D1"
    assert group["急救站"] == "鼓楼急救站" and group["急救站编码"] == "S1"
    assert group["呼救数"] == "2"
    assert (group["3分钟出车率（%）"], group["3分钟出车率 达标数"],
            group["3分钟出车率 统计数"]) == ("50.0", "1", "2")
    assert "出车准备时间 P90（秒）" in group
    assert total["区县"] == "合计" and total["呼救数"] == "2"

    r = await service.client.get("/v1/indicators", params={**params, "by": "hour"},
                                 headers=service.auth())
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    assert _rows(r.text)[0]["时段"] == f"{local:%Y-%m-%d %H}时"

    r = await service.client.get("/v1/indicators",
                                 params={**params, "by": "district", "lang": "en"},
                                 headers=service.auth())
    group = _rows(r.text)[0]
    assert group["district"] == "玄武区" and group["district id"] == "D1"
    assert group["3-minute departure rate (%)"] == "50.0"


async def test_csv_refuses_an_unknown_language(service: Service) -> None:
    now = datetime.now(UTC)
    r = await service.client.get("/v1/indicators", params={
        "from": now.isoformat(), "to": (now + timedelta(hours=1)).isoformat(),
        "format": "csv", "lang": "fr"}, headers=service.auth())
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "lang"
