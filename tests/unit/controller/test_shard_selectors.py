"""--shard-selector: the label selector syntax the API server takes, checked at startup."""

from __future__ import annotations

import pytest

from modelkeeper.controller.selectors import check_selector, requirements


@pytest.mark.parametrize(
    ("selector", "parts"),
    [
        pytest.param("a=b", ["a=b"], id="one"),
        pytest.param(" a=b , !c ", ["a=b", "!c"], id="two"),
        pytest.param("x in (a, b),y", ["x in (a, b)", "y"], id="commas-in-a-set"),
    ],
)
def test_requirements(selector: str, parts: list[str]) -> None:
    assert requirements(selector) == parts


@pytest.mark.parametrize(
    "selector",
    [
        "modelkeeper.io/shard=a",
        "modelkeeper.io/shard==a",
        "modelkeeper.io/shard!=a",
        "modelkeeper.io/shard",
        "!modelkeeper.io/shard",
        "modelkeeper.io/shard in (a,b)",
        "modelkeeper.io/shard notin (a, b),team=ml",
        "shard=",
    ],
)
def test_good_selectors(selector: str) -> None:
    assert check_selector(f" {selector} ") == selector


@pytest.mark.parametrize(
    ("selector", "named"),
    [
        pytest.param("", "''", id="empty"),
        pytest.param("shard=a=b", "shard=a=b", id="two-equals"),
        pytest.param("a=b,,c", "''", id="empty-requirement"),
        pytest.param("Bad_Prefix/x=1", "Bad_Prefix/x=1", id="bad-prefix"),
        pytest.param("x in a,b", "x in a", id="set-without-parentheses"),
        pytest.param("x=-a", "x=-a", id="bad-value"),
    ],
)
def test_bad_selectors_name_the_requirement(selector: str, named: str) -> None:
    with pytest.raises(ValueError, match=named.replace("(", r"\(")):
        check_selector(selector)
