"""The state one tick works on: read from status, moved on by the strategy, put in the Plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modelkeeper.api.deployment import (
    AnalysisStatus,
    ExperimentStatus,
    HistoryEntry,
    ManualRequests,
    Outcome,
)
from modelkeeper.api.strategy import StrategyType
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.rollout.model import Decision, DecisionReason, Hold, Tick, Trigger


@dataclass
class Rollout:
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
    experiment: ExperimentStatus | None
    manual: ManualRequests
    approved: bool = True
    hold: Hold | None = None
    drain: timedelta = timedelta(0)
    wakes: list[datetime] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    @classmethod
    def read(cls, tick: Tick) -> Rollout:
        """The rollout as the last status left it."""
        status = tick.status
        candidate = status.candidate
        blue_green = tick.strategy.blue_green
        return cls(
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
            experiment=status.experiment,
            manual=status.manual,
            drain=blue_green.scale_down_delay
            if tick.strategy.type is StrategyType.BLUE_GREEN and blue_green
            else tick.drain,
        )

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
        self.step, self.step_started, self.runs, self.experiment = None, None, [], None

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
