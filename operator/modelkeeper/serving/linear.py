"""scikit-learn's linear models scored with numpy, without the estimator's checks on every call.

A linear model's arithmetic on a small batch takes a few microseconds; scikit-learn's
`predict` spends about 250 µs around it (input validation, feature-name and namespace
checks, estimator tags), and `predict_proba` as much again. A `LinearScorer` holds the
fitted arrays and does the very operations scikit-learn's `StandardScaler.transform`,
`decision_function`, `predict` and `predict_proba` do, in the same order, dtypes and
memory layout, so its answers are the estimator's bit for bit (tests/unit/serving prove
it across models and batch sizes). It takes one score matrix for both labels and
probabilities, where scikit-learn computes it once for each.

Only exact types whose prediction is that arithmetic are taken; anything else (other
transformers, multi-output regression, intermediate DataFrames) stays on the
estimator's own path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.linear_model import (
    ElasticNet,
    ElasticNetCV,
    Lasso,
    LassoCV,
    LinearRegression,
    LogisticRegression,
    LogisticRegressionCV,
    Ridge,
    RidgeCV,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelkeeper.serving.frames import AnyArray, FloatMatrix

# Their predict is `X @ coef_ + intercept_` (LinearModel._decision_function).
REGRESSORS = (LinearRegression, Ridge, RidgeCV, Lasso, LassoCV, ElasticNet, ElasticNetCV)
# Their predict and predict_proba are LinearClassifierMixin's and LogisticRegression's.
CLASSIFIERS = (LogisticRegression, LogisticRegressionCV)


@dataclass(frozen=True)
class Standardize:
    """A fitted StandardScaler: subtract `mean`, divide by `scale` (either may be off)."""

    mean: FloatMatrix | None
    scale: FloatMatrix | None

    def apply(self, features: FloatMatrix) -> FloatMatrix:
        out = features.copy(order="K")  # scikit-learn copies, keeping the layout
        if self.mean is not None:
            out -= self.mean
        if self.scale is not None:
            out /= self.scale
        return out


@dataclass(frozen=True)
class LinearScorer:
    """A linear model (after its standardising steps) as arrays.

    `weights` is what scikit-learn multiplies by: `coef_` for a single-output
    regressor, `coef_.T` for a classifier. `column_major`: the estimator was
    fitted on a DataFrame, which scikit-learn reads as a column-major matrix.
    """

    steps: tuple[Standardize, ...]
    weights: FloatMatrix
    intercept: FloatMatrix | float
    classes: AnyArray | None
    column_major: bool

    def scores(self, numeric: FloatMatrix) -> FloatMatrix | None:
        """The decision function, or None if a value is missing or infinite.

        scikit-learn refuses such input (or a step's output) with its own error
        message, so the caller asks the estimator then.
        """
        features = np.asfortranarray(numeric) if self.column_major else numeric
        for step in self.steps:
            features = step.apply(features)
        if not np.isfinite(features).all():
            return None
        scores = features @ self.weights + self.intercept
        if scores.ndim > 1 and scores.shape[1] == 1:
            return scores.reshape(-1)
        return scores

    def labels(self, scores: FloatMatrix) -> AnyArray:
        """What `predict` answers: a regressor's scores; a classifier's positive class where
        the score is above 0, or the class of the highest score."""
        if self.classes is None:
            return scores
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes.take(indices, axis=0)

    def probabilities(self, scores: FloatMatrix) -> FloatMatrix:
        """LogisticRegression's probabilities: the logistic function of a binary model's
        score, the softmax of a multinomial model's scores. Overwrites `scores`."""
        if scores.ndim == 1:
            positive = expit(scores, out=scores)
            return np.stack([1 - positive, positive], axis=1)
        scores -= np.max(scores, axis=1).reshape(-1, 1)
        np.exp(scores, out=scores)
        scores /= np.sum(scores, axis=1).reshape(-1, 1)
        return scores


def _standardize(step: Any) -> Standardize | None:
    if type(step) is not StandardScaler:
        return None
    return Standardize(
        mean=step.mean_ if step.with_mean else None,
        scale=step.scale_ if step.with_std else None,
    )


def linear_scorer(estimator: Any) -> LinearScorer | None:
    """The scorer for a fitted linear model, optionally in a Pipeline after StandardScalers;
    None for anything else."""
    final = estimator
    steps: list[Standardize] = []
    if type(estimator) is Pipeline:
        *transforms, (_, final) = estimator.steps
        for _, transform in transforms:
            if transform is None or transform == "passthrough":
                continue
            step = _standardize(transform)
            if step is None:
                return None
            steps.append(step)
        if steps and hasattr(final, "feature_names_in_"):
            return None  # the scalers hand it a DataFrame (set_output)
    column_major = hasattr(estimator, "feature_names_in_")
    if type(final) in CLASSIFIERS:
        coef = final.coef_
        return LinearScorer(
            steps=tuple(steps),
            weights=coef.T if coef.ndim == 2 else coef,
            intercept=final.intercept_,
            classes=np.asarray(final.classes_),
            column_major=column_major,
        )
    if type(final) in REGRESSORS and np.ndim(final.coef_) == 1:
        return LinearScorer(
            steps=tuple(steps),
            weights=final.coef_,
            intercept=final.intercept_,
            classes=None,
            column_major=column_major,
        )
    return None
