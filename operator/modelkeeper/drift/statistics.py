"""The drift statistics: how far a feature's live bin counts are from its reference counts.

Pure numpy and scipy over two count vectors of the same bins, `reference` (c, N in
total) and `live` (d, M in total), so that every number the DriftMonitor reports can be
checked against an independent computation (tests/unit/drift). Counts are floats:
Prometheus' `increase()` extrapolates. Distribution functions come from scipy.special
(chdtrc, chdtri, chndtr, chndtrix, kolmogorov, kolmogi): the values of scipy.stats'
distributions at a fraction of their call overhead, which counts at 50 features an
evaluation. The meaning
of each statistic and of its threshold is written in docs/concepts.md ("Watching drift").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from scipy import special

Counts = npt.NDArray[np.float64]

PSI_SMOOTHING = 0.5
"""Added to every kept bin on both sides before PSI: additive (Jeffreys-like) smoothing is
steadier on small windows than replacing empty bins by a tiny constant, which lets one
empty bin dominate the sum."""


class NullMethod(StrEnum):
    """The statistics whose distribution under no drift is known, for sample-size-aware
    thresholds and p-values that hold for one fixed reference."""

    PSI = "PSI"
    JENSEN_SHANNON = "JensenShannon"
    KS = "KS"
    CHI_SQUARE = "ChiSquare"


def _kept(reference: Counts, live: Counts) -> tuple[Counts, Counts]:
    """Both vectors without the bins empty on both sides (they carry no information)."""
    keep = (reference + live) > 0
    return reference[keep], live[keep]


def kept_bins(reference: Counts, live: Counts) -> int:
    """How many bins hold a count on at least one side: the B of the tests' B - 1 degrees."""
    return int(np.count_nonzero((reference + live) > 0))


def psi(reference: Counts, live: Counts) -> float:
    """Population stability index Σ (p_i - q_i) ln(p_i / q_i), natural log.

    Bins empty on both sides are dropped; every other bin gets +0.5 on both sides
    (PSI_SMOOTHING) before p = c / N and q = d / M, so an empty bin on one side gives a
    large but finite term.
    """
    c, d = _kept(reference, live)
    p = (c + PSI_SMOOTHING) / (c + PSI_SMOOTHING).sum()
    q = (d + PSI_SMOOTHING) / (d + PSI_SMOOTHING).sum()
    return float(np.sum((p - q) * np.log(p / q)))


def jensen_shannon(reference: Counts, live: Counts) -> float:
    """Jensen-Shannon distance √((KL(p‖m) + KL(q‖m)) / 2), m = (p + q) / 2, log base 2: 0 for
    the same distribution, 1 for disjoint ones. 0 · log 0 = 0 (scipy.special.rel_entr), and
    no smoothing: m is positive wherever p or q is, so both terms stay finite."""
    p, q = reference / reference.sum(), live / live.sum()
    mixture = (p + q) / 2
    nats = (np.sum(special.rel_entr(p, mixture)) + np.sum(special.rel_entr(q, mixture))) / 2
    return math.sqrt(max(float(nats) / math.log(2), 0.0))


@dataclass(frozen=True)
class KsBounds:
    """Where the Kolmogorov-Smirnov statistic of the unbinned data lies, seen through bins."""

    lower: float
    """max_k |F_k - G_k| over the bins' upper edges: the KS statistic of the binned data."""
    upper: float
    """max_k max(F_k - G_{k-1}, G_k - F_{k-1}): the most the CDFs can differ inside a bin."""


def ks_bounds(reference: Counts, live: Counts) -> KsBounds:
    """Both KS bounds from the cumulative bin shares F (reference) and G (live). With B
    equal-mass bins they differ by about 1/B."""
    f = np.cumsum(reference) / reference.sum()
    g = np.cumsum(live) / live.sum()
    f_before, g_before = np.concatenate(([0.0], f[:-1])), np.concatenate(([0.0], g[:-1]))
    upper = max(float(np.max(f - g_before)), float(np.max(g - f_before)))
    return KsBounds(lower=float(np.max(np.abs(f - g))), upper=upper)


