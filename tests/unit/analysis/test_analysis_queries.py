"""The checks render into the exact PromQL that docs/analysis.md shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from modelkeeper.analysis.templates import Subject, render_analysis, render_promql, render_shadow
from modelkeeper.api.strategy import Analysis, Shadow
from modelkeeper.prometheus.promql import TemplateError, duration, escape, selector

SUBJECT = Subject("shop", "fraud", "fraud-model", "v1", "v2", timedelta(seconds=60))
SERVER_V2 = 'namespace="shop",deployment="fraud",version="v2"'
SERVER_V1 = 'namespace="shop",deployment="fraud",version="v1"'
ROUTER_V2 = 'namespace="shop",deployment="fraud",backend="v2"'
ROUTER_V1 = 'namespace="shop",deployment="fraud",backend="v1"'
CANDIDATE_REQUESTS = (
    f'sum(increase(modelkeeper_requests_total{{{SERVER_V2},endpoint="infer"}}[60s]))'
)
ERROR_RATE = (
    f'(sum(increase(modelkeeper_requests_total{{{SERVER_V2},endpoint="infer",code=~"5.."}}'
    f"[60s])) or vector(0)) / "
    f'sum(increase(modelkeeper_requests_total{{{SERVER_V2},endpoint="infer"}}[60s]))'
)


def latency(
    q: str, labels: str, metric: str = "modelkeeper_request_duration_seconds_bucket"
) -> str:
    return f"histogram_quantile({q}, sum by (le) (rate({metric}{{{labels}}}[60s])))"


def analysis(**metric: Any) -> Analysis:
    return Analysis.model_validate({"metrics": [{"name": "check", "max": 1.0, **metric}]})


@pytest.mark.parametrize(
    ("metric", "queries"),
    [
        pytest.param({"type": "ErrorRate"}, (ERROR_RATE,), id="error-rate"),
        pytest.param(
            {"type": "LatencyQuantile", "quantile": 0.99},
            (latency("0.99", f'{SERVER_V2},endpoint="infer"'),),
            id="latency-quantile",
        ),
        pytest.param(
            {"type": "PredictionShift"},
            (
                f"sum by (class) (increase(modelkeeper_predictions_total{{{SERVER_V2}}}[60s]))",
                f"sum by (class) (increase(modelkeeper_predictions_total{{{SERVER_V1}}}[60s]))",
                f"sum by (le) (increase(modelkeeper_prediction_value_bucket{{{SERVER_V2}}}[60s]))",
                f"sum by (le) (increase(modelkeeper_prediction_value_bucket{{{SERVER_V1}}}[60s]))",
            ),
            id="prediction-shift-classes-then-buckets-candidate-first",
        ),
        pytest.param(
            {"type": "PromQL", "query": 'max(up{namespace="{{ namespace }}"})'},
            ('max(up{namespace="shop"})',),
            id="promql",
        ),
    ],
)
def test_analysis_metric_queries(metric: dict[str, Any], queries: tuple[str, ...]) -> None:
    plan = render_analysis(analysis(**metric), SUBJECT)
    (check,) = plan.checks
    assert check.measure.queries == queries
    assert plan.requests.queries == (CANDIDATE_REQUESTS,)
    assert plan.queries == (CANDIDATE_REQUESTS, *queries)


def test_shared_queries_are_run_once() -> None:
    twice = Analysis.model_validate(
        {
            "metrics": [
                {"name": "errors", "type": "ErrorRate", "max": 0.05},
                {"name": "errors-strict", "type": "ErrorRate", "max": 0.01},
            ]
        }
    )
    assert render_analysis(twice, SUBJECT).queries == (CANDIDATE_REQUESTS, ERROR_RATE)


def since(series: str) -> str:
    """A count since 60 s ago, as the shadow's queries write it."""
    return f"sum({series} - ({series} offset 60s or {series} * 0))"


def test_shadow_with_the_router_comparing() -> None:
    plan = render_shadow(Shadow(min_requests=10, latency_quantile=0.95), SUBJECT)
    sent = f'modelkeeper_router_mirror_requests_total{{{ROUTER_V2},outcome!="dropped"}}'
    rows = "modelkeeper_router_shadow_predictions_total"
    agreeing = f'{rows}{{{ROUTER_V2},outcome="agree"}}'
    compared = f"{rows}{{{ROUTER_V2}}}"
    latency_metric = "modelkeeper_router_upstream_latency_seconds_bucket"
    assert plan.requests.queries == (f"sum({sent} - ({sent} offset 60s or {sent} * 0))",)
    assert [(check.name, check.measure.queries) for check in plan.checks] == [
        (
            "agreement",
            (f"({since(agreeing)} or vector(0)) / {since(compared)}",),
        ),
        (
            "error-rate",
            (
                "("
                + since(
                    f'modelkeeper_router_mirror_requests_total{{{ROUTER_V2},outcome="shadow_error"}}'
                )
                + f" or vector(0)) / {since(sent)}",
            ),
        ),
        (
            "latency-ratio",
            (
                latency("0.95", f'{ROUTER_V2},role="shadow"', latency_metric)
                + " / "
                + latency("0.95", f'{ROUTER_V1},role="stable"', latency_metric),
            ),
        ),
    ]
    assert [(check.min, check.max) for check in plan.checks] == [
        (0.95, None),
        (None, 0.01),
        (None, 1.5),
    ]


