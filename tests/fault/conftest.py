"""The fault suite's fixture: a deployment of its own, for one test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fault.stack import Stack, stack


@pytest.fixture
async def two_instances() -> AsyncIterator[Stack]:
    """Private PostgreSQL and Redis, two service instances on them, the Nanjing demo loaded."""
    async with stack(instances=2) as s:
        yield s
