"""Performance estimation (CBPE) against a direct computation, and against the labels.

Scores come from a calibrated model: x ~ N(0, spread), P(y = 1 | x) = sigmoid(2x), the model
scores s = sigmoid(2x) and predicts 1 when s > 0.5. The estimator reads them binned as
the scoring server bins them (its SCORE_BUCKETS, its `le` rule); the direct computation
reads every row: the mean probability of the predicted class, and NannyML's expected ROC
AUC (the expected TPR and FPR at every distinct score, by the trapezoid rule of
sklearn.metrics.auc). Labels drawn from the same probabilities give the realised figures.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy.special import expit
from sklearn.metrics import accuracy_score, roc_auc_score

from modelkeeper.drift.estimate import ScoreBins, expected_accuracy, expected_roc_auc
from modelkeeper.drift.statistics import Counts
from modelkeeper.serving.metrics import SCORE_BUCKETS
from tests.support.estimates import nannyml_roc_auc

EDGES = np.asarray(SCORE_BUCKETS)


def scores(generator: np.random.Generator, rows: int, spread: float) -> Counts:
    """The calibrated model's second-class probabilities for inputs x ~ N(0, spread)."""
    values: Counts = expit(2 * generator.normal(scale=spread, size=rows))
    return values


def binned(score: Counts) -> ScoreBins:
    """As the server counts them: bin i holds (edges[i-1], edges[i]], the last s > 1."""
    index = np.searchsorted(EDGES, score, side="left")
    size = EDGES.size + 1
    return ScoreBins(
        edges=EDGES,
        rows=np.bincount(index, minlength=size).astype(float),
        mass=np.bincount(index, weights=score, minlength=size).astype(float),
    )


def confidence(score: Counts) -> Counts:
    """The probability of the predicted class (1 when s > 0.5)."""
    result: Counts = np.where(score > 0.5, score, 1 - score)
    return result


@pytest.mark.parametrize("spread", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("rows", [50, 5000])
def test_the_estimate_is_the_direct_computation(rows: int, spread: float) -> None:
    score = scores(np.random.default_rng(rows), rows, spread)
    accuracy = expected_accuracy(float(confidence(score).sum()), rows)
    assert accuracy == pytest.approx(float(confidence(score).mean()), abs=1e-12)
    estimate = expected_roc_auc(binned(score))
    assert estimate is not None
    direct = nannyml_roc_auc(score)
    assert estimate.value - 1e-12 <= direct <= estimate.value + estimate.spread + 1e-12
    if rows >= 1000:
        assert estimate.spread < 0.005


def test_ties_within_a_bin_are_exact() -> None:
    """Every row on a bin's edge: the bins lose nothing."""
    score = np.repeat([0.1, 0.4, 0.4, 0.7, 0.98], 7)
    estimate = expected_roc_auc(binned(score))
    assert estimate is not None
    assert estimate.value == pytest.approx(nannyml_roc_auc(score), abs=1e-12)


@pytest.mark.parametrize(
    ("score", "defined"),
    [
        pytest.param([0.0, 0.0, 0.0], False, id="no-expected-positive"),
        pytest.param([1.0, 1.0], False, id="no-expected-negative"),
        pytest.param([0.0, 1.0], True, id="perfect"),
    ],
)
def test_an_auc_needs_both_classes(score: list[float], defined: bool) -> None:
    estimate = expected_roc_auc(binned(np.asarray(score)))
    assert (estimate is not None) == defined
    if estimate is not None:
        assert estimate.value == pytest.approx(1.0)


def test_the_estimate_tracks_the_realised_performance_when_labels_arrive() -> None:
    """Windows of 2,000 rows, inputs ever closer to the decision boundary: estimate and
    realised fall together, the estimate within 4 standard errors of the realised value
    (accuracy: √(a(1 - a) / n); ROC AUC: Hanley-McNeil)."""
    generator = np.random.default_rng(11)
    rows = 2000
    history = []
    for spread in (2.0, 1.5, 1.0, 0.6, 0.3):
        score = scores(generator, rows, spread)
        labels = generator.uniform(size=rows) < score
        realised_accuracy = accuracy_score(labels, score > 0.5)
        realised_auc = roc_auc_score(labels, score)
        accuracy = expected_accuracy(float(confidence(score).sum()), rows)
        roc = expected_roc_auc(binned(score))
        assert roc is not None
        assert abs(accuracy - realised_accuracy) <= 4 * math.sqrt(accuracy * (1 - accuracy) / rows)
        assert abs(roc.value - realised_auc) <= 4 * hanley_mcneil(realised_auc, labels)
        history.append((accuracy, realised_accuracy, roc.value, realised_auc))
    estimated, realised = np.asarray(history)[:, [0, 2]], np.asarray(history)[:, [1, 3]]
    assert np.all(np.diff(estimated, axis=0) < 0)
    assert np.all(np.diff(realised, axis=0) < 0)


def hanley_mcneil(area: float, labels: npt.NDArray[np.bool_]) -> float:
    """The standard error of an ROC AUC (Hanley and McNeil, 1982)."""
    positives = float(labels.sum())
    negatives = labels.size - positives
    q1, q2 = area / (2 - area), 2 * area**2 / (1 + area)
    variance = (
        area * (1 - area) + (positives - 1) * (q1 - area**2) + (negatives - 1) * (q2 - area**2)
    ) / (positives * negatives)
    return math.sqrt(variance)
