"""V2 gRPC tensors decode to the batch their JSON twin decodes to, from typed `contents` or
`raw_input_contents`; answers go raw or typed as the request asks; misfits are named."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest

from modelkeeper.protocol import grpc_predict_v2_pb2 as pb
from modelkeeper.protocol.binary import NUMPY_DTYPES
from modelkeeper.serving.frames import Prediction
from modelkeeper.serving.grpc_tensors import (
    CONTENTS_FIELDS,
    _packed_values,
    decode_request,
    metadata_response,
    response,
)
from modelkeeper.serving.payloads import (
    OutputName,
    PayloadError,
    decode_v2_document,
    encode_v2,
    model_metadata,
)
from tests.unit.serving.test_payload_decoding import NUMERIC, SCHEMA, VALID


def typed(tensors: list[dict[str, Any]], **fields: Any) -> pb.ModelInferRequest:
    """A request with each tensor's values in the `contents` field of its datatype."""
    request = pb.ModelInferRequest(model_name="m", **fields)
    for tensor in tensors:
        entry = request.inputs.add(
            name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
        )
        values: list[Any] = [np.nan if value is None else value for value in tensor["data"]]
        if not values:
            continue
        if tensor["datatype"] == "BYTES":
            values = [value.encode() for value in values]
        getattr(entry.contents, CONTENTS_FIELDS[tensor["datatype"]]).extend(values)
    return request


def raw(tensors: list[dict[str, Any]], **fields: Any) -> pb.ModelInferRequest:
    """A request with each tensor's bytes in `raw_input_contents`, as tritonclient sends it."""
    request = pb.ModelInferRequest(model_name="m", **fields)
    for tensor in tensors:
        request.inputs.add(name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"])
        data = tensor["data"]
        if tensor["datatype"] == "BYTES":
            chunk = b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in data)
        else:
            values = [np.nan if value is None else value for value in data]
            chunk = np.array(values, dtype=NUMPY_DTYPES[tensor["datatype"]]).tobytes()
        request.raw_input_contents.append(chunk)
    return request


NULLABLE_FP = [
    {"name": "amount", "datatype": "FP64", "shape": [2], "data": [1.5, 2.0]},
    {"name": "country", "datatype": "BYTES", "shape": [2], "data": ["de", "fr"]},
    {"name": "age", "datatype": "FP32", "shape": [2, 1], "data": [30.0, None]},
]
INTEGERS = [
    {"name": "amount", "datatype": "INT32", "shape": [2], "data": [1, 2]},
    {"name": "country", "datatype": "BYTES", "shape": [2], "data": ["fr", "de"]},
    {"name": "age", "datatype": "INT64", "shape": [2], "data": [7, 8]},
]


@pytest.mark.parametrize(
    "encode", [pytest.param(typed, id="contents"), pytest.param(raw, id="raw")]
)
@pytest.mark.parametrize(
    "tensors",
    [
        pytest.param(NULLABLE_FP, id="fp64-bytes-fp32-with-nan"),
        pytest.param(INTEGERS, id="int32-bytes-int64"),
    ],
)
def test_grpc_tensors_decode_as_their_json_twin(encode: Any, tensors: list[dict[str, Any]]) -> None:
    decoded, _ = decode_request(encode(tensors, id="r1"), SCHEMA)
    twin = decode_v2_document({"id": "r1", "inputs": tensors}, SCHEMA)
    assert decoded.id == "r1"
    np.testing.assert_array_equal(decoded.batch.numeric, twin.batch.numeric)
    assert decoded.batch.categorical.tolist() == twin.batch.categorical.tolist()


