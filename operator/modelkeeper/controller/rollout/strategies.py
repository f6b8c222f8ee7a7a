"""How each strategy moves a ready candidate on, as far as one tick allows.

Direct: ready is enough. Canary: weight steps and pauses, each setWeight held until an
analysis run at that weight passes. Shadow: mirrored traffic, judged once its duration and
request count are reached, then promoted, held, or on to a canary. BlueGreen: a preview,
then the switch. ABTest: a fixed split until the test's reading decides. A person's
promote, promote-step, pause and abort come first.
"""

from __future__ import annotations

from datetime import timedelta

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.deployment import AnalysisPhase, ExperimentDecision, Outcome
from modelkeeper.api.strategy import ABTest, Analysis, CanaryStep, Shadow, ShadowOutcome
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.rollout.analysis import (
    analysis_of,
    analysis_passed,
    failed_checks,
    judged_hold,
    next_run_at,
    record_run,
)
from modelkeeper.controller.rollout.model import DecisionReason, Hold, HoldReason, Trigger, is_ready
from modelkeeper.controller.rollout.state import Rollout


def _step_passed(r: Rollout, step: CanaryStep, analysis: Analysis | None) -> bool:
    assert r.step_started is not None
    now = r.tick.now
    if step.pause is not None:
        if step.pause.duration is None:
            r.hold = Hold(
                HoldReason.AWAITING_PROMOTION,
                f"paused at step {r.step} until promoted (kubectl modelkeeper promote)",
            )
            return False
        end = r.step_started + step.pause.duration
        if now < end:
            r.wakes.append(end)
            return False
        return True
    return analysis_passed(r, analysis)


def _advance_canary(r: Rollout) -> None:
    canary = r.tick.strategy.canary
    if canary is None:  # Direct: ready is enough
        r.end(
            Outcome.PROMOTED,
            DecisionReason.PROMOTED,
            Trigger.READY,
            f"all {r.tick.replicas} replicas ready",
        )
        return
    if not r.approved:
        r.hold = Hold(HoldReason.APPROVAL_REQUIRED, f"version {r.candidate} waits for approval")
        return
    if judged_hold(r, canary.analysis) or r.candidate is None:
        return
    assert r.step is not None
    while r.step < len(canary.steps):
        step = canary.steps[r.step]
        if not (r.take_promote_step() or _step_passed(r, step, canary.analysis)):
            return
        r.hold = None
        r.next_step(r.step + 1)
        if r.step < len(canary.steps):
            upcoming = canary.steps[r.step]
            what = (
                f"weight {upcoming.set_weight}%"
                if upcoming.set_weight is not None
                else "pause" + (f" for {upcoming.pause.duration}" if upcoming.pause else "")
            )
            r.decide(DecisionReason.STEP, f"version {r.candidate}: step {r.step}, {what}")
    r.end(
        Outcome.PROMOTED,
        DecisionReason.PROMOTED,
        Trigger.STEPS,
        f"all {len(canary.steps)} canary steps passed",
    )


def _advance_shadow(r: Rollout, shadow: Shadow) -> None:
    assert r.step_started is not None
    now = r.tick.now
    judge_at = r.step_started + (shadow.duration or timedelta(0))
    run = r.latest_run()
    if now < judge_at or run is None or run.time < judge_at:
        return
    enough = shadow.min_requests is None or (run.requests or 0) >= shadow.min_requests
    if run.requests is None or (run.phase is AnalysisPhase.INCONCLUSIVE and enough):
        r.hold = Hold(HoldReason.ANALYSIS_INCONCLUSIVE, f"shadow inconclusive: {run.message}")
        return
    if not enough:
        return  # not enough mirrored requests yet: keep mirroring
    if run.phase is AnalysisPhase.FAILED:
        r.end(
            Outcome.ROLLED_BACK,
            DecisionReason.ROLLED_BACK,
            Trigger.SHADOW,
            f"shadow: {failed_checks(run)}",
        )
        return
    outcome = shadow.on_success
    if outcome is ShadowOutcome.HOLD and not r.take_promote_step():
        r.hold = Hold(
            HoldReason.AWAITING_PROMOTION,
            "the shadow passed; it holds until promoted (kubectl modelkeeper promote)",
        )
        return
    if not r.approved:
        r.hold = Hold(
            HoldReason.APPROVAL_REQUIRED,
            f"the shadow passed; version {r.candidate} waits for approval before it takes traffic",
        )
        return
    if outcome is ShadowOutcome.CANARY:
        r.decide(DecisionReason.SHADOW_PASSED, f"version {r.candidate}: the shadow passed; canary")
        r.role = ServingRole.CANARY
        r.next_step(0)
        _advance_canary(r)
        return
    r.end(Outcome.PROMOTED, DecisionReason.PROMOTED, Trigger.SHADOW, "the shadow passed")


