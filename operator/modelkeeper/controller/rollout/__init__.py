"""The rollout state machine: one tick of Direct, Canary, Shadow, BlueGreen or ABTest.

Given the strategy, the last status, the observed readiness of each version, the
manual controls (annotations), the analysis run taken this tick and the clock, it
returns the next rollout state, the objects to run and the decisions to report. Pure:
everything it needs is in status and the observed objects, so an operator killed at any
tick and started again takes the same decisions.

The shape of every rollout: the candidate starts beside the stable version and takes no
traffic until all its replicas are ready; then its strategy moves it on (Direct: switch
at once; Canary: weight steps and pauses, each setWeight held until an analysis run at
that weight passes; Shadow: mirrored traffic, judged once its duration and request count
are reached; BlueGreen: a preview, then the switch; ABTest: a fixed split until its
sequential test decides). A failed analysis (failureLimit runs) rolls it back, a person's
abort too; a version rolled back, aborted or found Inconclusive by an A/B test is not tried
again until `modelkeeper.io/retry`.

The rooms: model.py the types (Tick in, Plan out), state.py the state one tick works on,
analysis.py when an analysis run is due and how runs judge, strategies.py how each strategy
moves a ready candidate on, plan.py the tick itself (`plan_rollout`).
"""

from modelkeeper.controller.rollout.analysis import analysis_due
from modelkeeper.controller.rollout.model import (
    AnalysisDue,
    Controls,
    Decision,
    DecisionReason,
    Hold,
    HoldReason,
    Plan,
    Readiness,
    Tick,
    Trigger,
    blocker,
    is_ready,
    weight_at,
)
from modelkeeper.controller.rollout.plan import plan_rollout

__all__ = [
    "AnalysisDue",
    "Controls",
    "Decision",
    "DecisionReason",
    "Hold",
    "HoldReason",
    "Plan",
    "Readiness",
    "Tick",
    "Trigger",
    "analysis_due",
    "blocker",
    "is_ready",
    "plan_rollout",
    "weight_at",
]
