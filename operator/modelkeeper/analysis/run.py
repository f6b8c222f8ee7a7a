"""One analysis run: render the checks, query Prometheus concurrently, judge.

The glue between the pure templates, judge and experiment and the provider's I/O. A run
never raises for a Prometheus that cannot answer, nor for a query that cannot be rendered:
both are an Inconclusive run whose message says why, which status shows and the
rollout's missing-data policy acts on; an A/B test's reading then waits for the next
interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from modelkeeper.analysis.experiment import (
    experiment_queries,
    experiment_unavailable,
    judge_experiment,
)
from modelkeeper.analysis.judge import judge_run, judge_unavailable
from modelkeeper.analysis.templates import Plan, Subject, render_analysis, render_shadow
from modelkeeper.api.deployment import AnalysisStatus, ExperimentStatus
from modelkeeper.api.strategy import ABTest, Analysis, Shadow
from modelkeeper.prometheus.client import MetricsProvider, ProviderError
from modelkeeper.prometheus.promql import Sample, TemplateError


async def analyse(
    provider: MetricsProvider, analysis: Analysis, subject: Subject, now: datetime
) -> AnalysisStatus:
    """Judge a canary or a preview over the last interval (`subject.window`)."""
    try:
        plan = render_analysis(analysis, subject)
    except TemplateError as error:
        return judge_unavailable((metric.name for metric in analysis.metrics), str(error), now)
    return await run_plan(provider, plan, analysis.min_requests, now)


async def judge_shadow(
    provider: MetricsProvider, shadow: Shadow, subject: Subject, now: datetime
) -> AnalysisStatus:
    """Judge a shadow over the mirrored requests so far; Inconclusive below its minRequests."""
    return await run_plan(provider, render_shadow(shadow, subject), shadow.min_requests or 0, now)


async def read_experiment(
    provider: MetricsProvider,
    spec: ABTest,
    subject: Subject,
    previous: ExperimentStatus | None,
    now: datetime,
) -> ExperimentStatus:
    """Read an A/B test's outcomes since the split began (`subject.window` ago) and decide."""
    try:
        answers = await ask_all(provider, experiment_queries(spec.metric, subject), now)
    except ProviderError as error:
        return experiment_unavailable(spec, subject, previous, str(error), now)
    return judge_experiment(spec, subject, answers, previous, now)


async def run_plan(
    provider: MetricsProvider, plan: Plan, min_requests: int, now: datetime
) -> AnalysisStatus:
    """Every distinct query at once, at `now`; a provider error makes the run Inconclusive."""
    try:
        answers = await ask_all(provider, plan.queries, now)
    except ProviderError as error:
        return judge_unavailable((check.name for check in plan.checks), str(error), now)
    return judge_run(plan, dict(zip(plan.queries, answers, strict=True)), min_requests, now)


async def ask_all(
    provider: MetricsProvider, queries: Sequence[str], now: datetime
) -> list[list[Sample]]:
    """The answers to every query, asked at once, in their order; the first ProviderError is
    raised after the other queries finish, so none is left running."""
    answers = await asyncio.gather(
        *(provider.query(query, now) for query in queries), return_exceptions=True
    )
    results: list[list[Sample]] = []
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
        results.append(answer)
    return results
