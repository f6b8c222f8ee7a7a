"""Every Prometheus metric the operator defines (docs/metrics.md, "The operator").

How often and how long reconciles run, how often they fail, which phase every
Deployment is in, and which versions serve where: enough to alert on a stuck operator
and to follow a rollout from Prometheus: its weight, its analysis, how it ended. Then
each DriftMonitor's latest scores and state, and each RetrainPolicy's runs. An object's
series leave with it, and a series that no longer applies (a check no longer measured,
a feature no longer scored) leaves too, so no stale value lingers.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from itertools import product
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge, Histogram

from modelkeeper.api.deployment import AnalysisPhase, AnalysisStatus, Outcome
from modelkeeper.api.driftmonitor import DriftState
from modelkeeper.api.retrainpolicy import Run, RunOutcome, TriggerKind
from modelkeeper.controller.rollout import Plan, Trigger
from modelkeeper.kube.client import DEPLOYMENT, DRIFT_MONITOR, MODEL, RETRAIN_POLICY

if TYPE_CHECKING:  # the drift layer needs scipy: imported by the first evaluation
    from modelkeeper.drift.state import Evaluation

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
LEADER = Gauge(
    "modelkeeper_operator_leader",
    "1 while this replica leads (holds the Lease and reconciles), 0 while it stands by; "
    "1 without leader election.",
)
NOTIFICATIONS = Counter(
    "modelkeeper_operator_notifications_total",
    "Notifications of decisions, by sink (its format and origin, never its path) and outcome: "
    "delivered, retried (one more try after a failure), failed (given up) or dropped (the "
    "sink's queue was full).",
    ["sink", "outcome"],
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


ROLLOUTS_IN_PROGRESS = Gauge(
    "modelkeeper_operator_rollouts_in_progress",
    "Deployments with a candidate, by strategy.",
    ["strategy"],
)
ROLLOUTS_ENDED = Counter(
    "modelkeeper_operator_rollouts_ended_total",
    "Rollouts that ended, by outcome (Promoted, RolledBack, Aborted, Superseded, Withdrawn, "
    "Inconclusive) and what ended them (Ready, Steps, Analysis, Shadow, Preview, Experiment, "
    "Manual, Selection).",
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
        self._counted: set[tuple[str, str]] = set()
        """Deployments whose rollout counters exist: from their first rollout on, so that
        thousands that never roll out cost no series (48 each otherwise)."""

    def record(
        self, namespace: str, name: str, strategy: str, plan: Plan, run: AnalysisStatus | None
    ) -> None:
        """What one reconcile decided for a Deployment."""
        key = (namespace, name)
        ending = any(decision.outcome is not None for decision in plan.decisions)
        if key not in self._counted and (plan.candidate is not None or ending):
            zero_counters(ROLLOUTS_ENDED, key, Outcome, Trigger)
            zero_counters(ANALYSIS_RUNS, key, AnalysisPhase)
            self._counted.add(key)
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
        if key in self._counted:
            self._counted.discard(key)
            remove_counters(ROLLOUTS_ENDED, key, Outcome, Trigger)
            remove_counters(ANALYSIS_RUNS, key, AnalysisPhase)
        for gauge in (CANDIDATE_WEIGHT, CANDIDATE_MIRROR):
            gauge.remove(namespace, name)
        self._publish()

    def _publish(self) -> None:
        tally = Tally(self._strategies.values())
        for strategy in {*tally, *(labels[0] for labels in _label_sets(ROLLOUTS_IN_PROGRESS))}:
            ROLLOUTS_IN_PROGRESS.labels(strategy).set(tally.get(strategy, 0))


# DriftMonitors: each monitor's latest scores and state as gauges, so dashboards and
# alerts read drift from the operator's /metrics like any other series, and a counter of
# evaluations by result. A feature's score leaves when the feature is no longer scored
# (excluded, or without enough data).

SCORE = Gauge(
    "modelkeeper_drift_score",
    "Each feature's drift score in the monitor's latest evaluation, by method.",
    ["namespace", "monitor", "feature", "method"],
)
STATE = Gauge(
    "modelkeeper_drift_state",
    "1 for the monitor's current state (OK, Warning, Drifted, InsufficientData, Unknown), "
    "0 for the others.",
    ["namespace", "monitor", "state"],
)
EVALUATIONS = Counter(
    "modelkeeper_drift_evaluations",
    "Drift evaluations, by what they found (OK, Warning, Critical, InsufficientData, Unknown).",
    ["namespace", "monitor", "result"],
)


class DriftMetrics:
    """Keeps the drift gauges equal to every monitor's latest evaluation."""

    def __init__(self) -> None:
        self._scored: dict[tuple[str, str], set[tuple[str, str]]] = {}

    def record(self, namespace: str, monitor: str, evaluation: Evaluation) -> None:
        status = evaluation.status
        EVALUATIONS.labels(namespace, monitor, evaluation.outcome.value).inc()
        scores = {
            (feature.name, feature.method.value): feature.score
            for feature in status.features
            if feature.score is not None
        }
        self._set_scores(namespace, monitor, scores)
        for state in DriftState:
            STATE.labels(namespace, monitor, state.value).set(int(status.state is state))

    def forget(self, namespace: str, monitor: str) -> None:
        """The monitor is gone: its series go too."""
        from modelkeeper.drift.scoring import Outcome  # here: heavy, and only this needs it

        self._set_scores(namespace, monitor, {})
        del self._scored[(namespace, monitor)]
        for state in DriftState:
            STATE.remove(namespace, monitor, state.value)
        for outcome in Outcome:
            EVALUATIONS.remove(namespace, monitor, outcome.value)

    def _set_scores(
        self, namespace: str, monitor: str, scores: dict[tuple[str, str], float]
    ) -> None:
        key = (namespace, monitor)
        for feature, method in self._scored.get(key, set()) - set(scores):
            SCORE.remove(namespace, monitor, feature, method)
        for (feature, method), score in scores.items():
            SCORE.labels(namespace, monitor, feature, method).set(score)
        self._scored[key] = set(scores)


