"""Reading one evaluation's live counts from Prometheus.

The queries of `queries.plan_queries` run concurrently, and the answers are aligned
with the profile. The feature counters are the evaluation itself: when they cannot be
read the whole evaluation cannot be made (ProviderError, which the monitor reports as
Unknown). A custom metric, the feedback or the probabilities that cannot be read only
lose their own judgement, with a note saying why, so one bad PromQL expression hides no
drift.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from modelkeeper.drift.queries import (
    Observed,
    Queries,
    align,
    parse_feedback,
    parse_probabilities,
)
from modelkeeper.profile import Profile
from modelkeeper.prometheus.client import MetricsProvider, ProviderError
from modelkeeper.prometheus.promql import MeasureError, Sample, single


async def _samples(provider: MetricsProvider, query: str | None, at: datetime) -> list[Sample]:
    return await provider.query(query, at) if query is not None else []


async def _custom_value(
    provider: MetricsProvider, name: str, query: str, at: datetime
) -> tuple[float | None, str]:
    """The metric's value (None without data) and what went wrong, if anything."""
    try:
        return single([await provider.query(query, at)]), ""
    except (ProviderError, MeasureError) as error:
        return None, f"{name}: {error}"


async def _optional(
    provider: MetricsProvider, query: str | None, at: datetime, what: str
) -> tuple[Sequence[Sample] | None, str]:
    """The answer to a query whose failure loses only its own judgement, and why it failed."""
    if query is None:
        return None, ""
    try:
        return await provider.query(query, at), ""
    except ProviderError as error:
        return None, f"{what}: {error}"


async def observe(
    provider: MetricsProvider, profile: Profile, queries: Queries, at: datetime
) -> Observed:
    """Everything one evaluation reads, at `at`. Raises ProviderError when the feature
    counters cannot be read."""
    buckets, categories, missing = await asyncio.gather(
        _samples(provider, queries.buckets, at),
        _samples(provider, queries.categories, at),
        _samples(provider, queries.missing, at),
    )
    features, misaligned = align(profile, buckets, categories, missing)
    custom_names = list(queries.custom)
    estimated, estimate_query = queries.estimate or (None, None)
    (feedback, feedback_note), (probabilities, probabilities_note), custom = await asyncio.gather(
        _optional(provider, queries.feedback, at, "feedback"),
        _optional(provider, estimate_query, at, "probabilities"),
        asyncio.gather(
            *(_custom_value(provider, name, queries.custom[name], at) for name in custom_names)
        ),
    )
    notes = [note for _, note in custom] + [feedback_note, probabilities_note]
    return Observed(
        features=features,
        misaligned=misaligned,
        custom={name: value for name, (value, _) in zip(custom_names, custom, strict=True)},
        feedback=parse_feedback(feedback) if feedback is not None else None,
        probabilities=parse_probabilities(estimated, probabilities)
        if estimated is not None and probabilities is not None
        else None,
        notes=tuple(note for note in notes if note),
    )
