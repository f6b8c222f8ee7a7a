"""How the chart's queries are taken apart for the after-the-loop data check (`make demo`)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support.dashboards import (
    CHART_FILES,
    alert_selectors,
    dashboards,
    series_selectors,
    substitute,
)


@pytest.mark.parametrize(
    ("expr", "selectors"),
    [
        pytest.param("up", ["up"], id="bare-name"),
        pytest.param(
            'absent(up{job="modelkeeper-operator"} == 1)',
            ['up{job="modelkeeper-operator"}'],
            id="inside-a-function-with-a-comparison",
        ),
        pytest.param(
            "sum by (kind) (rate(a_total[10m])) / sum by (kind) (rate(b_total[10m])) > 0.1",
            ["a_total", "b_total"],
            id="grouping-lists-and-ranges-are-not-metrics",
        ),
        pytest.param(
            'histogram_quantile(0.99, sum by (le, role) (rate(x_bucket{a="b", c=~"5.."}[5m])))',
            ['x_bucket{a="b", c=~"5.."}'],
            id="quantile-of-a-histogram",
        ),
        pytest.param(
            'count by (ns) (v{role!="Stable"}) unless on (ns) changes(w[1h]) > 0',
            ['v{role!="Stable"}', "w"],
            id="set-operators-are-keywords",
        ),
        pytest.param("rate(x[5m]) or rate(x[5m]) offset 1h", ["x"], id="repeated-once"),
    ],
)
def test_series_selectors(expr: str, selectors: list[str]) -> None:
    assert series_selectors(expr) == selectors


@pytest.mark.parametrize(
    ("expr", "values", "expected"),
    [
        pytest.param('x{ns=~"$namespace"}', {"namespace": ["demo"]}, 'x{ns=~"demo"}', id="one"),
        pytest.param(
            'x{ns=~"${namespace}"}',
            {"namespace": ["a.b", "c"]},
            'x{ns=~"(a\\.b|c)"}',
            id="several-as-an-escaped-alternation",
        ),
        pytest.param(
            'x{m=~"$monitor", mm=~"$monitors"}',
            {"monitor": ["m1"], "monitors": ["all"]},
            'x{m=~"m1", mm=~"all"}',
            id="longer-names-first",
        ),
        pytest.param(
            "rate(x[$__rate_interval]) + increase(x[$__range])",
            {},
            "rate(x[20s]) + increase(x[300s])",
            id="grafana-intervals",
        ),
    ],
)
def test_substitute(expr: str, values: dict[str, list[str]], expected: str) -> None:
    assert substitute(expr, values, 300) == expected


def test_every_shipped_panel_uses_only_its_dashboards_variables() -> None:
    # Given every shipped dashboard, with a value for each of its own variables
    found = dashboards()
    assert {dashboard.name for dashboard in found} == {"drift", "model", "operator", "retraining"}
    for dashboard in found:
        values = {variable.name: ["v"] for variable in dashboard.variables}
        assert dashboard.panels, dashboard.name
        for panel in dashboard.panels:
            # Then every panel has queries, with nothing left to substitute in them
            assert panel.exprs, panel.source
            for expr in panel.exprs:
                assert not re.search(r"\$\w", substitute(expr, values, 60)), panel.source


def test_every_shipped_alert_watches_at_least_one_series() -> None:
    rules = yaml.safe_load((CHART_FILES / "alerts.yaml").read_text())["groups"]
    alerts = {f"alert {rule['alert']}" for group in rules for rule in group["rules"]}
    assert {query.source for query in alert_selectors()} == alerts
    assert all(query.expr.startswith(("up{", "modelkeeper_")) for query in alert_selectors())
