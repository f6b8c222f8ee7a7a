"""The server's per-batch counters: bins as the profile defines them, categories, missing values.

Expected counts come from the profile's own reference binning (`bin_indices` of
one feature, which builds the reference counts) and from plain Python counting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelkeeper.profile import NumericProfile, bin_indices, build_profile
from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.metrics import Endpoint, Layout, WorkerMetrics, shared_rows

GENERATOR = np.random.default_rng(4)
TRAINING = pd.DataFrame(
    {
        "a": GENERATOR.normal(0, 1, 300),
        "b": GENERATOR.exponential(2, 300),
        "color": GENERATOR.choice(["red", "green", "blue", "pink"], 300, p=[0.5, 0.3, 0.15, 0.05]),
        "label": GENERATOR.choice(["x", "y"], 300),
    }
)
PROFILE = build_profile(TRAINING, bins=6, top_k=2, target="label", categorical=["label"])
CLASSES = np.array(["x", "y"], dtype=object)


def metrics(workers: int = 1) -> tuple[Layout, np.ndarray, list[WorkerMetrics]]:
    layout = Layout(PROFILE, ["a", "b"], ["color"], CLASSES)
    rows = shared_rows(workers, layout.size)
    return layout, rows, [WorkerMetrics(layout, rows[index]) for index in range(workers)]


def live_batch(size: int) -> FeatureBatch:
    numeric = np.column_stack([GENERATOR.normal(0.3, 1.2, size), GENERATOR.exponential(2.5, size)])
    numeric[::7, 0] = np.nan
    colors = GENERATOR.choice(["red", "green", "blue", "pink", "teal"], size).astype(object)
    colors[::5] = None
    return FeatureBatch(numeric=numeric, categorical=colors.reshape(-1, 1))


def test_numeric_bins_equal_the_profiles_binning() -> None:
    layout, rows, (worker,) = metrics()
    batch = live_batch(200)
    worker.record_batch(batch, Prediction(labels=np.array(["x"] * 200, dtype=object)), True)
    counts = rows[0, layout.features]
    for index, feature in enumerate(PROFILE.features[:2]):
        assert isinstance(feature, NumericProfile)
        values = batch.numeric[:, index]
        finite = values[np.isfinite(values)]
        reference = np.bincount(
            bin_indices(np.array([feature.edges]), finite[:, None])[:, 0],
            minlength=len(feature.edges) + 1,
        )
        start = int(layout.block_starts[index])
        np.testing.assert_array_equal(counts[start : start + len(feature.edges) + 1], reference)
        assert counts[layout.missing_slots[index]] == np.sum(~np.isfinite(values))
        assert rows[0, layout.numeric_sums][index] == pytest.approx(finite.sum())


def test_categories_other_and_missing() -> None:
    layout, rows, (worker,) = metrics()
    batch = live_batch(100)
    worker.record_batch(batch, Prediction(labels=np.array(["y"] * 100, dtype=object)), True)
    colors = batch.categorical[:, 0].tolist()
    kept = PROFILE.features[2].categories  # type: ignore[union-attr]
    start = int(layout.block_starts[2])
    counts = rows[0, layout.features][start : start + len(kept) + 2].tolist()
    expected = [colors.count(category) for category in kept]
    expected.append(sum(color is not None and color not in kept for color in colors))
    expected.append(colors.count(None))
    assert counts == expected


def test_predictions_requests_and_feedback() -> None:
    layout, rows, (worker,) = metrics()
    labels = np.array(["x", "y", "y"], dtype=object)
    worker.record_batch(live_batch(3), Prediction(labels=labels), False)
    worker.record_request(Endpoint.INFER, 200, 0.002)
    worker.record_request(Endpoint.INFER, 418, 0.002)
    assert rows[0, layout.class_counts].tolist() == [1, 2]
    assert rows[0, layout.features].sum() == 0
    assert rows[0, layout.request_slot(Endpoint.INFER, "200")] == 1
    assert rows[0, layout.request_slot(Endpoint.INFER, "other")] == 1


def test_workers_write_their_own_rows_and_a_scrape_sums_them() -> None:
    layout, rows, workers = metrics(workers=3)
    for worker in workers:
        worker.record_batch(
            live_batch(10), Prediction(labels=np.array(["x"] * 10, dtype=object)), True
        )
    assert rows[:, layout.batch_size.sum].tolist() == [10, 10, 10]
    assert rows.sum(axis=0)[layout.class_counts].tolist() == [30, 0]
