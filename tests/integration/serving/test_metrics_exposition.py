"""The /metrics text, parsed with prometheus_client's parser, against the requests sent.

Expected bin counts are computed here by direct comparison with the profile's
edges (not with the server's binning function), expected predictions with
scikit-learn on the same model file.
"""

from __future__ import annotations

import json
import os
from itertools import pairwise
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import requests

from modelkeeper.serving.metrics import format_bound
from tests.ground.processes import free_port
from tests.integration.serving.serving_harness import Server, ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame
from tests.support.traffic import v2_body

LABELS = {"deployment": "flowers", "model": "iris", "version": "3", "role": "canary"}
# Requests of 1, 2, 3, ... rows, 45 rows in all, drawn from iris.
SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9]


def sent_rows() -> list[list[list[float]]]:
    rows = iris_frame()[IRIS_FEATURES].to_numpy()[::3]
    starts = np.cumsum([0, *SIZES])
    return [rows[start:stop].tolist() for start, stop in pairwise(starts)]


def profile_of(model_dir: Path) -> dict[str, Any]:
    profile: dict[str, Any] = json.loads((model_dir / "profile.json").read_text())
    return profile


def labelled_env() -> dict[str, str]:
    return {
        **os.environ,
        "MODELKEEPER_DEPLOYMENT": "flowers",
        "MODELKEEPER_MODEL_VERSION": "3",
        "MODELKEEPER_ROLE": "canary",
    }


@pytest.fixture(scope="module")
def scored(launch_shared: ServerLauncher, iris_dir: Path) -> Server:
    """An iris server that has answered the requests of `sent_rows()`, two 422s and a 400."""
    server = launch_shared.start(iris_dir, "iris", "--workers", "2", env=labelled_env())
    for rows in sent_rows():
        assert server.infer(v2_body(rows)).status_code == 200
    assert (
        server.infer(
            {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}]}
        ).status_code
        == 422
    )
    assert server.infer(v2_body([[1.0, 2.0]])).status_code == 422
    assert (
        requests.post(f"{server.url}/v2/models/iris/infer", data=b"{", timeout=5).status_code == 400
    )
    return server


def test_request_counts_and_latency(scored: Server) -> None:
    assert scored.metric(
        "modelkeeper_requests_total", endpoint="infer", code="200", **LABELS
    ) == len(SIZES)
    assert scored.metric("modelkeeper_requests_total", endpoint="infer", code="422") == 2
    assert scored.metric("modelkeeper_requests_total", endpoint="infer", code="400") == 1
    assert (
        scored.metric("modelkeeper_request_duration_seconds_count", endpoint="infer")
        == len(SIZES) + 3
    )
    assert scored.metric("modelkeeper_request_duration_seconds_sum", endpoint="infer") > 0


def test_batch_sizes_cover_every_row(scored: Server) -> None:
    assert scored.metric("modelkeeper_batch_size_sum", **LABELS) == sum(SIZES)
    batches = scored.metric("modelkeeper_batch_size_count")
    assert 1 <= batches <= len(SIZES)


def test_numeric_feature_bins_match_the_profile(scored: Server, iris_dir: Path) -> None:
    values = np.concatenate([np.array(rows) for rows in sent_rows()])
    for index, feature in enumerate(profile_of(iris_dir)["features"]):
        column = values[:, index]
        for edge in feature["edges"]:
            expected = int(np.sum(column <= edge))
            bucket = scored.metric(
                "modelkeeper_feature_value_bucket",
                feature=feature["name"],
                le=format_bound(edge),
                **LABELS,
            )
            assert bucket == expected, (feature["name"], edge)
        name = feature["name"]
        assert scored.metric("modelkeeper_feature_value_bucket", feature=name, le="+Inf") == len(
            column
        )
        assert scored.metric("modelkeeper_feature_value_count", feature=name) == len(column)
        assert scored.metric("modelkeeper_feature_value_sum", feature=name) == pytest.approx(
            column.sum()
        )
        assert scored.metric("modelkeeper_feature_missing_total", feature=name) == 0


def test_prediction_counts_by_class(scored: Server, iris_dir: Path) -> None:
    model = joblib.load(iris_dir / "model.joblib")
    predicted = model.predict(np.concatenate([np.array(rows) for rows in sent_rows()]))
    for label in (0, 1, 2):
        expected = int(np.sum(predicted == label))
        assert scored.metric("modelkeeper_predictions_total", **{"class": str(label)}) == expected


def test_every_worker_reports_the_same_totals(scored: Server) -> None:
    """Scrapes land on either worker (new connection each); each sums all workers' counts."""
    totals = {scored.metric("modelkeeper_batch_size_sum") for _ in range(8)}
    assert totals == {sum(SIZES)}


def test_categorical_counts_with_other(launch: ServerLauncher, regions_dir: Path) -> None:
    server = launch.start(regions_dir, "regions")
    regions = ["north", "north", "east", "south", "north"]
    inputs: list[dict[str, Any]] = [
        {"name": name, "datatype": "FP64", "shape": [5], "data": [1.0] * 5}
        for name in IRIS_FEATURES
    ]
    inputs.append({"name": "region", "datatype": "BYTES", "shape": [5], "data": regions})
    assert server.infer({"inputs": inputs}).status_code == 200
    for region in ("north", "south", "east"):
        count = server.metric(
            "modelkeeper_feature_category_total", feature="region", category=region
        )
        assert count == regions.count(region)
    assert (
        server.metric("modelkeeper_feature_category_total", feature="region", category="__other__")
        == 0
    )


def test_regression_prediction_bins(launch: ServerLauncher, diabetes_dir: Path) -> None:
    server = launch.start(diabetes_dir, "diabetes")
    model = joblib.load(diabetes_dir / "model.joblib")
    rows = np.random.default_rng(1).uniform(-0.1, 0.1, (25, 10))
    assert server.infer(v2_body(rows.tolist())).status_code == 200
    predictions = model.predict(rows)
    edges = profile_of(diabetes_dir)["target"]["edges"]
    for edge in edges:
        bucket = server.metric("modelkeeper_prediction_value_bucket", le=format_bound(edge))
        assert bucket == int(np.sum(predictions <= edge))
    assert server.metric("modelkeeper_prediction_value_count") == 25
    assert server.metric("modelkeeper_prediction_value_sum") == pytest.approx(predictions.sum())


def test_metrics_port_and_drift_counting_off(launch: ServerLauncher, iris_dir: Path) -> None:
    port = free_port()
    server = launch.start(
        iris_dir, "iris", "--metrics-port", str(port), "--drift-counting", "false"
    )
    assert server.infer(v2_body([[5.0, 3.0, 1.5, 0.2]])).status_code == 200
    assert requests.get(f"{server.url}/metrics", timeout=5).status_code == 404
    metrics = Server(f"http://127.0.0.1:{port}", "iris", server.component)
    assert metrics.metric("modelkeeper_requests_total", endpoint="infer", code="200") == 1
    assert metrics.metric("modelkeeper_batch_size_sum") == 1
    assert metrics.metric("modelkeeper_feature_value_count") == 0
