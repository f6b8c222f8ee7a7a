"""What drift counting costs per model call, measured in-process without HTTP or other noise.

The end-to-end benchmark (run.py) compares the server with counting on and off,
but on a shared two-core machine that difference drowns in the noise. This
measures the counting itself: `WorkerMetrics.record_batch` with and without the
feature bins, for the breast-cancer profile (30 numeric features) at several
batch sizes. Divide by the server's CPU time per request (run.py's table) to get
the share of the server's work.

The figures are this process's CPU time per call, the best of many short samples
taken with counting off and on in turn: the machine's other load (the load average
is printed with them) takes the CPU away and thrashes the caches in some samples,
not in all, so the best sample comes closest to the cost of the code itself.

    python benchmarks/serving/drift_cost.py
"""

from __future__ import annotations

import os
import re
import time

import numpy as np
from sklearn.datasets import load_breast_cancer

from modelkeeper.profile import build_profile
from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.metrics import Layout, WorkerMetrics, shared_rows

SAMPLES = 200
CALLS_PER_SAMPLE = 100
ROWS_PER_CALL = (1, 8, 32, 64)


def per_call_microseconds(
    metrics: WorkerMetrics, batch: FeatureBatch, prediction: Prediction, count: bool
) -> float:
    """CPU time of one call, averaged over one sample of CALLS_PER_SAMPLE calls."""
    started = time.process_time()
    for _ in range(CALLS_PER_SAMPLE):
        metrics.record_batch(batch, prediction, count)
    return (time.process_time() - started) / CALLS_PER_SAMPLE * 1e6


def main() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [re.sub(r"\W+", "_", str(column)).strip("_") for column in frame.columns]
    features = [column for column in frame.columns if column != "target"]
    profile = build_profile(frame, target="target", categorical=["target"])
    layout = Layout(profile, features, [], np.array([0, 1]))
    metrics = WorkerMetrics(layout, shared_rows(1, layout.size)[0])
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print("| rows per call | counting off, µs/call | counting on, µs/call | added per row, µs |")
    print("| --- | --- | --- | --- |")
    for rows in ROWS_PER_CALL:
        numeric = frame[features].to_numpy()[:rows]
        batch = FeatureBatch(numeric=numeric, categorical=np.empty((rows, 0), dtype=object))
        prediction = Prediction(labels=np.zeros(rows, dtype=np.int64))
        off, on = float("inf"), float("inf")
        for _ in range(SAMPLES):
            off = min(off, per_call_microseconds(metrics, batch, prediction, False))
            on = min(on, per_call_microseconds(metrics, batch, prediction, True))
        print(f"| {rows} | {off:.1f} | {on:.1f} | {(on - off) / rows:.2f} |")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
