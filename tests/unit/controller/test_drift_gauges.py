"""The drift gauges follow each monitor's latest evaluation and leave with the monitor."""

from __future__ import annotations

from prometheus_client import REGISTRY

from modelkeeper.api.driftmonitor import (
    DriftMethod,
    DriftMonitorStatus,
    DriftState,
    FeatureScore,
    Level,
)
from modelkeeper.controller.metrics import DriftMetrics
from modelkeeper.drift.scoring import Outcome
from modelkeeper.drift.state import Evaluation

MONITOR = {"namespace": "shop", "monitor": "gauges-test"}


def evaluation(
    state: DriftState, outcome: Outcome, *scores: tuple[str, float | None]
) -> Evaluation:
    features = [
        FeatureScore(
            name=name,
            method=DriftMethod.PSI,
            score=score,
            level=Level.OK if score is not None else Level.INSUFFICIENT_DATA,
        )
        for name, score in scores
    ]
    return Evaluation(DriftMonitorStatus(state=state, features=features), outcome, None)


def score(feature: str) -> float | None:
    return REGISTRY.get_sample_value(
        "modelkeeper_drift_score", {**MONITOR, "feature": feature, "method": "PSI"}
    )


def state(name: str) -> float | None:
    return REGISTRY.get_sample_value("modelkeeper_drift_state", {**MONITOR, "state": name})


def evaluations(result: str) -> float | None:
    return REGISTRY.get_sample_value(
        "modelkeeper_drift_evaluations_total", {**MONITOR, "result": result}
    )


def test_gauges_follow_the_latest_evaluation_and_leave_with_the_monitor() -> None:
    metrics = DriftMetrics()
    metrics.record(
        "shop",
        "gauges-test",
        evaluation(DriftState.WARNING, Outcome.CRITICAL, ("amount", 0.3), ("country", 0.01)),
    )
    assert (score("amount"), score("country")) == (0.3, 0.01)
    assert (state("Warning"), state("OK"), state("Drifted")) == (1, 0, 0)
    metrics.record(
        "shop",
        "gauges-test",
        evaluation(DriftState.DRIFTED, Outcome.CRITICAL, ("amount", 0.4), ("country", None)),
    )
    assert (score("amount"), score("country")) == (0.4, None)
    assert (state("Warning"), state("Drifted")) == (0, 1)
    assert evaluations("Critical") == 2
    metrics.forget("shop", "gauges-test")
    assert (score("amount"), state("Drifted"), evaluations("Critical")) == (None, None, None)
