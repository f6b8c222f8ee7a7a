"""Format mlflow and models:/ URIs against a real MLflow tracking server and registry.

A classifier is registered twice (version 1 in skops, MLflow's default, version 2 in
cloudpickle, alias `champion`) and a regressor once; each is fetched by version or alias
with `modelkeeper fetch-artifact` (or by `serve --artifact-uri`) into a model directory
with only a reference profile, so the schema comes from the model's signature, and served
by a real scoring server whose answers equal the estimator's in the test process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_diabetes
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression

from modelkeeper.cli import main
from modelkeeper.profile import build_profile
from modelkeeper.serving.fetch import tree_digest
from tests.ground.processes import Component, free_port
from tests.integration.serving.serving_harness import Server, ServerLauncher
from tests.support.mlflow import Logged, MlflowServer, start_mlflow
from tests.support.models import IRIS_FEATURES, iris_frame

ROWS = iris_frame()[IRIS_FEATURES].iloc[[0, 60, 120, 149]]
WRONG = "0" * 64


@dataclass(frozen=True)
class Registered:
    mlflow: MlflowServer
    iris_v1: Any
    iris_v2: Any
    diabetes: Any
    diabetes_frame: pd.DataFrame
    iris_profile: str
    diabetes_profile: str

    @property
    def environ(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.mlflow.url}


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registered]:
    frame = iris_frame()
    features = frame[IRIS_FEATURES]
    iris_v1 = LogisticRegression(max_iter=1000).fit(features, frame["target"])
    iris_v2 = LogisticRegression(C=0.05, max_iter=1000).fit(features, frame["target"])
    diabetes_frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    inputs = diabetes_frame.drop(columns="target")
    diabetes = RandomForestRegressor(n_estimators=10, random_state=0).fit(
        inputs, diabetes_frame["target"]
    )
    server = start_mlflow(tmp_path_factory.mktemp("mlflow"))
    try:
        versions = server.log(
            [
                Logged("iris", iris_v1, features),
                Logged("iris", iris_v2, features, "cloudpickle", ("champion",)),
                Logged("diabetes", diabetes, inputs, trusted=("sklearn.tree._tree.Tree",)),
            ]
        )
        assert versions == ["1", "2", "1"]
        iris_profile = build_profile(frame, categorical=["target"], target="target")
        diabetes_profile = build_profile(diabetes_frame, target="target")
        yield Registered(
            server,
            iris_v1,
            iris_v2,
            diabetes,
            diabetes_frame,
            iris_profile.model_dump_json(),
            diabetes_profile.model_dump_json(),
        )
    finally:
        server.component.stop()


def model_dir(directory: Path, profile: str) -> Path:
    """A model directory as the init steps leave it before the model: only the profile."""
    directory.mkdir(parents=True)
    (directory / "profile.json").write_text(profile)
    return directory


def fetch(uri: str, out: Path, *flags: str) -> int:
    return main(["fetch-artifact", uri, "--out", str(out), *flags])


def infer(server: Server, rows: pd.DataFrame, probabilities: bool) -> dict[str, Any]:
    names = ["predict", "predict_proba"] if probabilities else ["predict"]
    body = {
        "inputs": [
            {"name": name, "shape": [len(rows)], "datatype": "FP64", "data": rows[name].tolist()}
            for name in rows.columns
        ],
        "outputs": [{"name": name} for name in names],
    }
    response = server.infer(body)
    assert response.status_code == 200, response.text
    return {item["name"]: item["data"] for item in response.json()["outputs"]}


@pytest.mark.parametrize(
    ("uri", "version"),
    [
        pytest.param("models:/iris/1", 1, id="version"),
        pytest.param("models:/iris@champion", 2, id="alias"),
    ],
)
def test_a_registered_classifier_is_fetched_and_serves_the_estimators_answers(
    registered: Registered,
    launch: ServerLauncher,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    uri: str,
    version: int,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.mlflow.url)
    directory = model_dir(tmp_path / "model", registered.iris_profile)
    assert fetch(uri, directory / "mlflow") == 0
    assert (directory / "mlflow" / "MLmodel").is_file()
    assert not (directory / "schema.json").exists()
    server = launch.start(directory, "iris", "--model-format", "mlflow")
    estimator = registered.iris_v1 if version == 1 else registered.iris_v2
    answers = infer(server, ROWS, probabilities=True)
    assert answers["predict"] == estimator.predict(ROWS).tolist()
    np.testing.assert_array_equal(
        np.array(answers["predict_proba"]).reshape(len(ROWS), 3), estimator.predict_proba(ROWS)
    )
    if version == 2:  # the alias moved past version 1: its answers differ
        assert not np.array_equal(
            registered.iris_v1.predict_proba(ROWS), estimator.predict_proba(ROWS)
        )


def test_serve_fetches_a_registered_regressor_itself(
    registered: Registered, launch: ServerLauncher, tmp_path: Path
) -> None:
    directory = model_dir(tmp_path / "model", registered.diabetes_profile)
    server = launch.start(
        directory,
        "diabetes",
        "--model-format",
        "mlflow",
        "--artifact-uri",
        "models:/diabetes/1",
        env=dict(os.environ) | registered.environ,
    )
    rows = registered.diabetes_frame.drop(columns="target").iloc[:25]
    answers = infer(server, rows, probabilities=False)
    np.testing.assert_allclose(answers["predict"], registered.diabetes.predict(rows), rtol=1e-12)


def test_the_digest_of_a_registered_directory_is_checked(
    registered: Registered,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.mlflow.url)
    first = tmp_path / "first" / "mlflow"
    assert fetch("models:/iris/1", first) == 0
    digest = tree_digest(first)
    assert f"(sha256 {digest})" in capsys.readouterr().out
    assert fetch("models:/iris/1", tmp_path / "again" / "mlflow", "--sha256", digest) == 0
    assert fetch("models:/iris/1", tmp_path / "wrong" / "mlflow", "--sha256", WRONG) == 1
    assert f"sha256 mismatch: expected {WRONG}, got {digest}" in capsys.readouterr().err
    assert list((tmp_path / "wrong").iterdir()) == []


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        pytest.param(
            "models:/absent/1",
            "RESOURCE_DOES_NOT_EXIST: Model Version (name=absent, version=1) not found",
            id="unknown-model",
        ),
        pytest.param(
            "models:/iris/9",
            "RESOURCE_DOES_NOT_EXIST: Model Version (name=iris, version=9) not found",
            id="no-such-version",
        ),
        pytest.param("models:/iris@nobody", "alias nobody not found", id="unknown-alias"),
        pytest.param("models:/iris/latest", "not an MLflow registry URI", id="not-a-registry-uri"),
    ],
)
def test_registry_errors_are_one_clear_line(
    registered: Registered,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    uri: str,
    message: str,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.mlflow.url)
    assert fetch(uri, tmp_path / "model" / "mlflow") == 1
    error = capsys.readouterr().err
    assert error.startswith(f"modelkeeper fetch-artifact: {uri}: ")
    assert message in error
    assert len(error.strip().splitlines()) == 1
    assert list((tmp_path / "model").iterdir()) == []


def test_an_unreachable_registry_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", nowhere)
    assert fetch("models:/iris/1", tmp_path / "mlflow") == 1
    assert f"MLflow at {nowhere} unreachable" in capsys.readouterr().err


def test_without_a_tracking_uri_the_step_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert fetch("models:/iris/1", tmp_path / "mlflow") == 1
    assert "a models:/ URI needs MLFLOW_TRACKING_URI" in capsys.readouterr().err


def test_a_local_mlflow_directory_is_served_and_a_pyfunc_one_refused(
    registered: Registered,
    launch: ServerLauncher,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", registered.mlflow.url)
    source = tmp_path / "source"
    assert fetch("models:/iris/1", source) == 0
    directory = model_dir(tmp_path / "model", registered.iris_profile)
    assert fetch(source.as_uri(), directory / "mlflow", "--sha256", tree_digest(source)) == 0
    server = launch.start(directory, "iris", "--model-format", "mlflow")
    assert (
        infer(server, ROWS, probabilities=False)["predict"]
        == registered.iris_v1.predict(ROWS).tolist()
    )

    mlmodel = directory / "mlflow" / "MLmodel"
    document = yaml.safe_load(mlmodel.read_text())
    del document["flavors"]["sklearn"]  # what remains is a python_function model
    mlmodel.write_text(yaml.safe_dump(document))
    argv = launch.command(directory, "iris", free_port(), "--model-format", "mlflow")
    refused = Component("serve-pyfunc", argv, tmp_path / "pyfunc.log")
    refused.start()
    assert refused.process is not None
    assert refused.process.wait(timeout=60) == 1
    log = refused.log.read_text()
    assert "flavours python_function (python_function loads it with mlflow.sklearn)" in log
    assert "format mlflow serves the sklearn flavour only" in log
