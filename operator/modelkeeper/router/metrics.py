"""The router's Prometheus metrics: the split as it happened, the mirror, the comparison.

The operator's canary and shadow analysis reads these (docs/router.md names them);
the scoring servers export their own. The configured weights and the ready endpoints
are read at scrape time from the router's current state, so they never go stale. A
pool's router labels each family's series with its own deployment and model, and
forgets a family's series when the family leaves the pool. With thousands of families
writing the text takes long (over half a second for 5,000 idle ones), so it is written
in a thread: the event loop only takes the snapshot of the routing state, and goes on
answering requests between the thread's time slices.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from modelkeeper.router.compare import Comparison, MirrorOutcome
from modelkeeper.router.config import Backend, RoutingConfig, role_name
from modelkeeper.router.sources import EndpointSource

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MODEL_LABELS = ("deployment", "model")
BACKEND_LABELS = (*MODEL_LABELS, "backend", "role")
M = TypeVar("M", Counter, Histogram)


class RouterMetrics:
    """Every metric the router exports, in a registry of its own."""

    def __init__(self) -> None:
        self._state: _RoutingStateCollector | None = None
        self._exposing = asyncio.Lock()
        self.registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self._requests = _Labelled(
            Counter(
                "modelkeeper_router_requests",
                "Inference requests answered through a primary backend, by the status returned.",
                [*BACKEND_LABELS, "code"],
                registry=self.registry,
            )
        )
        self._latency = _Labelled(
            Histogram(
                "modelkeeper_router_upstream_latency_seconds",
                "Time from forwarding an inference request to a backend to its whole reply.",
                BACKEND_LABELS,
                buckets=LATENCY_BUCKETS,
                registry=self.registry,
            )
        )
        self._mirrored = _Labelled(
            Counter(
                "modelkeeper_router_mirror_requests",
                "Requests chosen for mirroring to the shadow, by outcome.",
                [*MODEL_LABELS, "backend", "outcome"],
                registry=self.registry,
            )
        )
        self._rows = _Labelled(
            Counter(
                "modelkeeper_router_shadow_predictions",
                "Compared prediction rows, by whether the shadow agreed with the primary.",
                [*MODEL_LABELS, "backend", "outcome"],
                registry=self.registry,
            )
        )
        self._feedback = _Labelled(
            Counter(
                "modelkeeper_router_feedback_requests",
                "Ground-truth feedback requests fanned out to the replicas, by the status "
                "returned.",
                [*MODEL_LABELS, "code"],
                registry=self.registry,
            )
        )
        self._reloads = Counter(
            "modelkeeper_router_config_reloads",
            "Changes of the routing config file, by whether the new config was taken.",
            ["result"],
            registry=self.registry,
        )

    def watch(self, configs: Callable[[], Iterable[RoutingConfig]], source: EndpointSource) -> None:
        """Export the configured weights, and the ready endpoints in `source`, of whatever
        configs `configs` returns at scrape time."""
        self._state = _RoutingStateCollector(configs, source)
        self.registry.register(self._state)

    async def exposition(self) -> bytes:
        """Every metric in the text format, written in a thread (one scrape at a time)."""
        async with self._exposing:
            if self._state is not None:
                self._state.snapshot()
            return await asyncio.to_thread(generate_latest, self.registry)

    def forget(self, config: RoutingConfig) -> None:
        """Drop the series of a family no longer routed, so a pool's churn leaves none."""
        family = (config.deployment, config.model)
        for labelled in (self._requests, self._latency, self._mirrored, self._rows, self._feedback):
            labelled.forget(family)

    def answered(
        self, config: RoutingConfig, backend: Backend, status: int, seconds: float
    ) -> None:
        """A primary backend answered (or failed: status 502 or 504) an inference request."""
        labels = (config.deployment, config.model, backend.name, role_name(backend.role))
        self._requests[(*labels, str(status))].inc()
        self._latency[labels].observe(seconds)

    def shadow_answered(self, config: RoutingConfig, backend: Backend, seconds: float) -> None:
        """The shadow answered a mirrored request."""
        self._latency[
            (config.deployment, config.model, backend.name, role_name(backend.role))
        ].observe(seconds)

    def mirrored(
        self,
        config: RoutingConfig,
        backend: Backend,
        outcome: MirrorOutcome,
        comparison: Comparison | None = None,
    ) -> None:
        """A mirrored request was judged (or dropped)."""
        labels = (config.deployment, config.model, backend.name)
        self._mirrored[(*labels, outcome)].inc()
        if comparison is not None:
            self._rows[(*labels, MirrorOutcome.AGREE)].inc(comparison.agreeing)
            self._rows[(*labels, MirrorOutcome.DISAGREE)].inc(comparison.rows - comparison.agreeing)

    def feedback(self, config: RoutingConfig, status: int) -> None:
        self._feedback[(config.deployment, config.model, str(status))].inc()

    def reloaded(self, taken: bool) -> None:
        self._reloads.labels("success" if taken else "failure").inc()


class _Labelled(dict[tuple[str, ...], M]):
    """A metric's children by label values, each looked up in prometheus_client once: its
    `labels()` costs more than the update itself, and the router updates on every request."""

    def __init__(self, metric: M) -> None:
        super().__init__()
        self._metric: M = metric

    def __missing__(self, labels: tuple[str, ...]) -> M:
        child: M = self._metric.labels(*labels)
        self[labels] = child
        return child

    def forget(self, prefix: tuple[str, ...]) -> None:
        """Remove every child whose first label values are `prefix`."""
        for labels in [labels for labels in self if labels[: len(prefix)] == prefix]:
            self._metric.remove(*labels)
            del self[labels]


State = list[tuple[RoutingConfig, list[int]]]
"""Each routed config, with the ready endpoints of each of its backends."""


class _RoutingStateCollector(Collector):
    """Gauges computed at scrape time from the router's current configs and endpoints.

    `snapshot` takes them on the event loop, whose state they are; `collect`, in the
    exposition's thread, writes what the last snapshot took (or takes one itself when
    none was taken, for a caller on the loop)."""

    def __init__(
        self, configs: Callable[[], Iterable[RoutingConfig]], source: EndpointSource
    ) -> None:
        self._configs = configs
        self._source = source
        self._snapshot: State | None = None

    def snapshot(self) -> None:
        self._snapshot = self._take()

    def _take(self) -> State:
        return [
            (config, [len(self._source.ready_endpoints(backend)) for backend in config.backends])
            for config in self._configs()
        ]

    def collect(self) -> Iterator[Metric]:
        state = self._take() if self._snapshot is None else self._snapshot
        self._snapshot = None
        weight = GaugeMetricFamily(
            "modelkeeper_router_backend_weight",
            "Configured weight of each backend in the split (0 for the shadow).",
            labels=BACKEND_LABELS,
        )
        ready = GaugeMetricFamily(
            "modelkeeper_router_ready_endpoints",
            "Ready endpoints the router balances each backend's requests across.",
            labels=BACKEND_LABELS,
        )
        mirror = GaugeMetricFamily(
            "modelkeeper_router_mirror_percent",
            "Configured share of requests mirrored to the shadow, in percent.",
            labels=MODEL_LABELS,
        )
        for config, endpoints in state:
            for backend, count in zip(config.backends, endpoints, strict=True):
                labels = [config.deployment, config.model, backend.name, role_name(backend.role)]
                weight.add_metric(labels, backend.weight)
                ready.add_metric(labels, count)
            mirror.add_metric([config.deployment, config.model], config.mirror_percent)
        yield from (weight, ready, mirror)
