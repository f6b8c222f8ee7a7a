"""Batched results are the unbatched ones; the forest fast path is scikit-learn's result, exactly.

Requests of random sizes go through the real Batcher at once (so they are scored
together) and each result is compared with scoring that request alone. Tree
models agree to the bit. Linear models go through BLAS, whose summation order
depends on the matrix shape, so their numbers may differ in the last bits
(checked to 1e-12 relative); their predicted classes are identical.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge

from modelkeeper.serving.batching import Batcher
from modelkeeper.serving.frames import FeatureBatch, Prediction
from modelkeeper.serving.runtime import ForestRuntime, Runtime, estimator_runtime
from modelkeeper.serving.schema import ModelSchema


def schema(features: int, output: str) -> ModelSchema:
    return ModelSchema.model_validate(
        {
            "inputs": [{"name": f"x{index}", "type": "numeric"} for index in range(features)],
            "output": {"type": output},
        }
    )


def runtime(estimator: Any, output: str) -> Runtime:
    data = load_iris() if output == "classification" else load_diabetes()
    estimator.fit(data.data, data.target)
    model_schema = schema(data.data.shape[1], output)
    return estimator_runtime(estimator, model_schema)


BITWISE, LAST_BITS = 0.0, 1e-12
MODELS = [
    pytest.param(
        RandomForestClassifier(n_estimators=15, random_state=0),
        "classification",
        BITWISE,
        id="forest",
    ),
    pytest.param(
        ExtraTreesClassifier(n_estimators=15, random_state=0),
        "classification",
        BITWISE,
        id="extra-trees",
    ),
    pytest.param(LogisticRegression(max_iter=1000), "classification", LAST_BITS, id="logistic"),
    pytest.param(
        RandomForestRegressor(n_estimators=10, random_state=0),
        "regression",
        BITWISE,
        id="forest-regressor",
    ),
    pytest.param(Ridge(), "regression", LAST_BITS, id="ridge"),
]


def batch_of(rows: np.ndarray) -> FeatureBatch:
    return FeatureBatch(numeric=rows, categorical=np.empty((len(rows), 0), dtype=object))


def requests_of(features: int, seed: int) -> list[FeatureBatch]:
    generator = np.random.default_rng(seed)
    sizes = generator.integers(1, 9, size=12)
    return [batch_of(generator.normal(2, 2, (size, features))) for size in sizes]


async def score_together(model: Runtime, requests: list[FeatureBatch]) -> list[Prediction]:
    batcher = Batcher(model.predict, max_batch_size=64, max_wait_seconds=0.05)
    try:
        return list(await asyncio.gather(*(batcher.predict(request, True) for request in requests)))
    finally:
        await batcher.close()


@pytest.mark.parametrize(("estimator", "output", "tolerance"), MODELS)
@pytest.mark.parametrize("seed", [0, 1])
async def test_batched_equals_unbatched(
    estimator: Any, output: str, tolerance: float, seed: int
) -> None:
    model = runtime(estimator, output)
    requests = requests_of(4 if output == "classification" else 10, seed)
    together = await score_together(model, requests)
    for request, batched in zip(requests, together, strict=True):
        alone = model.predict(request, True)
        if output == "classification":
            np.testing.assert_array_equal(batched.labels, alone.labels)
            assert batched.probabilities is not None
            assert alone.probabilities is not None
            np.testing.assert_allclose(
                batched.probabilities, alone.probabilities, rtol=tolerance, atol=0
            )
        else:
            np.testing.assert_allclose(
                batched.labels.astype(np.float64),
                alone.labels.astype(np.float64),
                rtol=tolerance,
                atol=0,
            )


async def test_requests_were_really_batched() -> None:
    calls: list[int] = []
    model = runtime(LogisticRegression(max_iter=1000), "classification")

    def counting(batch: FeatureBatch, probabilities: bool) -> Prediction:
        calls.append(batch.rows)
        return model.predict(batch, probabilities)

    batcher = Batcher(counting, max_batch_size=64, max_wait_seconds=0.05)
    requests = requests_of(4, 3)
    await asyncio.gather(*(batcher.predict(request, False) for request in requests))
    await batcher.close()
    assert sum(calls) == sum(request.rows for request in requests)
    assert len(calls) < len(requests)
    assert max(calls) <= 64


async def test_one_failing_request_fails_alone() -> None:
    model = runtime(LogisticRegression(max_iter=1000), "classification")

    def picky(batch: FeatureBatch, probabilities: bool) -> Prediction:
        if np.any(batch.numeric > 100):
            raise ValueError("too large")
        return model.predict(batch, probabilities)

    batcher = Batcher(picky, max_batch_size=64, max_wait_seconds=0.05)
    good = batch_of(np.ones((2, 4)))
    bad = batch_of(np.full((1, 4), 500.0))
    results = await asyncio.gather(
        batcher.predict(good, False),
        batcher.predict(bad, False),
        batcher.predict(good, False),
        return_exceptions=True,
    )
    await batcher.close()
    assert isinstance(results[1], ValueError)
    assert all(isinstance(result, Prediction) for result in (results[0], results[2]))


@pytest.mark.parametrize(("estimator", "output", "tolerance"), MODELS[:2] + MODELS[3:4])
def test_forest_fast_path_equals_scikit_learn(
    estimator: Any, output: str, tolerance: float
) -> None:
    model = runtime(estimator, output)
    assert isinstance(model, ForestRuntime)
    rows = np.random.default_rng(9).normal(2, 2, (40, 4 if output == "classification" else 10))
    fast = model.predict(batch_of(rows), True)
    np.testing.assert_array_equal(fast.labels, estimator.predict(rows))
    if output == "classification":
        np.testing.assert_array_equal(fast.probabilities, estimator.predict_proba(rows))
