"""Every V2 (and V1) endpoint of a real server: status codes, shapes, datatypes, values.

Expected predictions come from the same model file loaded here with joblib, so
the server is checked against scikit-learn itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import requests

from tests.integration.serving.serving_harness import Server, ServerLauncher, write_iris_picky
from tests.support.models import IRIS_FEATURES, iris_frame
from tests.support.traffic import v2_body

ROWS = iris_frame()[IRIS_FEATURES].to_numpy()[[0, 60, 120, 149]].tolist()


@pytest.fixture(scope="module")
def iris(launch_shared: ServerLauncher, iris_dir: Path) -> Server:
    return launch_shared.start(iris_dir, "iris", "--max-body-bytes", "4096")


def output(response: requests.Response, name: str) -> dict[str, Any]:
    outputs: dict[str, dict[str, Any]] = {item["name"]: item for item in response.json()["outputs"]}
    return outputs[name]


def test_health_and_server_metadata(iris: Server) -> None:
    assert requests.get(f"{iris.url}/v2/health/live", timeout=5).json() == {"live": True}
    assert requests.get(f"{iris.url}/v2/health/ready", timeout=5).json() == {"ready": True}
    metadata = requests.get(f"{iris.url}/v2", timeout=5).json()
    assert metadata["name"] == "modelkeeper"
    assert metadata["extensions"] == ["binary_tensor_data"]


@pytest.mark.parametrize("path", ["/v2/models/iris", "/v2/models/iris/versions/1"])
def test_model_metadata_lists_inputs_and_outputs(iris: Server, path: str) -> None:
    response = requests.get(f"{iris.url}{path}", timeout=5)
    assert response.status_code == 200
    assert response.json() == {
        "name": "iris",
        "versions": ["1"],
        "platform": "sklearn",
        "inputs": [{"name": name, "datatype": "FP64", "shape": [-1]} for name in IRIS_FEATURES],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }


@pytest.mark.parametrize("path", ["/v2/models/iris/ready", "/v2/models/iris/versions/1/ready"])
def test_model_ready(iris: Server, path: str) -> None:
    response = requests.get(f"{iris.url}{path}", timeout=5)
    assert (response.status_code, response.json()) == (200, {"name": "iris", "ready": True})


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        pytest.param("GET", "/v2/models/roses", 404, "model 'roses' not found", id="unknown-model"),
        pytest.param(
            "GET", "/v2/models/iris/versions/2", 404, "no version '2'", id="unknown-version"
        ),
        pytest.param(
            "POST", "/v2/models/iris/versions/2/infer", 404, "no version", id="infer-version"
        ),
        pytest.param("GET", "/v3/anything", 404, "Not Found: GET /v3/anything", id="unknown-route"),
        pytest.param("GET", "/v2/models/iris/infer", 405, "Method Not Allowed", id="wrong-method"),
    ],
)
def test_routing_errors_are_json(
    iris: Server, method: str, path: str, status: int, message: str
) -> None:
    response = requests.request(method, f"{iris.url}{path}", json={}, timeout=5)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_infer_matches_scikit_learn(iris: Server, iris_dir: Path) -> None:
    model = joblib.load(iris_dir / "model.joblib")
    body = v2_body(ROWS, "req-1", outputs=[{"name": "predict"}, {"name": "predict_proba"}])
    response = iris.infer(body)
    assert response.status_code == 200
    document = response.json()
    assert (document["model_name"], document["model_version"], document["id"]) == (
        "iris",
        "1",
        "req-1",
    )
    assert response.headers["X-Request-Id"] == "req-1"
    predict = output(response, "predict")
    assert (predict["shape"], predict["datatype"]) == ([4], "INT64")
    assert predict["data"] == model.predict(np.array(ROWS)).tolist()
    proba = output(response, "predict_proba")
    assert (proba["shape"], proba["datatype"]) == ([4, 3], "FP64")
    np.testing.assert_array_equal(
        np.array(proba["data"]).reshape(4, 3), model.predict_proba(np.array(ROWS))
    )


@pytest.mark.parametrize(
    ("datatype", "values", "nested"),
    [
        pytest.param("FP32", ROWS, False, id="fp32-flat"),
        pytest.param("FP64", ROWS, True, id="fp64-nested"),
        pytest.param("INT32", [[5, 3, 1, 0], [7, 3, 6, 2]], False, id="int32"),
        pytest.param("INT64", [[5, 3, 1, 0], [7, 3, 6, 2]], True, id="int64-nested"),
        pytest.param("BOOL", [[True, False, True, False]], False, id="bool"),
    ],
)
def test_named_tensors_of_every_numeric_datatype(
    iris: Server, iris_dir: Path, datatype: str, values: list[list[Any]], nested: bool
) -> None:
    model = joblib.load(iris_dir / "model.joblib")
    columns = np.array(values, dtype=object).T.tolist()
    inputs = [
        {
            "name": name,
            "datatype": datatype,
            "shape": [len(values), 1] if nested else [len(values)],
            "data": [[value] for value in column] if nested else column,
        }
        for name, column in zip(IRIS_FEATURES, columns, strict=True)
    ]
    response = iris.infer({"inputs": inputs})
    assert response.status_code == 200, response.text
    expected = model.predict(np.array(values, dtype=np.float64)).tolist()
    assert output(response, "predict")["data"] == expected


def test_request_id_from_header_or_generated(iris: Server) -> None:
    from_header = iris.infer(v2_body(ROWS[:1]), headers={"X-Request-Id": "hdr-7"})
    assert from_header.json()["id"] == from_header.headers["X-Request-Id"] == "hdr-7"
    generated = iris.infer(v2_body(ROWS[:1]))
    assert len(generated.json()["id"]) == 32
    assert generated.json()["id"] == generated.headers["X-Request-Id"]


def test_only_the_requested_output(iris: Server) -> None:
    response = iris.infer(v2_body(ROWS, outputs=[{"name": "predict_proba"}]))
    assert [item["name"] for item in response.json()["outputs"]] == ["predict_proba"]


def test_categorical_inputs_and_string_classes(launch: ServerLauncher, regions_dir: Path) -> None:
    server = launch.start(regions_dir, "regions")
    inputs = [
        {"name": name, "datatype": "FP64", "shape": [2], "data": [ROWS[0][i], ROWS[3][i]]}
        for i, name in enumerate(IRIS_FEATURES)
    ]
    inputs.append({"name": "region", "datatype": "BYTES", "shape": [2], "data": ["north", "east"]})
    response = server.infer({"inputs": inputs})
    assert response.status_code == 200, response.text
    predict = output(response, "predict")
    assert predict["datatype"] == "BYTES"
    assert predict["data"] == ["setosa", "virginica"]

    inputs[-1] = {"name": "region", "datatype": "BYTES", "shape": [2], "data": ["north", "west"]}
    unknown = server.infer({"inputs": inputs})
    assert unknown.status_code == 422
    assert unknown.json()["error"].startswith("input 'region': unknown category 'west'")

    metadata = requests.get(f"{server.url}/v2/models/regions", timeout=5).json()
    assert metadata["inputs"][-1] == {"name": "region", "datatype": "BYTES", "shape": [-1]}


@pytest.mark.parametrize(
    "instances",
    [
        pytest.param(ROWS, id="rows"),
        pytest.param([dict(zip(IRIS_FEATURES, row, strict=True)) for row in ROWS], id="objects"),
    ],
)
def test_v1_predict(iris: Server, iris_dir: Path, instances: list[Any]) -> None:
    model = joblib.load(iris_dir / "model.joblib")
    response = iris.post("/v1/models/iris:predict", {"instances": instances})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": model.predict(np.array(ROWS)).tolist()}
    assert len(response.headers["X-Request-Id"]) == 32
    status = requests.get(f"{iris.url}/v1/models/iris", timeout=5).json()
    assert status == {"name": "iris", "ready": True}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        pytest.param(b'{"inputs": [', 400, "malformed JSON", id="malformed-json"),
        pytest.param(
            b'{"inputs": "x"}', 400, "inputs: Input should be a valid list", id="not-a-list"
        ),
        pytest.param(
            b'{"inputs": [{"name": "petals", "shape": [1], "datatype": "FP64", "data": [1]}]}',
            422,
            "input 'petals': the model has no such input",
            id="wrong-name",
        ),
        pytest.param(
            b'{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES", '
            b'"data": ["a", "b", "c", "d"]}]}',
            422,
            "needs datatype",
            id="wrong-datatype",
        ),
        pytest.param(
            b'{"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2]}]}',
            422,
            "data must hold 8 values",
            id="wrong-shape",
        ),
        pytest.param(b'{"instances": []}', 400, "inputs: Field required", id="v2-gets-v1-body"),
    ],
)
def test_invalid_bodies(iris: Server, body: bytes, status: int, message: str) -> None:
    response = requests.post(f"{iris.url}/v2/models/iris/infer", data=body, timeout=5)
    assert response.status_code == status
    assert message in response.json()["error"]


def test_body_over_the_limit_is_413(iris: Server) -> None:
    response = iris.infer(v2_body([[1.0, 2.0, 3.0, 4.0]] * 200))
    assert response.status_code == 413
    assert response.json() == {"error": "request body larger than 4096 bytes"}
    assert iris.infer(v2_body(ROWS)).status_code == 200


def test_a_failing_model_answers_500_and_the_server_stays_up(
    launch: ServerLauncher, tmp_path: Path
) -> None:
    server = launch.start(write_iris_picky(tmp_path / "picky"), "picky")
    failing = server.infer(v2_body([[7.5, 3.0, 6.0, 2.0]]))
    assert failing.status_code == 500
    assert failing.json() == {
        "error": "the model failed: ValueError: sepal_length above 7 is outside this model's domain"
    }
    assert server.infer(v2_body(ROWS)).status_code == 200
    assert server.metric("modelkeeper_requests_total", endpoint="infer", code="500") == 1
