"""A third-party V2 gRPC client, Triton's `tritonclient.grpc`, against a real server.

The client sends its tensors as `raw_input_contents` and reads `raw_output_contents`; its
predictions must be the estimator's own, loaded here with joblib, for a classifier
(numeric and categorical inputs, string classes) and a regressor, with several workers
sharing the gRPC port. Health and metadata calls answer as REST does; refusals reach the
client as gRPC status codes with REST's message; every call is counted in
`modelkeeper_grpc_requests_total` and leaves the REST series alone; a gRPC prediction
takes REST feedback by its id; a call in flight when SIGTERM comes is answered.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import joblib
import numpy as np
import pandas as pd
import pytest
import requests
import tritonclient.grpc as triton
from sklearn.datasets import load_diabetes
from tritonclient.utils import InferenceServerException

from modelkeeper.protocol import grpc_predict_v2_pb2 as pb
from modelkeeper.protocol import grpc_predict_v2_pb2_grpc as service
from tests.integration.serving.serving_harness import Server, ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame, regions_frame
from tests.support.traffic import v2_datatype

ROWS = [0, 10, 60, 75, 120, 149]


@pytest.fixture(scope="module")
def regions(launch_shared: ServerLauncher, regions_dir: Path) -> Server:
    return launch_shared.start(regions_dir, "regions", "--workers", "2", grpc=True)


@pytest.fixture(scope="module")
def diabetes(launch_shared: ServerLauncher, diabetes_dir: Path) -> Server:
    return launch_shared.start(diabetes_dir, "diabetes", grpc=True)


def client_of(server: Server) -> Iterator[triton.InferenceServerClient]:
    assert server.grpc is not None
    client = triton.InferenceServerClient(url=server.grpc)
    yield client
    client.close()


@pytest.fixture
def regions_client(regions: Server) -> Iterator[triton.InferenceServerClient]:
    yield from client_of(regions)


@pytest.fixture
def diabetes_client(diabetes: Server) -> Iterator[triton.InferenceServerClient]:
    yield from client_of(diabetes)


def tensor(name: str, values: np.ndarray) -> triton.InferInput:
    infer_input = triton.InferInput(name, list(values.shape), v2_datatype(values))
    infer_input.set_data_from_numpy(values)
    return infer_input


def columns(frame: pd.DataFrame, dtype: str = "float64") -> list[triton.InferInput]:
    return [
        tensor(name, frame[name].to_numpy(dtype=object if name == "region" else dtype))
        for name in frame.columns
    ]


PROBABILITIES = [
    triton.InferRequestedOutput("predict"),
    triton.InferRequestedOutput("predict_proba"),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_classifier_answers_as_the_estimator_does(
    regions_client: triton.InferenceServerClient, regions_dir: Path, dtype: str
) -> None:
    model = joblib.load(regions_dir / "model.joblib")
    frame = regions_frame(ROWS)
    result = regions_client.infer("regions", columns(frame, dtype), outputs=PROBABILITIES)
    expected = frame.astype({name: dtype for name in IRIS_FEATURES})
    predict = result.as_numpy("predict")
    assert predict is not None
    assert [label.decode() for label in predict] == model.predict(expected).tolist()
    np.testing.assert_allclose(
        result.as_numpy("predict_proba"), model.predict_proba(expected), rtol=1e-12
    )


def test_a_regressor_answers_as_the_estimator_does(
    diabetes_client: triton.InferenceServerClient, diabetes_dir: Path
) -> None:
    model = joblib.load(diabetes_dir / "model.joblib")
    frame = load_diabetes(as_frame=True).frame.drop(columns="target").iloc[:40]
    matrix = tensor("input-0", frame.to_numpy())
    for inputs in (columns(frame), [matrix]):
        result = diabetes_client.infer("diabetes", inputs, model_version="1")
        np.testing.assert_array_equal(result.as_numpy("predict"), model.predict(frame.to_numpy()))


def test_typed_contents_get_typed_contents_back(diabetes: Server, diabetes_dir: Path) -> None:
    """A client other than Triton's may send `contents` and read `contents`."""
    model = joblib.load(diabetes_dir / "model.joblib")
    rows = load_diabetes().data[:3]
    request = pb.ModelInferRequest(model_name="diabetes", id="typed-1")
    entry = request.inputs.add(name="input-0", datatype="FP64", shape=list(rows.shape))
    entry.contents.fp64_contents.extend(rows.ravel().tolist())
    assert diabetes.grpc is not None
    with grpc.insecure_channel(diabetes.grpc) as channel:
        stub = service.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        answer = stub.ModelInfer(request, timeout=10)
    assert not answer.raw_output_contents
    assert answer.id == "typed-1"
    assert list(answer.outputs[0].contents.fp64_contents) == model.predict(rows).tolist()


