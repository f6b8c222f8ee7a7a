"""The analysis checks rendered into PromQL, apart from running them.

A check is its name, the queries it needs, a pure function from their results to one
number, and its bounds. Rendering is pure so that every query can be read, tested and
documented (docs/analysis.md) exactly as Prometheus receives it.

Server metrics are selected by `namespace` (added by Prometheus' relabelling),
`deployment` and `version`, never by `role`: a pod's role label is fixed when it starts,
while the version is what is being judged. Router metrics carry no version; their
`backend` is the version's name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from modelkeeper.api.strategy import Analysis, AnalysisMetric, MetricType, Shadow
from modelkeeper.prometheus.promql import (
    Results,
    Sample,
    TemplateError,
    counted_since,
    duration,
    escape,
    fill_placeholders,
    quantile,
    selector,
    share,
    share_since,
    single,
    total,
)

INFER = 'endpoint="infer"'
SERVER_ERRORS = 'code=~"5.."'
SENT_MIRRORS = 'outcome!="dropped"'
SHADOW_ERROR = 'outcome="shadow_error"'
AGREE = 'outcome="agree"'
SHADOW_ROLE = 'role="shadow"'
STABLE_ROLE = 'role="stable"'
ROWS = "modelkeeper_router_shadow_predictions_total"
MIRRORS = "modelkeeper_router_mirror_requests_total"
LATENCY = "modelkeeper_router_upstream_latency_seconds_bucket"


@dataclass(frozen=True)
class Subject:
    """Who is judged, against whom, and over which window."""

    namespace: str
    deployment: str
    family: str
    """The model family, for the {{ model }} placeholder."""
    stable: str
    """The stable version, the one compared against."""
    candidate: str
    """The version judged."""
    window: timedelta
    """The range of the queries: the analysis interval, or the time a shadow has mirrored."""
    compare: bool = True
    """Whether the router compares shadow answers (False under the Gateway API provider)."""


@dataclass(frozen=True)
class Measure:
    """Queries, and the pure function that turns their answers into one number (None: no data)."""

    queries: tuple[str, ...]
    compute: Callable[[Results], float | None]


@dataclass(frozen=True)
class Check:
    """One rendered check: it passes while its measured value stays within min and max."""

    name: str
    label: str
    """What the value is, for messages such as "error rate 0.12 above max 0.05"."""
    measure: Measure
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class Plan:
    """Everything one analysis run queries: the candidate's request count and the checks."""

    requests: Measure
    checks: tuple[Check, ...]

    @property
    def queries(self) -> tuple[str, ...]:
        """Every distinct query of the run, once each, in order."""
        measures = (self.requests, *(check.measure for check in self.checks))
        return tuple(dict.fromkeys(query for measure in measures for query in measure.queries))


class ShadowCheck(StrEnum):
    """The checks of a shadow, as status names them."""

    AGREEMENT = "agreement"
    ERROR_RATE = "error-rate"
    LATENCY_RATIO = "latency-ratio"


def one_query(query: str) -> Measure:
    return Measure((query,), single)


def server(subject: Subject, version: str) -> dict[str, str]:
    """The labels that select one version's scoring servers."""
    return {"namespace": subject.namespace, "deployment": subject.deployment, "version": version}


def router(subject: Subject, version: str) -> dict[str, str]:
    """The labels that select one version's backend in the router's metrics."""
    return {"namespace": subject.namespace, "deployment": subject.deployment, "backend": version}


def server_error_rate(subject: Subject, version: str) -> str:
    requests = "modelkeeper_requests_total"
    window = duration(subject.window)
    return share(
        selector(requests, server(subject, version), INFER, SERVER_ERRORS),
        selector(requests, server(subject, version), INFER),
        window,
    )


def server_latency(subject: Subject, version: str, q: float) -> str:
    buckets = selector(
        "modelkeeper_request_duration_seconds_bucket", server(subject, version), INFER
    )
    return quantile(q, buckets, duration(subject.window))


def server_requests(subject: Subject) -> str:
    requests = selector("modelkeeper_requests_total", server(subject, subject.candidate), INFER)
    return total(requests, duration(subject.window))


def latency_label(q: float) -> str:
    return f"p{q * 100:g} latency"


def jensen_shannon(p: Sequence[float], q: Sequence[float]) -> float | None:
    """The Jensen-Shannon distance, log base 2 (0 = same, 1 = disjoint), of two count vectors.

    No smoothing is applied, because none is needed: the mixture m = (p + q) / 2 is
    positive wherever p or q is, so both Kullback-Leibler terms stay finite when a bin
    is empty on one side, and a bin empty on both sides adds nothing. This is what
    scipy.spatial.distance.jensenshannon(p, q, base=2) computes. Negative counts (a
    counter reset inside the window) count as 0. None when either side has no counts.
    """
    p = [max(count, 0.0) for count in p]
    q = [max(count, 0.0) for count in q]
    p_total, q_total = sum(p), sum(q)
    if p_total <= 0 or q_total <= 0:
        return None
    p = [count / p_total for count in p]
    q = [count / q_total for count in q]
    mixture = [(a + b) / 2 for a, b in zip(p, q, strict=True)]

    def divergence(side: list[float]) -> float:
        return sum(a * math.log2(a / m) for a, m in zip(side, mixture, strict=True) if a > 0)

    return math.sqrt(max((divergence(p) + divergence(q)) / 2, 0.0))


def class_counts(candidate: Sequence[Sample], stable: Sequence[Sample]) -> tuple[list[float], ...]:
    """Counts by class over the union of both versions' classes (absent = 0)."""
    by_class = [
        {sample.labels.get("class", ""): sample.value for sample in side}
        for side in (candidate, stable)
    ]
    classes = sorted(set(by_class[0]) | set(by_class[1]))
    return tuple([counts.get(label, 0.0) for label in classes] for counts in by_class)


