"""Binary tensors through the router: bodies and answers pass unchanged, and the shadow's
binary answers are compared as its JSON ones are.

Real scoring servers behind the router (a logistic regression as the stable, a depth-2
tree as the shadow, on iris); the requests are what Triton's `tritonclient.http` writes,
binary inputs and binary outputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import requests
import tritonclient.http as triton

from tests.ground.polling import eventually
from tests.integration.router.harness import MODEL, Launcher, backend, model_dirs, routing_config

HEADER = "Inference-Header-Content-Length"


def binary_request(rows: np.ndarray[Any, Any], request_id: str) -> tuple[bytes, dict[str, str]]:
    """A body as tritonclient sends it: one FP64 [rows, 4] tensor and `predict`, both binary."""
    tensor = triton.InferInput("x", list(rows.shape), "FP64")
    tensor.set_data_from_numpy(rows)
    body, length = triton.InferenceServerClient.generate_request_body(
        [tensor], outputs=[triton.InferRequestedOutput("predict")], request_id=request_id
    )
    assert length is not None
    return body, {HEADER: str(length), "Content-Type": "application/octet-stream"}


def labels(response: requests.Response) -> list[int]:
    result = triton.InferResult.from_response_body(
        response.content, header_length=int(response.headers[HEADER])
    )
    predict = result.as_numpy("predict")
    assert predict is not None
    return [int(label) for label in predict]


def test_binary_bodies_and_answers_pass_unchanged_and_are_compared(
    launch: Launcher, tmp_path: Path
) -> None:
    stable_dir, shadow_dir, frame = model_dirs(tmp_path)
    stable = launch.scoring_server("v1", stable_dir)
    shadow = launch.scoring_server("v2", shadow_dir, role="shadow")
    router = launch.router(
        routing_config(
            backend("v1", "stable", stable, weight=1),
            backend("v2", "shadow", shadow),
            mirror_percent=100,
        )
    )
    x = frame.drop(columns="target").to_numpy()
    draw = np.random.default_rng(11)
    batches = [draw.integers(0, len(x), size=draw.integers(1, 5)) for _ in range(30)]
    requests_ = [binary_request(x[rows], f"req-{index}") for index, rows in enumerate(batches)]

    def post(endpoint: dict[str, Any] | str, body: bytes, headers: dict[str, str]) -> Any:
        base = (
            endpoint
            if isinstance(endpoint, str)
            else f"http://{endpoint['host']}:{endpoint['port']}"
        )
        return requests.post(
            f"{base}/v2/models/{MODEL}/infer", data=body, headers=headers, timeout=30
        )

    from_stable = [post(stable, *request) for request in requests_]
    from_shadow = [post(shadow, *request) for request in requests_]
    routed = [post(router.url, *request) for request in requests_]

    assert [answer.status_code for answer in routed] == [200] * len(batches)
    assert [answer.content for answer in routed] == [answer.content for answer in from_stable]
    for answer, direct in zip(routed, from_stable, strict=True):
        assert answer.headers[HEADER] == direct.headers[HEADER]
        assert answer.headers["Content-Type"] == "application/octet-stream"
    expected = [
        model_labels == labels(answer)
        for model_labels, answer in zip(map(labels, from_stable), from_shadow, strict=True)
    ]
    assert 0 < sum(expected) < len(batches), "the pair must agree on some requests, not all"

    mirrored = "modelkeeper_router_mirror_requests_total"
    eventually(
        lambda: router.metric(mirrored) == len(batches),
        timeout=30,
        what="every mirrored request judged",
    )
    assert router.metric(mirrored, outcome="agree") == sum(expected)
    assert router.metric(mirrored, outcome="disagree") == len(batches) - sum(expected)
    assert router.metric(mirrored, outcome="incomparable") == 0


def test_a_third_party_client_through_the_router(launch: Launcher, tmp_path: Path) -> None:
    stable_dir, _, frame = model_dirs(tmp_path)
    stable = launch.scoring_server("v1", stable_dir)
    router = launch.router(routing_config(backend("v1", "stable", stable, weight=1)))
    x = frame.drop(columns="target").to_numpy()[::15]
    client = triton.InferenceServerClient(url=router.url.removeprefix("http://"))
    try:
        tensor = triton.InferInput("x", list(x.shape), "FP64")
        tensor.set_data_from_numpy(x)
        result = client.infer(MODEL, [tensor])
    finally:
        client.close()
    direct = requests.post(
        f"http://{stable['host']}:{stable['port']}/v2/models/{MODEL}/infer",
        json={
            "inputs": [
                {"name": "x", "shape": list(x.shape), "datatype": "FP64", "data": x.tolist()}
            ]
        },
        timeout=30,
    )
    predict = result.as_numpy("predict")
    assert predict is not None
    assert predict.tolist() == direct.json()["outputs"][0]["data"]
