"""Ground-truth feedback reaches the prediction it belongs to, whichever replica or worker made it.

Two replica processes stand behind a load balancer: first this test plays the
router (it spreads inference over both, then fans each feedback out to both, as
docs/feedback.md asks of the router), then the real router does. A server with
two workers shows the same inside one pod, where the workers relay feedback to
each other.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import requests

from tests.ground.processes import Component, free_port
from tests.integration.serving.serving_harness import Server, ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame
from tests.support.traffic import v2_body

REQUESTS = 30


@pytest.fixture(scope="module")
def iris(launch_shared: ServerLauncher, iris_dir: Path) -> Server:
    return launch_shared.start(iris_dir, "iris")


def labelled_requests() -> list[tuple[str, list[list[float]], list[int]]]:
    """(request id, rows, true labels): 30 requests of 1 to 3 iris rows."""
    frame = iris_frame()
    rows, labels = frame[IRIS_FEATURES].to_numpy(), frame["target"].to_numpy()
    order = np.random.default_rng(7).permutation(len(rows))
    requests, start = [], 0
    for number in range(REQUESTS):
        size = 1 + number % 3
        picked = order[start : start + size]
        start += size
        requests.append((f"req-{number}", rows[picked].tolist(), labels[picked].tolist()))
    return requests


def total(servers: list[Server], name: str) -> float:
    return sum(server.metric(name) for server in servers)


def test_feedback_fanned_out_to_two_replicas(launch: ServerLauncher, iris_dir: Path) -> None:
    replicas = [launch.start(iris_dir, "iris"), launch.start(iris_dir, "iris")]
    served_by: dict[str, int] = {}
    correct = rows = 0
    for number, (request_id, features, labels) in enumerate(labelled_requests()):
        response = replicas[number % 2].infer(v2_body(features, request_id))
        assert response.status_code == 200
        predicted = response.json()["outputs"][0]["data"]
        served_by[request_id] = number % 2
        correct += sum(p == t for p, t in zip(predicted, labels, strict=True))
        rows += len(labels)

    for request_id, _, labels in labelled_requests():
        answers = [replica.feedback(request_id, labels) for replica in replicas]
        statuses = [answer.status_code for answer in answers]
        holder = served_by[request_id]
        assert statuses[holder] == 200
        assert statuses[1 - holder] == 404
        assert answers[holder].json() == {"id": request_id, "matched": True, "rows": len(labels)}
        assert answers[1 - holder].json()["matched"] is False

    assert total(replicas, "modelkeeper_feedback_rows_total") == rows
    assert total(replicas, "modelkeeper_feedback_correct_total") == correct
    # Each replica counted only its own requests.
    assert replicas[0].metric("modelkeeper_feedback_rows_total") == sum(
        len(labels) for number, (_, _, labels) in enumerate(labelled_requests()) if number % 2 == 0
    )
    # A second feedback for the same request joins nothing.
    repeat = [replica.feedback("req-0", labelled_requests()[0][2]) for replica in replicas]
    assert [answer.status_code for answer in repeat] == [404, 404]
    assert total(replicas, "modelkeeper_feedback_rows_total") == rows


def test_feedback_across_workers_of_one_server(launch: ServerLauncher, iris_dir: Path) -> None:
    """Every request and every feedback on a new connection, so both workers take part."""
    server = launch.start(iris_dir, "iris", "--workers", "2")
    for request_id, features, _ in labelled_requests():
        assert server.infer(v2_body(features, request_id)).status_code == 200
    for request_id, _, labels in labelled_requests():
        assert server.feedback(request_id, labels).status_code == 200
    assert server.metric("modelkeeper_feedback_rows_total") == sum(
        len(labels) for _, _, labels in labelled_requests()
    )
    assert server.feedback("never-served", [0]).status_code == 404


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        pytest.param([0, 1], "labels: 2 given, but that request had 1 rows", id="wrong-length"),
        pytest.param([7], "labels.0: '7' is not a class of the model", id="unknown-class"),
    ],
)
def test_misfit_feedback_is_422_and_keeps_the_prediction(
    iris: Server, labels: list[int], message: str
) -> None:
    server = iris
    before = server.metric("modelkeeper_feedback_correct_total")
    request_id = f"one-{len(labels)}-{labels[0]}"
    assert server.infer(v2_body([[5.1, 3.5, 1.4, 0.2]], request_id)).status_code == 200
    misfit = server.feedback(request_id, labels)
    assert (misfit.status_code, misfit.json()) == (422, {"error": message})
    assert server.feedback(request_id, [0]).status_code == 200
    assert server.metric("modelkeeper_feedback_correct_total") == before + 1


def test_regression_feedback_errors(launch: ServerLauncher, diabetes_dir: Path) -> None:
    server = launch.start(diabetes_dir, "diabetes")
    model = joblib.load(diabetes_dir / "model.joblib")
    rows = np.random.default_rng(3).uniform(-0.1, 0.1, (4, 10))
    truth = [150.0, 80.5, 200.0, 120.0]
    assert server.infer(v2_body(rows.tolist(), "r1")).status_code == 200
    assert server.feedback("r1", truth).status_code == 200
    errors = model.predict(rows) - np.array(truth)
    assert server.metric("modelkeeper_feedback_rows_total") == 4
    assert server.metric("modelkeeper_feedback_absolute_error_total") == pytest.approx(
        np.abs(errors).sum()
    )
    assert server.metric("modelkeeper_feedback_squared_error_total") == pytest.approx(
        (errors**2).sum()
    )


def test_feedback_through_the_router(
    launch: ServerLauncher, iris_dir: Path, tmp_path: Path
) -> None:
    """The router balances inference over two replicas and fans feedback out to both."""
    replicas = [launch.start(iris_dir, "iris"), launch.start(iris_dir, "iris")]
    endpoints = [{"host": "127.0.0.1", "port": int(r.url.rsplit(":", 1)[1])} for r in replicas]
    config = tmp_path / "routing.json"
    config.write_text(
        json.dumps(
            {
                "model": "iris",
                "backends": [
                    {"name": "v1", "role": "stable", "weight": 100, "endpoints": endpoints}
                ],
            }
        )
    )
    port = free_port()
    router = Component(
        "router",
        [sys.executable, "-m", "modelkeeper.cli", "route", "--config", str(config),
         "--host", "127.0.0.1", "--http-port", str(port)],
        tmp_path / "router.log",
    )  # fmt: skip
    router.start()
    try:
        url = f"http://127.0.0.1:{port}"
        router.wait_until(lambda: requests.get(f"{url}/v2/health/ready", timeout=1).ok, 60)
        front = Server(url, "iris", router)
        for request_id, features, _ in labelled_requests():
            assert front.infer(v2_body(features, request_id)).status_code == 200
        served = [replica.metric("modelkeeper_batch_size_sum") for replica in replicas]
        assert all(served), served  # both replicas took requests
        for request_id, _, labels in labelled_requests():
            answer = front.feedback(request_id, labels)
            assert answer.status_code == 200, answer.text
            assert answer.json()["matched"] is True
        rows = sum(len(labels) for _, _, labels in labelled_requests())
        assert total(replicas, "modelkeeper_feedback_rows_total") == rows
    finally:
        router.stop()


def test_outcomes_counted_across_workers(launch: ServerLauncher, diabetes_dir: Path) -> None:
    """Outcomes (with labels, or alone) add up to count, sum and squares over both workers,
    each on a new connection; a negative outcome lowers the sum."""
    server = launch.start(diabetes_dir, "diabetes", "--workers", "2")
    outcomes = {f"o{n}": [float(n % 3) - 0.5, 2.0] for n in range(12)}
    rows = np.random.default_rng(5).uniform(-0.1, 0.1, (2, 10)).tolist()
    for request_id in outcomes:
        assert server.infer(v2_body(rows, request_id)).status_code == 200
    for number, (request_id, values) in enumerate(outcomes.items()):
        body = {"id": request_id, "outcomes": values} | (
            {"labels": [100.0, 90.0]} if number % 2 else {}
        )
        answer = server.post("/v2/models/diabetes/feedback", body)
        assert (answer.status_code, answer.json()["rows"]) == (200, 2), answer.text
    flat = [value for values in outcomes.values() for value in values]
    assert server.metric("modelkeeper_feedback_outcome_count") == len(flat)
    assert server.metric("modelkeeper_feedback_outcome_sum") == pytest.approx(sum(flat))
    assert server.metric("modelkeeper_feedback_outcome_squares_total") == pytest.approx(
        sum(value * value for value in flat)
    )
    assert server.metric("modelkeeper_feedback_rows_total") == 12  # labelled rows only
    refused = server.post("/v2/models/diabetes/feedback", {"id": "o0"})
    assert (refused.status_code, refused.json()) == (
        400,
        {"error": "body: Value error, give labels, outcomes or both"},
    )
