"""Binary tensors decode to the batch their JSON twin decodes to; binary outputs are written
as bytes; the extensions this server lacks are refused with a 400 that names them."""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np
import orjson
import pytest
from orjson import OPT_SERIALIZE_NUMPY

from modelkeeper.protocol.binary import NUMPY_DTYPES, split_body, values
from modelkeeper.serving.binary import encode_response
from modelkeeper.serving.frames import Prediction
from modelkeeper.serving.payloads import (
    OutputName,
    PayloadError,
    decode_v2,
    decode_v2_binary,
    encode_v2,
)
from tests.unit.serving.test_payload_decoding import NUMERIC, SCHEMA, VALID


def as_binary(tensor: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """A JSON tensor as a client sends it in binary: no data, its bytes after the JSON."""
    datatype, data = tensor["datatype"], tensor["data"]
    if datatype == "BYTES":
        raw = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in data)
    else:
        array = np.array([np.nan if v is None else v for v in data], dtype=NUMPY_DTYPES[datatype])
        raw = array.tobytes()
    meta = {key: value for key, value in tensor.items() if key != "data"}
    return {**meta, "parameters": {"binary_data_size": len(raw)}}, raw


def binary_request(tensors: list[dict[str, Any]], **extra: Any) -> tuple[str, bytes]:
    pairs = [as_binary(tensor) for tensor in tensors]
    header = json.dumps({"inputs": [meta for meta, _ in pairs], **extra}).encode()
    return str(len(header)), header + b"".join(raw for _, raw in pairs)


@pytest.mark.parametrize(
    "tensors",
    [
        pytest.param(
            [
                {"name": "amount", "datatype": "FP64", "shape": [2], "data": [1.5, 2.0]},
                {"name": "country", "datatype": "BYTES", "shape": [2], "data": ["de", "fr"]},
                {"name": "age", "datatype": "FP32", "shape": [2, 1], "data": [30.0, None]},
            ],
            id="fp64-bytes-fp32-with-nan",
        ),
        pytest.param(
            [
                {"name": "age", "datatype": "INT64", "shape": [2], "data": [7, 8]},
                {"name": "amount", "datatype": "BOOL", "shape": [2], "data": [True, False]},
                {"name": "country", "datatype": "BYTES", "shape": [2], "data": ["fr", "fr"]},
            ],
            id="int64-bool-bytes",
        ),
    ],
)
def test_binary_inputs_decode_to_the_batch_of_their_json_twin(
    tensors: list[dict[str, Any]],
) -> None:
    header, body = binary_request(tensors, id="r1")
    decoded = decode_v2_binary(header, body, SCHEMA)
    twin = decode_v2(json.dumps({"inputs": tensors, "id": "r1"}).encode(), SCHEMA)
    assert decoded.id == "r1"
    np.testing.assert_array_equal(decoded.batch.numeric, twin.batch.numeric)
    assert decoded.batch.categorical.tolist() == twin.batch.categorical.tolist()
    assert decoded.outputs == twin.outputs == (OutputName.PREDICT,)
    assert decoded.binary == twin.binary == frozenset()


def test_one_binary_2d_tensor_holds_every_numeric_input() -> None:
    matrix = {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]}
    decoded = decode_v2_binary(*binary_request([matrix]), NUMERIC)
    np.testing.assert_array_equal(decoded.batch.numeric, [[1.0, 2.0], [3.0, 4.0]])


@pytest.mark.parametrize(
    ("extra", "binary"),
    [
        pytest.param({}, set(), id="json-by-default"),
        pytest.param({"parameters": {"binary_data_output": True}}, {"predict"}, id="request-level"),
        pytest.param(
            {
                "parameters": {"binary_data_output": True},
                "outputs": [
                    {"name": "predict", "parameters": {"binary_data": False}},
                    {"name": "predict_proba"},
                ],
            },
            {"predict_proba"},
            id="an-output-overrides-the-request",
        ),
        pytest.param(
            {"outputs": [{"name": "predict", "parameters": {"binary_data": True}}]},
            {"predict"},
            id="per-output",
        ),
    ],
)
def test_which_outputs_are_binary(extra: dict[str, Any], binary: set[str]) -> None:
    decoded = decode_v2(json.dumps({"inputs": VALID, **extra}).encode(), SCHEMA)
    assert decoded.binary == binary


@pytest.mark.parametrize(
    "prediction",
    [
        pytest.param(
            Prediction(np.array(["de", "fr"], dtype=object), np.array([[0.25, 0.75], [1.0, 0.0]])),
            id="string-classes",
        ),
        pytest.param(
            Prediction(np.array([0, 1]), np.array([[0.5, 0.5], [0.125, 0.875]])), id="int-classes"
        ),
        pytest.param(Prediction(np.array([True, False])), id="bool-classes"),
        pytest.param(Prediction(np.array([1.25, -3.5])), id="regression"),
    ],
)
def test_binary_outputs_read_back_as_their_json_values(prediction: Prediction) -> None:
    outputs = [OutputName.PREDICT]
    if prediction.probabilities is not None:
        outputs.append(OutputName.PREDICT_PROBA)
    as_json = orjson.loads(
        orjson.dumps(encode_v2("m", "1", "r", outputs, prediction), option=OPT_SERIALIZE_NUMPY)
    )
    body, length = encode_response(encode_v2("m", "1", "r", outputs, prediction), set(outputs))
    document, tensors = split_body(body, length, "outputs")
    for tensor in tensors:
        document["outputs"][tensor.index]["data"] = values(tensor.datatype, tensor.data)
        del document["outputs"][tensor.index]["parameters"]
    assert len(tensors) == len(outputs)
    assert document == as_json


