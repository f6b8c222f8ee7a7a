"""One analysis run: render the checks, query Prometheus concurrently, judge.

The glue between the pure templates and judge and the provider's I/O. A run never
raises for a Prometheus that cannot answer, nor for a query that cannot be rendered:
both are an Inconclusive run whose message says why, which status shows and the
rollout's missing-data policy acts on.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from modelkeeper.analysis.judge import judge_run, judge_unavailable
from modelkeeper.analysis.templates import Plan, Subject, render_analysis, render_shadow
from modelkeeper.api.deployment import AnalysisStatus
from modelkeeper.api.strategy import Analysis, Shadow
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


async def run_plan(
    provider: MetricsProvider, plan: Plan, min_requests: int, now: datetime
) -> AnalysisStatus:
    """Every distinct query at once, at `now`; the first provider error makes the run
    Inconclusive (the other queries still finish, so none is left running)."""
    answers = await asyncio.gather(
        *(provider.query(query, now) for query in plan.queries), return_exceptions=True
    )
    results: dict[str, list[Sample]] = {}
    for query, answer in zip(plan.queries, answers, strict=True):
        if isinstance(answer, ProviderError):
            return judge_unavailable((check.name for check in plan.checks), str(answer), now)
        if isinstance(answer, BaseException):
            raise answer
        results[query] = answer
    return judge_run(plan, results, min_requests, now)
