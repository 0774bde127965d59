"""The collector's setting is the serving process's choice: `dispatch serve` applies it once
its app has started, `create_app` alone leaves the process's collector as it found it."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from asgi_lifespan import LifespanManager

from dispatch.gc_tuning import GEN0_THRESHOLD
from tests.conftest import drop_isolation, isolated_settings


@pytest.fixture
def default_collector() -> Iterator[tuple[int, int, int]]:
    """The process's collector set to CPython's defaults for the test, restored after."""
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


async def test_create_app_leaves_the_collector_alone(
    default_collector: tuple[int, int, int],
) -> None:
    from dispatch.app import create_app

    settings = isolated_settings()
    try:
        async with LifespanManager(create_app(settings), startup_timeout=60):
            assert gc.get_threshold() == default_collector
    finally:
        await drop_isolation(settings)


async def test_the_served_app_tunes_the_collector_once_started(
    default_collector: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dispatch.cli import served_app

    settings = isolated_settings()
    for name, value in settings.model_dump(include={
            "database_url", "redis_url", "db_schema", "redis_prefix", "jwt_secret"}).items():
        monkeypatch.setenv(f"DISPATCH_{name.upper()}", str(value))
    try:
        app = served_app()
        assert gc.get_threshold() == default_collector  # not before its connections open
        async with LifespanManager(app, startup_timeout=60):
            assert gc.get_threshold()[0] == GEN0_THRESHOLD
            assert gc.get_freeze_count() > 0
    finally:
        await drop_isolation(settings)
