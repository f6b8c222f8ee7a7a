"""Sampled payload logging: a JSON line per sampled request, for audits and offline analysis.

Each line holds the request id, the inputs by name, the outputs, the model name
and version and a UTC timestamp. A line is written with a single `write` on a
descriptor opened for appending, so lines from several worker processes never
interleave. Reading the log is left to whatever collects stdout or the file.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.payloads import OutputName, json_values
from modelkeeper.serving.schema import ModelSchema

STDOUT = "-"


class PayloadLog:
    """Writes a sampled share of requests to stdout (`-`) or a file; disabled without a target."""

    def __init__(
        self,
        target: str | None,
        sample_rate: float,
        schema: ModelSchema,
        model: str,
        version: str,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._descriptor: int | None = None
        if target == STDOUT:
            self._descriptor = 1
        elif target:
            self._descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._rate = sample_rate
        self._numeric = [spec.name for spec in schema.numeric]
        self._categorical = [spec.name for spec in schema.categorical]
        self._model = model
        self._version = version
        self._draw = draw

    def record(self, request_id: str, batch: FeatureBatch, prediction: Prediction) -> None:
        if self._descriptor is None or self._draw() >= self._rate:
            return
        inputs = {name: batch.numeric[:, index] for index, name in enumerate(self._numeric)}
        for index, name in enumerate(self._categorical):
            inputs[name] = batch.categorical[:, index].tolist()
        outputs = {OutputName.PREDICT.value: json_values(prediction.labels)}
        if prediction.probabilities is not None:
            outputs[OutputName.PREDICT_PROBA.value] = prediction.probabilities
        line = {
            "id": request_id,
            "timestamp": datetime.now(UTC).isoformat(),
            "model": self._model,
            "version": self._version,
            "inputs": inputs,
            "outputs": outputs,
        }
        os.write(
            self._descriptor,
            orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE),
        )

    def close(self) -> None:
        if self._descriptor is not None and self._descriptor != 1:
            os.close(self._descriptor)
        self._descriptor = None
