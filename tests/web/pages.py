"""Helpers for the browser tests: a signed-in page, screenshots, page errors."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.web.conftest import SCREENS, Site


async def signed_in(browser: Browser, site: Site, name: str, *, lang: str = "zh",
                    width: int = 1440, height: int = 900,
                    geolocation: dict[str, float] | None = None) -> Page:
    """A fresh browser context signed in as `name` through the sign-in page (its clock in
    UTC: the pages must show the centre's zone whatever the browser's is)."""
    context = await browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="UTC",
        geolocation=geolocation, permissions=["geolocation"] if geolocation else [])
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{site.url}/")
    await page.evaluate(f"localStorage.setItem('dispatch.lang', '{lang}')")
    await page.reload()
    await page.fill("#name", name)
    await page.fill("#password", site.passwords[name])
    await page.click("button[type=submit]")
    await page.wait_for_url(lambda url: not url.endswith("/"))
    await expect(page.locator("#link")).to_have_attribute("data-state", "connected")
    return page


async def screenshot(page: Page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENS / name))
