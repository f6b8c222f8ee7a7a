"""A third-party V2 client, Triton's `tritonclient.http`, against a real server: binary tensors.

The client sends tensors with the binary data extension and asks for binary outputs by
default; its predictions must be the estimator's own, loaded here with joblib, for a
classifier (numeric and categorical inputs, string and integer classes) and a
regressor. Drift counting and feedback see a binary request as they see its JSON twin,
and a method a route does not take is counted as the 405 it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.http as triton
from sklearn.datasets import load_diabetes
from tritonclient.utils import InferenceServerException

from tests.integration.serving.serving_harness import Server, ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame, regions_frame
from tests.support.traffic import v2_datatype

ROWS = [0, 10, 60, 75, 120, 149]


@pytest.fixture(scope="module")
def regions(launch_shared: ServerLauncher, regions_dir: Path) -> Server:
    return launch_shared.start(regions_dir, "regions")


@pytest.fixture(scope="module")
def iris(launch_shared: ServerLauncher, iris_dir: Path) -> Server:
    return launch_shared.start(iris_dir, "iris")


@pytest.fixture(scope="module")
def diabetes(launch_shared: ServerLauncher, diabetes_dir: Path) -> Server:
    return launch_shared.start(diabetes_dir, "diabetes")


def client_of(server: Server) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(url=server.url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture
def regions_client(regions: Server) -> Iterator[triton.InferenceServerClient]:
    yield from client_of(regions)


@pytest.fixture
def iris_client(iris: Server) -> Iterator[triton.InferenceServerClient]:
    yield from client_of(iris)


@pytest.fixture
def diabetes_client(diabetes: Server) -> Iterator[triton.InferenceServerClient]:
    yield from client_of(diabetes)


def tensor(name: str, values: np.ndarray, binary: bool = True) -> triton.InferInput:
    infer_input = triton.InferInput(name, list(values.shape), v2_datatype(values))
    infer_input.set_data_from_numpy(values, binary_data=binary)
    return infer_input


def columns(frame: pd.DataFrame, dtype: str = "float64") -> list[triton.InferInput]:
    return [
        tensor(name, frame[name].to_numpy(dtype=object if name == "region" else dtype))
        for name in frame.columns
    ]


def test_the_server_advertises_the_extension(
    regions_client: triton.InferenceServerClient,
) -> None:
    assert regions_client.get_server_metadata()["extensions"] == ["binary_tensor_data"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_classifier_answers_binary_requests_as_the_estimator_does(
    regions_client: triton.InferenceServerClient, regions_dir: Path, dtype: str
) -> None:
    model = joblib.load(regions_dir / "model.joblib")
    frame = regions_frame(ROWS)
    outputs = [triton.InferRequestedOutput("predict"), triton.InferRequestedOutput("predict_proba")]
    result = regions_client.infer("regions", columns(frame, dtype), outputs=outputs)
    response = result.get_response()
    assert all("binary_data_size" in output["parameters"] for output in response["outputs"])
    predict = result.as_numpy("predict")
    assert predict is not None
    expected = frame.astype({name: dtype for name in IRIS_FEATURES})
    assert [label.decode() for label in predict] == model.predict(expected).tolist()
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), model.predict_proba(expected), rtol=1e-12
    )


def test_integer_classes_and_one_binary_matrix(
    iris_client: triton.InferenceServerClient, iris_dir: Path
) -> None:
    model = joblib.load(iris_dir / "model.joblib")
    rows = iris_frame()[IRIS_FEATURES].to_numpy()[ROWS]
    result = iris_client.infer("iris", [tensor("input-0", rows)])  # outputs: binary by default
    assert result.get_response()["outputs"][0]["parameters"] == {"binary_data_size": 8 * len(ROWS)}
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(rows))


def test_a_regressor_answers_binary_requests_as_the_estimator_does(
    diabetes_client: triton.InferenceServerClient, diabetes_dir: Path
) -> None:
    model = joblib.load(diabetes_dir / "model.joblib")
    frame = load_diabetes(as_frame=True).frame.drop(columns="target").iloc[:40]
    result = diabetes_client.infer("diabetes", columns(frame))
    np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(frame.to_numpy()))


def test_binary_inputs_with_json_outputs(
    diabetes_client: triton.InferenceServerClient, diabetes_dir: Path
) -> None:
    model = joblib.load(diabetes_dir / "model.joblib")
    frame = load_diabetes(as_frame=True).frame.drop(columns="target").iloc[:5]
    outputs = [triton.InferRequestedOutput("predict", binary_data=False)]
    result = diabetes_client.infer("diabetes", columns(frame), outputs=outputs)
    assert result.get_response()["outputs"][0]["data"] == model.predict(frame.to_numpy()).tolist()


def feature_counts(server: Server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for sample in server.samples()
        if sample.name.startswith(("modelkeeper_feature_", "modelkeeper_predictions_total"))
    }


def increments(server: Server, send: Any) -> dict[Any, float]:
    before = feature_counts(server)
    send()
    after = feature_counts(server)
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def test_drift_counting_and_feedback_see_binary_requests_as_json_ones(
    regions: Server, regions_client: triton.InferenceServerClient
) -> None:
    frame = regions_frame(ROWS)

    def binary() -> None:
        regions_client.infer("regions", columns(frame), request_id="binary-1")

    def plain() -> None:
        inputs = [
            tensor(
                name, frame[name].to_numpy(dtype=object if name == "region" else "float64"), False
            )
            for name in frame.columns
        ]
        regions_client.infer(
            "regions", inputs, outputs=[triton.InferRequestedOutput("predict", binary_data=False)]
        )

    counted = increments(regions, binary)
    assert sum(counted.values()) > 0
    assert counted == pytest.approx(increments(regions, plain), rel=1e-12)
    labels = ["setosa"] * len(frame)
    answer = regions.feedback("binary-1", labels)
    assert (answer.status_code, answer.json()["matched"]) == (200, True)


@pytest.mark.parametrize(
    ("output", "message"),
    [
        pytest.param(
            triton.InferRequestedOutput("predict", class_count=2),
            "outputs.0.parameters.classification: the classification extension is not supported",
            id="classification",
        ),
        pytest.param(
            triton.InferRequestedOutput("predicted"),
            "the model has no output 'predicted'",
            id="name",
        ),
    ],
)
def test_refusals_reach_the_client_by_name(
    regions_client: triton.InferenceServerClient, output: triton.InferRequestedOutput, message: str
) -> None:
    with pytest.raises(InferenceServerException, match=message):
        regions_client.infer("regions", columns(regions_frame(ROWS)), outputs=[output])


def test_shared_memory_is_refused_by_name(regions: Server) -> None:
    shm = {"shared_memory_region": "inputs", "shared_memory_byte_size": 48}
    body = {
        "inputs": [{"name": "sepal_length", "datatype": "FP64", "shape": [6], "parameters": shm}]
    }
    response = regions.infer(body)
    assert response.status_code == 400
    assert "the shared-memory extension is not supported" in response.json()["error"]


def test_feedback_and_v1_take_json_only(regions: Server) -> None:
    headers = {"Inference-Header-Content-Length": "2"}
    for path in ("/v2/models/regions/feedback", "/v1/models/regions:predict"):
        response = requests.post(f"{regions.url}{path}", data=b"{}xx", headers=headers, timeout=10)
        assert response.status_code == 400
        assert "binary tensors are accepted by V2 /infer only" in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v2/models/iris/infer", "infer"),
        ("/v2/models/iris/versions/1/infer", "infer"),
        ("/v1/models/iris:predict", "infer"),
        ("/v2/models/iris/feedback", "feedback"),
    ],
)
def test_a_method_the_route_does_not_take_is_counted(
    iris: Server, path: str, endpoint: str
) -> None:
    before = iris.metric("modelkeeper_requests_total", endpoint=endpoint, code="405")
    response = requests.put(f"{iris.url}{path}", json={}, timeout=10)
    assert response.status_code == 405
    assert "Method Not Allowed" in response.json()["error"]
    assert iris.metric("modelkeeper_requests_total", endpoint=endpoint, code="405") == before + 1
    seconds = iris.metric("modelkeeper_request_duration_seconds_count", endpoint=endpoint)
    assert seconds > 0
