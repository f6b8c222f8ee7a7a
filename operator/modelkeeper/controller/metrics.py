"""The operator's own Prometheus metrics (docs/metrics.md, "The operator").

How often and how long reconciles run, how often they fail, which phase every
Deployment is in, and which versions serve where: enough to alert on a stuck operator
and to follow a rollout from Prometheus: its weight, its analysis, how it ended.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from itertools import product

from prometheus_client import Counter, Gauge, Histogram

from modelkeeper.api.deployment import AnalysisPhase, AnalysisStatus, Outcome
from modelkeeper.controller.rollout import Plan, Trigger
from modelkeeper.kube.client import DEPLOYMENT, DRIFT_MONITOR, MODEL, RETRAIN_POLICY

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
for _kind in (MODEL, DEPLOYMENT, DRIFT_MONITOR, RETRAIN_POLICY):
    # Zero series from the start, so error ratios exist before the first error.
    RECONCILIATIONS.labels(_kind.kind)
    ERRORS.labels(_kind.kind)
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


ROLLOUTS_IN_PROGRESS = Gauge(
    "modelkeeper_operator_rollouts_in_progress",
    "Deployments with a candidate, by strategy.",
    ["strategy"],
)
ROLLOUTS_ENDED = Counter(
    "modelkeeper_operator_rollouts_ended_total",
    "Rollouts that ended, by outcome (Promoted, RolledBack, Aborted, Superseded) and what "
    "ended them (Ready, Steps, Analysis, Shadow, Preview, Manual, Selection).",
    ["namespace", "deployment", "outcome", "trigger"],
)
ANALYSIS_RUNS = Counter(
    "modelkeeper_operator_analysis_runs_total",
    "Analysis runs of a candidate, by phase.",
    ["namespace", "deployment", "phase"],
)
ANALYSIS_VALUE = Gauge(
    "modelkeeper_operator_analysis_value",
    "The value each check measured in the candidate's latest analysis run.",
    ["namespace", "deployment", "metric"],
)
CANDIDATE_WEIGHT = Gauge(
    "modelkeeper_operator_candidate_weight",
    "The candidate's share of live requests, in percent (0 without a candidate).",
    ["namespace", "deployment"],
)
CANDIDATE_MIRROR = Gauge(
    "modelkeeper_operator_candidate_mirror_percent",
    "The share of requests mirrored to a shadow candidate, in percent.",
    ["namespace", "deployment"],
)


def zero_counters(counter: Counter, fixed: tuple[str, ...], *values: Iterable[str]) -> None:
    """Create every labelled series of an object's counter at 0 when the object appears.

    `increase()` over a counter whose series first appears at 1 is 0, so an alert on the
    first rollback or failed run would never fire; a series at 0 from the start fixes that.
    """
    for labels in product(*values):
        counter.labels(*fixed, *labels)


def remove_counters(counter: Counter, fixed: tuple[str, ...], *values: Iterable[str]) -> None:
    """Remove the series `zero_counters` created (and any counted since): the object is gone."""
    for labels in product(*values):
        counter.remove(*fixed, *labels)


class RolloutMetrics:
    """Rollouts in progress, how they end, analysis results and the candidate's weight."""

    def __init__(self) -> None:
        self._strategies: dict[tuple[str, str], str] = {}
        self._checks: dict[tuple[str, str], set[str]] = {}

    def record(
        self, namespace: str, name: str, strategy: str, plan: Plan, run: AnalysisStatus | None
    ) -> None:
        """What one reconcile decided for a Deployment."""
        key = (namespace, name)
        if key not in self._checks:
            zero_counters(ROLLOUTS_ENDED, key, Outcome, Trigger)
            zero_counters(ANALYSIS_RUNS, key, AnalysisPhase)
            self._checks[key] = set()
        if plan.candidate is not None:
            self._strategies[key] = strategy
        else:
            self._strategies.pop(key, None)
        for decision in plan.decisions:
            if decision.outcome is not None and decision.trigger is not None:
                ROLLOUTS_ENDED.labels(
                    namespace, name, decision.outcome.value, decision.trigger.value
                ).inc()
        if run is not None:
            ANALYSIS_RUNS.labels(namespace, name, run.phase.value).inc()
            measured = {m.name: m.value for m in run.metrics if m.value is not None}
            for metric in self._checks.get(key, set()) - set(measured):
                ANALYSIS_VALUE.remove(namespace, name, metric)
            for metric, value in measured.items():
                ANALYSIS_VALUE.labels(namespace, name, metric).set(value)
            self._checks[key] = set(measured)
        CANDIDATE_WEIGHT.labels(namespace, name).set(plan.weight if plan.candidate else 0)
        CANDIDATE_MIRROR.labels(namespace, name).set(plan.mirror_percent if plan.candidate else 0)
        self._publish()

    def forget(self, namespace: str, name: str) -> None:
        """The Deployment is gone: its series go too."""
        key = (namespace, name)
        self._strategies.pop(key, None)
        for metric in self._checks.pop(key, set()):
            ANALYSIS_VALUE.remove(namespace, name, metric)
        remove_counters(ROLLOUTS_ENDED, key, Outcome, Trigger)
        remove_counters(ANALYSIS_RUNS, key, AnalysisPhase)
        for gauge in (CANDIDATE_WEIGHT, CANDIDATE_MIRROR):
            gauge.remove(namespace, name)
        self._publish()

    def _publish(self) -> None:
        tally = Tally(self._strategies.values())
        for strategy in {*tally, *(labels[0] for labels in _label_sets(ROLLOUTS_IN_PROGRESS))}:
            ROLLOUTS_IN_PROGRESS.labels(strategy).set(tally.get(strategy, 0))
