"""The shadow's predictions are compared with the primary's row by row, exactly for labels."""

from __future__ import annotations

import struct
from typing import Any

import orjson
import pytest

from modelkeeper.router.compare import (
    Comparison,
    MirrorOutcome,
    compare_predictions,
    judge_mirror,
)
from modelkeeper.router.messages import Reply


def v2(*outputs: tuple[str, str, Any, list[Any]]) -> dict[str, Any]:
    return {
        "outputs": [
            {"name": name, "datatype": datatype, "shape": shape, "data": data}
            for name, datatype, shape, data in outputs
        ]
    }


def labels(*values: Any) -> dict[str, Any]:
    return v2(("predict", "INT64", [len(values)], list(values)))


@pytest.mark.parametrize(
    ("primary", "shadow", "output", "expected"),
    [
        pytest.param(labels(1, 0, 2), labels(1, 0, 2), "predict", Comparison(3, 3), id="same"),
        pytest.param(labels(1, 0, 2), labels(1, 1, 2), "predict", Comparison(3, 2), id="one-row"),
        pytest.param(labels(1, 0), labels(0, 1), None, Comparison(2, 0), id="first-output"),
        pytest.param(
            v2(("predict", "BYTES", [2], ["cat", "dog"])),
            v2(("predict", "BYTES", [2], ["cat", "Dog"])),
            "predict",
            Comparison(2, 1),
            id="strings-exact",
        ),
        pytest.param(
            v2(("predict", "FP64", [2], [0.5, 10.0])),
            v2(("predict", "FP64", [2], [0.5 + 1e-9, 10.1])),
            "predict",
            Comparison(2, 1),
            id="floats-within-tolerance",
        ),
        pytest.param(
            v2(("predict", "FP64", [2], [1.0, 2.0])),
            v2(("predict", "FP64", [2], [1, 2])),
            "predict",
            Comparison(2, 2),
            id="integral-floats-written-as-ints",
        ),
        pytest.param(
            v2(("predict", "FP32", [2, 2], [1.0, 2.0, 3.0, 4.0])),
            v2(("predict", "FP32", [2, 2], [[1.0, 2.0], [3.0, 4.5]])),
            "predict",
            Comparison(2, 1),
            id="rows-of-two-flat-or-nested",
        ),
        pytest.param(
            v2(("predict_proba", "FP64", [1, 2], [0.2, 0.8]), ("predict", "INT64", [1], [1])),
            v2(("predict_proba", "FP64", [1, 2], [0.4, 0.6]), ("predict", "INT64", [1], [1])),
            "predict",
            Comparison(1, 1),
            id="probabilities-not-compared",
        ),
        pytest.param(
            {"predictions": [1, 0, 1]},
            {"predictions": [1, 1, 1]},
            "predict",
            Comparison(3, 2),
            id="v1-predictions",
        ),
        pytest.param(
            {"predictions": [[0.1, 0.9]]},
            {"predictions": [[0.1, 0.9]]},
            None,
            Comparison(1, 1),
            id="v1-rows-of-lists",
        ),
        pytest.param(labels(1, 0), labels(1, 0, 1), "predict", None, id="row-count-differs"),
        pytest.param(labels(1), v2(("other", "INT64", [1], [1])), "predict", None, id="missing"),
        pytest.param(labels(1), labels(1), "absent", None, id="primary-lacks-output"),
        pytest.param(
            v2(("predict", "INT64", [3], [1, 0])),
            labels(1, 0, 0),
            "predict",
            None,
            id="shape-disagrees-with-data",
        ),
        pytest.param(
            v2(("predict", "INT64", "3", [1, 0, 0])),
            labels(1, 0, 0),
            "predict",
            None,
            id="shape-not-a-list",
        ),
        pytest.param({"error": "boom"}, labels(1), "predict", None, id="not-a-prediction"),
        pytest.param([1, 2], labels(1), "predict", None, id="not-an-object"),
        pytest.param(labels(True), labels(1.0), "predict", Comparison(1, 1), id="bool-as-number"),
        pytest.param(labels("1"), labels(1.0), "predict", Comparison(1, 0), id="string-vs-float"),
    ],
)
def test_compare_predictions(
    primary: Any, shadow: Any, output: str | None, expected: Comparison | None
) -> None:
    assert compare_predictions(primary, shadow, output, tolerance=1e-6) == expected


