"""Whether a RetrainPolicy starts a run now, why, or what holds it back, and when to look again.

Pure: the controller hands over the policy, its status, the statuses of the DriftMonitors
it names, the `modelkeeper.io/retrain` annotation and the clock. Reconciling by level
makes the throttles matter: a drift that stays (or flaps) fires on every reconcile, and
only cooldown, maxConcurrentRuns and backoff keep that to one run per cooldown.

The rules (docs/concepts.md, "Retraining"):
- drift: the monitor's state is the trigger's state (Drifted also satisfies Warning),
  entered at least `for` ago (status.since);
- performance: the monitor's PerformanceDegraded condition is True since at least `for`;
- schedule: a cron time passed that no run has answered yet (status.nextScheduleTime);
- manual: a new annotation value, past cooldown and backoff, within maxConcurrentRuns.
Every run start (manual included) restarts cooldown and answers a due schedule.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from modelkeeper.api.conditions import ConditionStatus
from modelkeeper.api.driftmonitor import DriftMonitorConditionType, DriftMonitorStatus, DriftState
from modelkeeper.api.retrainpolicy import (
    Backoff,
    DriftTrigger,
    MonitorState,
    MonitorTrigger,
    RetrainPolicySpec,
    RetrainPolicyStatus,
    RunOutcome,
    ScheduleTrigger,
    TriggerKind,
)
from modelkeeper.api.types import Duration

_SATISFIES: dict[MonitorState, frozenset[DriftState]] = {
    MonitorState.DRIFTED: frozenset({DriftState.DRIFTED}),
    MonitorState.WARNING: frozenset({DriftState.WARNING, DriftState.DRIFTED}),
}


class Throttle(StrEnum):
    """What holds back a run that a trigger asks for."""

    COOLDOWN = "Cooldown"
    MAX_CONCURRENT_RUNS = "MaxConcurrentRuns"
    BACKOFF = "Backoff"


@dataclass(frozen=True)
class Fired:
    """A trigger that asks for a run, and why, with its evidence."""

    kind: TriggerKind
    reason: str


@dataclass(frozen=True)
class Decision:
    """What to do now, and what the policy's status records of it."""

    start: Fired | None
    """The run to start now, if any."""
    throttled: Throttle | None
    """What holds back a run a trigger asks for, if anything does."""
    message: str
    """Why, for people: the trigger's evidence, or what holds it back and until when."""
    wake: datetime | None
    """When the decision may change by the clock alone (a hold ends, a schedule is due)."""
    next_schedule_time: datetime | None
    """status.nextScheduleTime after this decision."""
    manual_request: str | None
    """status.manualRequest after this decision."""


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _held(moment: timedelta) -> str:
    return str(Duration(seconds=int(moment.total_seconds())))


