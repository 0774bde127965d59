"""Error answers carry a sentence in the client's language beside the stable code."""

from __future__ import annotations

from uuid import uuid4

from dispatch.lang import preferred_lang
from tests.conftest import Service


async def test_an_error_is_explained_in_chinese_beside_its_code(service: Service) -> None:
    bad = {"caller_number": "not-a-number"}
    r = await service.client.post("/v1/calls", json=bad, headers={
        **service.auth(), "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_input"  # the stable code, for programs
    assert body["message"] == "输入有误，请按提示修改所列字段。"
    assert any(d["field"] == "caller_number" for d in body["detail"])
    assert "Accept-Language" in r.headers["vary"]
    assert int(r.headers["content-length"]) == len(r.content)


async def test_english_when_asked_and_chinese_by_default(service: Service) -> None:
    path = f"/v1/calls/{uuid4()}"
    r = await service.client.get(path, headers={**service.auth(), "Accept-Language": "en-GB"})
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    assert r.json()["message"] == "The record asked for does not exist."
    r = await service.client.get(path, headers=service.auth())
    assert r.json()["message"] == "未找到所请求的记录。"


async def test_unauthenticated_keeps_its_challenge(service: Service) -> None:
    r = await service.client.get("/v1/calls", headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"] == "unauthenticated"
    assert r.json()["message"].startswith("未登录")


def test_accept_language_weights() -> None:
    assert preferred_lang(None) == "zh-CN"
    assert preferred_lang("fr-FR, de") == "zh-CN"  # neither of ours: the default
    assert preferred_lang("fr, en;q=0.5") == "en"
    assert preferred_lang("en;q=0.4, zh-CN;q=0.8") == "zh-CN"
    assert preferred_lang("zh-TW;q=0, en") == "en"
    assert preferred_lang("en-US,en;q=0.9,zh-CN;q=0.8") == "en"
