"""The rollout state machine: one tick of Direct, Canary, Shadow or BlueGreen.

Given the strategy, the last status, the observed readiness of each version, the
manual controls (annotations), the analysis run taken this tick and the clock, it
returns the next rollout state, the objects to run and the decisions to report. Pure:
everything it needs is in status and the observed objects, so an operator killed at any
tick and started again takes the same decisions.

The shape of every rollout: the candidate starts beside the stable version and takes no
traffic until all its replicas are ready; then its strategy moves it on (Direct: switch
at once; Canary: weight steps and pauses, each setWeight held until an analysis run at
that weight passes; Shadow: mirrored traffic, judged once its duration and request count
are reached; BlueGreen: a preview, then the switch). A failed analysis (failureLimit
runs) rolls it back, a person's abort too; a version rolled back or aborted is not tried
again until `modelkeeper.io/retry`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.deployment import (
    AnalysisPhase,
    AnalysisStatus,
    DeploymentStatus,
    HistoryEntry,
    ManualRequests,
    Outcome,
)
from modelkeeper.api.strategy import (
    Analysis,
    CanaryStep,
    FailureCounting,
    MissingData,
    Shadow,
    ShadowOutcome,
    Strategy,
    StrategyType,
)
from modelkeeper.api.types import ServingRole

HISTORY_LIMIT = 10
ANALYSIS_RUNS_LIMIT = 10
BLOCKING = (Outcome.ROLLED_BACK, Outcome.ABORTED)
"""Outcomes that keep a version out until a person asks to retry it."""


@dataclass(frozen=True)
class Readiness:
    """What the API server says about one version's scoring servers."""

    replicas: int
    ready: int


class DecisionReason(StrEnum):
    """The decisions the strategy takes, each reported as an Event."""

    DEPLOYING = "Deploying"
    ROLLOUT_STARTED = "RolloutStarted"
    STEP = "StepStarted"
    SHADOW_PASSED = "ShadowPassed"
    PROMOTED = "Promoted"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"
    SUPERSEDED = "Superseded"
    WITHDRAWN = "CandidateWithdrawn"
    RETRY = "RetryRequested"
    RETIRED = "Retired"


class Trigger(StrEnum):
    """What ended a rollout, for the operator's metrics."""

    READY = "Ready"
    STEPS = "Steps"
    ANALYSIS = "Analysis"
    SHADOW = "Shadow"
    PREVIEW = "Preview"
    MANUAL = "Manual"
    SELECTION = "Selection"


@dataclass(frozen=True)
class Decision:
    reason: DecisionReason
    message: str
    outcome: Outcome | None = None
    """For a decision that ends a rollout: how it ended, and what ended it."""
    trigger: Trigger | None = None


class HoldReason(StrEnum):
    """Why a rollout does not move on by itself: each one a phase and a condition reason."""

    PAUSED_BY_USER = "PausedByUser"
    ANALYSIS_INCONCLUSIVE = "AnalysisInconclusive"
    APPROVAL_REQUIRED = "ApprovalRequired"
    AWAITING_PROMOTION = "AwaitingPromotion"
    ROLLED_BACK = "RolledBack"
    ABORTED = "Aborted"


@dataclass(frozen=True)
class Hold:
    reason: HoldReason
    message: str


@dataclass(frozen=True)
class Controls:
    """The manual controls, read from the Deployment's annotations (never from spec)."""

    promote: str | None = None
    promote_step: str | None = None
    abort: str | None = None
    paused: bool = False
    retry: str | None = None
    withdraw: str | None = None

    @classmethod
    def read(cls, annotations: Mapping[str, str]) -> Controls:
        return cls(
            promote=annotations.get(Annotation.PROMOTE) or None,
            promote_step=annotations.get(Annotation.PROMOTE_STEP) or None,
            abort=annotations.get(Annotation.ABORT) or None,
            paused=annotations.get(Annotation.PAUSED, "").lower() == "true",
            retry=annotations.get(Annotation.RETRY) or None,
            withdraw=annotations.get(Annotation.WITHDRAW) or None,
        )