def reply(status: int, document: Any) -> Reply:
    return Reply(status, orjson.dumps(document))


def binary_reply(*outputs: tuple[str, str, list[int], bytes]) -> Reply:
    """A V2 answer with binary outputs, laid out as the scoring server and Triton write it."""
    header = orjson.dumps(
        {
            "outputs": [
                {
                    "name": name,
                    "datatype": datatype,
                    "shape": shape,
                    "parameters": {"binary_data_size": len(raw)},
                }
                for name, datatype, shape, raw in outputs
            ]
        }
    )
    body = header + b"".join(raw for *_, raw in outputs)
    return Reply(200, body, [(b"Inference-Header-Content-Length", str(len(header)).encode())])


def strings(*items: str) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item.encode() for item in items)


def fp64(*items: float) -> bytes:
    return struct.pack(f"<{len(items)}d", *items)


@pytest.mark.parametrize(
    ("primary", "shadow", "expected"),
    [
        pytest.param(
            reply(200, labels(1, 0)),
            reply(200, labels(1, 0)),
            (MirrorOutcome.AGREE, Comparison(2, 2)),
            id="agree",
        ),
        pytest.param(
            reply(200, labels(1, 0)),
            reply(200, labels(1, 1)),
            (MirrorOutcome.DISAGREE, Comparison(2, 1)),
            id="disagree",
        ),
        pytest.param(
            None, reply(200, labels(1)), (MirrorOutcome.PRIMARY_ERROR, None), id="no-primary"
        ),
        pytest.param(
            reply(400, {"error": "x"}),
            reply(400, {"error": "x"}),
            (MirrorOutcome.PRIMARY_ERROR, None),
            id="both-reject-bad-input",
        ),
        pytest.param(
            reply(200, labels(1)),
            reply(500, {"error": "x"}),
            (MirrorOutcome.SHADOW_ERROR, None),
            id="shadow-fails",
        ),
        pytest.param(
            reply(200, labels(1)),
            Reply(200, b"not json"),
            (MirrorOutcome.INCOMPARABLE, None),
            id="shadow-not-json",
        ),
        pytest.param(
            reply(200, labels(1)),
            reply(200, labels(1, 1)),
            (MirrorOutcome.INCOMPARABLE, None),
            id="shadow-other-rows",
        ),
        pytest.param(
            binary_reply(("predict", "BYTES", [3], strings("de", "fr", "de"))),
            binary_reply(("predict", "BYTES", [3], strings("de", "it", "de"))),
            (MirrorOutcome.DISAGREE, Comparison(3, 2)),
            id="binary-strings",
        ),
        pytest.param(
            binary_reply(
                ("predict_proba", "FP64", [1, 2], fp64(0.5, 0.5)),
                ("predict", "FP64", [2], fp64(1.0, 2.5)),
            ),
            binary_reply(("predict", "FP64", [2], fp64(1.0 + 1e-9, 2.5))),
            (MirrorOutcome.AGREE, Comparison(2, 2)),
            id="binary-numbers-after-another-output",
        ),
        pytest.param(
            binary_reply(("predict", "INT64", [2], struct.pack("<2q", 1, 0))),
            reply(200, labels(1, 0)),
            (MirrorOutcome.AGREE, Comparison(2, 2)),
            id="binary-against-json",
        ),
        pytest.param(
            binary_reply(("predict", "INT64", [2], struct.pack("<2q", 1, 0))),
            Reply(200, b'{"outputs": []}', [(b"inference-header-content-length", b"99")]),
            (MirrorOutcome.INCOMPARABLE, None),
            id="shadow-header-beyond-its-body",
        ),
        pytest.param(
            binary_reply(("predict", "INT64", [2], struct.pack("<2q", 1, 0)[:12])),
            binary_reply(("predict", "INT64", [2], struct.pack("<2q", 1, 0))),
            (MirrorOutcome.INCOMPARABLE, None),
            id="primary-partial-element",
        ),
    ],
)
def test_judge_mirror(
    primary: Reply | None, shadow: Reply, expected: tuple[MirrorOutcome, Comparison | None]
) -> None:
    assert judge_mirror(primary, shadow, "predict", 1e-6) == expected
