"""An A/B test's reading against a real Prometheus scraping known outcome counters.

An exporter on 127.0.0.1 serves the scoring servers' feedback series for two
Deployments. The champion (v1) has counted outcomes before the split; the split begins;
then its counters move on, the challenger's (v2) series appear for the first time, and
in the "scores" Deployment the champion's sum of outcomes falls (negative outcomes).
The reading must count exactly what each version counted since the split: the
champion's earlier outcomes left out, the challenger's new series counted from zero,
the falling sum taken as it is.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector

from modelkeeper.analysis.run import read_experiment
from modelkeeper.analysis.templates import Subject
from modelkeeper.api.deployment import ExperimentDecision
from modelkeeper.api.strategy import ABTest
from modelkeeper.prometheus.client import PrometheusProvider
from tests.ground.polling import eventually
from tests.ground.processes import free_port
from tests.ground.prometheus import scraping

NAMESPACE = "shop"
Stats = tuple[float, float, float]
"""count, sum, sum of squares"""

BEFORE: dict[tuple[str, str], Stats] = {
    ("rates", "v1"): (500, 150, 150),
    ("scores", "v1"): (100, 50, 400),
}
AFTER: dict[tuple[str, str], Stats] = {
    ("rates", "v1"): (800, 240, 240),
    ("rates", "v2"): (300, 150, 150),
    ("scores", "v1"): (200, -25, 900),
    ("scores", "v2"): (100, -30, 300),
}


class Outcomes(Collector):
    """The scoring servers' outcome series, as `serving.metrics` exports them."""

    def __init__(self) -> None:
        self.stats = dict(BEFORE)

    def collect(self) -> Iterator[Metric]:
        labels = ["deployment", "model", "version", "role"]
        summary = SummaryMetricFamily("modelkeeper_feedback_outcome", "", labels=labels)
        squares = CounterMetricFamily("modelkeeper_feedback_outcome_squares", "", labels=labels)
        for (deployment, version), (count, total, square) in self.stats.items():
            values = [deployment, "shop", version, "stable" if version == "v1" else "canary"]
            summary.add_metric(values, int(count), total)
            squares.add_metric(values, square)
        yield summary
        yield squares


@dataclass(frozen=True)
class Scraped:
    url: str
    window: timedelta
    """From the split to the last scrape."""
    now: datetime

    def subject(self, deployment: str) -> Subject:
        return Subject(NAMESPACE, deployment, "shop", "v1", "v2", self.window)


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scraped]:
    outcomes = Outcomes()
    registry = CollectorRegistry()
    registry.register(outcomes)
    folder = tmp_path_factory.mktemp("prometheus")
    with scraping(registry, folder, namespace=NAMESPACE) as prometheus:
        champion = 'modelkeeper_feedback_outcome_count{deployment="rates",version="v1"}'
        eventually(lambda: prometheus.value(f"sum({champion})") == 500, 30, "before is scraped")
        time.sleep(1.5)  # another scrape before the split
        split = math.ceil(time.time())  # whole seconds, as status keeps them
        time.sleep(split - time.time() + 1.5)  # and one after it, still before
        outcomes.stats = dict(AFTER)
        eventually(lambda: prometheus.value(f"sum({champion})") == 800, 30, "after is scraped")
        time.sleep(1.5)
        last_scrape = prometheus.value('timestamp(up{job="modelkeeper"})')
        assert last_scrape is not None
        now = math.ceil(last_scrape)
        yield Scraped(
            prometheus.url, timedelta(seconds=now - split), datetime.fromtimestamp(now, UTC)
        )


@pytest.fixture
async def provider(scraped: Scraped) -> AsyncIterator[PrometheusProvider]:
    prometheus = PrometheusProvider(scraped.url, timeout_seconds=5)
    yield prometheus
    await prometheus.close()


def spec(kind: str) -> ABTest:
    return ABTest.model_validate(
        {"metric": {"type": kind}, "minimumDetectableEffect": 0.1, "minSamples": 100}
    )


async def test_conversions_since_the_split(scraped: Scraped, provider: PrometheusProvider) -> None:
    reading = await read_experiment(
        provider, spec("Binary"), scraped.subject("rates"), None, scraped.now
    )
    assert reading.champion.samples == 300
    assert reading.champion.mean == pytest.approx(0.3)
    assert reading.challenger.samples == 300
    assert reading.challenger.mean == pytest.approx(0.5)
    assert reading.since == scraped.now - scraped.window
    assert reading.decision is ExperimentDecision.PROMOTE, reading.message
    assert reading.effect == pytest.approx(0.2)


async def test_a_falling_sum_of_scores(scraped: Scraped, provider: PrometheusProvider) -> None:
    reading = await read_experiment(
        provider, spec("Continuous"), scraped.subject("scores"), None, scraped.now
    )
    assert reading.champion.samples == 100
    assert reading.champion.mean == pytest.approx(-0.75)
    assert reading.challenger.samples == 100
    assert reading.challenger.mean == pytest.approx(-0.3)
    assert reading.effect == pytest.approx(0.45)


async def test_an_unreachable_prometheus_waits(scraped: Scraped) -> None:
    nowhere = PrometheusProvider(f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    try:
        reading = await read_experiment(
            nowhere, spec("Binary"), scraped.subject("rates"), None, scraped.now
        )
    finally:
        await nowhere.close()
    assert reading.decision is ExperimentDecision.CONTINUE
    assert reading.message.startswith("outcomes not read: ")
    assert reading.samples == 0
