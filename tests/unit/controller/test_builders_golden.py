"""The desired child objects, compared with golden YAML (MODELKEEPER_UPDATE_GOLDEN=1 rewrites).

Read a golden file to see what the operator creates; a change to the builders shows
up as a diff of these files in review.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelkeeper.api.types import ServingRole
from modelkeeper.controller.builders import BuildInput, RunningVersion, build_children, child_name
from tests.unit.controller.factories import APPROVAL, deployment, model

GOLDEN = Path(__file__).parent / "golden"
IMAGE = "ghcr.io/modelkeeper/modelkeeper:0.1.0"
SCHEMA = {"inputs": [{"name": "amount", "type": "Numeric"}], "output": {"type": "Regression"}}
REFERENCE = {"uri": "https://models.example.com/fraud/1/profile.json"}


def artifact(version: str) -> Any:
    return model(version, approval=APPROVAL, schema=SCHEMA, reference=REFERENCE)


CASES = {
    "artifact-minimal": BuildInput(
        deployment(), [RunningVersion(artifact("1"), ServingRole.STABLE)], "1", IMAGE, False
    ),
    "image-autoscaled-with-podmonitor": BuildInput(
        deployment(
            autoscaling={"minReplicas": 2, "maxReplicas": 5},
            resources={"requests": {"cpu": "500m", "memory": "1Gi"}},
            serving={"workers": 2, "batching": {"maxBatchSize": 16, "maxLatency": "10ms"}},
        ),
        [RunningVersion(model("2", image="registry.example.com/fraud:2"), ServingRole.STABLE)],
        "2",
        IMAGE,
        True,
    ),
    "direct-rollout-two-versions": BuildInput(
        deployment(replicas=3),
        [
            RunningVersion(artifact("1"), ServingRole.STABLE),
            RunningVersion(artifact("2"), ServingRole.CANARY),
        ],
        "1",
        IMAGE,
        False,
    ),
}


@pytest.mark.parametrize("case", [pytest.param(name, id=name) for name in CASES])
def test_children_match_golden(case: str) -> None:
    rendered = yaml.safe_dump_all(build_children(CASES[case]), sort_keys=True)
    path = GOLDEN / f"{case}.yaml"
    if os.environ.get("MODELKEEPER_UPDATE_GOLDEN") == "1":
        path.write_text(rendered)
    assert path.read_text() == rendered, f"{path} is stale: rerun with MODELKEEPER_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", [pytest.param(name, id=name) for name in CASES])
def test_every_child_is_owned_labelled_and_restricted(case: str) -> None:
    for obj in build_children(CASES[case]):
        metadata = obj["metadata"]
        assert metadata["ownerReferences"][0]["uid"] == "uid-fraud"
        assert metadata["labels"]["app.kubernetes.io/managed-by"] == "modelkeeper"
        assert metadata["labels"]["modelkeeper.io/deployment"] == "fraud"
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            assert pod["securityContext"]["runAsNonRoot"] is True
            assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
            for container in pod["containers"] + pod.get("initContainers", []):
                security = container["securityContext"]
                assert security["allowPrivilegeEscalation"] is False
                assert security["readOnlyRootFilesystem"] is True
                assert security["capabilities"] == {"drop": ["ALL"]}


def test_autoscaled_version_leaves_replicas_to_the_hpa() -> None:
    objects = build_children(CASES["image-autoscaled-with-podmonitor"])
    server = next(
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "fraud-2"
    )
    assert "replicas" not in server["spec"]
    kinds = {o["kind"] for o in objects}
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "PodMonitor"} <= kinds


def test_single_replica_without_autoscaling_has_no_pdb_hpa_or_podmonitor() -> None:
    kinds = {o["kind"] for o in build_children(CASES["artifact-minimal"])}
    assert not kinds & {"HorizontalPodAutoscaler", "PodDisruptionBudget", "PodMonitor"}


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        pytest.param("1", "fraud-1", id="plain"),
        pytest.param("1.2.0", "fraud-1-2-0-", id="dots-rewritten-and-hashed"),
        pytest.param("1-2-0", "fraud-1-2-0", id="already-a-label"),
        pytest.param("x" * 70, "fraud-xxx", id="long-cut-and-hashed"),
    ],
)
def test_child_names_are_dns_labels(suffix: str, expected: str) -> None:
    name = child_name("fraud", suffix)
    assert name.startswith(expected)
    assert len(name) <= 63
    assert name == name.lower()
    assert child_name("fraud", suffix) == name


def test_rewritten_versions_do_not_collide() -> None:
    assert child_name("fraud", "1.2.0") != child_name("fraud", "1-2-0")