def test_health_and_metadata_answer_as_rest_does(
    regions: Server, regions_client: triton.InferenceServerClient
) -> None:
    assert regions_client.is_server_live()
    assert regions_client.is_server_ready()
    assert regions_client.is_model_ready("regions")
    assert regions_client.is_model_ready("regions", "1")
    server = regions_client.get_server_metadata(as_json=True)
    assert (server["name"], server["extensions"]) == ("modelkeeper", ["binary_tensor_data"])
    metadata = regions_client.get_model_metadata("regions", as_json=True)
    rest = requests.get(f"{regions.url}/v2/models/{regions.model}", timeout=10).json()
    assert metadata["versions"] == rest["versions"]
    assert [(t["name"], t["datatype"]) for t in metadata["inputs"]] == [
        (t["name"], t["datatype"]) for t in rest["inputs"]
    ]
    assert [t["name"] for t in metadata["outputs"]] == ["predict", "predict_proba"]


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        pytest.param(
            lambda client: client.infer("absent", columns(regions_frame(ROWS))),
            "StatusCode.NOT_FOUND",
            "model 'absent' not found",
            id="unknown-model",
        ),
        pytest.param(
            lambda client: client.infer("regions", columns(regions_frame(ROWS)), model_version="9"),
            "StatusCode.NOT_FOUND",
            "has no version '9'",
            id="unknown-version",
        ),
        pytest.param(
            lambda client: client.get_model_metadata("absent"),
            "StatusCode.NOT_FOUND",
            "model 'absent' not found",
            id="metadata-of-unknown-model",
        ),
        pytest.param(
            lambda client: client.infer("regions", columns(regions_frame(ROWS))[:4]),
            "StatusCode.INVALID_ARGUMENT",
            "input 'region': missing",
            id="missing-input-422",
        ),
        pytest.param(
            lambda client: client.infer(
                "regions",
                columns(regions_frame(ROWS)),
                outputs=[triton.InferRequestedOutput("predict", class_count=2)],
            ),
            "StatusCode.INVALID_ARGUMENT",
            "the classification extension is not supported",
            id="extension-400",
        ),
    ],
)
def test_refusals_are_grpc_status_codes_with_rests_message(
    regions: Server,
    regions_client: triton.InferenceServerClient,
    call: Any,
    code: str,
    message: str,
) -> None:
    with pytest.raises(InferenceServerException, match=message) as raised:
        call(regions_client)
    assert raised.value.status() == code


def test_a_failing_model_is_internal(launch: ServerLauncher, tmp_path: Path) -> None:
    from tests.integration.serving.serving_harness import write_iris_picky

    server = launch.start(write_iris_picky(tmp_path / "picky"), "picky", grpc=True)
    client = next(client_of(server))
    rows = np.array([[7.5, 3.0, 6.0, 2.0]])
    with pytest.raises(InferenceServerException, match="sepal_length above 7") as raised:
        client.infer("picky", [tensor("input-0", rows)])
    assert raised.value.status() == "StatusCode.INTERNAL"
    assert server.metric("modelkeeper_grpc_requests_total", code="INTERNAL") == 1
    assert server.metric("modelkeeper_requests_total", code="500") == 0


def test_calls_are_counted_by_grpc_status_apart_from_rest(
    regions: Server, regions_client: triton.InferenceServerClient
) -> None:
    def counts() -> tuple[float, float, float, float]:
        return (
            regions.metric("modelkeeper_grpc_requests_total", code="OK"),
            regions.metric("modelkeeper_grpc_requests_total", code="INVALID_ARGUMENT"),
            regions.metric("modelkeeper_grpc_request_duration_seconds_count"),
            regions.metric("modelkeeper_requests_total", endpoint="infer"),
        )

    before = counts()
    for _ in range(4):  # over both workers, most likely
        regions_client.infer("regions", columns(regions_frame(ROWS)))
    with pytest.raises(InferenceServerException):
        regions_client.infer("regions", columns(regions_frame(ROWS))[:4])
    after = counts()
    assert [b - a for a, b in zip(before, after, strict=True)] == [4, 1, 5, 0]


def test_a_grpc_prediction_takes_rest_feedback_by_its_id(
    regions: Server, regions_client: triton.InferenceServerClient
) -> None:
    frame = regions_frame(ROWS)
    regions_client.infer("regions", columns(frame), request_id="grpc-feedback-1")
    answer = regions.feedback("grpc-feedback-1", ["setosa"] * len(frame))
    assert (answer.status_code, answer.json()["matched"]) == (200, True)


def test_workers_share_the_port_and_a_call_in_flight_survives_sigterm(
    launch: ServerLauncher, tmp_path: Path
) -> None:
    from tests.integration.serving.serving_harness import write_iris_sleepy

    server = launch.start(
        write_iris_sleepy(tmp_path / "sleepy"), "sleepy", "--workers", "2", grpc=True
    )
    process = server.component.process
    assert process is not None
    rows = iris_frame()[IRIS_FEATURES].to_numpy()[:2]

    def call() -> Any:
        # A channel (a connection) each, so that both workers take calls.
        client = next(client_of(server))
        return client.infer("sleepy", [tensor("input-0", rows)]).as_numpy("predict")

    with ThreadPoolExecutor(4) as pool:
        answers = [pool.submit(call) for _ in range(4)]
        time.sleep(0.5)  # every call accepted; the first batch is being scored
        os.kill(process.pid, signal.SIGTERM)
        assert all(len(answer.result(timeout=30)) == 2 for answer in answers)
    assert process.wait(timeout=30) == 0
