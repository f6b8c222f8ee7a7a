"""The fetch steps are told where the store of their URI is, and get its credentials' Secret.

The MLflow tracking URI and the S3 endpoint and region are operator settings, and so are
the credentials' Secrets (--mlflow-credentials-secret, --s3-credentials-secret); only a
step that fetches a URI of that scheme (models:, s3:) receives them: the artifact's and
the reference profile's alike.
"""

from __future__ import annotations

from typing import Any

import pytest

from modelkeeper.api.types import ServingRole
from modelkeeper.controller.builders import (
    BuildInput,
    RunningVersion,
    StoreAccess,
    build_children,
)
from modelkeeper.controller.settings import OperatorSettings
from modelkeeper.controller.traffic import Routes
from tests.unit.controller.factories import APPROVAL, deployment, model

IMAGE = "ghcr.io/modelkeeper/modelkeeper:0.1.0"
PROFILE = "https://models.example.com/fraud/1/profile.json"


def fetch_steps(
    uri: str, artifact_format: str, stores: tuple[StoreAccess, ...], profile: str = PROFILE
) -> dict[str, Any]:
    """The fetch steps of a version's pods, by name."""
    version = model(
        "1",
        approval=APPROVAL,
        artifact={"uri": uri, "format": artifact_format},
        reference={"uri": profile},
    )
    build = BuildInput(
        deployment(),
        [RunningVersion(version, ServingRole.STABLE)],
        Routes(stable="1"),
        {},
        IMAGE,
        False,
        stores,
    )
    return {
        step["name"]: step
        for child in build_children(build)
        if child["kind"] == "Deployment"
        for step in child["spec"]["template"]["spec"].get("initContainers", [])
    }


STORES = OperatorSettings.model_validate(
    {
        "mlflow_tracking_uri": "http://mlflow.mlops:5000",
        "mlflow_credentials_secret": "mlflow-credentials",
        "s3_endpoint_url": "http://seaweedfs.storage:8333",
        "s3_region": "eu-west-1",
        "s3_credentials_secret": "s3-credentials",
    }
).stores()


@pytest.mark.parametrize("uri", ["models:/fraud/3", "models:/fraud@champion"])
def test_a_registry_uri_is_fetched_with_the_tracking_server_and_its_secret(uri: str) -> None:
    step = fetch_steps(uri, "mlflow", STORES)["fetch-model"]
    assert step["args"] == ["fetch-artifact", uri, "--out", "/model/mlflow"]
    assert step["env"] == [{"name": "MLFLOW_TRACKING_URI", "value": "http://mlflow.mlops:5000"}]
    assert step["envFrom"] == [{"secretRef": {"name": "mlflow-credentials"}}]


def test_an_s3_artifact_and_profile_are_fetched_with_the_endpoint_region_and_secret() -> None:
    steps = fetch_steps("s3://models/fraud/1/model.joblib", "sklearn", STORES, "s3://m/p.json")
    for name in ("fetch-model", "fetch-profile"):
        assert steps[name]["env"] == [
            {"name": "AWS_ENDPOINT_URL_S3", "value": "http://seaweedfs.storage:8333"},
            {"name": "AWS_REGION", "value": "eu-west-1"},
        ]
        assert steps[name]["envFrom"] == [{"secretRef": {"name": "s3-credentials"}}]


@pytest.mark.parametrize(
    ("settings", "stores"),
    [
        pytest.param({}, (), id="nothing-set"),
        pytest.param(
            {"mlflow_tracking_uri": "http://mlflow:5000"},
            (StoreAccess("models", (("MLFLOW_TRACKING_URI", "http://mlflow:5000"),)),),
            id="mlflow-without-a-secret",
        ),
        pytest.param(
            {"s3_credentials_secret": "s3"},
            (StoreAccess("s3", (), "s3"),),
            id="aws-s3-with-a-secret-only",
        ),
    ],
)
def test_the_stores_of_the_settings(
    settings: dict[str, str], stores: tuple[StoreAccess, ...]
) -> None:
    assert OperatorSettings.model_validate(settings).stores() == stores


def test_without_a_secret_the_step_gets_only_where_the_store_is() -> None:
    stores = OperatorSettings.model_validate({"mlflow_tracking_uri": "http://mlflow:5000"}).stores()
    step = fetch_steps("models:/fraud/3", "mlflow", stores)["fetch-model"]
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
def test_other_uris_are_told_nothing_of_the_stores(
    uri: str, artifact_format: str, out: str
) -> None:
    steps = fetch_steps(uri, artifact_format, STORES)
    assert steps["fetch-model"]["args"] == ["fetch-artifact", uri, "--out", out]
    for step in steps.values():
        assert "env" not in step
        assert "envFrom" not in step
