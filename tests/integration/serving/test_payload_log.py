"""Sampled payload logging: JSON lines of id, inputs, outputs, version and time, never mixed."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import cycle
from pathlib import Path

import numpy as np
import requests

from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.payload_log import PayloadLog
from modelkeeper.serving.schema import ModelSchema
from tests.integration.serving.serving_harness import ServerLauncher
from tests.support.models import IRIS_FEATURES, iris_frame
from tests.support.traffic import v2_body


def test_every_request_logged_by_two_workers(
    launch: ServerLauncher, iris_dir: Path, tmp_path: Path
) -> None:
    log = tmp_path / "payloads.jsonl"
    server = launch.start(
        iris_dir, "iris", "--workers", "2", "--payload-log", str(log), "--payload-log-sample", "1"
    )
    rows = iris_frame()[IRIS_FEATURES].to_numpy()[:20].tolist()
    answers = {}
    for number, row in enumerate(rows):
        body = v2_body([row], f"p-{number}", outputs=[{"name": "predict"}])
        answer = requests.post(f"{server.url}/v2/models/iris/infer", json=body, timeout=10)
        answers[f"p-{number}"] = (row, answer.json()["outputs"][0]["data"])

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(answers)
    for line in lines:
        row, predicted = answers[line["id"]]
        assert (line["model"], line["version"]) == ("iris", "1")
        assert datetime.fromisoformat(line["timestamp"]).tzinfo is not None
        assert [line["inputs"][name][0] for name in IRIS_FEATURES] == row
        assert line["outputs"]["predict"] == predicted


def test_only_the_sampled_share_is_written(tmp_path: Path) -> None:
    schema = ModelSchema.model_validate(
        {"inputs": [{"name": "a", "type": "numeric"}], "output": {"type": "regression"}}
    )
    target = tmp_path / "sampled.jsonl"
    draws = cycle([0.1, 0.3, 0.2, 0.9])  # below 0.25 twice in four
    payload_log = PayloadLog(str(target), 0.25, schema, "m", "2", draw=lambda: next(draws))
    batch = FeatureBatch(numeric=np.array([[1.0]]), categorical=np.empty((1, 0), dtype=object))
    for number in range(8):
        payload_log.record(f"r{number}", batch, Prediction(labels=np.array([0.5])))
    payload_log.close()
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == [
        "r0",
        "r2",
        "r4",
        "r6",
    ]
