"""A models:/ artifact: the fetch step copies an MLflow model directory and is told where MLflow is.

The tracking URI and the credentials' Secret are operator settings (--mlflow-tracking-uri,
--mlflow-credentials-secret); only the step that fetches a models:/ URI receives them.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.api.types import ServingRole
from modelkeeper.controller.builders import (
    BuildInput,
    MlflowAccess,
    RunningVersion,
    build_children,
)
from modelkeeper.controller.traffic import Routes
from tests.unit.controller.factories import APPROVAL, deployment, model

IMAGE = "ghcr.io/modelkeeper/modelkeeper:0.1.0"
REFERENCE = {"uri": "https://models.example.com/fraud/1/profile.json"}


def fetch_model_step(uri: str, artifact_format: str, mlflow: MlflowAccess | None) -> Any:
    version = model(
        "1",
        approval=APPROVAL,
        artifact={"uri": uri, "format": artifact_format},
        reference=REFERENCE,
    )
    build = BuildInput(
        deployment(),
        [RunningVersion(version, ServingRole.STABLE)],
        Routes(stable="1"),
        {},
        IMAGE,
        False,
        mlflow,
    )
    [step] = [
        step
        for child in build_children(build)
        if child["kind"] == "Deployment"
        for step in child["spec"]["template"]["spec"].get("initContainers", [])
        if step["name"] == "fetch-model"
    ]
    return step


MLFLOW = MlflowAccess("http://mlflow.mlops:5000", "mlflow-credentials")


@pytest.mark.parametrize("uri", ["models:/fraud/3", "models:/fraud@champion"])
def test_a_registry_uri_is_fetched_with_the_tracking_server_and_its_secret(uri: str) -> None:
    step = fetch_model_step(uri, "mlflow", MLFLOW)
    assert step["args"] == ["fetch-artifact", uri, "--out", "/model/mlflow"]
    assert step["env"] == [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlops:5000"}]
    assert step["envFrom"] == [{"secretRef": {"name": "mlflow-credentials"}}]


def test_without_a_secret_the_step_gets_only_the_tracking_uri() -> None:
    step = fetch_model_step("models:/fraud/3", "mlflow", MlflowAccess("http://mlflow:5000"))
    assert "envFrom" not in step
    assert step["env"] == [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow:5000"}]


@pytest.mark.parametrize(
    ("uri", "artifact_format", "out"),
    [
        pytest.param("file:///models/fraud/1/mlflow", "mlflow", "/model/mlflow", id="a-directory"),
        pytest.param(
            "https://models.example.com/fraud/1/model.joblib",
            "sklearn",
            "/model/model.joblib",
            id="a-file",
        ),
    ],
)
def test_other_uris_are_told_nothing_about_mlflow(uri: str, artifact_format: str, out: str) -> None:
    step = fetch_model_step(uri, artifact_format, MLFLOW)
    assert step["args"] == ["fetch-artifact", uri, "--out", out]
    assert "env" not in step
    assert "envFrom" not in step
