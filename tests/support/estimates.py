"""Performance estimation computed directly, row by row: what the estimator is checked against."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sklearn.metrics import auc


def nannyml_roc_auc(score: npt.NDArray[np.float64]) -> float:
    """NannyML's expected ROC AUC of calibrated scores (a row of score s is a positive with
    chance s): expected TP and FP at each distinct score, thresholds from the highest down,
    by the trapezoid rule."""
    order = np.argsort(-score, kind="stable")
    ranked = score[order]
    last = np.r_[np.diff(ranked) != 0, True]  # the last row of each distinct score
    tp = np.cumsum(ranked)[last]
    fp = np.cumsum(1 - ranked)[last]
    return float(auc(np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]))