# RetrainPolicies: the runs that ended, how long they took, and the runs going on.

RUNS = Counter(
    "modelkeeper_retrain_runs_total",
    "Retraining runs that ended, by what started them and how they ended.",
    ["namespace", "policy", "trigger", "outcome"],
)
RUN_DURATION = Histogram(
    "modelkeeper_retrain_run_duration_seconds",
    "Time from a retraining run's start to its end.",
    ["namespace", "policy"],
    buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800, 86400),
)
ACTIVE_RUNS = Gauge(
    "modelkeeper_retrain_active_runs", "Retraining runs going on.", ["namespace", "policy"]
)
ENDED = tuple(outcome for outcome in RunOutcome if outcome is not RunOutcome.RUNNING)


class RetrainMetrics:
    """Each RetrainPolicy's ended runs, their durations, and its runs going on."""

    def ended(self, namespace: str, policy: str, run: Run) -> None:
        """A run ended (counted once: after the status write that records it)."""
        RUNS.labels(namespace, policy, run.trigger.value, run.outcome.value).inc()
        if run.completion_time is not None:
            duration = (run.completion_time - run.start_time).total_seconds()
            RUN_DURATION.labels(namespace, policy).observe(duration)

    def record(self, namespace: str, policy: str, active: int) -> None:
        """The policy's runs going on, after a reconcile; its run counters exist from now."""
        ACTIVE_RUNS.labels(namespace, policy).set(active)
        zero_counters(RUNS, (namespace, policy), TriggerKind, ENDED)

    def forget(self, namespace: str, policy: str) -> None:
        """The policy is gone: its series go too."""
        ACTIVE_RUNS.remove(namespace, policy)
        remove_counters(RUNS, (namespace, policy), TriggerKind, ENDED)
