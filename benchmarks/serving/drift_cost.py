"""What drift counting costs per model call, measured in-process without HTTP or other noise.

The end-to-end benchmark (run.py) compares the server with counting on and off,
but on a shared two-core machine that difference drowns in the noise. This
measures the counting itself: `WorkerMetrics.record_batch` with and without the
feature bins, for the breast-cancer profile (30 numeric features) at several
batch sizes. Divide by the server's CPU time per request (run.py's table) to get
the share of the server's work.

    python benchmarks/serving/drift_cost.py
"""

from __future__ import annotations

import re
import time

import numpy as np
from sklearn.datasets import load_breast_cancer

from modelkeeper.profile import build_profile
from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.metrics import Layout, WorkerMetrics, shared_rows

SECONDS = 1.0


def per_call_microseconds(metrics: WorkerMetrics, batch: FeatureBatch, count: bool) -> float:
    prediction = Prediction(labels=np.zeros(batch.rows, dtype=np.int64))
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        metrics.record_batch(batch, prediction, count)
        calls += 1
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [re.sub(r"\W+", "_", str(column)).strip("_") for column in frame.columns]
    features = [column for column in frame.columns if column != "target"]
    profile = build_profile(frame, target="target", categorical=["target"])
    layout = Layout(profile, features, [], np.array([0, 1]))
    metrics = WorkerMetrics(layout, shared_rows(1, layout.size)[0])
    print("| rows per call | counting off, µs/call | counting on, µs/call | added per row, µs |")
    print("| --- | --- | --- | --- |")
    for rows in (1, 8, 32, 64):
        numeric = frame[features].to_numpy()[:rows]
        batch = FeatureBatch(numeric=numeric, categorical=np.empty((rows, 0), dtype=object))
        off = per_call_microseconds(metrics, batch, False)
        on = per_call_microseconds(metrics, batch, True)
        print(f"| {rows} | {off:.1f} | {on:.1f} | {(on - off) / rows:.2f} |")


if __name__ == "__main__":
    main()