@dataclass(frozen=True)
class Tick:
    """Everything one tick of the rollout is decided from."""

    strategy: Strategy
    status: DeploymentStatus
    target: str | None
    """The selected, approved version; None keeps what serves."""
    waiting: str | None
    """A newer version that waits for approval: a Shadow may mirror traffic to it."""
    observed: Mapping[str, Readiness]
    replicas: int
    controls: Controls
    run: AnalysisStatus | None
    """The analysis run taken this tick (`analysis_due` said when), if any."""
    now: datetime
    progress_deadline: timedelta
    drain: timedelta


@dataclass(frozen=True)
class Plan:
    """The rollout after this tick: what serves, what is rolled out, what runs, and why."""

    stable: str | None
    candidate: str | None
    role: ServingRole | None
    """The candidate's part: Canary (Direct and Canary), Shadow or Preview."""
    started: datetime | None
    """When the current rollout (or the first deployment) started, for its deadline."""
    step: int | None
    """The candidate's step; None until all its replicas are ready."""
    step_started: datetime | None
    weight: int
    """The candidate's share of live requests, in percent."""
    mirror_percent: int
    run: frozenset[str]
    history: list[HistoryEntry]
    analysis_runs: list[AnalysisStatus]
    manual: ManualRequests
    deadline_exceeded: bool
    hold: Hold | None
    withdrawn: str | None
    """The selected version kept out by modelkeeper.io/withdraw, while stable serves."""
    wake_at: datetime | None
    """When the rollout wants its next tick although nothing changes (a pause, a run)."""
    decisions: list[Decision] = field(default_factory=list)


@dataclass(frozen=True)
class AnalysisDue:
    """An analysis run the reconciler should take before this tick."""

    analysis: Analysis | Shadow
    window: timedelta
    """The traffic judged: the last interval, or for a shadow everything since it started."""


def is_ready(readiness: Readiness | None, replicas: int) -> bool:
    """All asked-for replicas ready (a version scaled to zero counts as ready)."""
    return readiness is not None and readiness.ready >= replicas


def weight_at(steps: Sequence[CanaryStep], step: int) -> int:
    """The candidate's weight at a step: the last setWeight at or before it."""
    weights = [s.set_weight for s in steps[: step + 1] if s.set_weight is not None]
    return weights[-1] if weights else 0


def _analysis_of(strategy: Strategy, role: ServingRole | None) -> Analysis | Shadow | None:
    if role is ServingRole.SHADOW:
        return strategy.shadow
    if role is ServingRole.PREVIEW and strategy.blue_green is not None:
        return strategy.blue_green.analysis
    if role is ServingRole.CANARY and strategy.canary is not None:
        return strategy.canary.analysis
    return None


def _next_run_at(
    step_started: datetime, runs: Sequence[AnalysisStatus], interval: timedelta
) -> datetime:
    """A run covers one interval of the current step's traffic, so it waits for one."""
    last = [run.time for run in runs[:1] if run.time >= step_started]
    return max([step_started, *last]) + interval


def analysis_due(
    strategy: Strategy, status: DeploymentStatus, controls: Controls, now: datetime
) -> AnalysisDue | None:
    """The analysis run this tick needs: the candidate is judged, not paused, and a run is due."""
    candidate = status.candidate
    if candidate is None or status.step is None or status.step_started is None or controls.paused:
        return None
    analysis = _analysis_of(strategy, candidate.role)
    if analysis is None:
        return None
    if now < _next_run_at(status.step_started, status.analysis_runs, analysis.interval):
        return None
    window = now - status.step_started if isinstance(analysis, Shadow) else analysis.interval
    return AnalysisDue(analysis, window)


def blocker(
    version: str | None, history: Sequence[HistoryEntry], manual: ManualRequests
) -> HistoryEntry | None:
    """The rollback or abort that keeps `version` out, unless a retry came after it."""
    for entry in history:
        if entry.version != version or entry.outcome not in BLOCKING:
            continue
        retried = manual.retried_version == version and manual.retried_at is not None
        if retried and manual.retried_at is not None and entry.finished <= manual.retried_at:
            return None
        return entry
    return None


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


