"""The drift integration tests' fixtures: the operator's view of the module's Prometheus,
and the module's reference profile at a file:// URI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.prometheus.client import ProviderPool
from tests.integration.drift.scraping import Scraped


@pytest.fixture
async def pool(scraped: Scraped) -> AsyncIterator[ProviderPool]:
    """Providers of the module's `scraped` Prometheus, as the operator makes them."""
    providers = ProviderPool(
        OperatorSettings.model_validate(
            {"prometheus_url": scraped.prometheus.url, "prometheus_timeout_seconds": 5}
        )
    )
    yield providers
    await providers.close()


@pytest.fixture
def profile_uri(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The test module's PROFILE, written where the operator reads it."""
    path = tmp_path / "profile.json"
    path.write_text(request.module.PROFILE.model_dump_json())
    return f"file://{path}"
