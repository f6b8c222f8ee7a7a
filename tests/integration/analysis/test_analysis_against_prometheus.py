"""Canary and shadow analysis against a real Prometheus scraping known counts.

An exporter on 127.0.0.1 serves the scoring servers' and the router's metrics for
three Deployments (labelled like the real ones; `namespace` is added by the scrape
config, as relabelling does in a cluster). Prometheus scrapes it every second while
the counters sit at zero, then every counter jumps at once to the values below, so
that every ratio over a window holding the jump is exact, whatever Prometheus'
extrapolation does to the counts themselves.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from scipy.spatial.distance import jensenshannon

from modelkeeper.analysis.run import analyse, judge_shadow
from modelkeeper.analysis.templates import Subject
from modelkeeper.api.deployment import AnalysisPhase, AnalysisStatus
from modelkeeper.api.strategy import Analysis, Shadow
from modelkeeper.prometheus.client import PrometheusProvider
from modelkeeper.prometheus.promql import Sample
from tests.ground.polling import eventually
from tests.ground.prometheus import Prometheus, scraping, static_scrape_config

NAMESPACE = "shop"
STABLE, CANDIDATE = "v1", "v2"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1)


@dataclass(frozen=True)
class Traffic:
    """What one version of one Deployment served between the two scrapes around the jump."""

    ok: int
    errors: int
    classes: dict[str, int]
    latency: float
    """Every request took this long (seconds)."""


# deployment -> version -> traffic
TRAFFIC = {
    "passing": {
        STABLE: Traffic(990, 10, {"fraud": 100, "legit": 900}, 0.02),
        CANDIDATE: Traffic(198, 2, {"fraud": 20, "legit": 180}, 0.02),
    },
    "failing": {
        STABLE: Traffic(990, 10, {"fraud": 100, "legit": 900}, 0.02),
        CANDIDATE: Traffic(176, 24, {"fraud": 100, "legit": 100}, 0.04),
    },
    "quiet": {
        STABLE: Traffic(990, 10, {"fraud": 100, "legit": 900}, 0.02),
        CANDIDATE: Traffic(30, 0, {"fraud": 3, "legit": 27}, 0.02),
    },
}
# The router's view of the "passing" Deployment's shadow (backend v2).
MIRROR_OUTCOMES = {"agree": 190, "disagree": 5, "shadow_error": 5, "dropped": 50}
ROW_OUTCOMES = {"agree": 380, "disagree": 20}
SHADOW_LATENCY, STABLE_LATENCY = 0.04, 0.02


def quantile_in_bucket(q: float, latency: float) -> float:
    """histogram_quantile's answer when every observation fell in the bucket of `latency`."""
    upper = next(edge for edge in LATENCY_BUCKETS if latency <= edge)
    lower = max((edge for edge in LATENCY_BUCKETS if edge < upper), default=0.0)
    return lower + (upper - lower) * q


def servers() -> Iterator[tuple[tuple[str, str, str, str], Traffic]]:
    """Each scoring-server label set (deployment, model, version, role) and its traffic."""
    for deployment, versions in TRAFFIC.items():
        for version, traffic in versions.items():
            yield (
                (deployment, "fraud", version, "stable" if version == STABLE else "canary"),
                traffic,
            )


