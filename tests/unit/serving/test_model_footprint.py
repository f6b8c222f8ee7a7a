"""What a pool charges a loaded model: the bytes of what it reaches, shared code left out."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pytest

from modelkeeper.serving.footprint import object_bytes

ARRAY = np.zeros(100_000)  # 800 kB


class Holder:
    def __init__(self, *parts: Any) -> None:
        self.parts = parts


@pytest.mark.parametrize(
    ("root", "at_least", "at_most"),
    [
        pytest.param(ARRAY, ARRAY.nbytes, ARRAY.nbytes + 1000, id="an-array"),
        pytest.param(ARRAY[::2], ARRAY.nbytes, ARRAY.nbytes + 2000, id="a-view-its-base"),
        pytest.param(Holder(ARRAY, ARRAY), ARRAY.nbytes, ARRAY.nbytes + 2000, id="once-each"),
        pytest.param(Holder(np.log, sys, len, Holder), 0, 2000, id="shared-code-left-out"),
        pytest.param({"a": [1.5] * 1000}, 8000, 20_000, id="containers"),
    ],
)
def test_object_bytes(root: object, at_least: int, at_most: int) -> None:
    assert at_least <= object_bytes(root) <= at_most
