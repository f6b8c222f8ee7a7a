"""Checks and runs are judged Successful, Failed or Inconclusive, with reasons people read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelkeeper.analysis.judge import judge_run, judge_unavailable, judge_value
from modelkeeper.analysis.templates import Check, Plan, one_query
from modelkeeper.api.deployment import AnalysisPhase, MetricResult
from modelkeeper.prometheus.promql import Sample

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SUCCESSFUL, FAILED, INCONCLUSIVE = (
    AnalysisPhase.SUCCESSFUL,
    AnalysisPhase.FAILED,
    AnalysisPhase.INCONCLUSIVE,
)


def check(name: str = "errors", low: float | None = None, high: float | None = None) -> Check:
    return Check(name, name.replace("-", " "), one_query(f"query-{name}"), min=low, max=high)


@pytest.mark.parametrize(
    ("bounds", "value", "phase", "message"),
    [
        pytest.param((None, 0.05), 0.12, FAILED, "error rate 0.12 above max 0.05", id="above-max"),
        pytest.param(
            (None, 0.05), 0.05, SUCCESSFUL, "error rate 0.05 within max 0.05", id="at-max"
        ),
        pytest.param((0.95, None), 0.9, FAILED, "error rate 0.9 below min 0.95", id="below-min"),
        pytest.param(
            (0.95, None), 0.95, SUCCESSFUL, "error rate 0.95 within min 0.95", id="at-min"
        ),
        pytest.param(
            (0.1, 0.2), 0.15, SUCCESSFUL, "error rate 0.15 within min 0.1 and max 0.2", id="between"
        ),
        pytest.param((0.1, 0.2), 0.25, FAILED, "error rate 0.25 above max 0.2", id="out-of-range"),
        pytest.param(
            (None, 1.0), 0.123456789, SUCCESSFUL, "error rate 0.1235 within max 1", id="rounded"
        ),
        pytest.param((None, 0.05), None, INCONCLUSIVE, "no data for error rate", id="no-data"),
    ],
)
def test_one_check(
    bounds: tuple[float | None, float | None],
    value: float | None,
    phase: AnalysisPhase,
    message: str,
) -> None:
    result = judge_value(check("error-rate", *bounds), value)
    assert result == MetricResult(name="error-rate", phase=phase, value=value, message=message)


def answers(requests: float | None, **values: float | None) -> dict[str, list[Sample]]:
    """Canned answers: the request count, and each check's one value (None: no series)."""
    canned = {"requests": requests, **{f"query-{name}": value for name, value in values.items()}}
    return {query: [] if value is None else [Sample({}, value)] for query, value in canned.items()}


PLAN = Plan(one_query("requests"), (check("errors", high=0.05), check("agreement", low=0.9)))


@pytest.mark.parametrize(
    ("results", "phase", "phases", "message"),
    [
        pytest.param(
            answers(500, errors=0.01, agreement=0.99),
            SUCCESSFUL,
            [SUCCESSFUL, SUCCESSFUL],
            "all 2 checks passed",
            id="all-pass",
        ),
        pytest.param(
            answers(500, errors=0.2, agreement=None),
            FAILED,
            [FAILED, INCONCLUSIVE],
            "errors 0.2 above max 0.05",
            id="failed-beats-inconclusive",
        ),
        pytest.param(
            answers(500, errors=0.2, agreement=0.5),
            FAILED,
            [FAILED, FAILED],
            "errors 0.2 above max 0.05; agreement 0.5 below min 0.9",
            id="every-failure-named",
        ),
        pytest.param(
            answers(500, errors=0.01, agreement=None),
            INCONCLUSIVE,
            [SUCCESSFUL, INCONCLUSIVE],
            "no data for agreement",
            id="no-data-is-inconclusive",
        ),
        pytest.param(
            answers(42.4, errors=0.5, agreement=0.99),
            INCONCLUSIVE,
            [INCONCLUSIVE, INCONCLUSIVE],
            "42 of 100 requests",
            id="too-few-requests-even-if-failing",
        ),
        pytest.param(
            answers(None, errors=None, agreement=None),
            INCONCLUSIVE,
            [INCONCLUSIVE, INCONCLUSIVE],
            "0 of 100 requests",
            id="no-requests-at-all",
        ),
    ],
)
def test_one_run(
    results: dict[str, list[Sample]], phase: str, phases: list[str], message: str
) -> None:
    run = judge_run(PLAN, results, min_requests=100, time=NOW)
    assert (run.phase, [metric.phase for metric in run.metrics], run.message) == (
        phase,
        phases,
        message,
    )
    assert run.time == NOW
    assert (run.failures, run.step, run.weight) == (0, None, None)


def test_run_reports_requests_and_values_even_below_min_requests() -> None:
    run = judge_run(PLAN, answers(99.6, errors=0.01, agreement=0.97), 101, NOW)
    assert run.requests == 100
    assert [(metric.value, metric.message) for metric in run.metrics] == [
        (0.01, "100 of 101 requests"),
        (0.97, "100 of 101 requests"),
    ]


def test_a_query_with_many_series_is_inconclusive() -> None:
    results = answers(500, agreement=0.99) | {
        "query-errors": [Sample({"pod": "a"}, 0.1), Sample({"pod": "b"}, 0.2)]
    }
    run = judge_run(PLAN, results, 0, NOW)
    assert run.phase == INCONCLUSIVE
    assert run.metrics[0].message == "errors: the query returned 2 series; it must return one"


def test_unavailable_makes_every_check_inconclusive_for_the_reason() -> None:
    reason = "Prometheus at http://127.0.0.1:9 unreachable: connection refused"
    run = judge_unavailable(["errors", "agreement"], reason, NOW)
    assert (run.phase, run.message, run.requests) == (INCONCLUSIVE, reason, None)
    assert [(metric.name, metric.phase, metric.message) for metric in run.metrics] == [
        ("errors", INCONCLUSIVE, reason),
        ("agreement", INCONCLUSIVE, reason),
    ]


def test_long_reasons_are_cut_to_what_status_takes() -> None:
    run = judge_unavailable(["errors"], "x" * 5000, NOW)
    assert len(run.message) == 1024
    assert run.message.endswith("…")
