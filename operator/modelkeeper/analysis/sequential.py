"""An always-valid comparison of two means: the mixture sequential probability ratio test.

An A/B test that is read every interval and stopped at the first significant reading
would, with a fixed-horizon test, reject a true null far more often than alpha. The
mSPRT (Johari, Pekelis, Koomen and Walsh, "Always valid inference", 2017) does not: its
likelihood ratio, mixed over a normal prior N(0, tau^2) on the difference, is a
martingale under the null, so by Ville's inequality the chance that it ever reaches
1/alpha, at any number of peeks, is at most alpha. For an estimate d of the difference
with variance s^2 the ratio is

    Lambda = sqrt(s^2 / (s^2 + tau^2)) * exp(tau^2 d^2 / (2 s^2 (s^2 + tau^2)))

(the paper's two-stream form with s^2 = 2 sigma^2 / n, here with one variance per arm so
that the split need not be even). Variances are plug-in estimates from each arm's count,
sum and sum of squares, the normal approximation the paper uses for conversions too.
Pure: numbers in, numbers out (tests/unit/analysis/test_sequential_simulation.py
simulates it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Moments:
    """One arm's outcomes as sufficient statistics: how many, their sum, their squares' sum."""

    count: float
    total: float
    squares: float

    @property
    def mean(self) -> float:
        return self.total / self.count

    def variance(self, binary: bool) -> float:
        """Bernoulli p(1 - p) for 0/1 outcomes, else the unbiased sample variance; never < 0."""
        mean = self.mean
        if binary:
            return max(mean * (1.0 - mean), 0.0)
        if self.count < 2:
            return 0.0
        return max((self.squares - self.count * mean * mean) / (self.count - 1), 0.0)


@dataclass(frozen=True)
class Comparison:
    """The challenger (b) against the champion (a) at one reading."""

    effect: float
    """mean(b) - mean(a)."""
    stderr: float
    """The effect's standard error."""
    p_value: float
    """min(1, 1/Lambda): at most alpha only when the test rejects equal means."""
    lower: float
    """The always-valid (1 - alpha) confidence interval of the effect."""
    upper: float


def _log_ratio(effect: float, variance: float, tau: float) -> float:
    """log Lambda for an estimate `effect` with `variance`, against a N(0, tau^2) mixture."""
    if variance <= 0.0:
        return 0.0 if effect == 0.0 else math.inf
    t2 = tau * tau
    return 0.5 * math.log(variance / (variance + t2)) + t2 * effect * effect / (
        2.0 * variance * (variance + t2)
    )


def half_width(variance: float, tau: float, alpha: float) -> float:
    """How far from the effect the interval reaches: the |d| at which Lambda = 1/alpha."""
    if variance <= 0.0:
        return 0.0
    t2 = tau * tau
    return math.sqrt(
        2.0
        * variance
        * (variance + t2)
        / t2
        * (math.log(1.0 / alpha) + 0.5 * math.log((variance + t2) / variance))
    )


def compare(a: Moments, b: Moments, *, tau: float, alpha: float, binary: bool) -> Comparison:
    """The mSPRT of mean(b) = mean(a) at this reading (both arms need a count > 0)."""
    effect = b.mean - a.mean
    variance = a.variance(binary) / a.count + b.variance(binary) / b.count
    log_ratio = _log_ratio(effect, variance, tau)
    p_value = 1.0 if log_ratio <= 0.0 else math.exp(-log_ratio)
    half = half_width(variance, tau, alpha)
    return Comparison(effect, math.sqrt(variance), p_value, effect - half, effect + half)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def power(effect: float, variance: float, *, tau: float, alpha: float) -> float:
    """The chance that a reading whose estimate has `variance` rejects when the true
    difference is `effect`: a lower bound of the test's power by that reading, since a
    reading before it may have rejected already."""
    if variance <= 0.0:
        return 1.0 if effect != 0.0 else 0.0
    spread, reach = math.sqrt(variance), half_width(variance, tau, alpha)
    return _normal_cdf((effect - reach) / spread) + _normal_cdf((-effect - reach) / spread)
