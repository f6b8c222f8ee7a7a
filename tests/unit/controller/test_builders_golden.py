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

from modelkeeper.api.labels import child_name
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.builders import BuildInput, RunningVersion, build_children
from modelkeeper.controller.traffic import Routes
from tests.unit.controller.factories import APPROVAL, deployment, model
from tests.unit.controller.rollout_specs import BLUE_GREEN, CANARY, GATEWAY_API, SHADOW

GOLDEN = Path(__file__).parent / "golden"
IMAGE = "ghcr.io/modelkeeper/modelkeeper:0.1.0"
SCHEMA = {"inputs": [{"name": "amount", "type": "Numeric"}], "output": {"type": "Regression"}}
REFERENCE = {"uri": "https://models.example.com/fraud/1/profile.json"}


def artifact(version: str) -> Any:
    return model(version, approval=APPROVAL, schema=SCHEMA, reference=REFERENCE)


def image(version: str) -> Any:
    return model(version, image=f"registry.example.com/fraud:{version}")


def rollout(strategy: dict[str, Any], routes: Routes, **spec: Any) -> BuildInput:
    """Version 1 stable since before, version 2 the candidate that `routes` sends traffic to."""
    assert routes.role is not None
    return BuildInput(
        deployment(strategy=strategy, **spec),
        [
            RunningVersion(image("1"), ServingRole.STABLE),
            RunningVersion(image("2"), routes.role),
        ],
        routes,
        {"1": ServingRole.STABLE},
        IMAGE,
        False,
    )


CASES = {
    "artifact-minimal": BuildInput(
        deployment(),
        [RunningVersion(artifact("1"), ServingRole.STABLE)],
        Routes(stable="1"),
        {},
        IMAGE,
        False,
    ),
    "artifact-on-a-claim": BuildInput(
        deployment(),
        [
            RunningVersion(
                model(
                    "1",
                    approval=APPROVAL,
                    schema=SCHEMA,
                    artifact={"uri": "pvc://models/fraud/1/model.joblib", "format": "sklearn"},
                    reference={"uri": "pvc://models/fraud/1/profile.json"},
                ),
                ServingRole.STABLE,
            )
        ],
        Routes(stable="1"),
        {},
        IMAGE,
        False,
    ),
    "image-autoscaled-with-podmonitor": BuildInput(
        deployment(
            autoscaling={"minReplicas": 2, "maxReplicas": 5},
            resources={"requests": {"cpu": "500m", "memory": "1Gi"}},
            serving={"workers": 2, "batching": {"maxBatchSize": 16, "maxLatency": "10ms"}},
        ),
        [RunningVersion(model("2", image="registry.example.com/fraud:2"), ServingRole.STABLE)],
        Routes(stable="2"),
        {},
        IMAGE,
        True,
    ),
    "direct-rollout-two-versions": BuildInput(
        deployment(replicas=3),
        [
            RunningVersion(artifact("1"), ServingRole.STABLE),
            RunningVersion(artifact("2"), ServingRole.CANARY),
        ],
        Routes(stable="1"),
        {"1": ServingRole.STABLE},
        IMAGE,
        False,
    ),
    "canary-at-30-percent": rollout(CANARY, Routes("1", "2", ServingRole.CANARY, weight=30)),
    "shadow-mirroring-50-percent": rollout(
        SHADOW, Routes("1", "2", ServingRole.SHADOW, mirror_percent=50)
    ),
    "blue-green-preview": rollout(BLUE_GREEN, Routes("1", "2", ServingRole.PREVIEW)),
    "gateway-api-canary-at-30-percent": rollout(
        CANARY, Routes("1", "2", ServingRole.CANARY, weight=30), traffic=GATEWAY_API
    ),
    "gateway-api-shadow-mirroring-50-percent": rollout(
        SHADOW, Routes("1", "2", ServingRole.SHADOW, mirror_percent=50), traffic=GATEWAY_API
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
