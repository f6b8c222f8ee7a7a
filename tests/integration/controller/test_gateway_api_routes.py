"""The Gateway API provider's objects, applied to a real API server with the official CRDs.

Given a Deployment (modelkeeper.io) that routes through a Gateway, when each step of a
rollout's Routes is built by the pure builder and server-side applied, then the API
server accepts the HTTPRoute (standard channel, the version the ground pins) and keeps
the weights and the mirrored percent the step asked for; a value the CRD forbids is
refused, so the acceptance above means something.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.labels import Manifest
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.traffic import Routes, build_traffic
from tests.ground.ground import Kubectl
from tests.support.objects import deployment as deployment_manifest

IMAGE = "ghcr.io/modelkeeper/modelkeeper:0.1.0"
FIELD_MANAGER = "modelkeeper"


@pytest.fixture
def deployment(crds: Path, gateway_api_crds: Path, kubectl: Kubectl) -> DeploymentResource:
    """A Deployment `fraud` with a canary strategy whose traffic goes through a Gateway."""
    manifest = deployment_manifest(
        "fraud",
        "fraud",
        strategy={"type": "Canary", "canary": {"steps": [{"setWeight": 10}]}},
        traffic={
            "provider": "GatewayAPI",
            "gatewayAPI": {
                "parentRefs": [{"name": "public", "sectionName": "http"}],
                "hostnames": ["fraud.example.com"],
            },
        },
    )
    kubectl("apply", "-f", "-", input=json.dumps(manifest))
    read = kubectl("get", "deployments.modelkeeper.io", "fraud", "-o", "json")
    return DeploymentResource.from_object(json.loads(read.stdout))


def _apply(kubectl: Kubectl, objects: list[Manifest], check: bool = True) -> Any:
    document = {"apiVersion": "v1", "kind": "List", "items": objects}
    return kubectl(
        "apply",
        "--server-side",
        f"--field-manager={FIELD_MANAGER}",
        "-f",
        "-",
        input=json.dumps(document),
        check=check,
    )


def _read(kubectl: Kubectl, kind: str, name: str) -> Any:
    return json.loads(kubectl("get", kind, name, "-o", "json").stdout)


# (routes, weights of fraud-1 and fraud-2 as read back, mirrored percent to fraud-2)
STEPS = [
    (Routes("1", "2", ServingRole.CANARY, weight=10), {"fraud-1": 90, "fraud-2": 10}, None),
    (Routes("1", "2", ServingRole.CANARY, weight=50), {"fraud-1": 50, "fraud-2": 50}, None),
    (Routes("1", "2", ServingRole.CANARY, weight=100), {"fraud-1": 0, "fraud-2": 100}, None),
    (Routes("1", "2", ServingRole.SHADOW, mirror_percent=25), {"fraud-1": 100}, 25),
    (Routes("1", "2", ServingRole.PREVIEW), {"fraud-1": 100}, None),
]


def test_each_step_of_a_rollout_is_accepted_as_built(
    deployment: DeploymentResource, kubectl: Kubectl
) -> None:
    for routes, weights, mirrored in STEPS:
        objects = build_traffic(deployment, routes, IMAGE)
        _apply(kubectl, objects)

        route = _read(kubectl, "httproutes.gateway.networking.k8s.io", "fraud")
        [rule] = route["spec"]["rules"]
        read_weights = {ref["name"]: ref["weight"] for ref in rule["backendRefs"]}
        mirrors = [f["requestMirror"] for f in rule.get("filters", [])]
        read_mirror = [(m["backendRef"]["name"], m["percent"]) for m in mirrors]
        assert (read_weights, read_mirror) == (
            weights,
            [("fraud-2", mirrored)] if mirrored is not None else [],
        ), routes
        assert route["spec"]["parentRefs"][0]["name"] == "public"
        assert route["metadata"]["ownerReferences"][0]["uid"] == deployment.metadata.uid

        version = route["metadata"]["resourceVersion"]
        _apply(kubectl, objects)
        again = _read(kubectl, "httproutes.gateway.networking.k8s.io", "fraud")
        assert again["metadata"]["resourceVersion"] == version, "a second apply wrote something"

    preview = _read(kubectl, "service", "fraud-preview")
    assert preview["spec"]["selector"]["modelkeeper.io/version"] == "2"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        pytest.param(
            ("backendRefs", 0, "weight"),
            -1,
            "spec.rules[0].backendRefs[0].weight: Invalid value: -1",
            id="negative-weight",
        ),
        pytest.param(
            ("filters", 0, "requestMirror", "percent"),
            101,
            "spec.rules[0].filters[0].requestMirror.percent: Invalid value: 101",
            id="mirror-over-100",
        ),
    ],
)
def test_the_crd_refuses_what_the_standard_channel_forbids(
    deployment: DeploymentResource,
    kubectl: Kubectl,
    path: tuple[str | int, ...],
    value: int,
    message: str,
) -> None:
    routes = Routes("1", "2", ServingRole.SHADOW, mirror_percent=25)
    [route] = build_traffic(deployment, routes, IMAGE)
    target: Any = route["spec"]["rules"][0]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    refused = _apply(kubectl, [route], check=False)

    assert refused.returncode != 0
    assert message in refused.stderr
    absent = kubectl("get", "httproutes.gateway.networking.k8s.io", "fraud", check=False)
    assert absent.returncode != 0
