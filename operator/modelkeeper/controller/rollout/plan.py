"""One tick of the rollout: choose the version to roll out, move it on, and say what runs."""

from __future__ import annotations

from datetime import datetime

from modelkeeper.api.annotations import Annotation
from modelkeeper.api.deployment import ManualRequests, Outcome
from modelkeeper.api.strategy import ABTest, Strategy, StrategyType
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.rollout.analysis import analysis_of
from modelkeeper.controller.rollout.model import (
    HISTORY_LIMIT,
    DecisionReason,
    Hold,
    HoldReason,
    Plan,
    Tick,
    Trigger,
    blocker,
    is_ready,
    weight_at,
)
from modelkeeper.controller.rollout.state import Rollout
from modelkeeper.controller.rollout.strategies import advance


def plan_rollout(tick: Tick) -> Plan:
    """Take the rollout one tick towards serving `tick.target` by its strategy."""
    r = Rollout.read(tick)
    _retry(r)
    _switch_candidate(r, _choose(r))
    if r.candidate is not None:
        r.approved = r.candidate == tick.target
        advance(r)
    started = _started(r)
    withdrawn = _withdrawn(r)
    hold = _kept_out(r, withdrawn) or r.hold
    run = _running(r)
    deadline_exceeded = _deadline_exceeded(r, started)
    weight, mirror_percent = _shares(r)
    return Plan(
        stable=r.stable,
        candidate=r.candidate,
        role=r.role,
        started=started,
        step=r.step,
        step_started=r.step_started,
        weight=weight,
        mirror_percent=mirror_percent,
        run=run,
        history=r.history[:HISTORY_LIMIT],
        analysis_runs=r.runs,
        experiment=r.experiment,
        manual=r.manual,
        deadline_exceeded=deadline_exceeded,
        hold=hold,
        withdrawn=withdrawn,
        wake_at=min((w for w in r.wakes if w > tick.now), default=None),
        decisions=r.decisions,
    )


def _retry(r: Rollout) -> None:
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


def _choose(r: Rollout) -> str | None:
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


def _switch_candidate(r: Rollout, wanted: str | None) -> None:
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


def _first_role(strategy: Strategy) -> ServingRole:
    return {
        StrategyType.SHADOW: ServingRole.SHADOW,
        StrategyType.BLUE_GREEN: ServingRole.PREVIEW,
    }.get(strategy.type, ServingRole.CANARY)


def _started(r: Rollout) -> datetime | None:
    """When what is being rolled out started, for its deadline: the candidate's rollout, or a
    first version's deployment until it is ready."""
    if r.candidate is not None:
        return r.since
    if r.stable is not None and is_ready(r.tick.observed.get(r.stable), r.tick.replicas):
        return None
    return r.since


def _offered(r: Rollout) -> tuple[str | None, str | None]:
    """The versions asked for: the target, and the waiting version a Shadow would mirror."""
    tick = r.tick
    return tick.target, tick.waiting if tick.strategy.type is StrategyType.SHADOW else None


def _withdrawn(r: Rollout) -> str | None:
    """The version asked for but kept out by modelkeeper.io/withdraw, while stable serves."""
    withdraw = r.tick.controls.withdraw
    return next(
        (v for v in _offered(r) if v is not None and v != r.stable and v == withdraw),
        None,
    )


KEPT_OUT_HOLDS = {
    Outcome.ABORTED: HoldReason.ABORTED,
    Outcome.ROLLED_BACK: HoldReason.ROLLED_BACK,
    Outcome.INCONCLUSIVE: HoldReason.EXPERIMENT_INCONCLUSIVE,
}


def _kept_out(r: Rollout, withdrawn: str | None) -> Hold | None:
    """The hold of a version asked for but kept out by its rollback or abort, if any."""
    if r.candidate is not None:
        return None
    kept_out = next(
        (
            entry
            for version in _offered(r)
            if version not in (None, r.stable, withdrawn)
            and (entry := blocker(version, r.history, r.manual)) is not None
        ),
        None,
    )
    if kept_out is None:
        return None
    reason = KEPT_OUT_HOLDS[kept_out.outcome]
    return Hold(
        reason,
        f"version {kept_out.version} was {kept_out.outcome.value.lower()}"
        f" ({kept_out.reason}); {r.stable} keeps serving; kubectl modelkeeper retry "
        "rolls it out again",
    )


def _running(r: Rollout) -> frozenset[str]:
    """The versions that run: stable and candidate, and while a promotion drains, the rest
    observed; each version let go is retired."""
    current = {version for version in (r.stable, r.candidate) if version is not None}
    last = r.history[0] if r.history else None
    drain_end = last.finished + r.drain if last and last.outcome is Outcome.PROMOTED else None
    draining = drain_end is not None and r.tick.now < drain_end
    if draining and drain_end is not None:
        r.wakes.append(drain_end)
    leftovers = set(r.tick.observed) - current
    run = current | (leftovers if draining else set())
    for version in sorted(leftovers - run):
        r.decide(DecisionReason.RETIRED, f"version {version} removed")
    return frozenset(run)


def _deadline_exceeded(r: Rollout, started: datetime | None) -> bool:
    """Whether what is being rolled out missed its progress deadline; if not, a wake at it."""
    if started is None:
        return False
    tick = r.tick
    rolling_out = r.candidate if r.candidate is not None else r.stable
    exceeded = (
        rolling_out is not None
        and not is_ready(tick.observed.get(rolling_out), tick.replicas)
        and tick.now - started > tick.progress_deadline
    )
    if not exceeded:
        r.wakes.append(started + tick.progress_deadline)
    return exceeded


def _shares(r: Rollout) -> tuple[int, int]:
    """The candidate's percent of live requests and of mirrored ones: none before it is ready."""
    strategy = r.tick.strategy
    if r.step is None:
        return 0, 0
    if isinstance(experiment := analysis_of(strategy, r.role), ABTest):
        return experiment.weight, 0
    if r.role is ServingRole.CANARY:
        return weight_at(strategy.canary.steps if strategy.canary else [], r.step), 0
    if r.role is ServingRole.SHADOW and strategy.shadow is not None:
        return 0, strategy.shadow.mirror_percent
    return 0, 0
