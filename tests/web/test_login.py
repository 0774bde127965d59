"""Signing in and out, and the 'session expired' screen, in a real browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from playwright.async_api import Browser, expect

from dispatch.auth import issue_token
from dispatch.domain import Role
from tests.web.conftest import Site
from tests.web.pages import screenshot, signed_in


async def test_wrong_password_is_refused_on_the_page(site: Site, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{site.url}/console")  # not signed in: to the sign-in page
    await page.wait_for_url(f"{site.url}/?next=%2Fconsole")
    await expect(page.locator("h2")).to_have_text("登录")
    await page.fill("#name", "disp1")
    await page.fill("#password", "not-the-password")
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_have_text("用户名或密码错误")
    await screenshot(page, "login-zh.png")
    await page.fill("#password", site.passwords["disp1"])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{site.url}/console")


async def test_sign_out_drops_the_token(site: Site, browser: Browser) -> None:
    page = await signed_in(browser, site, "ed-h01")
    assert page.url.endswith("/ed")  # a hospital user lands on its board
    await page.click("#logout")
    await page.wait_for_url(f"{site.url}/")
    assert await page.evaluate("sessionStorage.getItem('dispatch.session')") is None
    await page.goto(f"{site.url}/ed")
    await page.wait_for_url(f"{site.url}/?next=%2Fed")


async def test_an_expired_token_shows_the_session_expired_screen(
    site: Site, browser: Browser
) -> None:
    page = await signed_in(browser, site, "disp1")
    # the server refuses the token (expired): the websocket and the API say so
    stale = issue_token(secret=site.settings.jwt_secret, issuer=site.settings.jwt_issuer,
                        subject="disp1", role=Role.DISPATCHER,
                        now=datetime.now(UTC) - timedelta(hours=2), ttl_s=60)
    login = json.loads(await page.evaluate("sessionStorage.getItem('dispatch.session')"))
    login["token"] = stale
    await page.evaluate("s => sessionStorage.setItem('dispatch.session', s)", json.dumps(login))
    await page.reload()
    await expect(page.locator(".expired h1")).to_have_text("会话已过期")
    await expect(page.locator(".expired")).to_contain_text("Session expired")
    # the link says it is down for good, not that it is reconnecting
    await expect(page.locator("#link")).to_have_text("未连接")
    await screenshot(page, "expired-zh.png")
    await page.click(".expired a")
    await page.wait_for_url(f"{site.url}/?next=%2Fconsole")


async def test_the_page_shows_expiry_when_the_token_runs_out(
    site: Site, browser: Browser
) -> None:
    page = await signed_in(browser, site, "crew-v001", lang="en")
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    login = json.loads(await page.evaluate("sessionStorage.getItem('dispatch.session')"))
    login["expires_at"] = soon
    await page.evaluate("s => sessionStorage.setItem('dispatch.session', s)", json.dumps(login))
    await page.reload()
    await expect(page.locator(".expired h1")).to_have_text("Session expired", timeout=5000)


async def test_a_page_the_role_may_not_open_sends_it_home_not_round(
    site: Site, browser: Browser
) -> None:
    page = await signed_in(browser, site, "ed-h01")
    await page.goto(f"{site.url}/console")  # a hospital user may not use the console
    await page.wait_for_url(f"{site.url}/?next=%2Fconsole")
    await expect(page.locator("#login-error")).to_have_text(
        "当前账号不能打开该页面，请用有权限的账号登录 (ed-h01)")
    # signing in (again) lands on the role's own page, not back on the refused one
    await page.fill("#name", "ed-h01")
    await page.fill("#password", site.passwords["ed-h01"])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{site.url}/ed")
    await expect(page.locator("#link")).to_have_attribute("data-state", "connected")
    # the console stopped itself on finding no dispatcher: nothing else went wrong
    assert page.errors == ["not signed in"]  # type: ignore[attr-defined]
