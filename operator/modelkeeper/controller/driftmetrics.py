"""The DriftMonitors' Prometheus metrics (docs/metrics.md, "The operator"): scores and states.

Each monitor's latest scores and state as gauges, so dashboards and alerts read drift
from the operator's /metrics like any other series, and a counter of evaluations by
result. A monitor's series leave with it, and a feature's score leaves when the feature
is no longer scored (excluded, or without enough data), so no stale value lingers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge

from modelkeeper.api.driftmonitor import DriftState

if TYPE_CHECKING:  # the drift layer needs scipy: imported by the first evaluation
    from modelkeeper.drift.evaluate import Evaluation

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
        from modelkeeper.drift.evaluate import Outcome  # here: heavy, and only this needs it

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
