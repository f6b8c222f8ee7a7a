"""Estimated performance read through a real Prometheus from the scoring server's own counters.

The scoring server's collector (`ServerCollector`, as /metrics serves it) is exported on
127.0.0.1 for a binary classifier of Deployment `churn`; Prometheus scrapes it every
second while it counts nothing, then one batch of known probabilities is counted at
once, so the windowed counts are exact. DriftMonitors estimating Accuracy and RocAuc are
evaluated as the operator evaluates them (cache from plain objects, the Model's
spec.metrics as the reference), and their estimates are checked against the direct
computation on the same probabilities.
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
from scipy.special import expit

from modelkeeper.api.conditions import get_condition
from modelkeeper.api.driftmonitor import DriftMonitorConditionType, DriftMonitorResource, Level
from modelkeeper.controller.cache import Cache
from modelkeeper.controller.driftmonitor import DriftMonitors
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.drift.reference import ProfileStore
from modelkeeper.profile import NumericProfile, Profile
from modelkeeper.prometheus.client import ProviderPool
from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.metrics import Layout, ServerCollector, WorkerMetrics, shared_rows
from tests.ground.polling import eventually
from tests.ground.processes import free_port
from tests.ground.prometheus import Prometheus, static_scrape_config
from tests.support import objects as manifests
from tests.support.estimates import nannyml_roc_auc

NAMESPACE = "shop"
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


def live_rows() -> tuple[np.ndarray, np.ndarray]:
    """500 inputs near the decision boundary and the calibrated model's probabilities."""
    tenure = np.random.default_rng(4).normal(scale=0.4, size=500)
    second = expit(2 * tenure)
    return tenure, np.column_stack([1 - second, second])


@dataclass(frozen=True)
class Scraped:
    prometheus: Prometheus
    window: timedelta
    now: datetime


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    layout = Layout(PROFILE, ["tenure"], [], CLASSES)
    rows = shared_rows(1, layout.size)
    labels = {"deployment": "churn", "model": "churn", "version": VERSION, "role": "stable"}
    registry = CollectorRegistry()
    registry.register(ServerCollector(layout, rows, labels))
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
        count = 'modelkeeper_prediction_confidence_count{deployment="churn"}'
        eventually(lambda: prometheus.value(f"sum({count})") == 0, 30, "zeros are scraped")
        time.sleep(1.5)  # a second scrape at zero inside the window
        tenure, probabilities = live_rows()
        WorkerMetrics(layout, rows[0]).record_batch(
            FeatureBatch(tenure[:, np.newaxis], np.empty((tenure.size, 0), dtype=object)),
            Prediction(CLASSES[probabilities.argmax(axis=1)], probabilities),
            True,
        )
        eventually(lambda: prometheus.value(f"sum({count})") == 500, 30, "the batch is scraped")
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


def cache_of(metric: str, window: timedelta, profile_uri: str) -> Cache:
    """A monitor estimating `metric` of Deployment churn, which serves Model churn-3."""
    seconds = f"{int(window.total_seconds()) + 1}s"
    meta = {"namespace": NAMESPACE, "generation": 1}
    monitor = manifests.drift_monitor(
        "churn",
        "churn",
        interval=seconds,
        window=seconds,
        minSamples=100,
        estimatedPerformance={"metric": metric, "maxDrop": 0.05},
    )
    monitor["metadata"].update(meta)
    served = manifests.deployment("churn", "churn")
    served["metadata"].update(meta)
    served["status"] = {"stable": {"version": VERSION, "model": "churn-3"}}
    model = manifests.model(
        "churn-3",
        "churn",
        VERSION,
        image="registry.example.com/churn:3",
        reference={"uri": profile_uri},
        metrics=REFERENCE,
    )
    model["metadata"].update(meta)

    def index(body: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
        return {(NAMESPACE, body["metadata"]["name"]): [body]}

    return Cache(
        models=index(model),
        model_families={(NAMESPACE, "churn"): ["churn-3"]},
        deployments=index(served),
        deployment_families={(NAMESPACE, "churn"): ["churn"]},
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


@pytest.mark.parametrize("metric", ["Accuracy", "RocAuc"])
async def test_the_estimate_is_the_direct_computation_and_degrades(
    metric: str, scraped: Scraped, pool: ProviderPool, profile_uri: str
) -> None:
    cache = cache_of(metric, scraped.window, profile_uri)
    monitors = DriftMonitors(client=None, cache=cache, prometheus=pool, profiles=ProfileStore())  # type: ignore[arg-type]
    body = cache.drift_monitor(NAMESPACE, "churn")
    assert body is not None
    evaluation = await monitors.evaluate(
        NAMESPACE, DriftMonitorResource.from_object(body), scraped.now
    )
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
