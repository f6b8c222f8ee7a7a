"""Demographic parity and equal opportunity differences: by hand, and against fairlearn."""

from __future__ import annotations

import random

import pytest
from fairlearn.metrics import (
    demographic_parity_difference as fairlearn_parity,
)
from fairlearn.metrics import (
    equal_opportunity_difference as fairlearn_opportunity,
)

from modelkeeper.retrain.fairness import (
    demographic_parity_difference,
    equal_opportunity_difference,
    measure,
)

T, F = True, False


@pytest.mark.parametrize(
    ("decisions", "labels", "groups", "parity", "opportunity"),
    [
        pytest.param([T, F, T, F], [T, F, T, F], ["a", "a", "b", "b"], 0.0, 0.0, id="even-groups"),
        # a: 2 of 2 positive decisions, b: 0 of 2 → parity 1; TPR a 1/1, b 0/1 → 1
        pytest.param([T, T, F, F], [T, F, T, F], ["a", "a", "b", "b"], 1.0, 1.0, id="opposite"),
        # a: 1/4 positive, b: 3/4 → 0.5; TPR a: 1/2 (rows 0, 1 labelled), b: 2/2 → 0.5
        pytest.param(
            [T, F, F, F, T, T, T, F],
            [T, T, F, F, T, T, F, F],
            ["a"] * 4 + ["b"] * 4,
            0.5,
            0.5,
            id="half-apart",
        ),
        # three groups: rates 1/2, 1/3, 1 → 1 - 1/3; TPR x 1/1, y 0/1, z 1/1 → 1
        pytest.param(
            [T, F, F, T, F, T],
            [T, F, T, F, F, T],
            ["x", "x", "y", "y", "y", "z"],
            2 / 3,
            1.0,
            id="three-groups-largest-minus-smallest",
        ),
        # group b has no positive label: its true positive rate is undefined
        pytest.param([T, F, T, F], [T, F, F, F], ["a", "a", "b", "b"], 0.0, None, id="no-positive"),
        pytest.param([T, F], [T, F], [1.0, 1.0], 0.0, 0.0, id="one-group"),
    ],
)
def test_hand_computed(
    decisions: list[bool],
    labels: list[bool],
    groups: list[object],
    parity: float,
    opportunity: float | None,
) -> None:
    assert demographic_parity_difference(decisions, groups) == pytest.approx(parity)
    found = equal_opportunity_difference(decisions, labels, groups)
    if opportunity is None:
        assert found is None
    else:
        assert found == pytest.approx(opportunity)


@pytest.mark.parametrize("seed", range(20))
def test_agrees_with_fairlearn(seed: int) -> None:
    """Random decisions over two to four groups of unequal sizes, every group with a positive
    label (where fairlearn's and these definitions agree)."""
    draw = random.Random(seed)
    count = draw.randint(20, 300)
    names = ["f", "m", "x", "y"][: draw.randint(2, 4)]
    groups = [draw.choice(names) for _ in range(count)]
    rate = {name: draw.random() for name in names}
    decisions = [draw.random() < rate[group] for group in groups]
    labels = [draw.random() < 0.5 for _ in groups]
    for name in names:  # every group has a positive label
        labels[groups.index(name)] = True

    assert demographic_parity_difference(decisions, groups) == pytest.approx(
        fairlearn_parity(labels, decisions, sensitive_features=groups), abs=1e-12
    )
    assert equal_opportunity_difference(decisions, labels, groups) == pytest.approx(
        fairlearn_opportunity(labels, decisions, sensitive_features=groups), abs=1e-12
    )


def test_measure_reports_both_rounded() -> None:
    fairness = measure(
        "sex", "prediction >= 139", [T, F, F, T, F, T], [T, F, T, F, F, T], [1, 1, 2, 2, 2, 3]
    )

    assert fairness.model_dump(by_alias=True) == {
        "attribute": "sex",
        "positive": "prediction >= 139",
        "demographicParityDifference": 0.666667,
        "equalOpportunityDifference": 1.0,
    }


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="3 decisions but 2 labels"):
        equal_opportunity_difference([T, F, T], [T, F], ["a", "b", "a"])
