"""Each drift statistic against an independent computation on fixed counts, to 1e-9."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.spatial.distance import jensenshannon

from modelkeeper.drift import statistics
from modelkeeper.drift.statistics import Counts, NullMethod

# (reference, live) count pairs over the same bins; the first and last are the under- and
# overflow bins of a numeric feature.
SAME = ([5, 120, 118, 121, 119, 0], [1, 60, 58, 62, 59, 0])
SHIFTED = ([5, 120, 118, 121, 119, 0], [0, 10, 30, 80, 200, 40])
DISJOINT = ([0, 50, 50, 0, 0, 0], [0, 0, 0, 40, 60, 0])
CROSSING = ([0, 10, 80, 10, 0], [0, 45, 10, 45, 0])
"""The live CDF crosses the reference's inside a bin."""
PAIRS = [
    pytest.param(*SAME, id="same"),
    pytest.param(*SHIFTED, id="shifted"),
    pytest.param(*DISJOINT, id="disjoint"),
    pytest.param(*CROSSING, id="crossing"),
]
EDGES = {6: [0.0, 1.0, 2.5, 3.0, 7.0], 5: [-2.0, -1.0, 1.0, 2.0]}


def counts(values: Sequence[float]) -> Counts:
    return np.asarray(values, dtype=np.float64)


@pytest.mark.parametrize(("reference", "live"), PAIRS)
def test_psi_is_the_smoothed_sum_over_kept_bins(reference: list[int], live: list[int]) -> None:
    kept = [(c, d) for c, d in zip(reference, live, strict=True) if c + d > 0]
    c_total = sum(c + 0.5 for c, _ in kept)
    d_total = sum(d + 0.5 for _, d in kept)
    expected = 0.0
    for c, d in kept:
        p, q = (c + 0.5) / c_total, (d + 0.5) / d_total
        expected += (p - q) * math.log(p / q)
    assert statistics.psi(counts(reference), counts(live)) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("reference", "live"), PAIRS)
def test_jensen_shannon_matches_scipy_base_2(reference: list[int], live: list[int]) -> None:
    expected = jensenshannon(reference, live, base=2)
    actual = statistics.jensen_shannon(counts(reference), counts(live))
    assert actual == pytest.approx(expected, abs=1e-9)


def test_jensen_shannon_spans_zero_to_one() -> None:
    assert statistics.jensen_shannon(counts(SAME[0]), counts(SAME[0])) == pytest.approx(0)
    assert statistics.jensen_shannon(*map(counts, DISJOINT)) == pytest.approx(1, abs=1e-12)


def samples(values: list[int]) -> Counts:
    """One observation per count, at its bin's index."""
    return np.repeat(np.arange(len(values), dtype=np.float64), values)


@pytest.mark.parametrize(("reference", "live"), PAIRS)
def test_ks_lower_bound_is_ks_2samp_on_bin_indices(reference: list[int], live: list[int]) -> None:
    expected = stats.ks_2samp(samples(reference), samples(live)).statistic
    bounds = statistics.ks_bounds(counts(reference), counts(live))
    assert bounds.lower == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(("reference", "live"), PAIRS)
def test_ks_upper_bound_holds_for_any_placement_inside_bins(
    reference: list[int], live: list[int]
) -> None:
    """The reference's values at the top of their bins and the live ones at the bottom (and
    the other way round) reach the upper bound, and never exceed it."""
    bounds = statistics.ks_bounds(counts(reference), counts(live))
    reached = max(
        stats.ks_2samp(samples(reference) + shift, samples(live) + 0.5 - shift).statistic
        for shift in (0.0, 0.5)
    )
    assert bounds.lower <= bounds.upper
    assert reached == pytest.approx(bounds.upper, abs=1e-9)


