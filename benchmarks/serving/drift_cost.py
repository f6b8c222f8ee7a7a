"""What drift counting costs per model call, measured in-process without HTTP or other noise.

The end-to-end benchmark (run.py) compares the server with counting on and off,
but on a shared two-core machine that difference drowns in the noise. This
measures the counting itself: `WorkerMetrics.record_batch` with and without the
feature bins and a classifier's probabilities (which counting on counts, for
estimated performance), for the breast-cancer profile (30 numeric features) at several
batch sizes; and what asking the model for probabilities on every call adds, for
run.py's two models. Divide by the server's CPU time per request (run.py's table) to
get the share of the server's work.

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
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from modelkeeper.profile import build_profile
from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.metrics import Layout, WorkerMetrics, shared_rows
from modelkeeper.serving.runtime import ForestRuntime, JoblibRuntime
from modelkeeper.serving.schema import ModelSchema

SAMPLES = 200
CALLS_PER_SAMPLE = 100
ROWS_PER_CALL = (1, 8, 32, 64)
MODEL_SAMPLES = 40
MODEL_CALLS_PER_SAMPLE = 20
"""A model call costs milliseconds, the counting microseconds: fewer, shorter samples."""


def per_call_microseconds(
    metrics: WorkerMetrics, batch: FeatureBatch, prediction: Prediction, count: bool
) -> float:
    """CPU time of one call, averaged over one sample of CALLS_PER_SAMPLE calls."""
    started = time.process_time()
    for _ in range(CALLS_PER_SAMPLE):
        metrics.record_batch(batch, prediction, count, prediction.probabilities is not None)
    return (time.process_time() - started) / CALLS_PER_SAMPLE * 1e6


def main() -> None:
    frame = load_breast_cancer(as_frame=True).frame
    frame.columns = [re.sub(r"\W+", "_", str(column)).strip("_") for column in frame.columns]
    features = [column for column in frame.columns if column != "target"]
    profile = build_profile(frame, target="target", categorical=["target"])
    layout = Layout(profile, features, [], np.array([0, 1]))
    metrics = WorkerMetrics(layout, shared_rows(1, layout.size)[0])
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(
        "| rows per call | counting off, µs/call | features only, µs/call | counting on "
        "(features and probabilities: a sampled call), µs/call | added per row, µs |"
    )
    print("| --- | --- | --- | --- | --- |")
    for rows in ROWS_PER_CALL:
        numeric = frame[features].to_numpy()[:rows]
        batch = FeatureBatch(numeric=numeric, categorical=np.empty((rows, 0), dtype=object))
        labels = np.zeros(rows, dtype=np.int64)
        plain = Prediction(labels=labels)
        with_probabilities = Prediction(labels=labels, probabilities=np.full((rows, 2), 0.5))
        off, features_only, on = float("inf"), float("inf"), float("inf")
        for _ in range(SAMPLES):
            off = min(off, per_call_microseconds(metrics, batch, plain, False))
            features_only = min(features_only, per_call_microseconds(metrics, batch, plain, True))
            on = min(on, per_call_microseconds(metrics, batch, with_probabilities, True))
        print(f"| {rows} | {off:.1f} | {features_only:.1f} | {on:.1f} | {(on - off) / rows:.2f} |")
    print()
    probability_cost(frame, features)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


def probability_cost(frame: pd.DataFrame, features: list[str]) -> None:
    """CPU µs of one model call of one row without and with probabilities, best of
    MODEL_SAMPLES, for run.py's models through the runtimes the server picks for them."""
    x, y = frame[features].to_numpy(), frame["target"].to_numpy()
    schema = ModelSchema.model_validate(
        {
            "inputs": [{"name": name, "type": "numeric"} for name in features],
            "output": {"type": "classification"},
        }
    )
    forest = RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1).fit(x, y)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)
    batch = FeatureBatch(numeric=x[:1], categorical=np.empty((1, 0), dtype=object))
    print("| model | predict, µs/call | predict + probabilities, µs/call | added, µs |")
    print("| --- | --- | --- | --- |")
    for name, runtime in (
        ("forest", ForestRuntime(forest, schema)),
        ("logistic", JoblibRuntime(logistic, schema)),
    ):
        off, on = float("inf"), float("inf")
        for _ in range(MODEL_SAMPLES):
            for probabilities in (False, True):
                started = time.process_time()
                for _ in range(MODEL_CALLS_PER_SAMPLE):
                    runtime.predict(batch, probabilities)
                spent = (time.process_time() - started) / MODEL_CALLS_PER_SAMPLE * 1e6
                if probabilities:
                    on = min(on, spent)
                else:
                    off = min(off, spent)
        print(f"| {name} | {off:.1f} | {on:.1f} | {on - off:.1f} |")


if __name__ == "__main__":
    main()
