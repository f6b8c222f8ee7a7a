"""The rollout state machine: one tick of Direct, Canary, Shadow or BlueGreen."""

from modelkeeper.controller.rollout.plan import (
    AnalysisDue,
    Controls,
    DecisionReason,
    HoldReason,
    Plan,
    Readiness,
    Tick,
    Trigger,
    analysis_due,
    is_ready,
    plan_rollout,
)

__all__ = [
    "AnalysisDue",
    "Controls",
    "DecisionReason",
    "HoldReason",
    "Plan",
    "Readiness",
    "Tick",
    "Trigger",
    "analysis_due",
    "is_ready",
    "plan_rollout",
]
