"""`kubectl modelkeeper status` of a pooled Deployment, against the real API server and operator.

The operator (as its own ServiceAccount) makes the ServingPool's servers and router and the
Deployment's catalogue; the controller manager makes their pods, which stay Pending with no
node. Given a Canary Deployment in a pool whose servers are scaled to zero (which counts as
ready, so the canary's first weight is written to the catalogue) and whose router runs one
replica: `status` names the pool, shows each version's share from the catalogue and the
router's pod; once the pool is scaled to two servers, their pods too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ground.controlplane import ControlPlane
from tests.ground.ground import Kubectl
from tests.ground.polling import eventually
from tests.integration.plugin.plugin_harness import Plugin
from tests.support.kube import apply
from tests.support.models import write_constant_model
from tests.support.objects import artifact_model, deployment, manifest
from tests.support.operator_process import RunningOperator, running_operator

STEPS = {"steps": [{"setWeight": 20}, {"pause": {}}]}
# A pod's name from its ReplicaSet: <apps/v1 Deployment>-<template hash>-<suffix>.
POD_SUFFIX = re.compile(r"(shared-pool(-servers)?)-[a-z0-9]+-[a-z0-9]{5}\b")
AGE = re.compile(r"(?<=\s)\d+[smhdy](\d+[smhdy])?$", re.MULTILINE)


@pytest.fixture(scope="module")
def operator(
    crds: Path, control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningOperator]:
    with running_operator(
        control_plane, tmp_path_factory.mktemp("operator"), "--resync-seconds=5"
    ) as running:
        yield running


def pool_pods(kubectl: Kubectl) -> list[str]:
    found = kubectl("get", "pods", "-l", "modelkeeper.io/pool=shared", "-o", "json").stdout
    return sorted(pod["metadata"]["name"] for pod in json.loads(found)["items"])


def shown(tree: str) -> list[str]:
    """The tree's lines, each pod's random suffix as <pod>, each age as <age>, and each run
    of spaces as one (the columns are as wide as the random names)."""
    text = AGE.sub("<age>", POD_SUFFIX.sub(r"\1-<pod>", tree))
    return [" ".join(line.split()) for line in text.splitlines()]


def test_status_shows_the_pool_its_pods_and_the_catalogues_split(
    operator: RunningOperator, plugin: Plugin, kubectl: Kubectl, tmp_path: Path
) -> None:
    # Given a pool with no servers and one router, and a canary of `shop` in it paused at 20 %
    sha1 = write_constant_model(tmp_path / "v1", 1.0)
    sha2 = write_constant_model(tmp_path / "v2", 2.0)
    apply(
        kubectl,
        manifest("ServingPool", "shared", {"replicas": 0, "router": {"replicas": 1}}),
        artifact_model("shop-1", "shop", "1", tmp_path / "v1", sha1),
        deployment("shop", "shop", pool="shared", strategy={"type": "Canary", "canary": STEPS}),
    )
    eventually(lambda: "Healthy" in plugin("status", "shop").out, 60, "version 1 serves")
    apply(kubectl, artifact_model("shop-2", "shop", "2", tmp_path / "v2", sha2))
    eventually(lambda: len(pool_pods(kubectl)) == 1, 60, "the pool's router's pod")
    eventually(lambda: "Step:         1/2" in plugin("status", "shop").out, 60, "paused at 20 %")

    # When status is asked for
    result = plugin("status", "shop")

    # Then it names the pool, the shares the catalogue holds, and the pool's router pod
    assert (result.code, result.err) == (0, "")
    summary, tree = result.out.split("\n\n")
    assert summary.splitlines()[4:9] == [
        "Pool:           shared",
        "Strategy:       Canary",
        "  Step:         1/2",
        "  SetWeight:    20",
        "  ActualWeight: 20",
    ]
    assert shown(tree) == [
        "NAME READY STATUS RESTARTS AGE",
        "shop",
        "├── 1 (Stable, 80%)",
        "├── 2 (Canary, 20%)",
        "└── pool shared",
        "├── servers",
        "└── router",
        "└── shared-pool-<pod> 0/1 Pending 0 <age>",
    ]

    # When the pool is scaled to two servers
    kubectl("patch", "servingpools/shared", "--type=merge", "-p", '{"spec": {"replicas": 2}}')
    eventually(lambda: len(pool_pods(kubectl)) == 3, 60, "the pool's servers' pods")
    tree = plugin("status", "shop").out.split("\n\n")[-1]

    # Then their pods are under the pool's servers
    assert shown(tree)[4:] == [
        "└── pool shared",
        "├── servers",
        "│ ├── shared-pool-servers-<pod> 0/1 Pending 0 <age>",
        "│ └── shared-pool-servers-<pod> 0/1 Pending 0 <age>",
        "└── router",
        "└── shared-pool-<pod> 0/1 Pending 0 <age>",
    ]