def _advance_preview(r: Rollout) -> None:
    blue_green = r.tick.strategy.blue_green
    assert blue_green is not None
    assert r.step_started is not None
    if judged_hold(r, blue_green.analysis) or r.candidate is None:
        return
    preview_end = r.step_started + blue_green.preview_duration
    if r.tick.now < preview_end:
        r.wakes.append(preview_end)
        return
    if not analysis_passed(r, blue_green.analysis):
        return
    if not (blue_green.auto_promote or r.take_promote_step()):
        r.hold = Hold(
            HoldReason.AWAITING_PROMOTION,
            "the preview passed; it waits to be promoted (kubectl modelkeeper promote)",
        )
        return
    r.end(
        Outcome.PROMOTED,
        DecisionReason.PROMOTED,
        Trigger.PREVIEW,
        "the preview passed: traffic switched",
    )


EXPERIMENT_ENDS = {
    ExperimentDecision.PROMOTE: (Outcome.PROMOTED, DecisionReason.PROMOTED),
    ExperimentDecision.ROLL_BACK: (Outcome.ROLLED_BACK, DecisionReason.ROLLED_BACK),
    ExperimentDecision.INCONCLUSIVE: (
        Outcome.INCONCLUSIVE,
        DecisionReason.EXPERIMENT_INCONCLUSIVE,
    ),
}
"""How a decided A/B test ends the rollout: the champion stays unless the challenger won."""


def _advance_experiment(r: Rollout) -> None:
    """Keep the split until a reading of this test decides; then end as it says."""
    reading = r.experiment
    assert r.step_started is not None
    if reading is None or reading.time <= r.step_started:
        return
    end = EXPERIMENT_ENDS.get(reading.decision)
    if end is not None:
        outcome, reason = end
        r.end(outcome, reason, Trigger.EXPERIMENT, f"A/B test: {reading.message}")


def advance(r: Rollout) -> None:
    """Move the candidate on by its strategy, as far as this tick allows."""
    tick = r.tick
    candidate = r.candidate
    assert candidate is not None
    if tick.controls.abort == candidate:
        r.end(
            Outcome.ABORTED,
            DecisionReason.ABORTED,
            Trigger.MANUAL,
            f"aborted by {Annotation.ABORT}",
        )
        return
    if not is_ready(tick.observed.get(candidate), tick.replicas):
        return
    previous = tick.status.candidate  # the run judged the candidate status named
    if r.step is None:
        r.next_step(0)
    if tick.run is not None and previous is not None and previous.version == candidate:
        record_run(r, tick.run)
    if tick.controls.promote == candidate and r.approved:
        r.end(
            Outcome.PROMOTED,
            DecisionReason.PROMOTED,
            Trigger.MANUAL,
            f"promoted by {Annotation.PROMOTE}",
        )
        return
    if tick.controls.paused:
        r.hold = Hold(HoldReason.PAUSED_BY_USER, f"paused by {Annotation.PAUSED}")
        return
    analysis = analysis_of(tick.strategy, r.role)
    if analysis is not None and r.step_started is not None:
        r.wakes.append(next_run_at(r.step_started, analysis, r.runs, r.experiment))
    if isinstance(analysis, ABTest):
        _advance_experiment(r)
    elif r.role is ServingRole.SHADOW and tick.strategy.shadow is not None:
        _advance_shadow(r, tick.strategy.shadow)
    elif r.role is ServingRole.PREVIEW:
        _advance_preview(r)
    else:
        _advance_canary(r)