@dataclass(frozen=True)
class ChiSquare:
    """A chi-square test of homogeneity."""

    statistic: float
    p_value: float


def chi_square(reference: Counts, live: Counts) -> ChiSquare:
    """Pearson's chi-square test that both counts come from one distribution: the 2 x B
    table without bins empty on both sides, B - 1 degrees of freedom, no continuity
    correction. One bin left means nothing to test: statistic 0, p-value 1."""
    c, d = _kept(reference, live)
    table = np.vstack((c, d))
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    degrees = c.size - 1
    if degrees < 1:
        return ChiSquare(0.0, 1.0)
    return ChiSquare(statistic, float(special.chdtrc(degrees, statistic)))


def wasserstein(reference: Counts, live: Counts, edges: Counts, reference_std: float) -> float:
    """Wasserstein-1 distance ∫ |F(x) - G(x)| dx in reference standard deviations.

    `edges` are the profile's K finite edges and the counts have K + 1 bins. Mass is
    spread uniformly inside each inner bin (edges[i-1], edges[i]]; the underflow bin
    (≤ edges[0]) is a point mass at edges[0] and the overflow bin (> edges[-1]) a point
    mass at edges[-1], which underestimates how far values beyond the reference range
    went. F - G is then linear across each inner bin, so each bin's integral is exact:
    w(|a| + |b|)/2 without a sign change, w(a² + b²)/(2(|a| + |b|)) with one. A constant
    reference (standard deviation 0) has one edge, where everything sits: distance 0.
    """
    f = np.cumsum(reference)[:-1] / reference.sum()
    g = np.cumsum(live)[:-1] / live.sum()
    gap = f - g  # F - G at each edge, after that edge's bin
    start, end, width = gap[:-1], gap[1:], np.diff(edges)
    same_sign = start * end >= 0
    magnitude = np.abs(start) + np.abs(end)
    crossing = np.divide(
        start**2 + end**2, 2 * magnitude, out=np.zeros_like(magnitude), where=magnitude > 0
    )
    distance = float(np.sum(width * np.where(same_sign, magnitude / 2, crossing)))
    return distance / reference_std if reference_std > 0 else distance


REFERENCE_ERROR_RATE = 0.01
"""The share of reference profiles whose own sampling error the thresholds do not cover.

A reference profile is one sample of the training distribution, and it is fixed: every
window is compared with the same one. Two-sample thresholds (scaled by 1/N + 1/M) hold
their false-alarm rate on average over reference draws, but one unlucky reference
alarms far more often (20 % at rate 5 % with N = 10,000 and M = 5,000). So the null
hypothesis is widened to every distribution as far from the reference as the
reference's own error reaches in all but 1 % of draws, and the false-alarm rate holds
for each such fixed reference."""


def _divergence_bound(reference_total: float, degrees: int) -> float:
    """How far (Pearson divergence Σ (p - p̂)² / p) a reference of N rows lies from its own
    distribution in all but REFERENCE_ERROR_RATE of draws: N · Σ (p - p̂)² / p is about
    χ²(B - 1), so its 1 - REFERENCE_ERROR_RATE quantile over N."""
    return float(special.chdtri(degrees, REFERENCE_ERROR_RATE)) / reference_total


def _ks_bound(reference_total: float) -> float:
    """How far (sup |F - F̂|) a reference of N rows lies from its own distribution's CDF in
    all but REFERENCE_ERROR_RATE of draws: the Kolmogorov quantile over √N."""
    return float(special.kolmogi(REFERENCE_ERROR_RATE)) / math.sqrt(reference_total)


_JS_TO_CHI_SQUARE = 8 * math.log(2)
"""For nearby distributions JSD (in nats) ≈ (1/8) Σ (p - q)² / m, and Σ (p - q)² / m is the
Pearson divergence; a base-2 JS distance s has JSD = s² ln 2 nats."""