@pytest.mark.parametrize(("reference", "live"), PAIRS)
def test_chi_square_matches_scipy_contingency(reference: list[int], live: list[int]) -> None:
    table = np.array([reference, live])
    table = table[:, table.sum(axis=0) > 0]
    expected = stats.chi2_contingency(table, correction=False)
    actual = statistics.chi_square(counts(reference), counts(live))
    assert actual.statistic == pytest.approx(expected.statistic, abs=1e-9)
    assert actual.p_value == pytest.approx(expected.pvalue, abs=1e-9)


def test_chi_square_of_one_bin_has_nothing_to_test() -> None:
    assert statistics.chi_square(counts([0, 9, 0]), counts([0, 4, 0])) == statistics.ChiSquare(
        0.0, 1.0
    )


def midpoints(edges: list[float]) -> Counts:
    """The underflow bin at the first edge, inner bins at their middles, overflow at the last."""
    inner = [(low + high) / 2 for low, high in itertools.pairwise(edges)]
    return np.asarray([edges[0], *inner, edges[-1]])


@pytest.mark.parametrize(
    ("reference", "live"),
    [
        pytest.param(*SHIFTED, id="shifted"),
        pytest.param(*DISJOINT, id="disjoint"),
        pytest.param([0, 40, 30, 20, 10, 0], [0, 10, 20, 30, 40, 0], id="mirrored"),
    ],
)
def test_wasserstein_matches_scipy_on_midpoints_without_crossings(
    reference: list[int], live: list[int]
) -> None:
    """Where F - G keeps its sign across every bin, uniform mass in a bin and all of it at the
    midpoint give the same integral, so scipy's point-mass distance is exact."""
    edges = EDGES[len(reference)]
    expected = stats.wasserstein_distance(midpoints(edges), midpoints(edges), reference, live)
    actual = statistics.wasserstein(counts(reference), counts(live), counts(edges), 2.0)
    assert actual == pytest.approx(expected / 2.0, abs=1e-9)


def test_wasserstein_integrates_uniform_bins_where_the_cdfs_cross() -> None:
    reference, live = CROSSING
    edges = EDGES[len(reference)]
    f = np.cumsum(reference) / sum(reference)
    g = np.cumsum(live) / sum(live)

    def cdf_gap(x: float) -> float:
        """|F - G| with mass spread uniformly inside each inner bin."""
        i = int(np.searchsorted(edges, x))
        share = (x - edges[i - 1]) / (edges[i] - edges[i - 1])
        at = [f[i - 1] + share * (f[i] - f[i - 1]), g[i - 1] + share * (g[i] - g[i - 1])]
        return float(abs(at[0] - at[1]))

    expected, _ = integrate.quad(
        cdf_gap, edges[0], edges[-1], points=edges[1:-1], epsabs=1e-13, limit=200
    )
    midpoint = stats.wasserstein_distance(midpoints(edges), midpoints(edges), reference, live)
    actual = statistics.wasserstein(counts(reference), counts(live), counts(edges), 1.0)
    assert actual == pytest.approx(expected, abs=1e-9)
    assert actual < midpoint  # where the CDFs cross, the midpoint estimate overstates


def test_wasserstein_of_a_constant_reference_is_zero() -> None:
    assert statistics.wasserstein(counts([50, 0]), counts([30, 0]), counts([4.0]), 0.0) == 0.0


REACH = 100 * stats.chi2.isf(0.01, 4) / 50
"""M times the Pearson divergence a reference of N = 50 rows over 5 bins lies from its own
distribution in all but 1 % of draws: the noncentrality of the window's statistic."""
KS_REACH = stats.kstwobign.isf(0.01) / math.sqrt(50)


