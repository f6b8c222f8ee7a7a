"""When a RetrainPolicy starts a run: the triggers, the throttles, the schedule, over time."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from modelkeeper.api.driftmonitor import DriftMonitorStatus
from modelkeeper.api.retrainpolicy import (
    Backoff,
    RetrainPolicyStatus,
    Run,
    RunOutcome,
    TriggerKind,
)
from modelkeeper.api.types import Duration
from modelkeeper.retrain.triggers import Throttle, backoff_delay, decide
from tests.unit.retrain.factories import T0, monitor, policy

MINUTE = timedelta(minutes=1)
DRIFT = [{"drift": {"monitor": "fraud-inputs", "for": "30m"}}]
WARNING = [{"drift": {"monitor": "fraud-inputs", "for": "30m", "state": "Warning"}}]
PERFORMANCE = [{"performance": {"monitor": "fraud-inputs", "for": "10m"}}]
NIGHTLY = [{"schedule": {"cron": "0 3 * * *"}}]
NIGHTLY_BERLIN = [{"schedule": {"cron": "0 3 * * *", "timeZone": "Europe/Berlin"}}]
DRIFTED_AT_T0 = {"fraud-inputs": monitor(state="Drifted", since=T0)}
WARNING_AT_T0 = {"fraud-inputs": monitor(state="Warning", since=T0)}


def degraded(status: str) -> dict[str, DriftMonitorStatus]:
    condition = {
        "type": "PerformanceDegraded",
        "status": status,
        "reason": "BeyondBound",
        "lastTransitionTime": T0,
    }
    return {"fraud-inputs": monitor(state="OK", since=T0, conditions=[condition])}


def run(name: str, outcome: RunOutcome, start: datetime, end: datetime | None = None) -> Run:
    return Run(
        name=name, trigger=TriggerKind.DRIFT, start_time=start, completion_time=end, outcome=outcome
    )


@dataclass(frozen=True)
class Case:
    triggers: list[dict[str, Any]]
    monitors: Mapping[str, DriftMonitorStatus | None]
    now: datetime
    started: TriggerKind | None
    throttled: Throttle | None = None
    wake: datetime | None = None
    status: RetrainPolicyStatus = field(default_factory=RetrainPolicyStatus)
    manual: str | None = None
    spec: dict[str, Any] | None = None


CASES = [
    pytest.param(
        Case(DRIFT, DRIFTED_AT_T0, T0 + 30 * MINUTE, TriggerKind.DRIFT),
        id="drift-held-for-its-duration-starts",
    ),
    pytest.param(
        Case(DRIFT, DRIFTED_AT_T0, T0 + 29 * MINUTE, None, wake=T0 + 30 * MINUTE),
        id="drift-not-yet-held-long-enough-wakes-when-it-will-be",
    ),
    pytest.param(
        Case(WARNING, DRIFTED_AT_T0, T0 + 30 * MINUTE, TriggerKind.DRIFT),
        id="drifted-satisfies-a-warning-trigger",
    ),
    pytest.param(
        Case(DRIFT, WARNING_AT_T0, T0 + 60 * MINUTE, None),
        id="warning-does-not-satisfy-a-drifted-trigger",
    ),
    pytest.param(
        Case(DRIFT, {"fraud-inputs": None}, T0 + 60 * MINUTE, None),
        id="missing-monitor-starts-nothing",
    ),
    pytest.param(
        Case(PERFORMANCE, degraded("True"), T0 + 10 * MINUTE, TriggerKind.PERFORMANCE),
        id="performance-degraded-held-starts",
    ),
    pytest.param(
        Case(PERFORMANCE, degraded("False"), T0 + 60 * MINUTE, None),
        id="performance-within-bound-starts-nothing",
    ),
    pytest.param(
        Case(
            DRIFT,
            DRIFTED_AT_T0,
            T0 + 40 * MINUTE,
            None,
            Throttle.COOLDOWN,
            wake=T0 + 80 * MINUTE,
            status=RetrainPolicyStatus(last_trigger_time=T0 + 20 * MINUTE),
        ),
        id="cooldown-holds-a-held-drift-until-it-ends",
    ),
    pytest.param(
        Case(
            DRIFT,
            DRIFTED_AT_T0,
            T0 + 80 * MINUTE,
            TriggerKind.DRIFT,
            status=RetrainPolicyStatus(last_trigger_time=T0 + 20 * MINUTE),
        ),
        id="drift-still-held-after-cooldown-starts-again",
    ),
    pytest.param(
        Case(
            DRIFT,
            DRIFTED_AT_T0,
            T0 + 3 * 60 * MINUTE,
            None,
            Throttle.MAX_CONCURRENT_RUNS,
            status=RetrainPolicyStatus(active=[run("a", RunOutcome.RUNNING, T0)]),
        ),
        id="max-concurrent-runs-holds-without-a-clock-wake",
    ),
    pytest.param(
        Case(
            DRIFT,
            DRIFTED_AT_T0,
            T0 + 50 * MINUTE,
            None,
            Throttle.BACKOFF,
            wake=T0 + 60 * MINUTE,
            status=RetrainPolicyStatus(
                consecutive_failures=2,
                history=[run("a", RunOutcome.FAILED, T0, T0 + 40 * MINUTE)],
            ),
            spec={"backoff": {"initial": "10m", "max": "6h"}, "cooldown": "1m"},
        ),
        id="backoff-after-two-failures-is-twice-initial",
    ),
    pytest.param(
        Case(
            DRIFT,
            DRIFTED_AT_T0,
            T0 + 60 * MINUTE,
            TriggerKind.DRIFT,
            status=RetrainPolicyStatus(
                consecutive_failures=2,
                history=[run("a", RunOutcome.FAILED, T0, T0 + 40 * MINUTE)],
            ),
            spec={"backoff": {"initial": "10m", "max": "6h"}, "cooldown": "1m"},
        ),
        id="backoff-over-starts",
    ),
    pytest.param(
        Case(
            [],
            {},
            T0,
            TriggerKind.MANUAL,
            status=RetrainPolicyStatus(last_trigger_time=T0 - MINUTE, manual_request="r1"),
            manual="r2",
        ),
        id="new-manual-request-starts-past-cooldown",
    ),
    pytest.param(
        Case(
            [],
            {},
            T0,
            TriggerKind.MANUAL,
            status=RetrainPolicyStatus(
                consecutive_failures=3,
                history=[run("a", RunOutcome.FAILED, T0, T0)],
            ),
            manual="r1",
        ),
        id="manual-request-starts-past-backoff",
    ),
    pytest.param(
        Case([], {}, T0, None, status=RetrainPolicyStatus(manual_request="r1"), manual="r1"),
        id="manual-request-acted-on-starts-nothing",
    ),
    pytest.param(
        Case(
            [],
            {},
            T0,
            None,
            Throttle.MAX_CONCURRENT_RUNS,
            status=RetrainPolicyStatus(active=[run("a", RunOutcome.RUNNING, T0)]),
            manual="r1",
        ),
        id="manual-request-waits-for-a-free-run",
    ),
    pytest.param(
        Case(NIGHTLY, {}, T0, None, wake=datetime(2026, 1, 2, 3, tzinfo=UTC)),
        id="schedule-first-seen-waits-for-its-next-time",
    ),
    pytest.param(
        Case(
            NIGHTLY,
            {},
            datetime(2026, 1, 2, 3, 0, 5, tzinfo=UTC),
            TriggerKind.SCHEDULE,
            status=RetrainPolicyStatus(next_schedule_time=datetime(2026, 1, 2, 3, tzinfo=UTC)),
        ),
        id="schedule-time-passed-starts",
    ),
    pytest.param(
        Case(
            NIGHTLY,
            {},
            datetime(2026, 1, 2, 3, 0, 5, tzinfo=UTC),
            None,
            Throttle.COOLDOWN,
            wake=datetime(2026, 1, 2, 3, 30, tzinfo=UTC),
            status=RetrainPolicyStatus(
                next_schedule_time=datetime(2026, 1, 2, 3, tzinfo=UTC),
                last_trigger_time=datetime(2026, 1, 2, 2, 30, tzinfo=UTC),
            ),
        ),
        id="schedule-held-by-cooldown-runs-when-it-ends",
    ),
    pytest.param(
        Case(NIGHTLY_BERLIN, {}, T0, None, wake=datetime(2026, 1, 2, 2, tzinfo=UTC)),
        id="schedule-in-its-time-zone",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_decide(case: Case) -> None:
    spec = policy(triggers=case.triggers, **(case.spec or {})).spec

    decision = decide(spec, case.status, case.monitors, case.manual, case.now)

    assert (decision.start.kind if decision.start else None) == case.started
    assert decision.throttled == case.throttled
    assert decision.wake == case.wake


def test_reason_carries_the_evidence() -> None:
    spec = policy(triggers=DRIFT).spec

    decision = decide(spec, RetrainPolicyStatus(), DRIFTED_AT_T0, None, T0 + 45 * MINUTE)

    assert decision.start is not None
    assert decision.start.reason == (
        "monitor fraud-inputs Drifted since 2026-01-01T12:00:00Z (held 45m, for 30m)"
    )


def test_a_held_run_says_why_and_until_when() -> None:
    spec = policy(triggers=DRIFT).spec
    status = RetrainPolicyStatus(last_trigger_time=T0 + 20 * MINUTE)

    decision = decide(spec, status, DRIFTED_AT_T0, None, T0 + 40 * MINUTE)

    assert decision.message.startswith("Drift run held back: cooldown until 2026-01-01T13:20:00Z")


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(0, timedelta(0), id="no-failures-no-wait"),
        pytest.param(1, timedelta(minutes=10), id="first-failure-initial"),
        pytest.param(3, timedelta(minutes=40), id="doubles-per-failure"),
        pytest.param(60, timedelta(hours=6), id="capped-at-max"),
    ],
)
def test_backoff_delay(failures: int, expected: timedelta) -> None:
    backoff = Backoff(initial=Duration(minutes=10), max=Duration(hours=6))

    assert backoff_delay(backoff, failures) == expected


def test_schedule_answered_moves_to_the_next_time() -> None:
    spec = policy(triggers=NIGHTLY).spec
    due = datetime(2026, 1, 2, 3, tzinfo=UTC)

    decision = decide(spec, RetrainPolicyStatus(next_schedule_time=due), {}, None, due)

    assert decision.start is not None
    assert decision.next_schedule_time == datetime(2026, 1, 3, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("flap_minutes", "expected_starts"),
    [
        pytest.param(5, 3, id="flapping-every-5m"),
        pytest.param(1, 3, id="flapping-every-minute"),
        pytest.param(400, 3, id="held-throughout"),
    ],
)
def test_drift_over_three_hours_starts_one_run_per_cooldown(
    flap_minutes: int, expected_starts: int
) -> None:
    """Given drift that comes and goes, When decided every minute for 3h, Then one run per 1h."""
    spec = policy(triggers=[{"drift": {"monitor": "fraud-inputs"}}], cooldown="1h").spec
    status = RetrainPolicyStatus()
    starts: list[int] = []
    for minute in range(180):
        now = T0 + minute * MINUTE
        drifted = (minute // flap_minutes) % 2 == 0
        entered = T0 + (minute // flap_minutes) * flap_minutes * MINUTE
        monitors = {"fraud-inputs": monitor(state="Drifted" if drifted else "OK", since=entered)}

        decision = decide(spec, status, monitors, None, now)

        if decision.start is not None:
            starts.append(minute)
            finished = run(f"r{minute}", RunOutcome.SUCCEEDED, now, now)
            status = status.model_copy(
                update={"last_trigger_time": now, "history": [finished, *status.history]}
            )
    assert len(starts) == expected_starts
    assert all(later - earlier >= 60 for earlier, later in itertools.pairwise(starts))
