"""Prometheus' query answers are read into samples, or refused with a reason."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from modelkeeper.prometheus.client import parse_answer
from modelkeeper.prometheus.promql import Sample


def vector(*series: tuple[dict[str, str], str]) -> bytes:
    result = [{"metric": labels, "value": [1700000000.5, value]} for labels, value in series]
    return json.dumps(
        {"status": "success", "data": {"resultType": "vector", "result": result}}
    ).encode()


@pytest.mark.parametrize(
    ("body", "samples"),
    [
        pytest.param(vector(({}, "0.25")), [Sample({}, 0.25)], id="one-series"),
        pytest.param(
            vector(({"class": "a"}, "3"), ({"class": "b"}, "1e3")),
            [Sample({"class": "a"}, 3.0), Sample({"class": "b"}, 1000.0)],
            id="labelled-series",
        ),
        pytest.param(vector(), [], id="empty"),
        pytest.param(
            vector(({"a": "1"}, "NaN"), ({"a": "2"}, "+Inf"), ({"a": "3"}, "-Inf"), ({}, "1")),
            [Sample({}, 1.0)],
            id="nan-and-inf-are-no-data",
        ),
        pytest.param(
            b'{"status":"success","data":{"resultType":"scalar","result":[1700000000,"7"]}}',
            [Sample({}, 7.0)],
            id="scalar",
        ),
    ],
)
def test_answers(body: bytes, samples: list[Sample]) -> None:
    assert parse_answer(200, body) == samples


def error(kind: str, message: str) -> bytes:
    return json.dumps({"status": "error", "errorType": kind, "error": message}).encode()


MATRIX: dict[str, Any] = {"status": "success", "data": {"resultType": "matrix", "result": []}}


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        pytest.param(
            400,
            error("bad_data", 'parse error: unexpected "}"'),
            'answered HTTP 400, bad_data: parse error: unexpected "}"',
            id="promql-error",
        ),
        pytest.param(
            503,
            error("unavailable", "not ready"),
            "answered HTTP 503, unavailable: not ready",
            id="503",
        ),
        pytest.param(
            502,
            b"<html>Bad Gateway</html>",
            "answered HTTP 502 with something that is not JSON",
            id="proxy-page",
        ),
        pytest.param(200, b"{", "answered HTTP 200 with something that is not JSON", id="cut-json"),
        pytest.param(
            200,
            b'{"hello": 1}',
            "answered HTTP 200 with JSON that is not a query result",
            id="other-json",
        ),
        pytest.param(
            500,
            b'{"status":"success"}',
            "answered HTTP 500, no reason given",
            id="success-with-500",
        ),
        pytest.param(200, b'{"status":"success"}', "answered success without data", id="no-data"),
        pytest.param(
            200,
            json.dumps(MATRIX).encode(),
            "answered a matrix; the query must give a number",
            id="range-vector",
        ),
        pytest.param(
            200,
            b'{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}',
            "answered a vector it could not parse",
            id="series-without-value",
        ),
    ],
)
def test_refusals(status: int, body: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}$"):
        parse_answer(status, body)