def _to_divergence(
    method: NullMethod, score: float, reference_total: float, live_total: float
) -> float:
    """A PSI, JS or chi-square score as the Pearson divergence Σ (p - q)² / p it
    approximates for nearby distributions (PSI is one already)."""
    match method:
        case NullMethod.JENSEN_SHANNON:
            return _JS_TO_CHI_SQUARE * score**2
        case NullMethod.CHI_SQUARE:
            return score * (1.0 / reference_total + 1.0 / live_total)
        case _:
            return score


def _from_divergence(
    method: NullMethod, divergence: float, reference_total: float, live_total: float
) -> float:
    """The inverse of `_to_divergence`."""
    match method:
        case NullMethod.JENSEN_SHANNON:
            return math.sqrt(divergence / _JS_TO_CHI_SQUARE)
        case NullMethod.CHI_SQUARE:
            return divergence / (1.0 / reference_total + 1.0 / live_total)
        case _:
            return divergence


def p_value(
    method: NullMethod, score: float, reference_total: float, live_total: float, bins: int
) -> float:
    """The most often a window of M rows from the reference's own distribution reaches this
    score, for a fixed reference of N rows whose own error is within its bound.

    PSI, JensenShannon and ChiSquare, as the Pearson divergence D they approximate: a
    reference p̂ at divergence e from the truth, and a window q̂, give M · D(p̂, q̂) about
    noncentral χ²(B - 1, M · e), largest at the bound e = χ²₁₋δ(B - 1) / N (δ =
    REFERENCE_ERROR_RATE). KS: sup |F̂ - G| ≤ sup |F̂ - F| + sup |F - G|, so the window's
    own distance is at least D - K₁₋δ / √N, and √M times it follows the Kolmogorov
    distribution (conservative). B counts the bins with a count on either side.
    """
    degrees = max(bins - 1, 1)
    if method is NullMethod.KS:
        excess = max(score - _ks_bound(reference_total), 0.0)
        return float(special.kolmogorov(excess * math.sqrt(live_total)))
    reach = live_total * _divergence_bound(reference_total, degrees)
    window = live_total * _to_divergence(method, score, reference_total, live_total)
    return float(1.0 - special.chndtr(window, degrees, reach))


def threshold(
    method: NullMethod,
    false_alarm_rate: float,
    reference_total: float,
    live_total: float,
    bins: int,
) -> float:
    """The score a window from the reference's own distribution reaches at most at
    `false_alarm_rate`: the inverse of `p_value`. For PSI, the 1 - alpha quantile of
    noncentral χ²(B - 1, M · χ²₁₋δ(B - 1) / N) over M; for KS, K₁₋δ / √N + K(1 - alpha) / √M."""
    degrees = max(bins - 1, 1)
    if method is NullMethod.KS:
        chance = float(special.kolmogi(false_alarm_rate)) / math.sqrt(live_total)
        return _ks_bound(reference_total) + chance
    reach = live_total * _divergence_bound(reference_total, degrees)
    window = float(special.chndtrix(1.0 - false_alarm_rate, degrees, reach))
    return _from_divergence(method, window / live_total, reference_total, live_total)


def bonferroni(p_values: Counts) -> Counts:
    """Each p-value times the number of tests, at most 1: controls the family-wise error."""
    corrected: Counts = np.minimum(p_values * p_values.size, 1.0)
    return corrected


def benjamini_hochberg(p_values: Counts) -> Counts:
    """Benjamini-Hochberg adjusted p-values, min over j ≥ rank of k · p_(j) / j, at most 1:
    rejecting those below alpha controls the false discovery rate at alpha."""
    k = p_values.size
    order = np.argsort(p_values)
    scaled = p_values[order] * k / np.arange(1, k + 1)
    adjusted = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    corrected: Counts = np.empty(k)
    corrected[order] = adjusted
    return corrected
