"""Durations and cron schedules: what parses, what prints, and what is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import TypeAdapter, ValidationError

from modelkeeper.api.types import Cron, Duration

DURATION = TypeAdapter(Duration)
CRON = TypeAdapter(Cron)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("250ms", timedelta(milliseconds=250), id="milliseconds"),
        pytest.param("90s", timedelta(seconds=90), id="seconds"),
        pytest.param("5m", timedelta(minutes=5), id="minutes"),
        pytest.param("1h30m", timedelta(hours=1, minutes=30), id="hours-and-minutes"),
        pytest.param("48h", timedelta(days=2), id="past-a-day"),
        pytest.param("0s", timedelta(0), id="zero"),
        pytest.param("30m1h", timedelta(hours=1, minutes=30), id="any-order-as-go"),
    ],
)
def test_durations_parse_like_go(text: str, expected: timedelta) -> None:
    assert DURATION.validate_python(text) == expected


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        pytest.param(timedelta(minutes=90), "1h30m", id="largest-units-first"),
        pytest.param(timedelta(days=2, seconds=1), "48h1s", id="days-as-hours"),
        pytest.param(timedelta(milliseconds=1500), "1s500ms", id="milliseconds"),
        pytest.param(timedelta(0), "0s", id="zero"),
    ],
)
def test_durations_print_in_the_shortest_wire_form(value: timedelta, wire: str) -> None:
    assert DURATION.dump_python(DURATION.validate_python(value), mode="json") == wire
    assert DURATION.validate_python(wire) == value


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("5 minutes", id="words"),
        pytest.param("1d", id="days"),
        pytest.param("1.5h", id="fraction"),
        pytest.param("-5m", id="negative"),
        pytest.param("", id="empty"),
        pytest.param("300", id="no-unit"),
    ],
)
def test_durations_that_do_not_parse_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="is not a duration"):
        DURATION.validate_python(text)


def test_a_duration_must_be_a_string_on_the_wire() -> None:
    with pytest.raises(ValidationError, match="must be a string"):
        DURATION.validate_python(300)


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("0 3 * * 0", id="weekly"),
        pytest.param("*/15 * * * *", id="step"),
        pytest.param("0 9-17 * * 1-5", id="ranges"),
        pytest.param("0 0 1,15 jan,jul *", id="lists-and-month-names"),
        pytest.param("30 2 * * sun", id="day-name"),
        pytest.param("@daily", id="macro"),
    ],
)
def test_cron_schedules_that_are_accepted(expression: str) -> None:
    assert CRON.validate_python(expression) == expression


@pytest.mark.parametrize(
    "expression",
    [
        pytest.param("every day at 3", id="words"),
        pytest.param("61 * * * *", id="minute-61"),
        pytest.param("0 24 * * *", id="hour-24"),
        pytest.param("0 3 * *", id="four-fields"),
        pytest.param("0 0 3 * * 0", id="six-fields-with-seconds"),
        pytest.param("0 3 32 * *", id="day-32"),
        pytest.param("0 3 * foo *", id="unknown-month-name"),
        pytest.param("@fortnightly", id="unknown-macro"),
    ],
)
def test_cron_schedules_that_are_refused(expression: str) -> None:
    with pytest.raises(ValidationError, match="must be a cron schedule of five fields"):
        CRON.validate_python(expression)