def refused(field: str, extension: str) -> str:
    return f"{field}: the {extension} extension is not supported (supported: binary_tensor_data)"


def decode(header: str | None, body: bytes) -> object:
    """As the HTTP layer does: the binary decoder when the header is there."""
    return decode_v2(body, SCHEMA) if header is None else decode_v2_binary(header, body, SCHEMA)


SHM = {"shared_memory_region": "r", "shared_memory_byte_size": 16}


@pytest.mark.parametrize(
    ("header", "body", "status", "message"),
    [
        pytest.param(
            None,
            json.dumps({"inputs": [{**VALID[0], "data": None, "parameters": SHM}]}).encode(),
            400,
            refused("inputs.0.parameters.shared_memory_region", "shared-memory"),
            id="shared-memory-input",
        ),
        pytest.param(
            None,
            json.dumps(
                {
                    "inputs": [
                        {k: v for k, v in VALID[0].items() if k != "data"} | {"parameters": SHM}
                    ]
                }
            ).encode(),
            400,
            refused("inputs.0.parameters.shared_memory_region", "shared-memory"),
            id="shared-memory-input-without-data",
        ),
        pytest.param(
            None,
            json.dumps(
                {"inputs": VALID, "outputs": [{"name": "predict", "parameters": SHM}]}
            ).encode(),
            400,
            refused("outputs.0.parameters.shared_memory_region", "shared-memory"),
            id="shared-memory-output",
        ),
        pytest.param(
            None,
            json.dumps(
                {
                    "inputs": VALID,
                    "outputs": [{"name": "predict", "parameters": {"classification": 2}}],
                }
            ).encode(),
            400,
            refused("outputs.0.parameters.classification", "classification"),
            id="classification",
        ),
        pytest.param(
            None,
            binary_request(VALID[:1])[1],
            400,
            "malformed JSON",
            id="binary-without-the-header",
        ),
        pytest.param(
            None,
            json.dumps({"inputs": [as_binary(VALID[0])[0], VALID[1], VALID[2]]}).encode(),
            400,
            "inputs.0.parameters.binary_data_size: binary data needs the "
            "Inference-Header-Content-Length header",
            id="size-without-the-header",
        ),
        pytest.param(
            "1000",
            binary_request(VALID[:2])[1],
            400,
            "Inference-Header-Content-Length: 1000 bytes of JSON, but the body has",
            id="header-beyond-the-body",
        ),
        pytest.param(
            None,
            json.dumps({"inputs": VALID, "parameters": {"binary_data_output": "yes"}}).encode(),
            400,
            "parameters.binary_data_output: must be true or false",
            id="binary-data-output-not-a-flag",
        ),
        pytest.param(
            *binary_request([{"name": "amount", "datatype": "FP16", "shape": [2], "data": [1, 2]}]),
            400,
            "inputs.0.datatype: Input should be",
            id="fp16",
        ),
        pytest.param(
            *binary_request([{"name": "amount", "datatype": "FP64", "shape": [3], "data": [1, 2]}]),
            422,
            "input 'amount': data must hold 3 values",
            id="bytes-short-of-the-shape",
        ),
    ],
)
def test_refused_requests_name_the_cause(
    header: str | None, body: bytes, status: int, message: str
) -> None:
    with pytest.raises(PayloadError) as raised:
        decode(header, body)
    assert raised.value.status == status
    assert message in str(raised.value)


def test_a_bytes_element_cut_short_is_a_bad_request() -> None:
    raw = struct.pack("<I", 9) + b"de"
    meta = {"name": "country", "datatype": "BYTES", "shape": [1]}
    header = json.dumps({"inputs": [{**meta, "parameters": {"binary_data_size": len(raw)}}]})
    with pytest.raises(PayloadError) as raised:
        decode_v2_binary(str(len(header)), header.encode() + raw, SCHEMA)
    assert raised.value.status == 400
    assert str(raised.value) == (
        "inputs.0 ('country'): a BYTES element of 9 bytes runs past the tensor's end"
    )


def test_bytes_that_are_not_utf8_are_no_category() -> None:
    raw = struct.pack("<I", 2) + b"\xff\xfe"
    meta = {"name": "country", "datatype": "BYTES", "shape": [1]}
    header = json.dumps(
        {"inputs": [{**meta, "parameters": {"binary_data_size": len(raw)}}]}
    ).encode()
    with pytest.raises(PayloadError, match="input 'country': a BYTES element is not UTF-8"):
        decode_v2_binary(str(len(header)), header + raw, SCHEMA)
