"""A DriftMonitor's evaluation against a real Prometheus scraping known feature counts.

An exporter on 127.0.0.1 serves the scoring servers' feature counters (numeric
histograms with the profile's edges as `le`, categorical counters, missing counters) for
two Deployments of version 1.0.0: `steady`, whose live traffic looks like the
reference, and `shifted`, whose amounts moved up; they jump from zero at once
(`scraping.scraped_jump`), so the windowed counts are exact. The monitor's whole
evaluation runs as the operator runs it (reference profile from a file:// URI, the
queries, Prometheus, the verdict).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from modelkeeper.api.conditions import get_condition
from modelkeeper.api.driftmonitor import (
    DriftMonitorConditionType,
    DriftMonitorResource,
    DriftState,
    Level,
)
from modelkeeper.controller.cache import Cache
from modelkeeper.drift.scoring import Outcome
from modelkeeper.drift.state import Evaluation
from modelkeeper.profile import CategoricalProfile, NumericProfile, Profile
from modelkeeper.prometheus.client import ProviderPool
from tests.integration.drift.scraping import Scraped, scraped_jump, watching
from tests.integration.drift.scraping import evaluate as evaluate_monitor
from tests.support import objects as manifests

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


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    counters = FeatureCounters()
    registry = CollectorRegistry()
    registry.register(counters)
    infinite = 'modelkeeper_feature_value_bucket{deployment="steady",le="+Inf"}'

    def jump() -> None:
        counters.jumped = True

    folder = tmp_path_factory.mktemp("prometheus")
    with scraped_jump(folder, registry, f"sum({infinite})", 600, jump) as scraped:
        yield scraped


def objects(deployment: str, window: timedelta, profile_uri: str) -> Cache:
    """A monitor of `deployment`, which serves Model fraud-1-0-0."""
    seconds = f"{int(window.total_seconds()) + 1}s"
    monitor = manifests.drift_monitor(
        deployment,
        deployment,
        interval=seconds,
        window=seconds,
        hysteresis={"enterAfter": 1},
        minSamples=100,
    )
    served = manifests.deployment(deployment, "fraud")
    served["status"] = {"stable": {"version": VERSION, "model": "fraud-1-0-0"}}
    model = manifests.model(
        "fraud-1-0-0",
        "fraud",
        VERSION,
        image="registry.example.com/fraud:1.0.0",
        reference={"uri": profile_uri},
    )
    return watching(monitor, served, model)


async def evaluate(
    deployment: str, scraped: Scraped, pool: ProviderPool, profile_uri: str
) -> tuple[Evaluation, DriftMonitorResource]:
    return await evaluate_monitor(
        objects(deployment, scraped.window, profile_uri), deployment, pool, scraped.now
    )


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
