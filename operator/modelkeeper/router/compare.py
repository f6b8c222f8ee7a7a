"""Whether the shadow predicted what the primary predicted, row by row, for the same request.

No gateway compares mirrored responses; this is what makes a Shadow rollout
measurable. One output is compared: the one named in the config (by default
`predict`, the prediction rather than, say, probabilities, which differ between any
two model versions), or else the primary's first. Numbers are compared with a float
tolerance, everything else (class labels, strings, booleans) exactly. Both the Open
Inference Protocol (V2) `outputs` form and the KServe V1 `predictions` form are
understood, and V2 answers with binary outputs (the binary tensor data extension, read
by the codec the scoring server writes them with).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

from modelkeeper.protocol import binary
from modelkeeper.router.messages import Reply, header

Row = list[Any]
BINARY_HEADER = binary.HEADER.lower().encode()


@dataclass(frozen=True)
class Comparison:
    """How many rows (first dimension of the prediction) the two responses share."""

    rows: int
    agreeing: int

    @property
    def agrees(self) -> bool:
        """The whole request agrees when every row does."""
        return self.agreeing == self.rows


class MirrorOutcome(StrEnum):
    """What became of one mirrored request."""

    AGREE = "agree"
    DISAGREE = "disagree"
    INCOMPARABLE = "incomparable"
    SHADOW_ERROR = "shadow_error"
    PRIMARY_ERROR = "primary_error"
    DROPPED = "dropped"


def judge_mirror(
    primary: Reply | None,
    shadow: Reply,
    output: str | None,
    tolerance: float,
) -> tuple[MirrorOutcome, Comparison | None]:
    """The outcome of a mirrored request from both replies.

    A failed primary (None when it never answered) leaves nothing to compare with:
    a request that both reject as malformed is the client's error, not the shadow's.
    """
    if primary is None or not _succeeded(primary.status):
        return MirrorOutcome.PRIMARY_ERROR, None
    if not _succeeded(shadow.status):
        return MirrorOutcome.SHADOW_ERROR, None
    try:
        comparison = compare_predictions(
            parse_reply(primary), parse_reply(shadow), output, tolerance
        )
    except (orjson.JSONDecodeError, binary.BinaryFormatError):
        comparison = None
    if comparison is None:
        return MirrorOutcome.INCOMPARABLE, None
    outcome = MirrorOutcome.AGREE if comparison.agrees else MirrorOutcome.DISAGREE
    return outcome, comparison


def parse_reply(reply: Reply) -> Any:
    """A reply's body as a document; binary outputs get their values as `data`."""
    length = header(reply.headers, BINARY_HEADER)
    if length is None:
        return orjson.loads(reply.body)
    size = binary.header_length(length.decode("latin-1"), len(reply.body))
    document, tensors = binary.split_body(reply.body, size, "outputs")
    for tensor in tensors:
        document["outputs"][tensor.index]["data"] = binary.values(tensor.datatype, tensor.data)
    return document


def _succeeded(status: int) -> bool:
    return 200 <= status < 300


def compare_predictions(
    primary: Any, shadow: Any, output: str | None, tolerance: float
) -> Comparison | None:
    """Compare two parsed response bodies; None when they cannot be lined up.

    They cannot be lined up when either is not a prediction response, lacks the
    compared output, or has a different number or size of rows.
    """
    primary_prediction = _prediction(primary, output)
    if primary_prediction is None:
        return None
    name, primary_rows = primary_prediction
    shadow_prediction = _prediction(shadow, name)
    if shadow_prediction is None:
        return None
    _, shadow_rows = shadow_prediction
    if [len(row) for row in primary_rows] != [len(row) for row in shadow_rows]:
        return None
    agreeing = sum(
        all(_same(a, b, tolerance) for a, b in zip(mine, theirs, strict=True))
        for mine, theirs in zip(primary_rows, shadow_rows, strict=True)
    )
    return Comparison(rows=len(primary_rows), agreeing=agreeing)


def _prediction(response: Any, output: str | None) -> tuple[str | None, list[Row]] | None:
    """The compared output's name and rows, or None if the response has no such output."""
    if not isinstance(response, dict):
        return None
    if isinstance(predictions := response.get("predictions"), list):
        return None, [list(_flatten(row)) for row in predictions]
    outputs = response.get("outputs")
    if not isinstance(outputs, list):
        return None
    candidates = [item for item in outputs if isinstance(item, dict)]
    if output is not None:
        candidates = [item for item in candidates if item.get("name") == output]
    if not candidates:
        return None
    chosen = candidates[0]
    rows = _rows(list(_flatten(chosen.get("data"))), chosen.get("shape"))
    return None if rows is None else (chosen.get("name"), rows)


def _rows(flat: Row, shape: Any) -> list[Row] | None:
    """Split row-major data into rows along the first dimension of its shape."""
    if not isinstance(shape, list) or not all(isinstance(size, int) for size in shape):
        return None
    count = shape[0] if shape else 1
    if count <= 0 or len(flat) != math.prod(shape):
        return None
    size = len(flat) // count
    return [flat[start : start + size] for start in range(0, len(flat), size)] if size else None


def _flatten(value: Any) -> Iterator[Any]:
    """Scalars in row-major order, whether the data came flat or nested."""
    if isinstance(value, list):
        for item in value:
            yield from _flatten(item)
    else:
        yield value


def _same(a: Any, b: Any, tolerance: float) -> bool:
    """Equal, or within the tolerance when either is a float."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, int | float) and isinstance(b, int | float):
            both_nan = math.isnan(a) and math.isnan(b)
            return both_nan or math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
        return False
    return bool(a == b)
