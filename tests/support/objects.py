"""Manifests of the modelkeeper.io kinds as plain dicts, as a user would write them.

Each builder gives only what it is asked for (and the kind's required fields); a test adds
the rest as keyword arguments, which become the `spec`'s top-level fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

API_VERSION = "modelkeeper.io/v1alpha1"
APPROVAL = {"by": "lead@example.com", "at": "2026-01-01T00:00:00Z"}
"""A person's approval, as a Model's `spec.governance.approval`."""
SCHEMA = {"inputs": [{"name": "x", "type": "Numeric"}], "output": {"type": "Regression"}}
"""The schema of the one-input regression models of `tests.support.models`."""


_ABSENT: Any = object()


def manifest(
    kind: str,
    name: str,
    spec: dict[str, Any],
    /,
    *,
    status: dict[str, Any] | None = _ABSENT,
    **meta: Any,
) -> dict[str, Any]:
    """A modelkeeper.io object: `meta` goes into its metadata beside the name; a `status`
    given (None too) is set."""
    obj: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {"name": name, **meta},
        "spec": spec,
    }
    if status is not _ABSENT:
        obj["status"] = status
    return obj


def model(name: str, family: str, version: str, /, **spec: Any) -> dict[str, Any]:
    """A Model of `family` at `version`; `spec` gives its source, schema, governance..."""
    return manifest("Model", name, {"name": family, "version": version, **spec})


def approved_model(name: str, family: str, version: str, /, **source: Any) -> dict[str, Any]:
    """A Model approved in its manifest, with the test schema (SCHEMA)."""
    return model(name, family, version, **source, schema=SCHEMA, governance={"approval": APPROVAL})


def artifact_model(
    name: str, family: str, version: str, directory: Path, sha256: str
) -> dict[str, Any]:
    """An approved Model in artifact-URI form: the model file and its profile as file:// URIs."""
    return approved_model(
        name,
        family,
        version,
        artifact={"uri": f"file://{directory}/model.joblib", "sha256": sha256, "format": "sklearn"},
        reference={"uri": f"file://{directory}/profile.json"},
    )


def image_model(name: str, family: str, version: str, image: str) -> dict[str, Any]:
    """An approved Model in baked-image form."""
    return approved_model(name, family, version, image=image)


def deployment(name: str, family: str, /, **spec: Any) -> dict[str, Any]:
    """A Deployment (modelkeeper.io) tracking `family`."""
    return manifest("Deployment", name, {"model": {"name": family}, **spec})


def canary_deployment(
    name: str,
    family: str,
    weights: tuple[int, ...] | list[int],
    *,
    interval_seconds: int,
    max_error_rate: float = 0.05,
    min_requests: int = 5,
    failure_limit: int = 2,
) -> dict[str, Any]:
    """A Deployment tracking `family` by Canary: one setWeight step per weight, judged by
    an ErrorRate check (`error-rate`) every `interval_seconds`; Inconclusive pauses."""
    return deployment(
        name,
        family,
        strategy={
            "type": "Canary",
            "canary": {
                "steps": [{"setWeight": weight} for weight in weights],
                "analysis": {
                    "interval": f"{interval_seconds}s",
                    "minRequests": min_requests,
                    "failureLimit": failure_limit,
                    "onMissingData": "Pause",
                    "metrics": [{"name": "error-rate", "type": "ErrorRate", "max": max_error_rate}],
                },
            },
        },
    )


def drift_monitor(name: str, deployment: str, /, **spec: Any) -> dict[str, Any]:
    """A DriftMonitor of the Deployment named `deployment`."""
    return manifest("DriftMonitor", name, {"deployment": deployment, **spec})


def retrain_policy(name: str, family: str, /, **spec: Any) -> dict[str, Any]:
    """A RetrainPolicy for the Models of `family`."""
    return manifest("RetrainPolicy", name, {"model": {"name": family}, **spec})
