"""The weighted split, the balance across endpoints and mirror sampling hit their shares."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelkeeper.router.split import SmoothWeightedRoundRobin, should_mirror


def picks(weights: dict[str, int], count: int) -> list[str | None]:
    split: SmoothWeightedRoundRobin[str] = SmoothWeightedRoundRobin()
    return [split.pick(weights) for _ in range(count)]


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        pytest.param({"stable": 1}, ["stable"] * 3, id="one-backend"),
        pytest.param({"a": 1, "b": 1}, ["a", "b", "a", "b"], id="equal-is-round-robin"),
        pytest.param(
            {"stable": 5, "canary": 1, "other": 1},
            ["stable", "stable", "canary", "stable", "other", "stable", "stable"],
            id="nginx-example-interleaves",
        ),
        pytest.param({"stable": 90, "canary": 0}, ["stable"] * 3, id="zero-weight-never-picked"),
        pytest.param({"stable": 0}, [None, None], id="no-weight-no-pick"),
        pytest.param({}, [None], id="no-candidates"),
    ],
)
def test_pick_sequence(weights: dict[str, int], expected: list[str | None]) -> None:
    assert picks(weights, len(expected)) == expected


@given(
    weights=st.dictionaries(
        st.sampled_from("abcdef"), st.integers(min_value=0, max_value=40), min_size=1
    ),
    windows=st.integers(min_value=1, max_value=5),
)
def test_every_window_of_total_weight_picks_each_key_its_weight(
    weights: dict[str, int], windows: int
) -> None:
    total = sum(weights.values())
    counts = Counter(picks(weights, total * windows))
    assert counts == Counter({key: weight * windows for key, weight in weights.items() if weight})


def test_a_leaving_candidate_is_forgotten_and_the_rest_keep_their_share() -> None:
    split: SmoothWeightedRoundRobin[str] = SmoothWeightedRoundRobin()
    both = {"stable": 3, "canary": 1}
    before = [split.pick(both) for _ in range(4)]
    during = [split.pick({"stable": 3}) for _ in range(3)]
    after = Counter(split.pick(both) for _ in range(400))
    assert Counter(before) == Counter({"stable": 3, "canary": 1})
    assert during == ["stable"] * 3
    assert after == Counter({"stable": 300, "canary": 100})


@pytest.mark.parametrize(
    ("percent", "draw", "expected"),
    [
        pytest.param(0.0, 0.0, False, id="zero-never"),
        pytest.param(100.0, 0.999999, True, id="hundred-always"),
        pytest.param(10.0, 0.0999, True, id="draw-below-share"),
        pytest.param(10.0, 0.1, False, id="draw-at-share"),
        pytest.param(12.5, 0.12, True, id="fractional-share"),
    ],
)
def test_should_mirror(percent: float, draw: float, expected: bool) -> None:
    assert should_mirror(percent, lambda: draw) is expected


def test_mirror_share_converges_to_the_percent() -> None:
    source = random.Random(7)
    mirrored = sum(should_mirror(20.0, source.random) for _ in range(20_000))
    # Binomial(20000, 0.2) has a standard deviation of about 57; allow five of them.
    assert abs(mirrored - 4000) < 5 * 57