def _failed_checks(run: AnalysisStatus) -> str:
    failed = [
        f"{m.name}: {m.message}" if m.message else m.name
        for m in run.metrics
        if m.phase is AnalysisPhase.FAILED
    ]
    return "; ".join(failed) or run.message or run.phase.value


@dataclass
class _Rollout:
    """The state one tick works on, read from status and written back into the Plan."""

    tick: Tick
    stable: str | None
    candidate: str | None
    role: ServingRole | None
    since: datetime | None
    step: int | None
    step_started: datetime | None
    history: list[HistoryEntry]
    runs: list[AnalysisStatus]
    manual: ManualRequests
    approved: bool = True
    hold: Hold | None = None
    drain: timedelta = timedelta(0)
    wakes: list[datetime] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def decide(self, reason: DecisionReason, message: str) -> None:
        self.decisions.append(Decision(reason, message))

    def end(self, outcome: Outcome, reason: DecisionReason, trigger: Trigger, why: str) -> None:
        """The candidate's rollout ends: recorded in history, the candidate let go."""
        assert self.candidate is not None
        now = self.tick.now
        entry = HistoryEntry(
            version=self.candidate,
            outcome=outcome,
            started=self.since or now,
            finished=now,
            reason=why[:1024],
        )
        self.history.insert(0, entry)
        self.decisions.append(
            Decision(reason, f"version {self.candidate}: {why}", outcome, trigger)
        )
        if outcome is Outcome.PROMOTED:
            self.stable = self.candidate
        self.candidate, self.role, self.since, self.step, self.step_started = (None,) * 5

    def start(self, version: str, role: ServingRole) -> None:
        self.candidate, self.role, self.since = version, role, self.tick.now
        self.step, self.step_started, self.runs = None, None, []

    def next_step(self, step: int) -> None:
        self.step, self.step_started = step, self.tick.now

    def take_promote_step(self) -> bool:
        """A new modelkeeper.io/promote-step request, consumed by this call."""
        request = self.tick.controls.promote_step
        if request is None or request == self.manual.promote_step:
            return False
        self.manual = self.manual.model_copy(update={"promote_step": request})
        return True

    def latest_run(self) -> AnalysisStatus | None:
        """The newest run of the current step: one taken after the step started.

        A run is due an interval after its step starts, so a run at the very moment a step
        started belongs to the step before.
        """
        run = self.runs[0] if self.runs else None
        if run is None or self.step_started is None or run.time <= self.step_started:
            return None
        return run


def _first_role(strategy: Strategy) -> ServingRole:
    return {
        StrategyType.SHADOW: ServingRole.SHADOW,
        StrategyType.BLUE_GREEN: ServingRole.PREVIEW,
    }.get(strategy.type, ServingRole.CANARY)


def _choose(r: _Rollout) -> str | None:
    """The version to roll out now: the target, or an unapproved one a Shadow may mirror."""
    tick = r.tick
    wanted = tick.target
    withdrawn = tick.controls.withdraw
    if wanted is not None and (
        blocker(wanted, r.history, r.manual) is not None or wanted == withdrawn
    ):
        wanted = r.stable
    if (
        (wanted is None or wanted == r.stable)
        and tick.strategy.type is StrategyType.SHADOW
        and tick.waiting is not None
        and tick.waiting != withdrawn
        and blocker(tick.waiting, r.history, r.manual) is None
    ):
        return tick.waiting
    return wanted


def _retry(r: _Rollout) -> None:
    request = r.tick.controls.retry
    if request is None or request == r.manual.retry:
        return
    version = r.tick.target
    if blocker(version, r.history, r.manual) is None:
        r.manual = r.manual.model_copy(update={"retry": request})
        r.decide(DecisionReason.RETRY, "retry requested, but no selected version is kept out")
        return
    r.manual = ManualRequests(
        promote_step=r.manual.promote_step,
        retry=request,
        retried_version=version,
        retried_at=r.tick.now,
    )
    r.decide(DecisionReason.RETRY, f"version {version} may roll out again")


