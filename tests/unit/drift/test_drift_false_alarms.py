"""The sample-size-aware thresholds keep their false-alarm rate for one fixed reference.

By simulation: reference profiles built (build_profile, 10 quantile bins) from N rows of
a standard normal, then windows of M rows from the same normal binned by each profile's
edges, judged at rate alpha = 0.05. For every reference the share of windows that alarm
stays within alpha plus three standard errors of a share of WINDOWS; Pearson's
two-sample chi-square p-value, which holds only on average over references, does not.
Power is measured against a stated shift. Seeds are fixed, so the figures are too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from modelkeeper.drift import statistics
from modelkeeper.drift.statistics import Counts, NullMethod
from modelkeeper.profile import NumericProfile, build_profile

ALPHA = 0.05
WINDOWS = 1000
REFERENCES = 5
TOLERANCE = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / WINDOWS)

Score = Callable[[Counts, Counts], float]
SCORES: dict[NullMethod, Score] = {
    NullMethod.PSI: statistics.psi,
    NullMethod.JENSEN_SHANNON: statistics.jensen_shannon,
    NullMethod.KS: lambda c, d: statistics.ks_bounds(c, d).lower,
    NullMethod.CHI_SQUARE: lambda c, d: statistics.chi_square(c, d).statistic,
}
NUMERIC = (NullMethod.PSI, NullMethod.JENSEN_SHANNON, NullMethod.KS)
CATEGORICAL = (NullMethod.PSI, NullMethod.JENSEN_SHANNON, NullMethod.CHI_SQUARE)
"""ChiSquare needs about 5 expected per cell, which a numeric profile's underflow bin (the
reference's minimum alone) never has; KS needs ordered bins."""
CATEGORY_SHARES = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.08, 0.05, 0.02])


class Reference:
    """A profile's counts of `rows` values of one feature, and the true share of each bin."""

    def __init__(self, generator: np.random.Generator, rows: int, numeric: bool) -> None:
        if numeric:
            column = pd.DataFrame({"x": generator.normal(size=rows)})
        else:
            labels = generator.choice(CATEGORY_SHARES.size, size=rows, p=CATEGORY_SHARES)
            column = pd.DataFrame({"x": pd.Series(labels).map(str)})
        self.feature = build_profile(column).features[0]
        self.counts = np.asarray(self.feature.counts, dtype=np.float64)

    def shares(self, shift: float = 0.0) -> Counts:
        """The true share of each bin, for a normal moved by `shift` standard deviations or,
        categorical, CATEGORY_SHARES (`__other__` last)."""
        if isinstance(self.feature, NumericProfile):
            cumulative = stats.norm.cdf(np.asarray(self.feature.edges) - shift)
            bins: Counts = np.diff(np.concatenate(([0.0], cumulative, [1.0])))
            return bins
        order = [int(category) for category in self.feature.categories]
        return np.append(CATEGORY_SHARES[order], 0.0)


def alarm_rates(
    reference: Reference, windows: Counts, rows: int, size: int, methods: tuple[NullMethod, ...]
) -> dict[NullMethod | str, float]:
    """The share of windows each method calls drifted at ALPHA, and Pearson's p-value's."""
    counts = reference.counts
    p_values: dict[NullMethod | str, list[float]] = {"Pearson": []}
    for live in windows:
        bins = statistics.kept_bins(counts, live)
        for method in methods:
            p = statistics.p_value(method, SCORES[method](counts, live), rows, size, bins)
            p_values.setdefault(method, []).append(p)
        p_values["Pearson"].append(statistics.chi_square(counts, live).p_value)
    return {method: float(np.mean(np.asarray(ps) < ALPHA)) for method, ps in p_values.items()}


@functools.cache
def no_drift(rows: int, size: int, seed: int, numeric: bool) -> list[dict[NullMethod | str, float]]:
    """Each of REFERENCES fixed references' alarm rates over WINDOWS windows of its own
    distribution."""
    generator = np.random.default_rng(seed)
    rates = []
    for _ in range(REFERENCES):
        reference = Reference(generator, rows, numeric)
        windows = generator.multinomial(size, reference.shares(), size=WINDOWS).astype(float)
        rates.append(
            alarm_rates(reference, windows, rows, size, NUMERIC if numeric else CATEGORICAL)
        )
    return rates


@pytest.mark.parametrize("numeric", [True, False], ids=["numeric", "categorical"])
@pytest.mark.parametrize(
    ("rows", "size", "seed"),
    [
        pytest.param(10_000, 5_000, 0, id="N10000-M5000"),
        pytest.param(2_000, 20_000, 1, id="N2000-M20000"),
        pytest.param(10_000, 500, 2, id="N10000-M500"),
    ],
)
def test_the_rate_holds_for_each_fixed_reference(
    rows: int, size: int, seed: int, numeric: bool
) -> None:
    """Windows of M = 5,000 against N = 10,000 are those of the report that found 20 %;
    M = 20,000 against N = 2,000 is where the reference's own error dominates; M = 500
    where the window's does."""
    for rates in no_drift(rows, size, seed, numeric):
        for method in NUMERIC if numeric else CATEGORICAL:
            assert rates[method] <= TOLERANCE, (method, rates)


def test_a_two_sample_p_value_does_not_hold_for_a_fixed_reference() -> None:
    """What the report found: Pearson's two-sample p-value, right on average over references,
    alarms at several times its rate for one of these fixed references."""
    rates = [reference["Pearson"] for reference in no_drift(10_000, 5_000, 0, True)]
    assert max(rates) > 2 * ALPHA, rates


def test_power_against_a_shift_of_a_tenth_of_a_standard_deviation() -> None:
    """N = 10,000, M = 5,000, the live mean moved by 0.1 standard deviations: each method
    alarms in at least this share of 200 windows against each fixed reference."""
    generator = np.random.default_rng(3)
    least = {NullMethod.PSI: 0.85, NullMethod.JENSEN_SHANNON: 0.85, NullMethod.KS: 0.7}
    for _ in range(REFERENCES):
        reference = Reference(generator, 10_000, numeric=True)
        windows = generator.multinomial(5_000, reference.shares(0.1), size=200).astype(float)
        rates = alarm_rates(reference, windows, 10_000, 5_000, NUMERIC)
        for method, share in least.items():
            assert rates[method] >= share, (method, rates)
