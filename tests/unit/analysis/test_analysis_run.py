"""A run asks each distinct query once, at the run's time, and never raises for what
Prometheus or the user's query got wrong: that is an Inconclusive run that says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelkeeper.analysis.run import analyse
from modelkeeper.analysis.templates import Subject, render_analysis
from modelkeeper.api.deployment import AnalysisPhase
from modelkeeper.api.strategy import Analysis
from modelkeeper.prometheus.client import ProviderError
from modelkeeper.prometheus.promql import Sample

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SUBJECT = Subject("shop", "fraud", "fraud", "v1", "v2", timedelta(minutes=1))
ANALYSIS = Analysis.model_validate(
    {
        "minRequests": 10,
        "metrics": [
            {"name": "errors", "type": "ErrorRate", "max": 0.05},
            {"name": "errors-again", "type": "ErrorRate", "max": 0.01},
        ],
    }
)
REQUESTS, ERROR_RATE = render_analysis(ANALYSIS, SUBJECT).queries


class CannedPrometheus:
    """Answers from a table; a query mapped to a ProviderError raises it."""

    url = "http://prometheus.test:9090"

    def __init__(self, answers: dict[str, list[Sample] | ProviderError]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, datetime]] = []

    async def query(self, promql: str, at: datetime) -> list[Sample]:
        self.asked.append((promql, at))
        answer = self.answers[promql]
        if isinstance(answer, ProviderError):
            raise answer
        return answer


async def test_each_distinct_query_is_asked_once_at_the_runs_time() -> None:
    prometheus = CannedPrometheus({REQUESTS: [Sample({}, 50)], ERROR_RATE: [Sample({}, 0.02)]})
    run = await analyse(prometheus, ANALYSIS, SUBJECT, NOW)
    assert sorted(prometheus.asked) == [(ERROR_RATE, NOW), (REQUESTS, NOW)]
    assert (run.phase, run.requests, run.message) == (
        AnalysisPhase.FAILED,
        50,
        "error rate 0.02 above max 0.01",
    )


async def test_a_provider_error_makes_the_run_inconclusive() -> None:
    problem = ProviderError("Prometheus at http://prometheus.test:9090 did not answer within 10s")
    prometheus = CannedPrometheus({REQUESTS: [Sample({}, 50)], ERROR_RATE: problem})
    run = await analyse(prometheus, ANALYSIS, SUBJECT, NOW)
    assert (run.phase, run.message) == (AnalysisPhase.INCONCLUSIVE, str(problem))
    assert [metric.message for metric in run.metrics] == [str(problem), str(problem)]


async def test_an_unknown_placeholder_makes_the_run_inconclusive_without_asking() -> None:
    analysis = Analysis.model_validate(
        {"metrics": [{"name": "custom", "type": "PromQL", "query": "x{{ versoin }}", "max": 1}]}
    )
    prometheus = CannedPrometheus({})
    run = await analyse(prometheus, analysis, SUBJECT, NOW)
    assert run.phase == AnalysisPhase.INCONCLUSIVE
    assert run.message.startswith("check custom: unknown placeholder {{ versoin }}; use")
    assert prometheus.asked == []


async def test_a_bug_is_not_hidden() -> None:
    prometheus = CannedPrometheus({REQUESTS: [Sample({}, 50)]})  # ERROR_RATE: KeyError
    with pytest.raises(KeyError):
        await analyse(prometheus, ANALYSIS, SUBJECT, NOW)
