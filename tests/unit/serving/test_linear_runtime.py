"""The linear runtime answers as the scikit-learn estimator does, bit for bit; others keep theirs.

Each model is fitted, wrapped by the runtime the server would pick, and asked for
batches of several sizes; its labels and probabilities (a regressor's values) must
equal the estimator's own `predict` and `predict_proba` exactly, fed as the generic
runtime feeds them (a DataFrame for a model fitted on one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import (
    ElasticNet,
    Lasso,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    Ridge,
    RidgeCV,
    SGDClassifier,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from modelkeeper.serving.frames import FeatureBatch
from modelkeeper.serving.runtime import (
    JoblibRuntime,
    LinearRuntime,
    Runtime,
    estimator_runtime,
    feature_frame,
)
from modelkeeper.serving.schema import ModelSchema

DATASETS: dict[str, Callable[..., Any]] = {
    "binary": load_breast_cancer,
    "multiclass": load_iris,
    "regression": load_diabetes,
}


def fitted(estimator: Any, dataset: str, *, frame: bool = False, labels: bool = False) -> Any:
    """`estimator` fitted on a dataset: on a DataFrame if `frame`, to string classes if `labels`."""
    data = DATASETS[dataset](as_frame=frame)
    target = np.asarray(data.target)
    if labels:
        target = np.array(["no", "yes", "maybe"])[target]
    return estimator.fit(data.data, target)


def served(estimator: Any, dataset: str) -> tuple[Runtime, ModelSchema]:
    """The runtime the server picks, with a schema naming the inputs as the model was fitted."""
    names = [str(name) for name in getattr(estimator, "feature_names_in_", [])]
    model_schema = ModelSchema.model_validate(
        {
            "inputs": [
                {"name": name, "type": "numeric"}
                for name in names or [f"x{index}" for index in range(estimator.n_features_in_)]
            ],
            "output": {"type": "regression" if dataset == "regression" else "classification"},
        }
    )
    return estimator_runtime(estimator, model_schema), model_schema


def batch_of(rows: np.ndarray) -> FeatureBatch:
    return FeatureBatch(numeric=rows, categorical=np.empty((len(rows), 0), dtype=object))


def rows_like(dataset: str, count: int, seed: int) -> np.ndarray:
    """`count` training rows, each feature moved by noise of a fifth of its spread."""
    data = np.asarray(DATASETS[dataset]().data, dtype=np.float64)
    generator = np.random.default_rng(seed)
    picked = data[generator.integers(0, len(data), count)]
    moved: np.ndarray = picked + generator.normal(0, 0.2, picked.shape) * data.std(axis=0)
    return moved


LINEAR = [
    pytest.param(LogisticRegression(solver="liblinear"), "binary", {}, id="logistic-binary"),
    pytest.param(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "binary",
        {},
        id="scaled-logistic-binary",
    ),
    pytest.param(
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "binary",
        {"frame": True},
        id="scaled-logistic-binary-frame",
    ),
    pytest.param(LogisticRegression(max_iter=1000), "multiclass", {}, id="logistic-multinomial"),
    pytest.param(
        LogisticRegression(max_iter=1000),
        "multiclass",
        {"frame": True, "labels": True},
        id="logistic-multinomial-frame-string-classes",
    ),
    pytest.param(
        make_pipeline(
            StandardScaler(with_mean=False), "passthrough", LogisticRegression(max_iter=1000)
        ),
        "multiclass",
        {},
        id="scaled-without-mean-passthrough-logistic",
    ),
    pytest.param(
        LogisticRegressionCV(
            cv=3, max_iter=1000, l1_ratios=(0,), scoring="accuracy", use_legacy_attributes=False
        ),
        "multiclass",
        {},
        id="logistic-cv",
    ),
    pytest.param(LinearRegression(), "regression", {}, id="linear-regression"),
    pytest.param(LinearRegression(), "regression", {"frame": True}, id="linear-regression-frame"),
    pytest.param(Ridge(fit_intercept=False), "regression", {}, id="ridge-no-intercept"),
    pytest.param(RidgeCV(), "regression", {}, id="ridge-cv"),
    pytest.param(Lasso(alpha=0.1), "regression", {}, id="lasso"),
    pytest.param(
        make_pipeline(StandardScaler(), ElasticNet(alpha=0.01)),
        "regression",
        {"frame": True},
        id="scaled-elastic-net-frame",
    ),
]


@pytest.mark.parametrize(("estimator", "dataset", "fit"), LINEAR)
def test_linear_runtime_answers_as_the_estimator(
    estimator: Any, dataset: str, fit: dict[str, bool]
) -> None:
    estimator = fitted(estimator, dataset, **fit)
    runtime, model_schema = served(estimator, dataset)
    assert isinstance(runtime, LinearRuntime)
    for count, seed in [(1, 0), (1, 1), (7, 2), (64, 3), (500, 4)]:
        batch = batch_of(rows_like(dataset, count, seed))
        features = feature_frame(batch, model_schema) if fit.get("frame") else batch.numeric
        answer = runtime.predict(batch, True)
        np.testing.assert_array_equal(answer.labels, estimator.predict(features), strict=True)
        if dataset == "regression":
            assert answer.probabilities is None
        else:
            np.testing.assert_array_equal(
                answer.probabilities, estimator.predict_proba(features), strict=True
            )
            assert runtime.predict(batch, False).probabilities is None


class ShiftedLogistic(LogisticRegression):  # type: ignore[misc]
    """A subclass may change what predict means; the runtime does not guess."""

    def predict_proba(self, features: Any) -> Any:
        return super().predict_proba(features)[:, ::-1]


def reversed_probabilities(estimator: Any) -> Any:
    """An estimator whose answers differ from the arithmetic of its type (as a scikit-learn
    version with another predict_proba would): the probe at load must catch it."""
    own = estimator.predict_proba
    estimator.predict_proba = lambda features: own(features)[:, ::-1]
    return estimator


GENERIC = [
    pytest.param(SGDClassifier(loss="log_loss", random_state=0), "binary", {}, id="sgd-classifier"),
    pytest.param(ShiftedLogistic(solver="liblinear"), "binary", {}, id="logistic-subclass"),
    pytest.param(
        make_pipeline(MinMaxScaler(), LogisticRegression()), "binary", {}, id="other-scaler"
    ),
    pytest.param(
        make_pipeline(StandardScaler().set_output(transform="pandas"), LogisticRegression()),
        "binary",
        {"frame": True},
        id="scaler-giving-dataframes",
    ),
]


@pytest.mark.parametrize(("estimator", "dataset", "fit"), GENERIC)
def test_other_models_keep_the_generic_path(
    estimator: Any, dataset: str, fit: dict[str, bool]
) -> None:
    runtime, _ = served(fitted(estimator, dataset, **fit), dataset)
    assert type(runtime) is JoblibRuntime


def test_multi_output_regression_keeps_the_generic_path() -> None:
    data = load_diabetes()
    estimator = Ridge().fit(data.data, np.column_stack([data.target, data.target * 2]))
    runtime, _ = served(estimator, "regression")
    assert type(runtime) is JoblibRuntime


def test_an_estimator_answering_otherwise_keeps_the_generic_path() -> None:
    estimator = reversed_probabilities(fitted(LogisticRegression(solver="liblinear"), "binary"))
    runtime, _ = served(estimator, "binary")
    assert type(runtime) is JoblibRuntime


@pytest.mark.parametrize(
    "estimator",
    [
        pytest.param(LogisticRegression(solver="liblinear"), id="logistic"),
        pytest.param(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)), id="scaled"
        ),
    ],
)
def test_missing_value_gets_the_estimators_own_error(estimator: Any) -> None:
    runtime, _ = served(fitted(estimator, "binary"), "binary")
    assert isinstance(runtime, LinearRuntime)
    rows = rows_like("binary", 3, 0)
    rows[1, 4] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        runtime.predict(batch_of(rows), False)


def test_batch_is_left_unchanged() -> None:
    estimator = fitted(make_pipeline(StandardScaler(), LogisticRegression()), "multiclass")
    runtime, _ = served(estimator, "multiclass")
    rows = rows_like("multiclass", 5, 0)
    kept = rows.copy()
    runtime.predict(batch_of(rows), True)
    np.testing.assert_array_equal(rows, kept)
