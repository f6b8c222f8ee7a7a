"""Which thread scores a batch: gRPC's requests (inline) on the event loop once the
model's last call was cheap; REST's, a first call and a call after a slow one on the
model thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from modelkeeper.serving.batching import Batcher
from modelkeeper.serving.frames import FeatureBatch, Prediction

ONE_ROW = FeatureBatch(numeric=np.zeros((1, 2)), categorical=np.empty((1, 0), dtype=object))
# A threshold far above a cheap call even on a busy machine, and a slow call above it.
INLINE_SECONDS = 0.2
CHEAP, SLOW = 0.0, 0.3


async def scoring_threads(calls: list[tuple[float, bool]]) -> list[str]:
    """Score one request per (seconds the model takes, inline) in turn; the threads used."""
    threads: list[str] = []
    durations = iter(seconds for seconds, _ in calls)

    def predict(batch: FeatureBatch, probabilities: bool) -> Prediction:
        threads.append("loop" if threading.current_thread() is loop_thread else "model")
        time.sleep(next(durations))
        return Prediction(labels=np.zeros(batch.rows))

    loop_thread = threading.current_thread()
    batcher = Batcher(predict, max_batch_size=64, max_wait_seconds=0, inline_seconds=INLINE_SECONDS)
    try:
        for _, inline in calls:
            await batcher.predict(ONE_ROW, False, inline)
    finally:
        await batcher.close()
    return threads


@pytest.mark.parametrize(
    ("calls", "threads"),
    [
        pytest.param([(CHEAP, True)], ["model"], id="first-call-unmeasured"),
        pytest.param([(CHEAP, True), (CHEAP, True)], ["model", "loop"], id="grpc-after-cheap"),
        pytest.param([(CHEAP, False), (CHEAP, False)], ["model", "model"], id="rest-always"),
        pytest.param(
            [(CHEAP, True), (SLOW, True), (CHEAP, True), (CHEAP, True)],
            ["model", "loop", "model", "loop"],
            id="grpc-after-slow",
        ),
    ],
)
async def test_scoring_thread(calls: list[tuple[float, bool]], threads: list[str]) -> None:
    assert await scoring_threads(calls) == threads