@pytest.mark.parametrize(
    ("method", "score", "expected"),
    [
        pytest.param(NullMethod.PSI, 0.05, stats.ncx2.sf(0.05 * 100, 4, REACH), id="psi"),
        pytest.param(
            NullMethod.JENSEN_SHANNON,
            0.1,
            stats.ncx2.sf(8 * math.log(2) * 0.01 * 100, 4, REACH),
            id="jensen-shannon",
        ),
        pytest.param(
            NullMethod.CHI_SQUARE, 12.0, stats.ncx2.sf(12.0 * 0.03 * 100, 4, REACH), id="chi-square"
        ),
        pytest.param(
            NullMethod.KS, 0.4, stats.kstwobign.sf((0.4 - KS_REACH) * math.sqrt(100)), id="ks"
        ),
        pytest.param(NullMethod.KS, 0.2, 1.0, id="ks-within-the-references-own-error"),
    ],
)
def test_p_values_under_no_drift(method: NullMethod, score: float, expected: float) -> None:
    """N = 50 and M = 100 (1/N + 1/M = 0.03) over 5 bins, against a fixed reference."""
    assert statistics.p_value(method, score, 50, 100, 5) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("method", list(NullMethod))
@pytest.mark.parametrize("rate", [0.05, 0.01, 0.001])
def test_the_threshold_is_the_score_whose_p_value_is_the_rate(
    method: NullMethod, rate: float
) -> None:
    score = statistics.threshold(method, rate, 2000, 300, 11)
    assert statistics.p_value(method, score, 2000, 300, 11) == pytest.approx(rate, abs=1e-9)


def test_psi_threshold_shrinks_with_the_window_down_to_the_references_own_error() -> None:
    small = statistics.threshold(NullMethod.PSI, 0.01, 10_000, 300, 10)
    large = statistics.threshold(NullMethod.PSI, 0.01, 10_000, 30_000, 10)
    reach = stats.chi2.isf(0.01, 9) / 10_000
    assert small == pytest.approx(stats.ncx2.isf(0.01, 9, 300 * reach) / 300, rel=1e-9)
    assert large < small / 5
    assert large > reach


def test_psi_of_samples_from_one_distribution_stays_near_its_null_scale() -> None:
    """The approximation the thresholds rest on: the mean PSI of two samples of one
    distribution is about (1/N + 1/M)(B - 1), the mean of (1/N + 1/M) chi-square(B - 1)."""
    generator = np.random.default_rng(7)
    shares = np.full(10, 0.1)
    values = [
        statistics.psi(
            generator.multinomial(5000, shares).astype(np.float64),
            generator.multinomial(2000, shares).astype(np.float64),
        )
        for _ in range(400)
    ]
    assert np.mean(values) == pytest.approx((1 / 5000 + 1 / 2000) * 9, rel=0.1)


P_VALUES = [0.001, 0.04, 0.03, 0.2, 0.011, 0.5, 0.049]


def test_bonferroni_multiplies_by_the_number_of_tests() -> None:
    corrected = statistics.bonferroni(np.asarray(P_VALUES))
    assert corrected.tolist() == pytest.approx([min(p * 7, 1.0) for p in P_VALUES], abs=1e-12)


def step_up_rejections(p_values: list[float], alpha: float) -> set[int]:
    """Benjamini-Hochberg by its definition: reject the k smallest, k the largest rank with
    p_(k) <= k alpha / m."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    m = len(p_values)
    largest = max(
        (rank for rank, i in enumerate(order, 1) if p_values[i] <= rank * alpha / m), default=0
    )
    return set(order[:largest])


@pytest.mark.parametrize("alpha", [0.01, 0.03, 0.05, 0.1, 0.5])
def test_benjamini_hochberg_rejects_what_the_step_up_rule_rejects(alpha: float) -> None:
    adjusted = statistics.benjamini_hochberg(np.asarray(P_VALUES))
    rejected = {i for i, p in enumerate(adjusted) if p <= alpha}
    assert rejected == step_up_rejections(P_VALUES, alpha)


def test_benjamini_hochberg_adjusted_values_by_their_definition() -> None:
    m = len(P_VALUES)
    ranked = sorted(P_VALUES)
    expected = [
        min(1.0, min(m * ranked[j] / (j + 1) for j in range(ranked.index(p), m))) for p in P_VALUES
    ]
    adjusted = statistics.benjamini_hochberg(np.asarray(P_VALUES))
    assert adjusted.tolist() == pytest.approx(expected, abs=1e-12)
