"""Estimated performance read through a real Prometheus from the scoring server's own counters.

The scoring server's collector (`ServerCollector`, as /metrics serves it) is exported on
127.0.0.1 for a binary classifier of Deployment `churn`; it counts nothing, then one
batch of known probabilities at once (`scraping.scraped_jump`), so the windowed counts
are exact. DriftMonitors estimating Accuracy and RocAuc are
evaluated as the operator evaluates them (cache from plain objects, the Model's
spec.metrics as the reference), and their estimates are checked against the direct
computation on the same probabilities.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import numpy.typing as npt
import pytest
from prometheus_client import CollectorRegistry
from scipy.special import expit

from modelkeeper.api.conditions import get_condition
from modelkeeper.api.driftmonitor import DriftMonitorConditionType, Level
from modelkeeper.controller.cache import Cache
from modelkeeper.profile import NumericProfile, Profile
from modelkeeper.prometheus.client import ProviderPool
from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.metrics import Layout, ServerCollector, WorkerMetrics, shared_rows
from tests.integration.drift.scraping import Scraped, evaluate, scraped_jump, watching
from tests.support import objects as manifests
from tests.support.estimates import nannyml_roc_auc

VERSION = "3"
CLASSES = np.array([0, 1])
PROFILE = Profile(
    rows=1000,
    features=[
        NumericProfile(
            name="tenure",
            edges=[-1.0, 0.0, 1.0],
            counts=[160, 340, 340, 160],
            missing=0,
            mean=0.0,
            std=1.0,
        )
    ],
)
REFERENCE = {"accuracy": 0.9, "roc_auc": 0.95}
"""The Model's offline figures; the live rows are near the boundary, so both fall."""


def live_rows() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """500 inputs near the decision boundary and the calibrated model's probabilities."""
    tenure = np.random.default_rng(4).normal(scale=0.4, size=500)
    second = expit(2 * tenure)
    return tenure, np.column_stack([1 - second, second])


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    layout = Layout(PROFILE, ["tenure"], [], CLASSES)
    rows = shared_rows(1, layout.size)
    labels = {"deployment": "churn", "model": "churn", "version": VERSION, "role": "stable"}
    registry = CollectorRegistry()
    registry.register(ServerCollector(layout, rows, labels))

    def jump() -> None:
        tenure, probabilities = live_rows()
        WorkerMetrics(layout, rows[0]).record_batch(
            FeatureBatch(tenure[:, np.newaxis], np.empty((tenure.size, 0), dtype=object)),
            Prediction(CLASSES[probabilities.argmax(axis=1)], probabilities),
            True,
            True,
        )

    count = 'sum(modelkeeper_prediction_confidence_count{deployment="churn"})'
    with scraped_jump(tmp_path_factory.mktemp("prometheus"), registry, count, 500, jump) as found:
        yield found


def cache_of(metric: str, window: timedelta, profile_uri: str) -> Cache:
    """A monitor estimating `metric` of Deployment churn, which serves Model churn-3."""
    seconds = f"{int(window.total_seconds()) + 1}s"
    monitor = manifests.drift_monitor(
        "churn",
        "churn",
        interval=seconds,
        window=seconds,
        minSamples=100,
        estimatedPerformance={"metric": metric, "maxDrop": 0.05},
    )
    served = manifests.deployment("churn", "churn")
    served["status"] = {"stable": {"version": VERSION, "model": "churn-3"}}
    model = manifests.model(
        "churn-3",
        "churn",
        VERSION,
        image="registry.example.com/churn:3",
        reference={"uri": profile_uri},
        metrics=REFERENCE,
    )
    return watching(monitor, served, model)


@pytest.mark.parametrize("metric", ["Accuracy", "RocAuc"])
async def test_the_estimate_is_the_direct_computation_and_degrades(
    metric: str, scraped: Scraped, pool: ProviderPool, profile_uri: str
) -> None:
    cache = cache_of(metric, scraped.window, profile_uri)
    evaluation, _ = await evaluate(cache, "churn", pool, scraped.now)
    estimate = evaluation.status.estimated_performance
    assert estimate is not None, evaluation.status.message
    _, probabilities = live_rows()
    if metric == "Accuracy":
        direct, tolerance = float(probabilities.max(axis=1).mean()), 1e-9
        reference = REFERENCE["accuracy"]
    else:
        direct, tolerance = nannyml_roc_auc(probabilities[:, 1]), 0.005
        reference = REFERENCE["roc_auc"]
    assert estimate.samples == 500
    assert estimate.reference == reference
    assert estimate.value == pytest.approx(direct, abs=tolerance)
    assert estimate.level == Level.CRITICAL
    degraded = get_condition(
        evaluation.status.conditions, DriftMonitorConditionType.PERFORMANCE_DEGRADED
    )
    assert degraded is not None
    assert (degraded.status, degraded.reason) == ("True", "EstimateBeyondBound")
