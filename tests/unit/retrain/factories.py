"""Small builders of RetrainPolicies, Models and DriftMonitor statuses for the retraining tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from modelkeeper.api.driftmonitor import DriftMonitorStatus
from modelkeeper.api.model import ModelResource
from modelkeeper.api.retrainpolicy import RetrainPolicyResource
from tests.support import objects
from tests.unit.controller.factories import validated_status

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
JOB_SPEC = {
    "template": {
        "spec": {
            "containers": [
                {
                    "name": "train",
                    "image": "registry.example.com/fraud-trainer:3",
                    "args": ["train-example"],
                }
            ]
        }
    }
}


def policy(**spec: Any) -> RetrainPolicyResource:
    """A RetrainPolicy `retrain-fraud` of family fraud with a Job workload, plus `spec`."""
    manifest = objects.retrain_policy(
        "retrain-fraud", "fraud", **{"workload": {"job": {"spec": JOB_SPEC}}, **spec}
    )
    manifest["metadata"].update({"namespace": "ml", "uid": "uid-policy"})
    return RetrainPolicyResource.from_object(manifest)


def model(version: str, *, validated: bool = True, **spec: Any) -> ModelResource:
    """A Model of family fraud, validated by the operator (a champion must be) unless not."""
    manifest = objects.model(
        f"fraud-{version}", "fraud", version, **{"image": "registry.example.com/f:1", **spec}
    )
    manifest["metadata"]["namespace"] = "ml"
    manifest["status"] = validated_status(None, validated)
    return ModelResource.from_object(manifest)


def monitor(**status: Any) -> DriftMonitorStatus:
    return DriftMonitorStatus.model_validate(status)
