"""Typed Models, Deployments and rollout ticks for the controller's unit tests, from small dicts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from modelkeeper.api.deployment import (
    AnalysisStatus,
    DeploymentResource,
    DeploymentStatus,
    ExperimentStatus,
)
from modelkeeper.api.model import ModelResource
from modelkeeper.api.strategy import Strategy
from modelkeeper.controller.rollout import Controls, Readiness, Tick
from tests.support import objects

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
APPROVAL = objects.APPROVAL


def model(
    version: str,
    *,
    family: str = "fraud",
    approval: dict[str, Any] | None = None,
    annotations: dict[str, str] | None = None,
    created: int = 0,
    status: dict[str, Any] | None = None,
    image: str | None = None,
    validated: bool = True,
    **spec: Any,
) -> ModelResource:
    """A Model of `family` at `version`, created `created` minutes after T0.

    Validated by the operator unless `validated` is False (then not checked yet), as every
    Model must be before a Deployment serves it; a given `status` keeps its own conditions.
    """
    source = (
        {"image": image}
        if image
        else {
            "artifact": {
                "uri": f"https://models.example.com/{family}/{version}/model.joblib",
                "format": "sklearn",
            }
        }
    )
    governance = {"approval": approval} if approval else {}
    manifest = objects.model(
        f"{family}-{version}", family, version, **{**source, "governance": governance, **spec}
    )
    manifest["metadata"].update(
        {
            "namespace": "ml",
            "uid": f"uid-{family}-{version}",
            "generation": 1,
            "creationTimestamp": (T0 + timedelta(minutes=created)).isoformat(),
            "annotations": annotations or {},
        }
    )
    manifest["status"] = validated_status(status, validated)
    return ModelResource.from_object(manifest)


def validated_status(status: dict[str, Any] | None, validated: bool) -> dict[str, Any] | None:
    """`status` with the Validated condition the operator writes, unless it has conditions."""
    if not validated or (status is not None and "conditions" in status):
        return status
    condition = {
        "type": "Validated",
        "status": "True",
        "reason": "Validated",
        "lastTransitionTime": T0.isoformat(),
    }
    return {**(status or {}), "conditions": [condition]}


def deployment(status: dict[str, Any] | None = None, **spec: Any) -> DeploymentResource:
    """A Deployment `fraud` in namespace `ml` with `spec` on top of `model: {name: fraud}`."""
    manifest = objects.deployment("fraud", "fraud", **spec)
    manifest["metadata"].update({"namespace": "ml", "uid": "uid-fraud", "generation": 3})
    manifest["status"] = status
    return DeploymentResource.from_object(manifest)


def tick(
    target: str | None,
    status: DeploymentStatus,
    observed: Mapping[str, Readiness],
    *,
    strategy: dict[str, Any] | None = None,
    now: datetime = T0,
    replicas: int = 2,
    waiting: str | None = None,
    annotations: Mapping[str, str] | None = None,
    run: AnalysisStatus | ExperimentStatus | None = None,
) -> Tick:
    """One tick of a rollout with a 10-minute progress deadline and a 60-second drain."""
    return Tick(
        strategy=Strategy.model_validate(strategy or {}),
        status=status,
        target=target,
        waiting=waiting,
        observed=observed,
        replicas=replicas,
        controls=Controls.read(annotations or {}),
        run=run,
        now=now,
        progress_deadline=timedelta(minutes=10),
        drain=timedelta(seconds=60),
    )