def test_one_matrix_tensor_decodes_for_a_numeric_model() -> None:
    matrix = {"name": "x", "datatype": "FP32", "shape": [2, 2], "data": [1, 2, 3, 4]}
    decoded, is_raw = decode_request(raw([matrix]), NUMERIC)
    np.testing.assert_array_equal(decoded.batch.numeric, [[1, 2], [3, 4]])
    assert is_raw


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        pytest.param(typed(VALID[:2]), "input 'age': missing", id="missing-input"),
        pytest.param(
            typed(
                [*VALID[:2], {"name": "age", "datatype": "FP64", "shape": [3], "data": [1, 2, 3]}]
            ),
            "input 'age': 3 rows, but other inputs have 2",
            id="rows-disagree",
        ),
        pytest.param(
            typed([{"name": "country", "datatype": "BYTES", "shape": [1], "data": ["xx"]}]),
            "unknown category 'xx'",
            id="unknown-category",
        ),
        pytest.param(
            typed([{"name": "amount", "datatype": "FP16", "shape": [1], "data": []}]),
            "inputs.0.datatype",
            id="datatype-not-served",
        ),
    ],
)
def test_misfits_are_422s_naming_the_input(request_: pb.ModelInferRequest, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as raised:
        decode_request(request_, SCHEMA)
    assert raised.value.status in (400, 422)


def test_raw_contents_must_cover_every_input() -> None:
    request = raw(VALID[:2])
    request.inputs.add(name="age", datatype="INT64", shape=[2])
    with pytest.raises(PayloadError, match="raw_input_contents: 2 entries, but the request has 3"):
        decode_request(request, SCHEMA)


def test_raw_bytes_that_are_not_whole_elements_are_a_400() -> None:
    request = pb.ModelInferRequest(model_name="m", raw_input_contents=[b"\x00" * 7])
    request.inputs.add(name="amount", datatype="FP64", shape=[1])
    with pytest.raises(PayloadError, match="7 bytes is not a whole number of FP64") as raised:
        decode_request(request, SCHEMA)
    assert raised.value.status == 400


def test_values_in_another_datatypes_field_are_a_400() -> None:
    request = pb.ModelInferRequest(model_name="m")
    entry = request.inputs.add(name="amount", datatype="FP64", shape=[1])
    entry.contents.fp32_contents.append(1.0)
    with pytest.raises(PayloadError, match="FP64 values go in fp64_contents, got fp32_contents"):
        decode_request(request, SCHEMA)


def test_values_in_two_fields_are_a_400() -> None:
    request = pb.ModelInferRequest(model_name="m")
    entry = request.inputs.add(name="amount", datatype="FP64", shape=[1])
    entry.contents.fp64_contents.append(1.0)
    entry.contents.fp32_contents.append(1.0)
    with pytest.raises(PayloadError, match="FP64 values go in fp64_contents, got fp32_contents"):
        decode_request(request, SCHEMA)


@pytest.mark.parametrize("datatype", ["FP32", "FP64"])
@pytest.mark.parametrize("count", [1, 15, 16, 32, 1920, 40_000])  # lengths of 1, 2 and 3 bytes
def test_packed_floats_are_the_fields_values(datatype: str, count: int) -> None:
    values = np.random.default_rng(count).normal(size=count)
    values[0] = np.nan
    contents = pb.InferTensorContents()
    field = getattr(contents, CONTENTS_FIELDS[datatype])
    field.extend(values.tolist())
    read = _packed_values(contents, datatype)
    np.testing.assert_array_equal(read, np.array(field, dtype=NUMPY_DTYPES[datatype]))


@pytest.mark.parametrize(
    ("datatype", "fill"),
    [
        pytest.param("FP32", {}, id="empty"),
        pytest.param("INT32", {"int_contents": [1]}, id="not-fixed-width"),
        pytest.param("FP32", {"fp32_contents": [1.0], "fp64_contents": [1.0]}, id="two-fields"),
        pytest.param("FP64", {"fp32_contents": [1.0]}, id="another-field"),
    ],
)
def test_anything_else_is_left_to_the_field_by_field_path(
    datatype: str, fill: dict[str, list[Any]]
) -> None:
    assert _packed_values(pb.InferTensorContents(**fill), datatype) is None


def test_shared_memory_parameters_are_refused_by_name() -> None:
    request = typed(NULLABLE_FP)
    request.inputs[0].parameters["shared_memory_region"].string_param = "r"
    with pytest.raises(PayloadError, match="shared-memory extension is not supported"):
        decode_request(request, SCHEMA)


PREDICTION = Prediction(
    labels=np.array(["yes", "no"], dtype=object),
    probabilities=np.array([[0.25, 0.75], [0.5, 0.5]]),
)


@pytest.mark.parametrize(
    ("request_", "is_raw"),
    [
        pytest.param(typed(NULLABLE_FP), False, id="typed-inputs-typed-answer"),
        pytest.param(raw(NULLABLE_FP), True, id="raw-inputs-raw-answer"),
        pytest.param(
            typed(
                NULLABLE_FP, parameters={"binary_data_output": pb.InferParameter(bool_param=True)}
            ),
            True,
            id="binary-data-output-asks-raw",
        ),
    ],
)
def test_answers_are_raw_or_typed_as_asked(request_: pb.ModelInferRequest, is_raw: bool) -> None:
    request_.outputs.add(name="predict")
    request_.outputs.add(name="predict_proba")
    decoded, raw_answer = decode_request(request_, SCHEMA)
    assert raw_answer is is_raw
    assert decoded.outputs == (OutputName.PREDICT, OutputName.PREDICT_PROBA)
    answer = response(encode_v2("m", "2", "r1", decoded.outputs, PREDICTION), raw_answer)
    assert (answer.model_name, answer.model_version, answer.id) == ("m", "2", "r1")
    assert [(o.name, o.datatype, list(o.shape)) for o in answer.outputs] == [
        ("predict", "BYTES", [2]),
        ("predict_proba", "FP64", [2, 2]),
    ]
    if is_raw:
        labels, probabilities = answer.raw_output_contents
        assert labels == b"\x03\x00\x00\x00yes\x02\x00\x00\x00no"
        np.testing.assert_array_equal(np.frombuffer(probabilities, "<f8"), [0.25, 0.75, 0.5, 0.5])
    else:
        assert not answer.raw_output_contents
        assert list(answer.outputs[0].contents.bytes_contents) == [b"yes", b"no"]
        assert list(answer.outputs[1].contents.fp64_contents) == [0.25, 0.75, 0.5, 0.5]


def test_model_metadata_is_rests() -> None:
    answer = metadata_response(model_metadata("m", "2", "sklearn", SCHEMA, np.array(["no", "yes"])))
    assert (answer.name, list(answer.versions), answer.platform) == ("m", ["2"], "sklearn")
    assert [(t.name, t.datatype) for t in answer.inputs] == [
        ("amount", "FP64"),
        ("country", "BYTES"),
        ("age", "FP64"),
    ]
    assert [(t.name, list(t.shape)) for t in answer.outputs] == [
        ("predict", [-1]),
        ("predict_proba", [-1, 2]),
    ]
