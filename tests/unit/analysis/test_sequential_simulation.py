"""The A/B test's error rates, by simulation: read every interval, it keeps alpha, and it has
the power it was designed for.

Each simulated experiment splits outcomes between champion and challenger as the weight
says, reads them every PEEK outcomes, and asks `decide` (what the operator asks) until it
decides or reaches maxSamples. A/A experiments (equal versions) must decide, either way,
in at most alpha of runs plus three standard errors; mSPRT bounds this at alpha for any
number of readings. A/B experiments at a stated effect, with maxSamples chosen so that
`power` (a lower bound: the last reading alone) says 80 %, must detect it, the right way
round, in at least 80 % of runs less three standard errors. The achieved rates are printed.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from modelkeeper.analysis.experiment import decide
from modelkeeper.analysis.sequential import Moments, compare, power
from modelkeeper.api.deployment import ExperimentDecision
from modelkeeper.api.strategy import ABTest

RUNS = 1000
PEEK = 100
"""Outcomes (both versions together) between two readings."""
ALPHA = 0.05
DESIGNED_POWER = 0.8

Draw = Callable[[np.random.Generator, int], np.ndarray]


def bernoulli(p: float) -> Draw:
    return lambda rng, n: (rng.random(n) < p).astype(float)


def normal(mean: float, sd: float) -> Draw:
    return lambda rng, n: rng.normal(mean, sd, n)


def exponential(mean: float) -> Draw:
    return lambda rng, n: rng.exponential(mean, n)


def spec(kind: str, effect: float, max_samples: int, weight: int = 50) -> ABTest:
    return ABTest.model_validate(
        {
            "weight": weight,
            "metric": {"type": kind},
            "minimumDetectableEffect": effect,
            "alpha": ALPHA,
            "minSamples": 50,
            "maxSamples": max_samples,
        }
    )


def experiment(test: ABTest, champion: Draw, challenger: Draw, rng: np.random.Generator) -> str:
    """One experiment read every PEEK outcomes: its decision (Inconclusive at maxSamples)."""
    share = test.weight / 100
    # Enough for the smaller version to reach maxSamples, whatever the random split.
    total = math.ceil(1.2 * test.max_samples / min(share, 1 - share)) + PEEK
    to_challenger = rng.random(total) < share
    outcomes = np.where(to_challenger, challenger(rng, total), champion(rng, total))
    arms = (np.where(to_challenger, 0.0, outcomes), np.where(to_challenger, outcomes, 0.0))
    counts = (np.cumsum(~to_challenger), np.cumsum(to_challenger))
    totals = [np.cumsum(values) for values in arms]
    squares = [np.cumsum(values * values) for values in arms]
    for end in range(PEEK, total + 1, PEEK):
        a, b = (
            Moments(float(counts[arm][end - 1]), totals[arm][end - 1], squares[arm][end - 1])
            for arm in (0, 1)
        )
        decision = decide(test, a, b).decision
        if decision is not ExperimentDecision.CONTINUE:
            return decision.value
    raise AssertionError("the experiment never reached maxSamples")


def rates(test: ABTest, champion: Draw, challenger: Draw, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    decisions = [experiment(test, champion, challenger, rng) for _ in range(RUNS)]
    return {d.value: decisions.count(d.value) / RUNS for d in ExperimentDecision}


def three_se(rate: float) -> float:
    return 3 * math.sqrt(rate * (1 - rate) / RUNS)


@pytest.mark.parametrize(
    ("kind", "draw", "effect", "max_samples", "weight"),
    [
        pytest.param("Binary", bernoulli(0.3), 0.05, 1000, 50, id="conversions-even-split"),
        pytest.param("Binary", bernoulli(0.1), 0.03, 1000, 20, id="rare-conversions-20pct"),
        pytest.param("Continuous", normal(10, 3), 0.5, 1000, 50, id="normal-scores"),
        pytest.param("Continuous", exponential(5), 1.0, 1000, 30, id="skewed-scores-30pct"),
    ],
)
def test_equal_versions_decide_at_most_alpha_of_the_time(
    kind: str, draw: Draw, effect: float, max_samples: int, weight: int
) -> None:
    found = rates(spec(kind, effect, max_samples, weight), draw, draw, seed=weight)
    false_positive = found["Promote"] + found["RollBack"]
    print(
        f"MEASURED A/A {kind} weight {weight}%: {false_positive:.1%} of {RUNS} experiments "
        f"read every {PEEK} outcomes decided (alpha {ALPHA:.0%}); the rest Inconclusive"
    )
    assert false_positive <= ALPHA + three_se(ALPHA)


def samples_for(power_wanted: float, effect: float, variances: tuple[float, float]) -> int:
    """The fewest outcomes per version (even split) at which `power` reaches power_wanted."""
    n = 10
    while power(effect, sum(variances) / n, tau=effect, alpha=ALPHA) < power_wanted:
        n += 10
    return n


@pytest.mark.parametrize(
    ("kind", "champion", "challenger", "effect", "variances", "better"),
    [
        pytest.param(
            "Binary",
            bernoulli(0.30),
            bernoulli(0.36),
            0.06,
            (0.3 * 0.7, 0.36 * 0.64),
            "Promote",
            id="conversions-up-6pts",
        ),
        pytest.param(
            "Binary",
            bernoulli(0.30),
            bernoulli(0.24),
            0.06,
            (0.3 * 0.7, 0.24 * 0.76),
            "RollBack",
            id="conversions-down-6pts",
        ),
        pytest.param(
            "Continuous",
            normal(10, 3),
            normal(10.5, 3),
            0.5,
            (9.0, 9.0),
            "Promote",
            id="scores-up-half",
        ),
    ],
)
def test_a_real_difference_is_found_with_the_designed_power(
    kind: str,
    champion: Draw,
    challenger: Draw,
    effect: float,
    variances: tuple[float, float],
    better: str,
) -> None:
    max_samples = samples_for(DESIGNED_POWER, effect, variances)
    found = rates(spec(kind, effect, max_samples), champion, challenger, seed=max_samples)
    wrong = "RollBack" if better == "Promote" else "Promote"
    print(
        f"MEASURED A/B {kind} effect {effect}: designed power {DESIGNED_POWER:.0%} at "
        f"maxSamples {max_samples} per version; achieved {found[better]:.1%} {better}, "
        f"{found[wrong]:.1%} {wrong}, {found['Inconclusive']:.1%} Inconclusive of {RUNS}"
    )
    assert found[better] >= DESIGNED_POWER - three_se(DESIGNED_POWER)
    assert found[wrong] <= ALPHA + three_se(ALPHA)


@pytest.mark.parametrize(
    ("a", "b", "tau"),
    [
        pytest.param(Moments(400, 120, 120), Moments(400, 150, 150), 0.05, id="rates"),
        pytest.param(Moments(250, 2500, 27250), Moments(90, 940, 10600), 0.5, id="uneven"),
    ],
)
def test_interval_ends_where_the_ratio_is_one_over_alpha(
    a: Moments, b: Moments, tau: float
) -> None:
    """An effect as far from the estimate as either end of the interval has Lambda = 1/alpha:
    the interval holds exactly the differences the test does not reject."""
    found = compare(a, b, tau=tau, alpha=ALPHA, binary=False)
    s2 = found.stderr**2
    for end in (found.lower, found.upper):
        distance = found.effect - end
        ratio = math.sqrt(s2 / (s2 + tau**2)) * math.exp(
            tau**2 * distance**2 / (2 * s2 * (s2 + tau**2))
        )
        assert ratio == pytest.approx(1 / ALPHA, rel=1e-9)


def test_two_stream_form_of_the_paper() -> None:
    """With n outcomes in each arm, Lambda is the paper's sqrt(V/(V + n tau^2)) exp(n^2 tau^2
    d^2 / (2 V (V + n tau^2))) with V = 2 sigma^2 (Johari et al. 2017, section 4)."""
    n, sigma2, tau, d = 300, 4.0, 0.4, 0.5
    a = Moments(n, 0.0, sigma2 * (n - 1))
    b = Moments(n, d * n, sigma2 * (n - 1) + n * d * d)
    found = compare(a, b, tau=tau, alpha=ALPHA, binary=False)
    v = 2 * sigma2
    paper = math.sqrt(v / (v + n * tau**2)) * math.exp(
        n**2 * tau**2 * d**2 / (2 * v * (v + n * tau**2))
    )
    assert found.p_value == pytest.approx(1 / paper, rel=1e-9)