def test_shadow_without_comparison_reads_the_servers_by_version() -> None:
    gateway = Subject(
        "shop", "fraud", "fraud-model", "v1", "v2", timedelta(seconds=60), compare=False
    )
    plan = render_shadow(Shadow.model_validate({"duration": "10m"}), gateway)
    assert plan.requests.queries == (CANDIDATE_REQUESTS,)
    assert [(check.name, check.measure.queries) for check in plan.checks] == [
        ("error-rate", (ERROR_RATE,)),
        (
            "latency-ratio",
            (
                latency("0.99", f'{SERVER_V2},endpoint="infer"')
                + " / "
                + latency("0.99", f'{SERVER_V1},endpoint="infer"'),
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("window", "rendered"),
    [
        pytest.param(timedelta(seconds=37), "37s", id="whole-seconds"),
        pytest.param(timedelta(seconds=36, microseconds=1), "37s", id="rounded-up"),
        pytest.param(timedelta(minutes=5), "300s", id="minutes-as-seconds"),
        pytest.param(timedelta(milliseconds=200), "1s", id="at-least-one-second"),
        pytest.param(timedelta(0), "1s", id="zero-is-one-second"),
    ],
)
def test_window_duration(window: timedelta, rendered: str) -> None:
    assert duration(window) == rendered


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        pytest.param("v1.2_3", "v1.2_3", id="plain"),
        pytest.param('say "hi"', 'say \\"hi\\"', id="quotes"),
        pytest.param("a\\b", "a\\\\b", id="backslash"),
        pytest.param("two\nlines", "two\\nlines", id="newline"),
    ],
)
def test_label_values_are_escaped(value: str, escaped: str) -> None:
    assert escape(value) == escaped
    assert selector("m", {"version": value}, 'code="500"') == f'm{{version="{escaped}",code="500"}}'


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        pytest.param(
            'sum(rate(x{namespace="{{ namespace }}",deployment="{{deployment}}"}[{{ interval }}]))',
            'sum(rate(x{namespace="shop",deployment="fraud"}[60s]))',
            id="with-and-without-spaces",
        ),
        pytest.param(
            'a{version="{{ version }}"} / a{version="{{ stable }}",model="{{ model }}"}',
            'a{version="v2"} / a{version="v1",model="fraud-model"}',
            id="candidate-stable-model",
        ),
        pytest.param("vector(1)", "vector(1)", id="no-placeholders"),
    ],
)
def test_promql_placeholders(template: str, rendered: str) -> None:
    assert render_promql(template, SUBJECT) == rendered


def test_promql_placeholder_values_are_escaped() -> None:
    odd = Subject("shop", "fraud", "fraud", "v1", 'v"2', timedelta(seconds=60))
    assert render_promql('x{version="{{ version }}"}', odd) == 'x{version="v\\"2"}'


def test_unknown_placeholder_is_named() -> None:
    with pytest.raises(TemplateError, match=r"check check: unknown placeholder \{\{ versoin \}\}"):
        render_analysis(analysis(type="PromQL", query="x{v='{{ versoin }}'}"), SUBJECT)


DOCS = Path(__file__).resolve().parents[3] / "docs" / "analysis.md"


def test_the_docs_show_the_rendered_queries() -> None:
    """docs/analysis.md shows every built-in query, to the character, for its example."""
    example = Subject("shop", "fraud", "fraud", "v1", "v2", timedelta(minutes=5))
    canary = Analysis.model_validate(
        {
            "metrics": [
                {"name": "errors", "type": "ErrorRate", "max": 0.05},
                {"name": "p99", "type": "LatencyQuantile", "quantile": 0.99, "max": 0.2},
                {"name": "shift", "type": "PredictionShift", "max": 0.1},
            ]
        }
    )
    plans = [
        render_analysis(canary, example),
        render_shadow(Shadow(min_requests=10), example),
        render_shadow(Shadow(min_requests=10), replace(example, compare=False)),
    ]
    shown = set(DOCS.read_text().splitlines())
    missing = [query for plan in plans for query in plan.queries if query not in shown]
    assert missing == []
