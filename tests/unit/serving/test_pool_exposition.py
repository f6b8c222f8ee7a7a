"""A pool's /metrics merges its versions' texts family by family: how a text is cut."""

from __future__ import annotations

import pytest

from modelkeeper.serving.pool_metrics import blocks

COUNTER = b'# HELP a_total A.\n# TYPE a_total counter\na_total{m="x"} 1.0\na_total{m="y"} 2.0\n'
EMPTY = b"# HELP b B.\n# TYPE b histogram\n"
TRICKY = b'# HELP c C.\n# TYPE c counter\nc_total{category="x\\n# HELP y"} 1.0\n'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(b"", [], id="nothing"),
        pytest.param(
            COUNTER,
            [
                (
                    b"a_total",
                    b"# HELP a_total A.\n# TYPE a_total counter\n",
                    b'a_total{m="x"} 1.0\na_total{m="y"} 2.0\n',
                )
            ],
            id="one-family",
        ),
        pytest.param(
            COUNTER + EMPTY,
            [
                (
                    b"a_total",
                    b"# HELP a_total A.\n# TYPE a_total counter\n",
                    b'a_total{m="x"} 1.0\na_total{m="y"} 2.0\n',
                ),
                (b"b", b"# HELP b B.\n# TYPE b histogram\n", b""),
            ],
            id="a-family-without-samples",
        ),
        pytest.param(
            TRICKY,
            [
                (
                    b"c",
                    b"# HELP c C.\n# TYPE c counter\n",
                    b'c_total{category="x\\n# HELP y"} 1.0\n',
                )
            ],
            id="an-escaped-newline-in-a-label",
        ),
    ],
)
def test_blocks(text: bytes, expected: list[tuple[bytes, bytes, bytes]]) -> None:
    assert list(blocks(text)) == expected
