"""quantity_value: a Kubernetes quantity as the number a program takes (a pool's budget)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from modelkeeper.api.types import quantity_value


@pytest.mark.parametrize(
    ("quantity", "value"),
    [
        pytest.param("1Gi", 1 << 30, id="binary"),
        pytest.param("64Mi", 64 << 20, id="binary-mebi"),
        pytest.param("1.5G", 1_500_000_000, id="decimal-with-a-fraction"),
        pytest.param("1k", 1000, id="kilo"),
        pytest.param("500m", Decimal("0.5"), id="milli-is-not-mega"),
        pytest.param("1e3", 1000, id="exponent"),
        pytest.param(3, 3, id="a-plain-integer"),
    ],
)
def test_quantity_value(quantity: int | str, value: Decimal | int) -> None:
    assert quantity_value(quantity) == value


def test_a_non_quantity_is_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="'1GB' is not a Kubernetes quantity"):
        quantity_value("1GB")