def _switch_candidate(r: _Rollout, wanted: str | None) -> None:
    """Start, supersede or withdraw the candidate so that it is `wanted`."""
    if wanted is None or wanted == r.stable:
        if r.candidate is not None and r.candidate == r.tick.controls.withdraw:
            r.end(
                Outcome.WITHDRAWN,
                DecisionReason.WITHDRAWN,
                Trigger.MANUAL,
                f"withdrawn by {Annotation.WITHDRAW}; {r.stable} keeps serving",
            )
        elif r.candidate is not None:
            r.end(
                Outcome.SUPERSEDED,
                DecisionReason.WITHDRAWN,
                Trigger.SELECTION,
                f"no longer selected; {r.stable} keeps serving",
            )
        return
    if r.stable is None:
        r.stable = wanted
        r.since = r.tick.now
        r.decide(DecisionReason.DEPLOYING, f"deploying version {wanted}")
        return
    if r.candidate == wanted:
        return
    if r.candidate is not None:
        r.end(
            Outcome.SUPERSEDED,
            DecisionReason.SUPERSEDED,
            Trigger.SELECTION,
            f"superseded by version {wanted}",
        )
    r.start(wanted, _first_role(r.tick.strategy))
    r.decide(
        DecisionReason.ROLLOUT_STARTED,
        f"starting version {wanted} beside {r.stable} ({r.tick.strategy.type.value}); "
        "it takes no traffic before all its replicas are ready",
    )


def _record(r: _Rollout, run: AnalysisStatus) -> None:
    analysis = _analysis_of(r.tick.strategy, r.role)
    previous = r.runs[0].failures if r.runs else 0
    failures = _failures(previous, run, analysis) if isinstance(analysis, Analysis) else 0
    steps = r.tick.strategy.canary.steps if r.tick.strategy.canary else []
    weight = weight_at(steps, r.step or 0) if r.role is ServingRole.CANARY else 0
    recorded = run.model_copy(update={"failures": failures, "step": r.step, "weight": weight})
    r.runs = [recorded, *r.runs][:ANALYSIS_RUNS_LIMIT]


