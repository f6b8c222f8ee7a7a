"""Every alert links a runbook that exists, and every query names only documented metrics.

A metric name typed wrong in an alert or a panel is a query that never returns data and
an alert that never fires; checking the names against docs/metrics.md and docs/router.md
(which the code's metric tests keep true) catches it before any Prometheus does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support.dashboards import dashboards

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "modelkeeper"
RUNBOOKS = REPO / "docs" / "runbooks"
RUNBOOK_BASE = "https://github.com/modelkeeper/modelkeeper/blob/main/docs/runbooks/"
ALERT_RULES = [
    rule
    for group in yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())["groups"]
    for rule in group["rules"]
]
METRIC = re.compile(r"\bmodelkeeper_[a-z_]+")
OPERATOR_UP = 'up{job="modelkeeper-operator"}'
"""Whether the operator is scraped at all: the job name the chart's ServiceMonitor sets."""
HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def _documented_metrics() -> set[str]:
    docs = (REPO / "docs" / "metrics.md").read_text() + (REPO / "docs" / "router.md").read_text()
    return set(re.findall(r"`(modelkeeper_[a-z_]+)`", docs))


def _queries() -> list[pytest.ParameterSet]:
    found = [pytest.param(rule["expr"], id=f"alert-{rule['alert']}") for rule in ALERT_RULES]
    for dashboard in dashboards():
        for panel in dashboard.panels:
            for n, expr in enumerate(panel.exprs):
                found.append(pytest.param(expr, id=f"{panel.source}-{n}"))
    return found


@pytest.mark.parametrize("rule", [pytest.param(r, id=r["alert"]) for r in ALERT_RULES])
def test_alert_links_its_runbook(rule: dict[str, object]) -> None:
    annotations = rule["annotations"]
    assert isinstance(annotations, dict)
    assert annotations["runbook_url"] == f"{RUNBOOK_BASE}{rule['alert']}.md"
    runbook = (RUNBOOKS / f"{rule['alert']}.md").read_text()
    assert runbook.startswith(f"# {rule['alert']}\n")
    for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
        assert section in runbook


def test_every_runbook_belongs_to_an_alert() -> None:
    assert {path.stem for path in RUNBOOKS.glob("*.md")} == {r["alert"] for r in ALERT_RULES}


@pytest.mark.parametrize("query", _queries())
def test_query_names_only_documented_metrics(query: str) -> None:
    names = {HISTOGRAM_SERIES.sub("", name) for name in METRIC.findall(query)}
    assert names or OPERATOR_UP in query, "a query with no Modelkeeper metric"
    assert names <= _documented_metrics()
