"""Analysis runs: when one is due, and how the runs taken judge the candidate.

A run covers one interval of the current step's traffic (a shadow's and an A/B test's,
everything since it started); failureLimit failed runs roll the candidate back, and an
inconclusive run holds it or counts as failed or passed, as the analysis says
(onMissingData). An A/B test's reading decides by itself (analysis.experiment).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from modelkeeper.api.deployment import (
    AnalysisPhase,
    AnalysisStatus,
    DeploymentStatus,
    ExperimentStatus,
    Outcome,
)
from modelkeeper.api.strategy import (
    ABTest,
    Analysis,
    FailureCounting,
    MissingData,
    Shadow,
    Strategy,
    StrategyType,
)
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.rollout.model import (
    ANALYSIS_RUNS_LIMIT,
    AnalysisDue,
    Controls,
    DecisionReason,
    Hold,
    HoldReason,
    Trigger,
    weight_at,
)
from modelkeeper.controller.rollout.state import Rollout


def analysis_of(strategy: Strategy, role: ServingRole | None) -> Analysis | Shadow | ABTest | None:
    if role is ServingRole.CANARY and strategy.type is StrategyType.AB_TEST:
        return strategy.ab_test
    if role is ServingRole.SHADOW:
        return strategy.shadow
    if role is ServingRole.PREVIEW and strategy.blue_green is not None:
        return strategy.blue_green.analysis
    if role is ServingRole.CANARY and strategy.canary is not None:
        return strategy.canary.analysis
    return None


def next_run_at(
    step_started: datetime,
    analysis: Analysis | Shadow | ABTest,
    runs: Sequence[AnalysisStatus],
    experiment: ExperimentStatus | None,
) -> datetime:
    """A run covers one interval of the current step's traffic, so it waits for one after
    the step starts and after the last run (an A/B test's: its last reading)."""
    if isinstance(analysis, ABTest):
        times = [experiment.time] if experiment is not None else []
    else:
        times = [run.time for run in runs[:1]]
    last = [time for time in times if time >= step_started]
    return max([step_started, *last]) + analysis.interval


def analysis_due(
    strategy: Strategy, status: DeploymentStatus, controls: Controls, now: datetime
) -> AnalysisDue | None:
    """The analysis run this tick needs: the candidate is judged, not paused, and a run is due."""
    candidate = status.candidate
    if candidate is None or status.step is None or status.step_started is None or controls.paused:
        return None
    analysis = analysis_of(strategy, candidate.role)
    if analysis is None:
        return None
    if now < next_run_at(status.step_started, analysis, status.analysis_runs, status.experiment):
        return None
    cumulative = isinstance(analysis, Shadow | ABTest)
    window = now - status.step_started if cumulative else analysis.interval
    return AnalysisDue(analysis, window)


def _failures(previous: int, run: AnalysisStatus, analysis: Analysis) -> int:
    """Failed runs so far: Consecutive counting forgives them after a Successful run."""
    inconclusive = run.phase is AnalysisPhase.INCONCLUSIVE
    if run.phase is AnalysisPhase.FAILED or (
        inconclusive and analysis.on_missing_data is MissingData.FAIL
    ):
        return previous + 1
    if (
        run.phase is AnalysisPhase.SUCCESSFUL
        and analysis.count_failures is FailureCounting.CONSECUTIVE
    ):
        return 0
    return previous


def _passes(run: AnalysisStatus, analysis: Analysis) -> bool:
    """Whether a run lets the rollout move on."""
    if run.phase is AnalysisPhase.SUCCESSFUL:
        return True
    return (
        run.phase is AnalysisPhase.INCONCLUSIVE and analysis.on_missing_data is MissingData.IGNORE
    )


def failed_checks(run: AnalysisStatus) -> str:
    failed = [
        f"{m.name}: {m.message}" if m.message else m.name
        for m in run.metrics
        if m.phase is AnalysisPhase.FAILED
    ]
    return "; ".join(failed) or run.message or run.phase.value


def record_run(r: Rollout, run: AnalysisStatus | ExperimentStatus) -> None:
    if isinstance(run, ExperimentStatus):
        r.experiment = run
        return
    analysis = analysis_of(r.tick.strategy, r.role)
    previous = r.runs[0].failures if r.runs else 0
    failures = _failures(previous, run, analysis) if isinstance(analysis, Analysis) else 0
    steps = r.tick.strategy.canary.steps if r.tick.strategy.canary else []
    weight = weight_at(steps, r.step or 0) if r.role is ServingRole.CANARY else 0
    recorded = run.model_copy(update={"failures": failures, "step": r.step, "weight": weight})
    r.runs = [recorded, *r.runs][:ANALYSIS_RUNS_LIMIT]


def judged_hold(r: Rollout, analysis: Analysis | None) -> bool:
    """Whether the latest run keeps the rollout where it is; rolls back at the failure limit."""
    if analysis is None:
        return False
    run = r.latest_run()
    if run is not None and run.failures >= analysis.failure_limit:
        r.end(
            Outcome.ROLLED_BACK,
            DecisionReason.ROLLED_BACK,
            Trigger.ANALYSIS,
            f"analysis failed {run.failures} times: {failed_checks(run)}",
        )
        return True
    if (
        run is not None
        and run.phase is AnalysisPhase.INCONCLUSIVE
        and analysis.on_missing_data is MissingData.PAUSE
    ):
        r.hold = Hold(HoldReason.ANALYSIS_INCONCLUSIVE, f"analysis inconclusive: {run.message}")
        return True
    return False


def analysis_passed(r: Rollout, analysis: Analysis | None) -> bool:
    """Whether the current step's traffic has been judged and passed (no analysis: yes)."""
    if analysis is None:
        return True
    run = r.latest_run()
    return run is not None and _passes(run, analysis)
