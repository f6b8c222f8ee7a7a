"""Every value the schema accepts is runnable: the runtime parsers take it, or the operator
reports it in status (never a traceback).

Hypothesis draws strings from the very patterns the CRDs carry (what the API server lets
through) and drives them through what the operator does with them at run time: the
time-zone database and croniter (a RetrainPolicy's schedule) and Duration (every window,
interval and pause).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from modelkeeper.api.types import CRON_PATTERN, DURATION_PATTERN, TIME_ZONE_PATTERN, Duration
from modelkeeper.retrain.triggers import next_schedule_time, schedule_problems
from tests.unit.retrain.factories import policy

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
GO_MAX_DURATION = timedelta(hours=2_562_047)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _scheduled(cron: str, zone: str) -> RetrainPolicyResource | None:
    """The policy as the operator parses it, or None when the operator's parse refuses it
    (which the CEL rule on the same pattern does too)."""
    try:
        return policy(triggers=[{"schedule": {"cron": cron, "timeZone": zone}}])
    except ValidationError:
        return None


def _runs_or_is_reported(parsed: RetrainPolicyResource) -> None:
    problems = schedule_problems(parsed.spec, NOW)
    schedules = [t.schedule for t in parsed.spec.triggers if t.schedule is not None]
    if not problems:
        upcoming = next_schedule_time(schedules, NOW)
        assert upcoming is not None
        assert upcoming > NOW
    else:
        assert all(problem.startswith("spec.triggers[0].schedule.") for problem in problems)


@FAST
@given(zone=st.from_regex(TIME_ZONE_PATTERN, fullmatch=True).filter(lambda z: len(z) <= 64))
def test_every_time_zone_the_schema_accepts_runs_or_is_reported(zone: str) -> None:
    """Finding 3: `Mars/Olympus_Mons` crashed the reconcile with ZoneInfoNotFoundError."""
    parsed = _scheduled("0 3 * * *", zone)
    assert parsed is not None
    _runs_or_is_reported(parsed)


@FAST
@given(cron=st.from_regex(CRON_PATTERN, fullmatch=True).filter(lambda c: len(c) <= 128))
def test_every_cron_the_schema_accepts_runs_or_is_reported(cron: str) -> None:
    parsed = _scheduled(cron, "Europe/Berlin")
    if parsed is not None:
        _runs_or_is_reported(parsed)


@pytest.mark.parametrize(
    ("zone", "cron", "says"),
    [
        pytest.param(
            "Mars/Olympus_Mons", "0 3 * * *", "timeZone: Mars/Olympus_Mons is not", id="zone"
        ),
        # A folder of the time-zone database, not a zone: ZoneInfo raised IsADirectoryError
        pytest.param("US", "0 3 * * *", "timeZone: US is not", id="zone-folder"),
        pytest.param("UTC", "0 0 31 2 *", "cron: 0 0 31 2 * never comes", id="february-31"),
    ],
)
def test_a_schedule_that_cannot_run_is_named(zone: str, cron: str, says: str) -> None:
    parsed = _scheduled(cron, zone)
    assert parsed is not None
    [problem] = schedule_problems(parsed.spec, NOW)
    assert problem.startswith("spec.triggers[0].schedule.")
    assert says in problem


@FAST
@given(text=st.from_regex(DURATION_PATTERN, fullmatch=True).filter(lambda d: len(d) <= 32))
def test_every_duration_the_schema_accepts_parses_within_what_go_can_hold(text: str) -> None:
    """The API server's CEL `duration()` is Go's: an accepted duration must fit it (on main,
    `30000000000h` was accepted and overflowed both)."""
    duration = Duration.parse(text)
    assert timedelta(0) <= duration <= GO_MAX_DURATION
    if duration < timedelta(hours=99_999):
        assert Duration.parse(str(duration)) == duration


def test_the_patterns_are_anchored() -> None:
    """A pattern the API server applies unanchored would let more through than is tested."""
    for pattern in (CRON_PATTERN, DURATION_PATTERN, TIME_ZONE_PATTERN):
        assert pattern.startswith("^")
        assert pattern.endswith("$")
        re.compile(pattern)
