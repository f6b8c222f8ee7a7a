"""Performance without labels: confidence-based performance estimation (CBPE).

A calibrated classifier's probability is the chance it is right, so its expected
accuracy over a window is the mean probability it gave its own predictions, and its
expected ROC AUC follows from the expected confusion matrices at every threshold
(NannyML's CBPE). Pure, over what the scoring server exports (docs/metrics.md,
"Estimated performance"): the confidence histogram's sum and count, and a binary
classifier's second-class probability binned with each bin's row count and probability
sum. Calibration is the premise: for a model whose probabilities are not calibrated on
the live population the estimate is off by its miscalibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelkeeper.drift.statistics import Counts


def expected_accuracy(confidence_sum: float, rows: float) -> float:
    """Σ p(predicted class) / rows: each row is right with the probability the model gave it."""
    return confidence_sum / rows


@dataclass(frozen=True)
class ScoreBins:
    """A binary classifier's second-class probabilities s, binned as a Prometheus histogram:
    bin 0 is s ≤ edges[0], bin b is edges[b-1] < s ≤ edges[b], the last is s > edges[-1];
    bin b holds rows[b] rows whose s sums to mass[b]."""

    edges: Counts
    rows: Counts
    mass: Counts

    @property
    def widths(self) -> Counts:
        """Each bin's width within [0, 1]: the overflow bin holds nothing above 1."""
        bounds = np.clip(np.concatenate(([0.0], self.edges, [1.0])), 0.0, 1.0)
        widths: Counts = np.maximum(np.diff(bounds), 0.0)
        return widths


@dataclass(frozen=True)
class RocAuc:
    """The expected ROC AUC, and how far above it the per-row value can lie."""

    value: float
    spread: float
    """Rows of one bin count as ties; ordered, they add at most this much."""


def expected_roc_auc(bins: ScoreBins) -> RocAuc | None:
    """The expected ROC AUC: a row of score s is a positive with probability s.

    Expected positives P_b = mass_b and negatives N_b = rows_b - mass_b per bin; the ROC
    curve through the expected (FPR, TPR) at every bin edge, by the trapezoid rule, gives
    Σ_b N_b (Σ_{c > b} P_c + P_b / 2) / (P N): the chance a positive scores above a
    negative, a tie counting half. Inside a bin a row's order is unknown; the per-row value
    (NannyML's, one threshold per row) adds ½ Σ (s_j - s_i) over each bin's pairs, at most
    Σ_b C(rows_b, 2) · width_b / 2 / (P N) (`spread`). None without expected positives or
    negatives.
    """
    positives = bins.mass
    negatives = np.maximum(bins.rows - bins.mass, 0.0)
    total_positive, total_negative = float(positives.sum()), float(negatives.sum())
    if total_positive <= 0 or total_negative <= 0:
        return None
    above = np.cumsum(positives[::-1])[::-1] - positives  # Σ_{c > b} P_c
    pairs = float(np.sum(negatives * (above + positives / 2)))
    within = float(np.sum(bins.rows * np.maximum(bins.rows - 1, 0) / 2 * bins.widths)) / 2
    scale = total_positive * total_negative
    return RocAuc(value=pairs / scale, spread=within / scale)
