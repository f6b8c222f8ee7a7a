"""What one tick of a rollout is decided from, and what it decides: a Tick in, a Plan out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.deployment import (
    AnalysisStatus,
    DeploymentStatus,
    ExperimentStatus,
    HistoryEntry,
    ManualRequests,
    Outcome,
)
from modelkeeper.api.strategy import ABTest, Analysis, CanaryStep, Shadow, Strategy
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.traffic import Routes

HISTORY_LIMIT = 10
ANALYSIS_RUNS_LIMIT = 10
BLOCKING = (Outcome.ROLLED_BACK, Outcome.ABORTED, Outcome.INCONCLUSIVE)
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
    EXPERIMENT_INCONCLUSIVE = "ExperimentInconclusive"
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
    EXPERIMENT = "Experiment"
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
    EXPERIMENT_INCONCLUSIVE = "ExperimentInconclusive"


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
    run: AnalysisStatus | ExperimentStatus | None
    """The analysis run (or an A/B test's reading) taken this tick (`analysis_due` said
    when), if any."""
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
    experiment: ExperimentStatus | None
    """The latest reading of the current or last A/B test."""
    manual: ManualRequests
    deadline_exceeded: bool
    hold: Hold | None
    withdrawn: str | None
    """The selected version kept out by modelkeeper.io/withdraw, while stable serves."""
    wake_at: datetime | None
    """When the rollout wants its next tick although nothing changes (a pause, a run)."""
    decisions: list[Decision] = field(default_factory=list)

    def routes(self) -> Routes | None:
        """Where requests go by this plan; None while there is no stable version to route to."""
        if self.stable is None:
            return None
        return Routes(
            stable=self.stable,
            candidate=self.candidate,
            role=self.role if self.candidate is not None else None,
            weight=self.weight,
            mirror_percent=self.mirror_percent,
        )


@dataclass(frozen=True)
class AnalysisDue:
    """An analysis run the reconciler should take before this tick."""

    analysis: Analysis | Shadow | ABTest
    window: timedelta
    """The traffic judged: the last interval, or for a shadow and an A/B test everything
    since it started."""


def is_ready(readiness: Readiness | None, replicas: int) -> bool:
    """All asked-for replicas ready (a version scaled to zero counts as ready)."""
    return readiness is not None and readiness.ready >= replicas


def weight_at(steps: Sequence[CanaryStep], step: int) -> int:
    """The candidate's weight at a step: the last setWeight at or before it."""
    weights = [s.set_weight for s in steps[: step + 1] if s.set_weight is not None]
    return weights[-1] if weights else 0


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
