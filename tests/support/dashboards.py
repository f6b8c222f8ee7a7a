"""Every PromQL query the chart ships, and whether Prometheus has data for it.

A dashboard panel that stays empty, or an alert that watches a series nobody exports,
looks fine to `promtool` and to a reviewer; only real data shows it. After a whole loop
(`make demo`), `without_data` runs each panel's queries (Grafana's variables resolved the
way Grafana resolves them, from label values) and each series selector of each alert over
the loop's time range, and names the panels and selectors that found nothing. A panel
has data when one of its queries has: some panels serve either kind of model, such as
Predictions (class counts for classifiers, value quantiles for regressors).
"""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.ground.ground import REPO_ROOT

CHART_FILES = REPO_ROOT / "charts" / "modelkeeper" / "files"
STEP_SECONDS = 5
# Grafana's $__rate_interval is at least four scrape intervals; the ground scrapes every second.
RATE_INTERVAL = f"{4 * STEP_SECONDS}s"

_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_SELECTOR = re.compile(r"(?<![\w:.])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?(\s*\()?")
_KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan"})


@dataclass(frozen=True)
class Query:
    """One query and where it comes from, to name it when it finds nothing."""

    source: str
    expr: str


@dataclass(frozen=True)
class Variable:
    """A dashboard's `label_values(selector, label)` template variable."""

    name: str
    selector: str
    label: str


@dataclass(frozen=True)
class Panel:
    source: str
    exprs: tuple[str, ...]


@dataclass(frozen=True)
class Dashboard:
    name: str
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]


def dashboards(directory: Path = CHART_FILES / "dashboards") -> list[Dashboard]:
    """The shipped dashboards' variables and panel queries."""
    return [
        _dashboard(path.stem, json.loads(path.read_text()))
        for path in sorted(directory.glob("*.json"))
    ]


def _dashboard(name: str, document: dict[str, Any]) -> Dashboard:
    variables = []
    for variable in document.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        found = _LABEL_VALUES.match(text.strip())
        if found is None:
            raise ValueError(
                f"dashboard {name}, variable {variable['name']}: not label_values(): {text}"
            )
        variables.append(Variable(variable["name"], found["selector"], found["label"]))
    panels = tuple(
        Panel(
            f"dashboard {name}, panel {panel['title']!r}",
            tuple(target["expr"] for target in panel["targets"]),
        )
        for panel in _panels(document.get("panels", []))
        if panel.get("targets")
    )
    return Dashboard(name, tuple(variables), panels)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Panels, and the panels inside rows."""
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def alert_selectors(path: Path = CHART_FILES / "alerts.yaml") -> list[Query]:
    """Each series selector of each alert: the series the alert watches must exist, whether
    or not it fires."""
    rules = yaml.safe_load(path.read_text())
    return [
        Query(f"alert {rule['alert']}", selector)
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
        for selector in series_selectors(rule["expr"])
    ]


def series_selectors(expr: str) -> list[str]:
    """The vector selectors of a PromQL expression (metric name with its matchers), in order.

    Grouping label lists and range durations are dropped first, then every identifier that
    is not a function call or a keyword is a metric name."""
    bare = _RANGE.sub("", _GROUPING.sub("", expr))
    selectors = []
    for name, matchers, call in _SELECTOR.findall(bare):
        if call or name in _KEYWORDS:
            continue
        selector = name + re.sub(r"\s+", " ", matchers)
        if selector not in selectors:
            selectors.append(selector)
    return selectors


def substitute(expr: str, values: dict[str, list[str]], range_seconds: int) -> str:
    """Grafana's variables replaced as Grafana replaces them for Prometheus: one value as
    it is, several as a regex alternation; $__rate_interval and $__range by the range's."""
    text = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__range", f"{range_seconds}s")
    for name in sorted(values, key=len, reverse=True):
        found = values[name]
        value = found[0] if len(found) == 1 else "(" + "|".join(map(re.escape, found)) + ")"
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


class PrometheusRange:
    """Range queries over one time range against one Prometheus."""

    def __init__(self, url: str, start: float, end: float) -> None:
        self.url = url
        self.start = start
        self.end = end

    @property
    def seconds(self) -> int:
        return int(self.end - self.start)

    def has_data(self, expr: str) -> bool:
        result = self._get("query_range", query=expr, step=str(STEP_SECONDS))
        return any(series["values"] for series in result)

    def label_values(self, selector: str, label: str) -> list[str]:
        series = self._get("series", **{"match[]": selector})
        return sorted({s[label] for s in series if label in s})

    def _get(self, path: str, **params: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({**params, "start": self.start, "end": self.end})
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as response:
            answer = json.load(response)
        found: list[dict[str, Any]] = (
            answer["data"]["result"] if path != "series" else answer["data"]
        )
        return found


def without_data(prometheus: PrometheusRange) -> tuple[list[Query], int]:
    """The queries that found no data, and how many were run."""
    empty: list[Query] = []
    checked = 0
    for dashboard in dashboards():
        values: dict[str, list[str]] = {}
        for variable in dashboard.variables:
            selector = substitute(variable.selector, values, prometheus.seconds)
            values[variable.name] = prometheus.label_values(selector, variable.label)
            checked += 1
            if not values[variable.name]:
                source = f"dashboard {dashboard.name}, variable {variable.name}"
                empty.append(Query(source, f"label_values({selector}, {variable.label})"))
                values[variable.name] = [".*"]
        for panel in dashboard.panels:
            exprs = [substitute(expr, values, prometheus.seconds) for expr in panel.exprs]
            checked += 1
            if not any(prometheus.has_data(expr) for expr in exprs):
                empty.append(Query(panel.source, " | ".join(exprs)))
    for alert in alert_selectors():
        checked += 1
        if not prometheus.has_data(alert.expr):
            empty.append(alert)
    return empty, checked
