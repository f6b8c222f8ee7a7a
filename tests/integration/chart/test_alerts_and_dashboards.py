"""promtool accepts the alerts, fires each on synthetic series, and parses every dashboard query.

alerts.promtool.yaml holds the series and the alerts they must (and must not) raise.
Dashboard queries carry Grafana's variables; with those replaced by plain values (as the
after-the-loop data check replaces them), each query is checked as a recording rule, which
is how promtool parses PromQL offline.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.chart import CHART, promtool
from tests.support.dashboards import dashboards, substitute

ALERTS = CHART / "files" / "alerts.yaml"
UNIT_TESTS = Path(__file__).resolve().parent / "alerts.promtool.yaml"
RANGE_SECONDS = 6 * 3600


def test_promtool_checks_the_alerts() -> None:
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 9 rules found" in checked.stdout


def test_every_alert_fires_in_the_promtool_unit_tests() -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(ALERTS.read_text())["groups"]
        for rule in group["rules"]
    }
    fired = {
        case["alertname"]
        for test in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert fired == alerts

    tested = promtool("test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_dashboard_query_parses(tmp_path: Path) -> None:
    shipped = dashboards()
    queries = [
        substitute(expr, {v.name: [".*"] for v in dashboard.variables}, RANGE_SECONDS)
        for dashboard in shipped
        for panel in dashboard.panels
        for expr in panel.exprs
    ]
    assert len(shipped) == 4
    assert len(queries) > 30
    rules = [{"record": f"dashboard:query{n}", "expr": q} for n, q in enumerate(queries)]
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))

    checked = promtool("check", "rules", str(rule_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
