"""Objects parse once into typed resources: samples, defaults, aliases, and the wrong kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from modelkeeper.api.deployment import DeploymentResource
from modelkeeper.api.driftmonitor import DriftMethod, DriftMonitorResource
from modelkeeper.api.kinds import parse_object
from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from modelkeeper.api.types import Duration
from tests.support.objects import manifest

SAMPLES = Path(__file__).resolve().parents[3] / "manifests" / "samples"


def _documents() -> list[Any]:
    return [
        pytest.param(document, id=f"{path.relative_to(SAMPLES)}:{index}")
        for path in sorted(SAMPLES.rglob("*.yaml"))
        for index, document in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    ]


@pytest.mark.parametrize("document", _documents())
def test_every_sample_parses_and_dumps_back_to_itself(document: dict[str, Any]) -> None:
    resource = parse_object(document)
    assert resource.metadata.name == document["metadata"]["name"]
    assert resource.model_dump(mode="json", exclude_unset=True, exclude={"status"}) == document


def _minimal(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return manifest(kind, "example", spec, namespace="default", generation=3)


def test_durations_and_defaults_arrive_as_python_values() -> None:
    monitor = DriftMonitorResource.from_object(
        _minimal("DriftMonitor", {"deployment": "fraud", "window": "2h"})
    )
    assert monitor.spec.window == Duration(hours=2)
    assert monitor.spec.interval == Duration(minutes=5)
    assert monitor.spec.by_type.numeric.method is DriftMethod.PSI
    assert monitor.spec.hysteresis.enter_after == 3


def test_wire_names_that_are_not_python_names_map_to_fields() -> None:
    policy = RetrainPolicyResource.from_object(
        _minimal(
            "RetrainPolicy",
            {
                "model": {"name": "fraud"},
                "triggers": [{"drift": {"monitor": "fraud", "for": "15m"}}],
                "workload": {"job": {"spec": {"template": {}}}},
            },
        )
    )
    drift = policy.spec.triggers[0].drift
    assert drift is not None
    assert drift.held_for == Duration(minutes=15)
    deployment = DeploymentResource.from_object(
        _minimal(
            "Deployment",
            {
                "model": {"name": "fraud"},
                "traffic": {
                    "provider": "GatewayAPI",
                    "gatewayAPI": {"parentRefs": [{"name": "gw"}]},
                },
            },
        )
    )
    assert deployment.spec.traffic.gateway_api is not None


def test_an_object_without_status_gets_an_empty_one() -> None:
    model = ModelResource.from_object(
        _minimal("Model", {"name": "fraud", "version": "1", "image": "fraud:1"})
    )
    assert model.status.stage is None
    assert model.status.conditions == []
    assert model.metadata.generation == 3


@pytest.mark.parametrize(
    ("resource", "document", "complaint"),
    [
        pytest.param(
            ModelResource,
            _minimal("Deployment", {"model": {"name": "fraud"}}),
            "expected modelkeeper.io/v1alpha1 Model, got modelkeeper.io/v1alpha1 Deployment",
            id="another-kind",
        ),
        pytest.param(
            DeploymentResource,
            {**_minimal("Deployment", {"model": {"name": "fraud"}}), "apiVersion": "apps/v1"},
            "expected modelkeeper.io/v1alpha1 Deployment, got apps/v1 Deployment",
            id="apps-v1-deployment",
        ),
        pytest.param(
            DeploymentResource,
            _minimal("Deployment", {"model": {"name": "fraud"}, "replica": 2}),
            "spec.replica\n  Extra inputs are not permitted",
            id="unknown-field",
        ),
    ],
)
def test_the_wrong_object_is_refused_at_the_boundary(
    resource: type[ModelResource] | type[DeploymentResource],
    document: dict[str, Any],
    complaint: str,
) -> None:
    with pytest.raises(ValidationError, match=complaint):
        resource.from_object(document)


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"'Rollout' is not a kind of modelkeeper\.io/v1alpha1"):
        parse_object(_minimal("Rollout", {}))