def bucket_counts(candidate: Sequence[Sample], stable: Sequence[Sample]) -> tuple[list[float], ...]:
    """Bin counts over the `le` edges both versions share.

    Retrained versions may bin their predictions at other edges; the cumulative counts
    at the shared edges (always at least +Inf) bin both exactly, if more coarsely.
    """
    by_edge = [
        {float(sample.labels["le"]): sample.value for sample in side}
        for side in (candidate, stable)
    ]
    edges = sorted(set(by_edge[0]) & set(by_edge[1]))
    counts: list[list[float]] = []
    for cumulative in by_edge:
        below = [0.0, *(cumulative[edge] for edge in edges[:-1])]
        counts.append(
            [cumulative[edge] - before for edge, before in zip(edges, below, strict=True)]
        )
    return tuple(counts)


def prediction_shift(results: Results) -> float | None:
    """The distance between the versions' predictions: by class, else by value bucket."""
    candidate_classes, stable_classes, candidate_buckets, stable_buckets = results
    if candidate_classes and stable_classes:
        return jensen_shannon(*class_counts(candidate_classes, stable_classes))
    if candidate_buckets and stable_buckets:
        return jensen_shannon(*bucket_counts(candidate_buckets, stable_buckets))
    return None


def prediction_queries(subject: Subject) -> tuple[str, ...]:
    """Per class (classifiers) and per bucket (regressors), candidate first, then stable."""
    window = duration(subject.window)
    return tuple(
        f"sum by ({by}) (increase({selector(metric, server(subject, version))}[{window}]))"
        for by, metric in (
            ("class", "modelkeeper_predictions_total"),
            ("le", "modelkeeper_prediction_value_bucket"),
        )
        for version in (subject.candidate, subject.stable)
    )


def render_promql(template: str, subject: Subject) -> str:
    """The user's query with {{ namespace }}, {{ deployment }}, {{ model }}, {{ version }}
    (the candidate), {{ stable }} and {{ interval }} (the window) filled in."""
    values = {
        "namespace": escape(subject.namespace),
        "deployment": escape(subject.deployment),
        "model": escape(subject.family),
        "version": escape(subject.candidate),
        "stable": escape(subject.stable),
        "interval": duration(subject.window),
    }
    return fill_placeholders(template, values)


def render_metric(metric: AnalysisMetric, subject: Subject) -> Check:
    """One analysis metric of the spec as a check of the candidate."""
    bounds = {"min": metric.min, "max": metric.max}
    match metric.type:
        case MetricType.ERROR_RATE:
            measure = one_query(server_error_rate(subject, subject.candidate))
            return Check(metric.name, "error rate", measure, **bounds)
        case MetricType.LATENCY_QUANTILE:
            assert metric.quantile is not None, "the schema requires quantile for LatencyQuantile"
            measure = one_query(server_latency(subject, subject.candidate, metric.quantile))
            return Check(metric.name, latency_label(metric.quantile), measure, **bounds)
        case MetricType.PREDICTION_SHIFT:
            measure = Measure(prediction_queries(subject), prediction_shift)
            return Check(metric.name, "prediction shift", measure, **bounds)
        case MetricType.PROMQL:
            assert metric.query is not None, "the schema requires query for PromQL"
            try:
                measure = one_query(render_promql(metric.query, subject))
            except TemplateError as error:
                raise TemplateError(f"check {metric.name}: {error}") from None
            return Check(metric.name, metric.name, measure, **bounds)


def render_analysis(analysis: Analysis, subject: Subject) -> Plan:
    """A canary's or a preview's checks, over the candidate's requests in the window."""
    checks = tuple(render_metric(metric, subject) for metric in analysis.metrics)
    return Plan(one_query(server_requests(subject)), checks)


def render_shadow(shadow: Shadow, subject: Subject) -> Plan:
    """A shadow's checks over the mirrored requests so far.

    From the router's own comparison when it compares; otherwise (Gateway API) from the
    scoring servers' metrics by version, without agreement, which nothing measures there.
    """
    window = duration(subject.window)
    q = shadow.latency_quantile
    agreement: tuple[Check, ...] = ()
    if subject.compare:
        candidate = router(subject, subject.candidate)
        sent = selector(MIRRORS, candidate, SENT_MIRRORS)
        requests = counted_since(sent, window)
        errors = share_since(selector(MIRRORS, candidate, SHADOW_ERROR), sent, window)
        shadow_latency = selector(LATENCY, candidate, SHADOW_ROLE)
        stable_latency = selector(LATENCY, router(subject, subject.stable), STABLE_ROLE)
        latencies = (quantile(q, shadow_latency, window), quantile(q, stable_latency, window))
        rows = share_since(selector(ROWS, candidate, AGREE), selector(ROWS, candidate), window)
        agreement = (
            Check(ShadowCheck.AGREEMENT, "agreement", one_query(rows), min=shadow.min_agreement),
        )
    else:
        requests = server_requests(subject)
        errors = server_error_rate(subject, subject.candidate)
        latencies = (
            server_latency(subject, subject.candidate, q),
            server_latency(subject, subject.stable, q),
        )
    return Plan(
        one_query(requests),
        (
            *agreement,
            Check(
                ShadowCheck.ERROR_RATE, "error rate", one_query(errors), max=shadow.max_error_rate
            ),
            Check(
                ShadowCheck.LATENCY_RATIO,
                f"{latency_label(q)} ratio",
                one_query(" / ".join(latencies)),
                max=shadow.max_latency_ratio,
            ),
        ),
    )