def schedule_problems(spec: RetrainPolicySpec, after: datetime) -> list[str]:
    """What in the schedules the API server accepted cannot run, each naming its field.

    The schema checks a time zone's shape and a cron's fields; only the time-zone database
    knows whether a zone exists, and only croniter whether a schedule ever comes (such as
    30 February). Whatever is named here is reported in status and an Event, not raised.
    """
    problems = []
    for index, trigger in enumerate(spec.triggers):
        schedule = trigger.schedule
        if schedule is None:
            continue
        where = f"spec.triggers[{index}].schedule"
        try:
            zone = ZoneInfo(schedule.time_zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: `US` is a folder
            problems.append(
                f"{where}.timeZone: {schedule.time_zone} is not a time zone of the IANA "
                "database, such as UTC or Europe/Berlin"
            )
            continue
        try:
            croniter(schedule.cron, after.astimezone(zone)).get_next(datetime)
        except (ValueError, KeyError, ArithmeticError) as error:
            problems.append(f"{where}.cron: {schedule.cron} never comes: {error}")
    return problems


def next_schedule_time(schedules: Sequence[ScheduleTrigger], after: datetime) -> datetime | None:
    """The first cron time of any schedule strictly after `after`, in UTC."""
    times = [
        croniter(schedule.cron, after.astimezone(ZoneInfo(schedule.time_zone))).get_next(datetime)
        for schedule in schedules
    ]
    return min(times).astimezone(UTC) if times else None


def backoff_delay(backoff: Backoff, failures: int) -> timedelta:
    """initial * 2^(failures-1), at most max; nothing without failures."""
    if failures <= 0:
        return timedelta(0)
    return min(backoff.initial * (1 << min(failures - 1, 32)), backoff.max)


def _monitor_since(
    trigger: MonitorTrigger, kind: TriggerKind, monitor: DriftMonitorStatus | None
) -> tuple[datetime, str] | None:
    """Since when the monitor reports what the trigger waits for, and what that is; or None."""
    if monitor is None:
        return None
    if isinstance(trigger, DriftTrigger):
        if monitor.state not in _SATISFIES[trigger.state] or monitor.since is None:
            return None
        return monitor.since, str(monitor.state)
    degraded = next(
        (
            condition
            for condition in monitor.conditions
            if condition.type is DriftMonitorConditionType.PERFORMANCE_DEGRADED
        ),
        None,
    )
    if degraded is None or degraded.status is not ConditionStatus.TRUE:
        return None
    return degraded.last_transition_time, "PerformanceDegraded"


@dataclass(frozen=True)
class _Asked:
    """What the triggers ask for now, and when one that does not yet will."""

    fired: list[Fired]
    wakes: list[datetime]
    upcoming: datetime | None
    """The schedule time no run has answered yet (due or not)."""
    after_start: datetime | None
    """The next schedule time once a run starts now."""


def _ask_triggers(
    spec: RetrainPolicySpec,
    status: RetrainPolicyStatus,
    monitors: Mapping[str, DriftMonitorStatus | None],
    now: datetime,
) -> _Asked:
    fired: list[Fired] = []
    wakes: list[datetime] = []
    for trigger in spec.triggers:
        watched: tuple[MonitorTrigger, TriggerKind] | None = None
        if trigger.drift is not None:
            watched = (trigger.drift, TriggerKind.DRIFT)
        elif trigger.performance is not None:
            watched = (trigger.performance, TriggerKind.PERFORMANCE)
        if watched is None:
            continue
        monitor_trigger, kind = watched
        found = _monitor_since(monitor_trigger, kind, monitors.get(monitor_trigger.monitor))
        if found is None:
            continue
        since, what = found
        ready = since + monitor_trigger.held_for
        if ready > now:
            wakes.append(ready)
            continue
        fired.append(
            Fired(
                kind,
                f"monitor {monitor_trigger.monitor} {what} since {_clock(since)} "
                f"(held {_held(now - since)}, for {monitor_trigger.held_for})",
            )
        )
    schedules = [trigger.schedule for trigger in spec.triggers if trigger.schedule is not None]
    recorded = status.next_schedule_time if schedules else None
    schedule_due = recorded is not None and recorded <= now
    if schedule_due and recorded is not None:
        fired.append(Fired(TriggerKind.SCHEDULE, f"schedule due at {_clock(recorded)}"))
    fresh = next_schedule_time(schedules, now)
    if fresh is not None and not schedule_due:
        wakes.append(fresh)
    return _Asked(fired, wakes, recorded if schedule_due else fresh, fresh)


def _holds(
    spec: RetrainPolicySpec, status: RetrainPolicyStatus, now: datetime, manual: bool
) -> list[tuple[Throttle, datetime | None, str]]:
    """What holds back a run now: each throttle, when it ends (None: when a run ends), why."""
    holds: list[tuple[Throttle, datetime | None, str]] = []
    if len(status.active) >= spec.max_concurrent_runs:
        holds.append(
            (
                Throttle.MAX_CONCURRENT_RUNS,
                None,
                f"{len(status.active)} of at most {spec.max_concurrent_runs} runs going on",
            )
        )
    if manual:
        return holds
    failed = next(
        (run for run in status.history if run.outcome is RunOutcome.FAILED),
        None,
    )
    if status.consecutive_failures and failed is not None and failed.completion_time:
        delay = backoff_delay(spec.backoff, status.consecutive_failures)
        ends = failed.completion_time + delay
        if ends > now:
            holds.append(
                (
                    Throttle.BACKOFF,
                    ends,
                    f"backoff until {_clock(ends)} after {status.consecutive_failures} "
                    f"failed run(s) in a row",
                )
            )
    if status.last_trigger_time is not None:
        ends = status.last_trigger_time + spec.cooldown
        if ends > now:
            holds.append(
                (
                    Throttle.COOLDOWN,
                    ends,
                    f"cooldown until {_clock(ends)} (last run started "
                    f"{_clock(status.last_trigger_time)})",
                )
            )
    return holds


def decide(
    spec: RetrainPolicySpec,
    status: RetrainPolicyStatus,
    monitors: Mapping[str, DriftMonitorStatus | None],
    manual: str | None,
    now: datetime,
) -> Decision:
    """Whether to start a run now (at most one), or what holds it back, and when to look again.

    `status` must already count the runs that ended in this reconcile; `monitors` maps each
    named DriftMonitor to its status (None when it does not exist).
    """
    asked = _ask_triggers(spec, status, monitors, now)
    wakes = list(asked.wakes)
    pending_manual = manual if manual and manual != status.manual_request else None
    candidates: list[tuple[Fired, bool]] = []
    if pending_manual is not None:
        candidates.append((Fired(TriggerKind.MANUAL, f"manual request {pending_manual!r}"), True))
    candidates.extend((fired, False) for fired in asked.fired)
    first_hold: tuple[Fired, Throttle, str] | None = None
    for fired, is_manual in candidates:
        holds = _holds(spec, status, now, is_manual)
        if not holds:
            return Decision(
                start=fired,
                throttled=None,
                message=fired.reason,
                wake=None,
                next_schedule_time=asked.after_start,
                manual_request=pending_manual if is_manual else status.manual_request,
            )
        ends = [end for _, end, _ in holds]
        if all(end is not None for end in ends):
            wakes.append(max(end for end in ends if end is not None))
        if first_hold is None:
            throttle, _, why = holds[0]
            first_hold = (fired, throttle, why)
    message = ""
    throttled = None
    if first_hold is not None:
        fired, throttled, why = first_hold
        message = f"{fired.kind.value} run held back: {why}; {fired.reason}"
    return Decision(
        start=None,
        throttled=throttled,
        message=message,
        wake=min(wakes) if wakes else None,
        next_schedule_time=asked.upcoming,
        manual_request=status.manual_request,
    )
