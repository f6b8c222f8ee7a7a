"""The chart's tools for its tests: helm and promtool as the ground builds them, and a render.

helm and promtool come from `make deps` (tests/ground/binaries.py), at the versions the
ground pins, so a test never depends on whatever helm a machine has on its PATH.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.ground.binaries import go_tool

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "modelkeeper"
KUBE_VERSION = "1.34.4"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the ground's helm; `check` raises with its stderr when it fails."""
    done = subprocess.run(
        [str(go_tool("helm")), *args], capture_output=True, text=True, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stderr}")
    return done


def render(release: str, namespace: str, *values: str) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart as `release` in `namespace`, with `--set` values."""
    settings = [arg for value in values for arg in ("--set", value)]
    chart = (str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION)
    return helm("template", release, *chart, *settings, check=False)


def rendered_objects(release: str, namespace: str, *values: str) -> list[dict[str, object]]:
    """The objects the chart renders, parsed; a failed render raises with helm's message."""
    done = render(release, namespace, *values)
    assert done.returncode == 0, done.stderr
    return [obj for obj in yaml.safe_load_all(done.stdout) if obj]


def promtool(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run promtool, which `make deps` builds beside prometheus, at Prometheus' version."""
    return subprocess.run(
        [str(go_tool("promtool", version_of="prometheus")), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
