"""The Direct strategy's decisions: which versions run, where the router points, what to retire.

A new version (pinned or tracked) starts beside the stable one and takes no traffic;
once all its replicas are ready the router switches to it at once, and the old version
keeps running for a drain period (so the router has reloaded its config) before it is
removed. Pure: everything it needs is in the last status, the observed readiness and
the clock, so a restarted operator takes the same decision again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from modelkeeper.api.deployment import DeploymentStatus, HistoryEntry, Outcome

HISTORY_LIMIT = 10


@dataclass(frozen=True)
class Readiness:
    """What the API server says about one version's scoring servers."""

    replicas: int
    ready: int


class DecisionReason(StrEnum):
    """The decisions the strategy takes, each reported as an Event."""

    DEPLOYING = "Deploying"
    ROLLOUT_STARTED = "RolloutStarted"
    PROMOTED = "Promoted"
    SUPERSEDED = "Superseded"
    WITHDRAWN = "CandidateWithdrawn"
    RETIRED = "Retired"


@dataclass(frozen=True)
class Decision:
    reason: DecisionReason
    message: str


@dataclass(frozen=True)
class Plan:
    """What the Deployment runs and routes after this reconcile."""

    stable: str | None
    candidate: str | None
    started: datetime | None
    """When the current rollout (or the first deployment) started, for its deadline."""
    run: frozenset[str]
    history: list[HistoryEntry]
    deadline_exceeded: bool
    decisions: list[Decision] = field(default_factory=list)


def is_ready(readiness: Readiness | None, replicas: int) -> bool:
    """All asked-for replicas ready (a version scaled to zero counts as ready)."""
    return readiness is not None and readiness.ready >= replicas


def _entry(
    version: str, outcome: Outcome, started: datetime | None, now: datetime, reason: str
) -> HistoryEntry:
    return HistoryEntry(
        version=version, outcome=outcome, started=started or now, finished=now, reason=reason
    )


def plan_direct(
    target: str | None,
    status: DeploymentStatus,
    observed: Mapping[str, Readiness],
    replicas: int,
    now: datetime,
    progress_deadline: timedelta,
    drain: timedelta,
) -> Plan:
    """Take the Direct strategy one step towards serving `target` (None: keep what serves)."""
    stable = status.stable.version if status.stable else None
    candidate = status.candidate.version if status.candidate else None
    # A rollout's start is the candidate's `since`; the first version's, `stepStarted`.
    started = status.candidate.since if status.candidate else status.step_started
    history = list(status.history)
    decisions: list[Decision] = []

    if target is None or target == stable:
        if candidate is not None:
            why = f"version {candidate} is no longer selected"
            history.insert(0, _entry(candidate, Outcome.ABORTED, started, now, why))
            decisions.append(Decision(DecisionReason.WITHDRAWN, why))
            candidate, started = None, None
    elif stable is None:
        stable, started = target, now
        decisions.append(Decision(DecisionReason.DEPLOYING, f"deploying version {target}"))
    else:
        if candidate != target:
            if candidate is not None:
                why = f"superseded by version {target}"
                history.insert(0, _entry(candidate, Outcome.ABORTED, started, now, why))
                decisions.append(Decision(DecisionReason.SUPERSEDED, f"{candidate} {why}"))
            candidate, started = target, now
            decisions.append(
                Decision(
                    DecisionReason.ROLLOUT_STARTED,
                    f"starting version {target} beside {stable}; it takes traffic once ready",
                )
            )
        if is_ready(observed.get(target), replicas):
            why = f"all {replicas} replicas of {target} ready: traffic switched from {stable}"
            history.insert(0, _entry(target, Outcome.PROMOTED, started, now, why))
            decisions.append(Decision(DecisionReason.PROMOTED, why))
            stable, candidate, started = target, None, None

    if candidate is None and stable is not None and is_ready(observed.get(stable), replicas):
        started = None
    current = {version for version in (stable, candidate) if version is not None}
    last = history[0] if history else None
    draining = last is not None and last.outcome is Outcome.PROMOTED and now < last.finished + drain
    leftovers = set(observed) - current
    run = current | (leftovers if draining else set())
    decisions += [
        Decision(DecisionReason.RETIRED, f"version {version} removed")
        for version in sorted(leftovers - run)
    ]
    rolling_out = candidate if candidate is not None else stable
    deadline_exceeded = (
        started is not None
        and rolling_out is not None
        and not is_ready(observed.get(rolling_out), replicas)
        and now - started > progress_deadline
    )
    return Plan(
        stable=stable,
        candidate=candidate,
        started=started,
        run=frozenset(run),
        history=history[:HISTORY_LIMIT],
        deadline_exceeded=deadline_exceeded,
        decisions=decisions,
    )
