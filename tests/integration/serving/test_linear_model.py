"""scikit-learn linear models, which the server scores with numpy, answer as the estimator does.

A standardised logistic regression over iris (the benchmarks' kind of model) and a ridge
regression over diabetes, each served by a real server with two workers: over JSON REST
and over gRPC (Triton's client, raw FP64 tensors) every answer, for one row or many,
must equal the estimator's own `predict` and `predict_proba`, loaded here with joblib,
bit for bit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import tritonclient.grpc as triton
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelkeeper.serving.runtime import save_model_dir
from tests.integration.serving.serving_harness import Server, ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame, numeric_schema, write_iris

BATCHES = [[0], [75], [0, 10, 60, 75, 120, 149], list(range(0, 150, 3))]


@pytest.fixture(scope="module")
def iris_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_iris(
        tmp_path_factory.mktemp("iris-linear"),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
    )


@pytest.fixture(scope="module")
def ridge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("diabetes-ridge")
    frame = load_diabetes(as_frame=True).frame
    features = [column for column in frame.columns if column != "target"]
    ridge = Ridge(alpha=0.5).fit(frame[features].to_numpy(), frame["target"])
    save_model_dir(directory, ridge, numeric_schema(features, "regression"), frame, target="target")
    return directory


def answers(server: Server, rows: np.ndarray, outputs: list[str]) -> list[dict[str, Any]]:
    """The server's outputs for `rows`, over REST (JSON) and over gRPC (raw FP64), as arrays."""
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(rows.shape),
                "datatype": "FP64",
                "data": rows.ravel().tolist(),
            }
        ],
        "outputs": [{"name": name} for name in outputs],
    }
    response = server.infer(body)
    assert response.status_code == 200, response.text
    rest = {
        item["name"]: np.array(item["data"]).reshape(item["shape"])
        for item in response.json()["outputs"]
    }
    assert server.grpc is not None
    client = triton.InferenceServerClient(url=server.grpc)
    try:
        tensor = triton.InferInput("input-0", list(rows.shape), "FP64")
        tensor.set_data_from_numpy(rows)
        result = client.infer(
            server.model, [tensor], outputs=[triton.InferRequestedOutput(name) for name in outputs]
        )
    finally:
        client.close()
    over_grpc = {name: result.as_numpy(name) for name in outputs}
    return [rest, over_grpc]


def test_a_scaled_logistic_regression_answers_as_the_estimator(
    launch_shared: ServerLauncher, iris_dir: Path
) -> None:
    server = launch_shared.start(iris_dir, "iris", "--workers", "2", grpc=True)
    estimator = joblib.load(iris_dir / "model.joblib")
    features = iris_frame()[IRIS_FEATURES].to_numpy()
    for batch in BATCHES:
        rows = np.ascontiguousarray(features[batch])
        for answer in answers(server, rows, ["predict", "predict_proba"]):
            np.testing.assert_array_equal(answer["predict"], estimator.predict(rows))
            np.testing.assert_array_equal(answer["predict_proba"], estimator.predict_proba(rows))


def test_a_ridge_regression_answers_as_the_estimator(
    launch_shared: ServerLauncher, ridge_dir: Path
) -> None:
    server = launch_shared.start(ridge_dir, "diabetes", "--workers", "2", grpc=True)
    estimator = joblib.load(ridge_dir / "model.joblib")
    features = load_diabetes().data
    for batch in BATCHES:
        rows = np.ascontiguousarray(features[batch])
        for answer in answers(server, rows, ["predict"]):
            np.testing.assert_array_equal(answer["predict"], estimator.predict(rows))
