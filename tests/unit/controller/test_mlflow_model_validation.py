"""What the operator checks of a format mlflow Model: a local directory's MLmodel; a models:/
URI is the fetch step's; the schema may come from the model's signature."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelkeeper.api.model import ModelResource
from modelkeeper.controller.validation import validate_model
from tests.unit.controller.factories import model

REFERENCE = {"uri": "https://models.example.com/fraud/1/profile.json"}


def mlflow_model(uri: str) -> ModelResource:
    return model("1", artifact={"uri": uri, "format": "mlflow"}, reference=REFERENCE)


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        pytest.param("models:/fraud/3", "a pinned version, resolved in the MLflow", id="version"),
        pytest.param("models:/fraud@champion", "an alias, resolved at each start", id="alias"),
        pytest.param(
            "s3://models/fraud/1/mlflow", "an MLflow model directory read by the fetch", id="s3"
        ),
    ],
)
def test_a_remote_mlflow_model_needs_no_schema_and_is_left_to_the_fetch_step(
    uri: str, says: str
) -> None:
    found = validate_model(mlflow_model(uri))
    assert found.problems == []
    assert any(says in line for line in found.unchecked), found.unchecked
    assert any("derives it from MLmodel's signature" in line for line in found.unchecked)


def test_a_local_directory_must_hold_an_mlmodel(tmp_path: Path) -> None:
    found = validate_model(mlflow_model(tmp_path.as_uri()))
    assert found.problems == [
        f"spec.artifact.uri: {tmp_path} is no MLflow model directory on the operator's pod "
        "(no MLmodel file in it)"
    ]
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    found = validate_model(mlflow_model(tmp_path.as_uri()))
    assert found.problems == []
