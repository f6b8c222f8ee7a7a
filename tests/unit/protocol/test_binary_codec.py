"""The binary tensor data extension's bytes: split, sized and read back, each misfit named."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import pytest

from modelkeeper.protocol.binary import (
    BinaryFormatError,
    bytes_elements,
    encode_bytes_elements,
    header_length,
    join_body,
    split_body,
    values,
)


def binary_body(*tensors: tuple[dict[str, Any], bytes], key: str = "inputs") -> tuple[bytes, int]:
    """A body as a third-party client lays it out: JSON, then each tensor's bytes in order."""
    document = {
        key: [{**tensor, "parameters": {"binary_data_size": len(raw)}} for tensor, raw in tensors]
    }
    header = json.dumps(document).encode()
    return header + b"".join(raw for _, raw in tensors), len(header)


def bytes_tensor(items: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


@pytest.mark.parametrize(
    ("datatype", "array"),
    [
        pytest.param("FP32", np.array([1.5, -2.25, 3e38], dtype="<f4"), id="fp32"),
        pytest.param("FP64", np.array([0.1, -1e300, np.nan], dtype="<f8"), id="fp64"),
        pytest.param("INT64", np.array([-(2**63), 0, 2**63 - 1], dtype="<i8"), id="int64"),
        pytest.param("INT32", np.array([-7, 8], dtype="<i4"), id="int32"),
        pytest.param("BOOL", np.array([True, False, True]), id="bool"),
        pytest.param("UINT8", np.array([0, 255], dtype="u1"), id="uint8"),
        pytest.param("FP16", np.array([0.5, -1.0], dtype="<f2"), id="fp16"),
    ],
)
def test_fixed_size_tensors_read_back_as_written(datatype: str, array: np.ndarray) -> None:
    raw = array.tobytes()
    body, length = binary_body(({"name": "x", "datatype": datatype, "shape": [array.size]}, raw))
    document, [tensor] = split_body(body, length, "inputs")
    assert (tensor.index, tensor.name, tensor.datatype, bytes(tensor.data)) == (
        0,
        "x",
        datatype,
        raw,
    )
    np.testing.assert_array_equal(np.array(values(datatype, tensor.data)), array)
    assert document["inputs"][0]["shape"] == [array.size]


def test_bytes_elements_are_length_prefixed_and_read_back() -> None:
    items = [b"de", b"", "zürich".encode(), b"\xff\xfe"]
    raw = bytes_tensor(items)
    assert encode_bytes_elements(items) == raw
    body, length = binary_body(({"name": "c", "datatype": "BYTES", "shape": [4]}, raw))
    _, [tensor] = split_body(body, length, "inputs")
    assert bytes_elements("c", tensor.data) == items
    assert values("BYTES", tensor.data) == ["de", "", "zürich", b"\xff\xfe"]


def test_binary_and_json_tensors_mix_and_the_bytes_follow_in_order() -> None:
    first, second = np.array([1, 2], dtype="<i8").tobytes(), np.array([0.5], dtype="<f4").tobytes()
    document = {
        "inputs": [
            {
                "name": "a",
                "datatype": "INT64",
                "shape": [2],
                "parameters": {"binary_data_size": 16},
            },
            {"name": "j", "datatype": "FP64", "shape": [1], "data": [1.0]},
            {"name": "b", "datatype": "FP32", "shape": [1], "parameters": {"binary_data_size": 4}},
        ]
    }
    header = json.dumps(document).encode()
    _, tensors = split_body(header + first + second, len(header), "inputs")
    assert [(t.index, t.name, bytes(t.data)) for t in tensors] == [
        (0, "a", first),
        (2, "b", second),
    ]


def test_join_body_is_what_split_body_reads() -> None:
    raw = np.array([1.0, 2.0]).tobytes()
    output = {"name": "p", "datatype": "FP64", "shape": [2], "parameters": {"binary_data_size": 16}}
    body, length = join_body({"outputs": [output]}, [raw])
    parsed, [tensor] = split_body(body, length, "outputs")
    assert parsed == {"outputs": [output]}
    assert values("FP64", tensor.data) == [1.0, 2.0]


FP64_2 = {"name": "x", "datatype": "FP64", "shape": [2]}


def malformed(document: dict[str, Any], tail: bytes) -> tuple[bytes, int]:
    header = json.dumps(document).encode()
    return header + tail, len(header)


def sized(size: Any, **extra: Any) -> dict[str, Any]:
    return {"inputs": [{**FP64_2, **extra, "parameters": {"binary_data_size": size}}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            malformed(sized(16), b"\0" * 8),
            "inputs.0.parameters.binary_data_size: 16 bytes, but only 8 bytes of the body are left",
            id="size-beyond-body",
        ),
        pytest.param(
            malformed(sized(8), b"\0" * 16),
            "body: 8 bytes after the JSON header and the binary tensors that no binary_data_size",
            id="bytes-left-over",
        ),
        pytest.param(
            malformed(sized(12), b"\0" * 12),
            "inputs.0 ('x'): 12 bytes is not a whole number of FP64 elements (8 bytes each)",
            id="partial-element",
        ),
        pytest.param(
            malformed(sized(-1), b""),
            "inputs.0.parameters.binary_data_size: must be a number of bytes >= 0",
            id="negative-size",
        ),
        pytest.param(
            malformed(sized("16"), b"\0" * 16),
            "inputs.0.parameters.binary_data_size: must be a number of bytes >= 0",
            id="size-not-a-number",
        ),
        pytest.param(
            malformed(sized(16, data=[1.0, 2.0]), b"\0" * 16),
            "inputs.0: both data and parameters.binary_data_size given",
            id="data-and-binary",
        ),
        pytest.param(
            malformed(
                {"inputs": [{**FP64_2, "datatype": "BOOL", "parameters": {"binary_data_size": 2}}]},
                b"\x01\x02",
            ),
            "inputs.0 ('x'): a BOOL element must be the byte 0 or 1",
            id="bool-not-0-or-1",
        ),
        pytest.param(
            malformed(
                {
                    "inputs": [
                        {**FP64_2, "datatype": "BYTES", "parameters": {"binary_data_size": 6}}
                    ]
                },
                struct.pack("<I", 5) + b"ab",
            ),
            "a BYTES element of 5 bytes runs past the tensor's end",
            id="bytes-element-too-long",
        ),
        pytest.param(
            malformed(
                {
                    "inputs": [
                        {**FP64_2, "datatype": "BYTES", "parameters": {"binary_data_size": 2}}
                    ]
                },
                b"\0\0",
            ),
            "a BYTES element's 4-byte length is cut short",
            id="bytes-length-cut",
        ),
        pytest.param(
            malformed(
                {"inputs": [{**FP64_2, "datatype": "FP8", "parameters": {"binary_data_size": 2}}]},
                b"\0\0",
            ),
            "inputs.0 ('x'): datatype 'FP8' has no binary form",
            id="unknown-datatype",
        ),
        pytest.param(
            (b'{"inputs": [' + b"\0" * 8, 12),
            "malformed JSON in the first 12 bytes",
            id="header-cuts-the-json",
        ),
        pytest.param((b"[1]", 3), "body: the JSON header must be an object", id="not-an-object"),
    ],
)
def test_malformed_bodies_are_named(body: tuple[bytes, int], message: str) -> None:
    with pytest.raises(BinaryFormatError) as raised:
        read_all(*body)
    assert message in str(raised.value)


def read_all(body: bytes, length: int) -> list[list[Any]]:
    """Split the body and read every tensor (a BYTES tensor is checked as it is read)."""
    _, tensors = split_body(body, length, "inputs")
    return [values(tensor.datatype, tensor.data) for tensor in tensors]


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [
        pytest.param("10", 20, 10, id="within"),
        pytest.param("20", 20, 20, id="the-whole-body"),
        pytest.param("21", 20, "Inference-Header-Content-Length: 21 bytes of JSON", id="beyond"),
        pytest.param("-1", 20, "Inference-Header-Content-Length: -1 bytes", id="negative"),
        pytest.param("ten", 20, "'ten' is not a number of bytes", id="not-a-number"),
    ],
)
def test_the_header_length_must_lie_within_the_body(value: str, size: int, expected: Any) -> None:
    if isinstance(expected, int):
        assert header_length(value, size) == expected
    else:
        with pytest.raises(BinaryFormatError, match=expected):
            header_length(value, size)
