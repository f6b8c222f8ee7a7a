"""A DriftMonitor's evaluation against a real Prometheus scraping known feature counts.

An exporter on 127.0.0.1 serves the scoring servers' feature counters (numeric
histograms with the profile's edges as `le`, categorical counters, missing counters) for
two Deployments of version 1.0.0: `steady`, whose live traffic looks like the
reference, and `shifted`, whose amounts moved up. Prometheus scrapes it every second
while the counters sit at zero; then they jump at once, as in the analysis tests, so
the windowed counts are exact. The monitor's whole evaluation runs as the operator runs
it (reference profile from a file:// URI, the queries, Prometheus, the verdict), with
the cache built from plain objects instead of the API server's watch: nothing here
needs the cluster.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from modelkeeper.api.conditions import get_condition
from modelkeeper.api.driftmonitor import (
    DriftMonitorConditionType,
    DriftMonitorResource,
    DriftState,
    Level,
)
from modelkeeper.controller.cache import Cache
from modelkeeper.controller.driftmonitor import DriftMonitors
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.drift.reference import ProfileStore
from modelkeeper.drift.scoring import Outcome
from modelkeeper.profile import CategoricalProfile, NumericProfile, Profile
from modelkeeper.prometheus.client import ProviderPool
from tests.ground.polling import eventually
from tests.ground.processes import free_port
from tests.ground.prometheus import Prometheus, static_scrape_config
from tests.support import objects as manifests

NAMESPACE = "shop"
VERSION = "1.0.0"
EDGES = [0.0, 1.0, 2.5, 4.0]
PROFILE = Profile(
    rows=6000,
    features=[
        NumericProfile(
            name="amount",
            edges=EDGES,
            counts=[20, 1990, 2000, 1990, 0],
            missing=0,
            mean=2.0,
            std=1.1,
        ),
        CategoricalProfile(
            name="country", categories=["de", "fr"], counts=[3000, 2000, 1000], missing=0
        ),
    ],
)
# deployment -> feature -> live counts per profile bin, added at the jump
LIVE = {
    "steady": {"amount": [2, 198, 203, 197, 0], "country": [301, 199, 100]},
    "shifted": {"amount": [0, 20, 80, 300, 200], "country": [290, 210, 100]},
}
MISSING = {"steady": 0, "shifted": 12}


class FeatureCounters:
    """The scoring servers' feature counters of both Deployments, all zero until `jump`."""

    def __init__(self) -> None:
        self.jumped = False

    def collect(self) -> Iterator[Metric]:
        labels = ["deployment", "model", "version", "role", "feature"]
        histogram = HistogramMetricFamily("modelkeeper_feature_value", "", labels=labels)
        categories = CounterMetricFamily(
            "modelkeeper_feature_category", "", labels=[*labels, "category"]
        )
        missing = CounterMetricFamily("modelkeeper_feature_missing", "", labels=labels)
        for deployment, features in LIVE.items():
            server = [deployment, "fraud", VERSION, "stable"]
            scale = 1 if self.jumped else 0
            cumulative = np.cumsum(features["amount"]) * scale
            histogram.add_metric(
                [*server, "amount"],
                buckets=[
                    (repr(edge), float(count))
                    for edge, count in zip(EDGES, cumulative, strict=False)
                ]
                + [("+Inf", float(cumulative[-1]))],
                sum_value=0.0,
            )
            names = ["de", "fr", "__other__"]
            for name, count in zip(names, features["country"], strict=True):
                categories.add_metric([*server, "country", name], count * scale)
            missing.add_metric([*server, "amount"], MISSING[deployment] * scale)
        yield from (histogram, categories, missing)


@dataclass(frozen=True)
class Scraped:
    """Prometheus after the jump, and the window that holds it."""

    prometheus: Prometheus
    window: timedelta
    now: datetime


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    counters = FeatureCounters()
    registry = CollectorRegistry()
    registry.register(counters)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    job = {
        "job_name": "modelkeeper",
        "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"namespace": NAMESPACE}}],
    }
    prometheus = Prometheus.serve(
        tmp_path_factory.mktemp("prometheus"), static_scrape_config([job])
    )
    try:
        started = time.time()
        infinite = 'modelkeeper_feature_value_bucket{deployment="steady",le="+Inf"}'
        eventually(lambda: prometheus.value(f"sum({infinite})") == 0, 30, "zeros are scraped")
        time.sleep(1.5)  # a second scrape at zero inside the window
        counters.jumped = True
        eventually(lambda: prometheus.value(f"sum({infinite})") == 600, 30, "the jump is scraped")
        time.sleep(2.5)
        last_scrape = prometheus.value('timestamp(up{job="modelkeeper"})')
        assert last_scrape is not None
        window = timedelta(seconds=last_scrape - started)
        yield Scraped(prometheus, window, datetime.fromtimestamp(last_scrape, UTC))
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()
        thread.join(5)


