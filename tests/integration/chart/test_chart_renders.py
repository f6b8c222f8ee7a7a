"""The chart lints, renders what the golden files hold, and manifests/install.yaml is current.

Golden files show a reviewer every change a template edit makes to the rendered objects.
Regenerate them with MODELKEEPER_UPDATE_GOLDEN=1, and install.yaml with
tools/render-manifests.sh.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.chart import CHART, REPO, helm, render

GOLDEN = Path(__file__).resolve().parent / "golden"

VALUE_SETS = [
    pytest.param((), id="defaults"),
    # Dashboards off where they are not the point, so the golden file shows what is.
    pytest.param(
        ("rbac.scope=Namespaced", "watchNamespaces={team-a,team-b}", "dashboards.enabled=false"),
        id="namespaced",
    ),
    pytest.param(
        (
            "replicas=2",
            "leaderElection.enabled=true",
            "shardSelector=modelkeeper.io/shard=a",
            "dashboards.enabled=false",
        ),
        id="two-replicas-with-leader-election-one-shard",
    ),
    pytest.param(
        (
            "rbac.scope=Namespaced",
            "replicas=2",
            "leaderElection.enabled=true",
            "dashboards.enabled=false",
        ),
        id="namespaced-two-replicas-with-leader-election",
    ),
    pytest.param(
        (
            "metrics.serviceMonitor.enabled=true",
            "metrics.serviceMonitor.labels.release=kube-prometheus-stack",
            "prometheusRule.enabled=true",
            "prometheusRule.runbookBaseUrl=https://runbooks.example.com/modelkeeper/",
            "dashboards.namespace=monitoring",
        ),
        id="prometheus-operator",
    ),
]


@pytest.mark.parametrize("values", VALUE_SETS)
def test_helm_lint_passes(values: tuple[str, ...]) -> None:
    settings = [arg for value in values for arg in ("--set", value)]
    linted = helm("lint", "--strict", str(CHART), *settings)
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout


@pytest.mark.parametrize("values", VALUE_SETS)
def test_template_matches_its_golden_file(
    values: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    rendered = render("modelkeeper", "modelkeeper-system", *values)
    assert rendered.returncode == 0, rendered.stderr
    golden = GOLDEN / f"{request.node.callspec.id}.yaml"
    if os.environ.get("MODELKEEPER_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(rendered.stdout)
    assert rendered.stdout == golden.read_text(), (
        f"{golden.name} is stale: rerun with MODELKEEPER_UPDATE_GOLDEN=1 and review the diff"
    )


def test_install_manifest_and_chart_crds_are_current() -> None:
    checked = subprocess.run(
        [str(REPO / "tools" / "render-manifests.sh"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