def _judged_hold(r: _Rollout, analysis: Analysis | None) -> bool:
    """Whether the latest run keeps the rollout where it is; rolls back at the failure limit."""
    if analysis is None:
        return False
    run = r.latest_run()
    if run is not None and run.failures >= analysis.failure_limit:
        r.end(
            Outcome.ROLLED_BACK,
            DecisionReason.ROLLED_BACK,
            Trigger.ANALYSIS,
            f"analysis failed {run.failures} times: {_failed_checks(run)}",
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


def _analysis_passed(r: _Rollout, analysis: Analysis | None) -> bool:
    """Whether the current step's traffic has been judged and passed (no analysis: yes)."""
    if analysis is None:
        return True
    run = r.latest_run()
    return run is not None and _passes(run, analysis)


def _step_passed(r: _Rollout, step: CanaryStep, analysis: Analysis | None) -> bool:
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
    return _analysis_passed(r, analysis)


def _advance_canary(r: _Rollout) -> None:
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
    if _judged_hold(r, canary.analysis) or r.candidate is None:
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


def _advance_shadow(r: _Rollout, shadow: Shadow) -> None:
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
            f"shadow: {_failed_checks(run)}",
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


def _advance_preview(r: _Rollout) -> None:
    blue_green = r.tick.strategy.blue_green
    assert blue_green is not None
    assert r.step_started is not None
    if _judged_hold(r, blue_green.analysis) or r.candidate is None:
        return
    preview_end = r.step_started + blue_green.preview_duration
    if r.tick.now < preview_end:
        r.wakes.append(preview_end)
        return
    if not _analysis_passed(r, blue_green.analysis):
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


def _advance(r: _Rollout) -> None:
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
        _record(r, tick.run)
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
    analysis = _analysis_of(tick.strategy, r.role)
    if analysis is not None and r.step_started is not None:
        r.wakes.append(_next_run_at(r.step_started, r.runs, analysis.interval))
    if r.role is ServingRole.SHADOW and tick.strategy.shadow is not None:
        _advance_shadow(r, tick.strategy.shadow)
    elif r.role is ServingRole.PREVIEW:
        _advance_preview(r)
    else:
        _advance_canary(r)


def plan_rollout(tick: Tick) -> Plan:
    """Take the rollout one tick towards serving `tick.target` by its strategy."""
    status = tick.status
    candidate = status.candidate
    r = _Rollout(
        tick=tick,
        stable=status.stable.version if status.stable else None,
        candidate=candidate.version if candidate else None,
        role=candidate.role if candidate else None,
        # A rollout's start is the candidate's `since`; the first version's, `stepStarted`.
        since=candidate.since if candidate else status.step_started,
        step=status.step if candidate else None,
        step_started=status.step_started if candidate else None,
        history=list(status.history),
        runs=list(status.analysis_runs),
        manual=status.manual,
        drain=tick.strategy.blue_green.scale_down_delay
        if tick.strategy.type is StrategyType.BLUE_GREEN and tick.strategy.blue_green
        else tick.drain,
    )
    _retry(r)
    wanted = _choose(r)
    _switch_candidate(r, wanted)
    if r.candidate is not None:
        r.approved = r.candidate == tick.target
        _advance(r)

    stable_started = r.since if r.candidate is None else None
    if (
        r.candidate is None
        and r.stable is not None
        and is_ready(tick.observed.get(r.stable), tick.replicas)
    ):
        stable_started = None
    started = r.since if r.candidate is not None else stable_started
    hold = r.hold
    shadowed = tick.waiting if tick.strategy.type is StrategyType.SHADOW else None
    withdrawn = next(
        (
            version
            for version in (tick.target, shadowed)
            if version is not None and version != r.stable and version == tick.controls.withdraw
        ),
        None,
    )
    kept_out = next(
        (
            entry
            for version in (tick.target, shadowed)
            if r.candidate is None
            and version not in (None, r.stable, withdrawn)
            and (entry := blocker(version, r.history, r.manual)) is not None
        ),
        None,
    )
    if kept_out is not None:
        reason = (
            HoldReason.ABORTED if kept_out.outcome is Outcome.ABORTED else HoldReason.ROLLED_BACK
        )
        hold = Hold(
            reason,
            f"version {kept_out.version} was {kept_out.outcome.value.lower()}"
            f" ({kept_out.reason}); {r.stable} keeps serving; kubectl modelkeeper retry "
            "rolls it out again",
        )

    current = {version for version in (r.stable, r.candidate) if version is not None}
    last = r.history[0] if r.history else None
    drain_end = last.finished + r.drain if last and last.outcome is Outcome.PROMOTED else None
    draining = drain_end is not None and tick.now < drain_end
    if draining and drain_end is not None:
        r.wakes.append(drain_end)
    leftovers = set(tick.observed) - current
    run = current | (leftovers if draining else set())
    for version in sorted(leftovers - run):
        r.decide(DecisionReason.RETIRED, f"version {version} removed")
    rolling_out = r.candidate if r.candidate is not None else r.stable
    deadline_exceeded = (
        started is not None
        and rolling_out is not None
        and not is_ready(tick.observed.get(rolling_out), tick.replicas)
        and tick.now - started > tick.progress_deadline
    )
    if started is not None and not deadline_exceeded:
        r.wakes.append(started + tick.progress_deadline)
    steps = tick.strategy.canary.steps if tick.strategy.canary else []
    live = r.role is ServingRole.CANARY and r.step is not None
    shadow = tick.strategy.shadow
    mirroring = r.role is ServingRole.SHADOW and r.step is not None and shadow is not None
    return Plan(
        stable=r.stable,
        candidate=r.candidate,
        role=r.role,
        started=started,
        step=r.step,
        step_started=r.step_started,
        weight=weight_at(steps, r.step) if live and r.step is not None else 0,
        mirror_percent=shadow.mirror_percent if mirroring and shadow is not None else 0,
        run=frozenset(run),
        history=r.history[:HISTORY_LIMIT],
        analysis_runs=r.runs,
        manual=r.manual,
        deadline_exceeded=deadline_exceeded,
        hold=hold,
        withdrawn=withdrawn,
        wake_at=min((w for w in r.wakes if w > tick.now), default=None),
        decisions=r.decisions,
    )