class Exporter:
    """The scoring servers' and the router's metrics, all at zero until `jump`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        server_labels = ["deployment", "model", "version", "role"]
        router_labels = ["deployment", "model", "backend"]
        self.requests = Counter(
            "modelkeeper_requests", "", [*server_labels, "endpoint", "code"], registry=self.registry
        )
        self.duration = Histogram(
            "modelkeeper_request_duration_seconds",
            "",
            [*server_labels, "endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.predictions = Counter(
            "modelkeeper_predictions", "", [*server_labels, "class"], registry=self.registry
        )
        self.mirrors = Counter(
            "modelkeeper_router_mirror_requests",
            "",
            [*router_labels, "outcome"],
            registry=self.registry,
        )
        self.rows = Counter(
            "modelkeeper_router_shadow_predictions",
            "",
            [*router_labels, "outcome"],
            registry=self.registry,
        )
        self.upstream = Histogram(
            "modelkeeper_router_upstream_latency_seconds",
            "",
            [*router_labels, "role"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        for server, traffic in servers():
            for code in ("200", "500"):
                self.requests.labels(*server, "infer", code)
            self.duration.labels(*server, "infer")
            for label in traffic.classes:
                self.predictions.labels(*server, label)
        for outcome in MIRROR_OUTCOMES:
            self.mirrors.labels("passing", "fraud", CANDIDATE, outcome)
        for outcome in ROW_OUTCOMES:
            self.rows.labels("passing", "fraud", CANDIDATE, outcome)
        self.upstream.labels("passing", "fraud", CANDIDATE, "shadow")
        self.upstream.labels("passing", "fraud", STABLE, "stable")

    def jump(self) -> None:
        for server, traffic in servers():
            self.requests.labels(*server, "infer", "200").inc(traffic.ok)
            self.requests.labels(*server, "infer", "500").inc(traffic.errors)
            for _ in range(traffic.ok + traffic.errors):
                self.duration.labels(*server, "infer").observe(traffic.latency)
            for label, count in traffic.classes.items():
                self.predictions.labels(*server, label).inc(count)
        for outcome, count in MIRROR_OUTCOMES.items():
            self.mirrors.labels("passing", "fraud", CANDIDATE, outcome).inc(count)
        for outcome, count in ROW_OUTCOMES.items():
            self.rows.labels("passing", "fraud", CANDIDATE, outcome).inc(count)
        sent = sum(count for outcome, count in MIRROR_OUTCOMES.items() if outcome != "dropped")
        for _ in range(sent):
            self.upstream.labels("passing", "fraud", CANDIDATE, "shadow").observe(SHADOW_LATENCY)
        for _ in range(1000):
            self.upstream.labels("passing", "fraud", STABLE, "stable").observe(STABLE_LATENCY)


@dataclass(frozen=True)
class Scraped:
    """Prometheus after the jump, and the window that holds it."""

    url: str
    window: timedelta
    now: datetime

    def subject(self, deployment: str, *, compare: bool = True) -> Subject:
        return Subject(NAMESPACE, deployment, "fraud", STABLE, CANDIDATE, self.window, compare)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    exporter = Exporter()
    folder = tmp_path_factory.mktemp("prometheus")
    with scraping(exporter.registry, folder, namespace=NAMESPACE) as prometheus:
        started = time.time()
        candidate = f'modelkeeper_requests_total{{deployment="passing",version="{CANDIDATE}"}}'
        eventually(lambda: prometheus.value(f"sum({candidate})") == 0, 30, "zeros are scraped")
        time.sleep(1.5)  # a second scrape at zero inside the window
        exporter.jump()
        eventually(lambda: prometheus.value(f"sum({candidate})") == 200, 30, "the jump is scraped")
        time.sleep(2.5)  # a few scrapes after the jump
        # Judge at the last scrape: increase() then has no gap to extrapolate over at
        # either end (the first sample in the window is a zero), so counts come out exact.
        last_scrape = prometheus.value('timestamp(up{job="modelkeeper"})')
        assert last_scrape is not None
        yield Scraped(
            prometheus.url,
            timedelta(seconds=last_scrape - started),
            datetime.fromtimestamp(last_scrape, UTC),
        )


@pytest.fixture
async def provider(scraped: Scraped) -> AsyncIterator[PrometheusProvider]:
    prometheus = PrometheusProvider(scraped.url, timeout_seconds=5)
    yield prometheus
    await prometheus.close()


def canary_analysis(min_requests: int = 100, **bounds: float) -> Analysis:
    return Analysis.model_validate(
        {
            "minRequests": min_requests,
            "metrics": [
                {"name": "errors", "type": "ErrorRate", "max": bounds.get("errors", 0.05)},
                {
                    "name": "p99",
                    "type": "LatencyQuantile",
                    "quantile": 0.99,
                    "max": bounds.get("p99", 0.03),
                },
                {"name": "shift", "type": "PredictionShift", "max": bounds.get("shift", 0.1)},
                {
                    "name": "errors-by-hand",
                    "type": "PromQL",
                    "query": 'sum(increase(modelkeeper_requests_total{namespace="{{ namespace }}",'
                    'deployment="{{ deployment }}",version="{{ version }}",code="500"}'
                    "[{{ interval }}])) / sum(increase(modelkeeper_requests_total{"
                    'namespace="{{ namespace }}",deployment="{{ deployment }}",'
                    'version="{{ version }}"}[{{ interval }}]))',
                    "max": bounds.get("errors", 0.05),
                },
            ],
        }
    )


def values(status: AnalysisStatus) -> dict[str, float | None]:
    return {metric.name: metric.value for metric in status.metrics}


def js(deployment: str) -> float:
    versions = TRAFFIC[deployment]
    labels = sorted(versions[STABLE].classes)
    p = [versions[CANDIDATE].classes[label] for label in labels]
    q = [versions[STABLE].classes[label] for label in labels]
    return float(jensenshannon(p, q, base=2))


async def test_a_good_canary_passes(scraped: Scraped, provider: PrometheusProvider) -> None:
    status = await analyse(provider, canary_analysis(), scraped.subject("passing"), scraped.now)
    assert status.phase == AnalysisPhase.SUCCESSFUL, status.message
    assert status.message == "all 4 checks passed"
    assert status.requests == 200
    assert values(status) == {
        "errors": pytest.approx(0.01, abs=1e-9),
        "p99": pytest.approx(quantile_in_bucket(0.99, 0.02), abs=1e-9),
        "shift": pytest.approx(js("passing"), abs=1e-9),
        "errors-by-hand": pytest.approx(0.01, abs=1e-9),
    }
    assert status.time == scraped.now


async def test_a_bad_canary_fails_on_each_bad_check(
    scraped: Scraped, provider: PrometheusProvider
) -> None:
    status = await analyse(provider, canary_analysis(), scraped.subject("failing"), scraped.now)
    assert status.phase == AnalysisPhase.FAILED
    assert values(status) == {
        "errors": pytest.approx(0.12, abs=1e-9),
        "p99": pytest.approx(quantile_in_bucket(0.99, 0.04), abs=1e-9),
        "shift": pytest.approx(js("failing"), abs=1e-9),
        "errors-by-hand": pytest.approx(0.12, abs=1e-9),
    }
    assert [metric.phase for metric in status.metrics] == [AnalysisPhase.FAILED] * 4
    assert status.message.startswith("error rate 0.12 above max 0.05; p99 latency 0.04975 above")


async def test_too_few_requests_is_inconclusive(
    scraped: Scraped, provider: PrometheusProvider
) -> None:
    status = await analyse(provider, canary_analysis(), scraped.subject("quiet"), scraped.now)
    assert status.phase == AnalysisPhase.INCONCLUSIVE
    assert status.requests == 30
    assert status.message == "30 of 100 requests"
    assert {metric.phase for metric in status.metrics} == {AnalysisPhase.INCONCLUSIVE}


async def test_a_version_without_traffic_has_no_data(
    scraped: Scraped, provider: PrometheusProvider
) -> None:
    unknown = Subject(NAMESPACE, "passing", "fraud", STABLE, "v9", scraped.window)
    status = await analyse(provider, canary_analysis(min_requests=0), unknown, scraped.now)
    assert status.phase == AnalysisPhase.INCONCLUSIVE
    assert status.requests is None
    assert [metric.message for metric in status.metrics] == [
        "no data for error rate",
        "no data for p99 latency",
        "no data for prediction shift",
        "no data for errors-by-hand",
    ]


async def test_shadow_compared_by_the_router(
    scraped: Scraped, provider: PrometheusProvider
) -> None:
    ratio = quantile_in_bucket(0.99, SHADOW_LATENCY) / quantile_in_bucket(0.99, STABLE_LATENCY)
    shadow = Shadow(min_requests=150, min_agreement=0.9, max_error_rate=0.05, max_latency_ratio=3)
    status = await judge_shadow(provider, shadow, scraped.subject("passing"), scraped.now)
    assert status.phase == AnalysisPhase.SUCCESSFUL, status.message
    assert status.requests == 200  # mirrors sent: the dropped ones do not count
    assert values(status) == {
        "agreement": pytest.approx(0.95, abs=1e-9),
        "error-rate": pytest.approx(0.025, abs=1e-9),
        "latency-ratio": pytest.approx(ratio, abs=1e-9),
    }
    strict = shadow.model_copy(update={"max_latency_ratio": 1.5, "min_agreement": 0.99})
    failed = await judge_shadow(provider, strict, scraped.subject("passing"), scraped.now)
    assert failed.phase == AnalysisPhase.FAILED
    assert failed.message == (
        f"agreement 0.95 below min 0.99; p99 latency ratio {ratio:.4g} above max 1.5"
    )


async def test_shadow_without_comparison_reads_the_servers(
    scraped: Scraped, provider: PrometheusProvider
) -> None:
    shadow = Shadow(min_requests=150, max_error_rate=0.05)
    subject = scraped.subject("failing", compare=False)
    status = await judge_shadow(provider, shadow, subject, scraped.now)
    assert status.phase == AnalysisPhase.FAILED
    ratio = quantile_in_bucket(0.99, 0.04) / quantile_in_bucket(0.99, 0.02)
    assert values(status) == {
        "error-rate": pytest.approx(0.12, abs=1e-9),
        "latency-ratio": pytest.approx(ratio, abs=1e-9),
    }


async def test_a_stopped_prometheus_makes_the_run_inconclusive(
    tmp_path: Path,
) -> None:
    stopped = Prometheus.serve(tmp_path, static_scrape_config([]))
    url = stopped.url
    prometheus = PrometheusProvider(url, timeout_seconds=5)
    try:
        assert await prometheus.query("vector(1)", datetime.now(UTC)) == [Sample({}, 1.0)]
    finally:
        stopped.stop()
    try:
        subject = Subject(NAMESPACE, "passing", "fraud", STABLE, CANDIDATE, timedelta(minutes=1))
        status = await analyse(prometheus, canary_analysis(), subject, datetime.now(UTC))
    finally:
        await prometheus.close()
    reason = f"Prometheus at {url} unreachable: connection refused"
    assert (status.phase, status.message, status.requests) == (
        AnalysisPhase.INCONCLUSIVE,
        reason,
        None,
    )
    assert {(metric.phase, metric.message) for metric in status.metrics} == {
        (AnalysisPhase.INCONCLUSIVE, reason)
    }