def objects(deployment: str, window: timedelta, profile_uri: str) -> Cache:
    """The cache as the operator's watch would fill it: a monitor, its Deployment, its Model."""
    seconds = f"{int(window.total_seconds()) + 1}s"
    meta = {"namespace": NAMESPACE, "generation": 1}
    monitor = manifests.drift_monitor(
        deployment,
        deployment,
        interval=seconds,
        window=seconds,
        hysteresis={"enterAfter": 1},
        minSamples=100,
    )
    monitor["metadata"].update(meta)
    served = manifests.deployment(deployment, "fraud")
    served["metadata"].update(meta)
    served["status"] = {"stable": {"version": VERSION, "model": "fraud-1-0-0"}}
    model = manifests.model(
        "fraud-1-0-0",
        "fraud",
        VERSION,
        image="registry.example.com/fraud:1.0.0",
        reference={"uri": profile_uri},
    )
    model["metadata"].update(meta)

    def index(body: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
        return {(NAMESPACE, body["metadata"]["name"]): [body]}

    return Cache(
        models=index(model),
        model_families={(NAMESPACE, "fraud"): ["fraud-1-0-0"]},
        deployments=index(served),
        deployment_families={(NAMESPACE, "fraud"): [deployment]},
        drift_monitors=index(monitor),
        retrain_policies={},
        retrain_policy_families={},
    )


@pytest.fixture
def profile_uri(tmp_path: Path) -> str:
    path = tmp_path / "profile.json"
    path.write_text(PROFILE.model_dump_json())
    return f"file://{path}"


@pytest.fixture
async def pool(scraped: Scraped) -> AsyncIterator[ProviderPool]:
    providers = ProviderPool(
        OperatorSettings.model_validate(
            {"prometheus_url": scraped.prometheus.url, "prometheus_timeout_seconds": 5}
        )
    )
    yield providers
    await providers.close()


async def evaluate(
    deployment: str, scraped: Scraped, pool: ProviderPool, profile_uri: str
) -> tuple[Any, DriftMonitorResource]:
    cache = objects(deployment, scraped.window, profile_uri)
    monitors = DriftMonitors(client=None, cache=cache, prometheus=pool, profiles=ProfileStore())  # type: ignore[arg-type]
    body = cache.drift_monitor(NAMESPACE, deployment)
    assert body is not None
    monitor = DriftMonitorResource.from_object(body)
    return await monitors.evaluate(NAMESPACE, monitor, scraped.now), monitor


async def test_traffic_like_the_reference_is_ok(
    scraped: Scraped, pool: ProviderPool, profile_uri: str
) -> None:
    evaluation, _ = await evaluate("steady", scraped, pool, profile_uri)
    status = evaluation.status
    assert evaluation.outcome == Outcome.OK, status.message
    assert status.state == DriftState.OK
    assert status.model_version == VERSION
    assert [(f.name, f.samples, f.level) for f in status.features] == [
        ("amount", 600, Level.OK),
        ("country", 600, Level.OK),
    ]
    ready = get_condition(status.conditions, DriftMonitorConditionType.READY)
    assert ready is not None
    assert (ready.status, ready.reason) == ("True", "Evaluated")


async def test_shifted_traffic_is_critical_and_drifts(
    scraped: Scraped, pool: ProviderPool, profile_uri: str
) -> None:
    evaluation, _ = await evaluate("shifted", scraped, pool, profile_uri)
    status = evaluation.status
    assert evaluation.outcome == Outcome.CRITICAL, status.message
    assert status.state == DriftState.DRIFTED  # enterAfter 1
    amount, country = status.features
    assert (amount.name, amount.samples, amount.level) == ("amount", 600, Level.CRITICAL)
    assert country.level == Level.OK
    assert status.message.startswith("Drifted: critical in 1 evaluations in a row; amount")


async def test_prometheus_stopped_is_unknown_never_drifted(
    scraped: Scraped, pool: ProviderPool, profile_uri: str
) -> None:
    """Last in this module: it stops the module's Prometheus."""
    scraped.prometheus.stop()
    evaluation, _ = await evaluate("shifted", scraped, pool, profile_uri)
    status = evaluation.status
    assert evaluation.outcome == Outcome.UNKNOWN
    assert status.state == DriftState.UNKNOWN
    ready = get_condition(status.conditions, DriftMonitorConditionType.READY)
    assert ready is not None
    assert (ready.status, ready.reason) == ("False", "PrometheusUnavailable")
    assert f"Prometheus at {scraped.prometheus.url} unreachable" in status.message
    assert status.critical_streak == 0
