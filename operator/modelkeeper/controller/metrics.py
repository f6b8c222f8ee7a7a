"""The operator's own Prometheus metrics (docs/metrics.md, "The operator").

How often and how long reconciles run, how often they fail, which phase every
Deployment is in, and which versions serve where: enough to alert on a stuck operator
and to see a rollout from Prometheus.
"""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import Counter, Gauge, Histogram

RECONCILIATIONS = Counter(
    "modelkeeper_operator_reconciliations_total", "Reconciles run, by kind.", ["kind"]
)
ERRORS = Counter(
    "modelkeeper_operator_reconcile_errors_total",
    "Reconciles that failed and will be retried with backoff, by kind.",
    ["kind"],
)
DURATION = Histogram(
    "modelkeeper_operator_reconcile_duration_seconds",
    "Time one reconcile takes, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DEPLOYMENTS = Gauge(
    "modelkeeper_operator_deployments", "Deployments (modelkeeper.io) by phase.", ["phase"]
)
SERVED_VERSIONS = Gauge(
    "modelkeeper_operator_served_versions",
    "1 for each version a Deployment runs, by its role.",
    ["namespace", "deployment", "version", "role"],
)


class DeploymentGauges:
    """Keeps the phase and served-version gauges equal to the latest status of every Deployment."""

    def __init__(self) -> None:
        self._phases: dict[tuple[str, str], str] = {}
        self._served: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def record(self, namespace: str, name: str, phase: str, served: set[tuple[str, str]]) -> None:
        """The Deployment's phase and its (version, role) pairs now."""
        key = (namespace, name)
        self._phases[key] = phase
        for version, role in self._served.get(key, set()) - served:
            SERVED_VERSIONS.remove(namespace, name, version, role)
        for version, role in served:
            SERVED_VERSIONS.labels(namespace, name, version, role).set(1)
        self._served[key] = served
        self._publish()

    def forget(self, namespace: str, name: str) -> None:
        """The Deployment is gone."""
        self.record(namespace, name, "", set())
        del self._phases[(namespace, name)]
        del self._served[(namespace, name)]
        self._publish()

    def _publish(self) -> None:
        tally = Tally(phase for phase in self._phases.values() if phase)
        for phase in {*tally, *(labels[0] for labels in _label_sets(DEPLOYMENTS))}:
            DEPLOYMENTS.labels(phase).set(tally.get(phase, 0))


def _label_sets(gauge: Gauge) -> list[tuple[str, ...]]:
    return [
        tuple(sample.labels.values()) for metric in gauge.collect() for sample in metric.samples
    ]
