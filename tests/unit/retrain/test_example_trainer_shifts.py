"""The example trainer's `--shift` values: FEATURE=DELTA, repeated or comma-separated."""

from __future__ import annotations

import pytest

from modelkeeper.examples.trainer import TrainerError, parse_shifts


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        pytest.param([], {}, id="none"),
        pytest.param([""], {}, id="empty-environment-variable"),
        pytest.param(["bmi=0.05"], {"bmi": 0.05}, id="one"),
        pytest.param(
            ["bmi=0.05,age=-1", "s1=2"],
            {"bmi": 0.05, "age": -1.0, "s1": 2.0},
            id="comma-separated-and-repeated",
        ),
        pytest.param(["bmi=1", "bmi=2"], {"bmi": 2.0}, id="last-wins"),
    ],
)
def test_parse_shifts(items: list[str], expected: dict[str, float]) -> None:
    assert parse_shifts(items) == expected


@pytest.mark.parametrize(
    "item", [pytest.param("bmi", id="no-delta"), pytest.param("bmi=much", id="not-a-number")]
)
def test_a_bad_shift_names_itself(item: str) -> None:
    with pytest.raises(TrainerError, match=f"--shift {item!r} must be FEATURE=DELTA"):
        parse_shifts([item])
