"""Which loaded models a pool server unloads to fit its memory budget, and its default."""

from __future__ import annotations

import pytest

from modelkeeper.serving.budget import (
    GIB,
    MIB,
    Resident,
    default_budget,
    parse_cgroup_limit,
    to_unload,
)


def resident(key: str, cost: int, last_used: float, busy: bool = False) -> Resident[str]:
    return Resident(key, cost, last_used, busy)


@pytest.mark.parametrize(
    ("loaded", "budget", "unloaded"),
    [
        pytest.param([], 100, [], id="nothing-loaded"),
        pytest.param([resident("a", 40, 1), resident("b", 40, 2)], 100, [], id="within-the-budget"),
        pytest.param(
            [resident("a", 40, 1), resident("b", 40, 2), resident("c", 40, 3)],
            120,
            [],
            id="exactly-the-budget",
        ),
        pytest.param(
            [resident("b", 40, 2), resident("a", 40, 1), resident("c", 40, 3, busy=True)],
            100,
            ["a"],
            id="least-recently-used-first",
        ),
        pytest.param(
            [resident("a", 10, 1), resident("b", 10, 2), resident("c", 90, 3, busy=True)],
            100,
            ["a"],
            id="only-as-many-as-needed",
        ),
        pytest.param(
            [resident("a", 50, 1, busy=True), resident("b", 50, 2), resident("c", 50, 3)],
            100,
            ["b"],
            id="a-busy-one-is-skipped",
        ),
        pytest.param(
            [resident("a", 50, 1, busy=True), resident("b", 60, 2, busy=True)],
            100,
            [],
            id="all-busy-stays-over",
        ),
        pytest.param(
            [resident("a", 10, 1), resident("b", 10, 2), resident("c", 200, 3, busy=True)],
            100,
            ["a", "b"],
            id="all-idle-go-when-still-over",
        ),
        pytest.param(
            [resident("a", 30, 5), resident("b", 30, 1), resident("c", 30, 3)],
            0,
            ["b", "c", "a"],
            id="zero-budget-keeps-nothing-idle",
        ),
    ],
)
def test_to_unload(loaded: list[Resident[str]], budget: int, unloaded: list[str]) -> None:
    assert to_unload(loaded, budget) == unloaded


@pytest.mark.parametrize(
    ("text", "budget"),
    [
        pytest.param("max\n", GIB, id="v2-unlimited"),
        pytest.param("1073741824\n", int(0.8 * (GIB - 320 * MIB)), id="v2-one-gib"),
        pytest.param("536870912", int(0.8 * 192 * MIB), id="v1-half-gib"),
        pytest.param("268435456", 0, id="less-than-the-server-itself"),
        pytest.param("9223372036854771712\n", GIB, id="v1-unlimited"),
        pytest.param("", GIB, id="empty"),
    ],
)
def test_default_budget(text: str, budget: int) -> None:
    assert default_budget(parse_cgroup_limit(text)) == budget
