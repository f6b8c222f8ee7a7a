"""Decoding V2 and V1 bodies against a schema: what is accepted, and how each misfit is named."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from modelkeeper.serving.frames import Prediction
from modelkeeper.serving.payloads import (
    OutputName,
    PayloadError,
    decode_v1,
    decode_v2,
    encode_v1,
    encode_v2,
)
from modelkeeper.serving.schema import ModelSchema

SCHEMA = ModelSchema.model_validate(
    {
        "inputs": [
            {"name": "amount", "type": "numeric"},
            {"name": "country", "type": "categorical", "categories": ["de", "fr"]},
            {"name": "age", "type": "numeric", "nullable": True},
        ],
        "output": {"type": "classification"},
    }
)
NUMERIC = ModelSchema.model_validate(
    {
        "inputs": [{"name": "a", "type": "numeric"}, {"name": "b", "type": "numeric"}],
        "output": {"type": "regression"},
    }
)


def tensor(name: str, datatype: str, data: Any, shape: list[int] | None = None) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape or [len(data)], "data": data}


def body(*inputs: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


VALID = [
    tensor("amount", "FP64", [1.5, 2.0]),
    tensor("country", "BYTES", ["de", "fr"]),
    tensor("age", "INT64", [30, None]),
]


def test_named_tensors_decode_into_numeric_and_categorical_matrices() -> None:
    decoded = decode_v2(body(*VALID, id="r1"), SCHEMA)
    assert decoded.id == "r1"
    np.testing.assert_array_equal(decoded.batch.numeric, [[1.5, 30.0], [2.0, np.nan]])
    assert decoded.batch.categorical.tolist() == [["de"], ["fr"]]
    assert decoded.outputs == (OutputName.PREDICT,)


@pytest.mark.parametrize(
    ("datatype", "data", "shape", "expected"),
    [
        pytest.param("FP32", [1.5, 2], [2], [1.5, 2.0], id="fp32-accepts-integers"),
        pytest.param("INT32", [[1], [2]], [2, 1], [1.0, 2.0], id="nested-column"),
        pytest.param("BOOL", [True, False], [2], [1.0, 0.0], id="bool"),
        pytest.param("INT64", [2**62, 0], [2], [2.0**62, 0.0], id="int64-large"),
    ],
)
def test_numeric_datatypes(
    datatype: str, data: list[Any], shape: list[int], expected: list[float]
) -> None:
    inputs = [tensor("a", datatype, data, shape), tensor("b", "FP64", [0.0, 0.0])]
    decoded = decode_v2(body(*inputs), NUMERIC)
    np.testing.assert_array_equal(decoded.batch.numeric[:, 0], expected)


@pytest.mark.parametrize(
    "data",
    [pytest.param([1, 2, 3, 4], id="flat"), pytest.param([[1, 2], [3, 4]], id="nested")],
)
def test_one_2d_tensor_for_numeric_models(data: list[Any]) -> None:
    decoded = decode_v2(body(tensor("input-0", "FP32", data, [2, 2])), NUMERIC)
    np.testing.assert_array_equal(decoded.batch.numeric, [[1.0, 2.0], [3.0, 4.0]])
    assert decoded.batch.categorical.shape == (2, 0)


def test_outputs_selection() -> None:
    outputs = [{"name": "predict_proba"}, {"name": "predict"}, {"name": "predict_proba"}]
    decoded = decode_v2(body(*VALID, outputs=outputs), SCHEMA)
    assert decoded.outputs == (OutputName.PREDICT_PROBA, OutputName.PREDICT)


@pytest.mark.parametrize(
    ("payload", "schema", "status", "message"),
    [
        pytest.param(b"{", SCHEMA, 400, "malformed JSON", id="malformed"),
        pytest.param(
            b"[]", SCHEMA, 400, "body: Input should be a valid dictionary", id="not-an-object"
        ),
        pytest.param(
            body(), SCHEMA, 400, "inputs: List should have at least 1 item", id="no-inputs"
        ),
        pytest.param(
            json.dumps(
                {"inputs": [{"name": "amount", "shape": [1], "datatype": "FP16", "data": [1]}]}
            ).encode(),
            SCHEMA,
            400,
            "inputs.0.datatype: Input should be",
            id="unknown-datatype",
        ),
        pytest.param(
            json.dumps(
                {"inputs": [{"name": "amount", "shape": ["1"], "datatype": "FP64", "data": [1]}]}
            ).encode(),
            SCHEMA,
            400,
            "inputs.0.shape.0: Input should be a valid integer",
            id="shape-of-strings",
        ),
        pytest.param(body(*VALID[:2]), SCHEMA, 422, "input 'age': missing", id="missing-input"),
        pytest.param(
            body(*VALID, tensor("amount", "FP64", [1, 2])),
            SCHEMA,
            422,
            "input 'amount': given twice",
            id="duplicate",
        ),
        pytest.param(
            body(tensor("amount_x", "FP64", [1]), *VALID),
            SCHEMA,
            422,
            "input 'amount_x': the model has no such input",
            id="unknown-name",
        ),
        pytest.param(
            body(tensor("amount", "BYTES", ["1", "2"]), *VALID[1:]),
            SCHEMA,
            422,
            "input 'amount': a numeric input needs datatype",
            id="bytes-for-numeric",
        ),
        pytest.param(
            body(tensor("amount", "FP64", ["1", "2"]), *VALID[1:]),
            SCHEMA,
            422,
            "input 'amount': FP64 data must be numbers",
            id="strings-as-fp64",
        ),
        pytest.param(
            body(tensor("amount", "INT32", [1.5, 2]), *VALID[1:]),
            SCHEMA,
            422,
            "INT32 data must be integers",
            id="float-as-int",
        ),
        pytest.param(
            body(tensor("amount", "INT32", [2**31, 2]), *VALID[1:]),
            SCHEMA,
            422,
            "out of INT32 range",
            id="int32-range",
        ),
        pytest.param(
            body(tensor("amount", "FP64", [True, False]), *VALID[1:]),
            SCHEMA,
            422,
            "FP64 data must be numbers",
            id="bools-as-fp64",
        ),
        pytest.param(
            body(tensor("amount", "FP64", [1e39, 1]), *VALID[1:]),
            SCHEMA,
            422,
            "beyond the float32 range",
            id="float32-range",
        ),
        pytest.param(
            body(tensor("amount", "FP64", [None, 1]), *VALID[1:]),
            SCHEMA,
            422,
            "input 'amount': null given, but the input is not nullable",
            id="null-not-nullable",
        ),
        pytest.param(
            body(tensor("amount", "FP64", [1, 2], [3]), *VALID[1:]),
            SCHEMA,
            422,
            "input 'amount': data must hold 3 values",
            id="shape-mismatch",
        ),
        pytest.param(
            body(tensor("amount", "FP64", [[1, 2], [3]], [2]), *VALID[1:]),
            SCHEMA,
            422,
            "data must hold 2 values",
            id="ragged",
        ),
        pytest.param(
            body(tensor("amount", "FP64", [1, 2], [2, 2]), *VALID[1:]),
            SCHEMA,
            422,
            "shape [2, 2] must be [rows] or [rows, 1]",
            id="column-2d",
        ),
        pytest.param(
            body(tensor("amount", "FP64", [], [0]), *VALID[1:]),
            SCHEMA,
            422,
            "rows >= 1",
            id="zero-rows",
        ),
        pytest.param(
            body(tensor("amount", "FP64", [1]), *VALID[1:]),
            SCHEMA,
            422,
            "input 'country': 2 rows, but other inputs have 1",
            id="row-mismatch",
        ),
        pytest.param(
            body(VALID[0], tensor("country", "BYTES", ["de", "uk"]), VALID[2]),
            SCHEMA,
            422,
            "input 'country': unknown category 'uk' (allowed: de, fr)",
            id="unknown-category",
        ),
        pytest.param(
            body(VALID[0], tensor("country", "FP64", [1, 2]), VALID[2]),
            SCHEMA,
            422,
            "a categorical input needs datatype BYTES",
            id="fp-for-categorical",
        ),
        pytest.param(
            body(VALID[0], tensor("country", "BYTES", [1, 2]), VALID[2]),
            SCHEMA,
            422,
            "categories must be strings",
            id="ints-as-bytes",
        ),
        pytest.param(
            body(*VALID, outputs=[{"name": "explain"}]),
            SCHEMA,
            422,
            "outputs.0.name: the model has no output 'explain'",
            id="unknown-output",
        ),
        pytest.param(
            body(
                tensor("a", "FP64", [1]),
                tensor("b", "FP64", [1]),
                outputs=[{"name": "predict_proba"}],
            ),
            NUMERIC,
            422,
            "no output 'predict_proba'",
            id="proba-of-regressor",
        ),
        pytest.param(
            body(tensor("input-0", "FP64", [1, 2, 3], [1, 3])),
            NUMERIC,
            422,
            "shape [1, 3] must be [rows, 2]",
            id="matrix-width",
        ),
        pytest.param(
            body(tensor("input-0", "FP64", [1, 2, 3], [1, 3])),
            SCHEMA,
            422,
            "every input is numeric",
            id="matrix-for-mixed",
        ),
    ],
)
def test_v2_misfits(payload: bytes, schema: ModelSchema, status: int, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_v2(payload, schema)
    assert caught.value.status == status
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "instances",
    [
        pytest.param([[1.5, "de", 30], [2.0, "fr", None]], id="rows"),
        pytest.param(
            [
                {"amount": 1.5, "country": "de", "age": 30},
                {"age": None, "country": "fr", "amount": 2},
            ],
            id="objects",
        ),
    ],
)
def test_v1_instances(instances: list[Any]) -> None:
    decoded = decode_v1(json.dumps({"instances": instances}).encode(), SCHEMA)
    np.testing.assert_array_equal(decoded.batch.numeric, [[1.5, 30.0], [2.0, np.nan]])
    assert decoded.batch.categorical.tolist() == [["de"], ["fr"]]


@pytest.mark.parametrize(
    ("instances", "status", "message"),
    [
        pytest.param(
            [[1.5, "de"]], 422, "instances[0]: 2 values, but the model has 3 inputs", id="short-row"
        ),
        pytest.param(
            [{"amount": 1, "country": "de"}], 422, "instances[0].age: missing", id="missing-key"
        ),
        pytest.param(
            [{"amount": 1, "country": "de", "age": 1, "x": 2}],
            422,
            "instances[0].x: not an input",
            id="extra-key",
        ),
        pytest.param(
            [[1.5, "de", 3], {"amount": 1}], 400, "each instance must be a list", id="mixed-forms"
        ),
        pytest.param(
            [["1.5", "de", 3]], 422, "input 'amount': FP64 data must be numbers", id="string-number"
        ),
        pytest.param([[1.5, "xx", 3]], 422, "unknown category 'xx'", id="unknown-category"),
        pytest.param([], 400, "instances: List should have at least 1 item", id="empty"),
    ],
)
def test_v1_misfits(instances: Any, status: int, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        decode_v1(json.dumps({"instances": instances}).encode(), SCHEMA)
    assert (caught.value.status, message in str(caught.value)) == (status, True)


def test_v2_response_shapes_and_datatypes() -> None:
    prediction = Prediction(
        labels=np.array(["no", "yes"], dtype=object),
        probabilities=np.array([[0.9, 0.1], [0.2, 0.8]]),
    )
    encoded = encode_v2("m", "2", "r", [OutputName.PREDICT, OutputName.PREDICT_PROBA], prediction)
    predict, proba = encoded["outputs"]
    assert (predict["shape"], predict["datatype"], predict["data"]) == ([2], "BYTES", ["no", "yes"])
    assert (proba["shape"], proba["datatype"]) == ([2, 2], "FP64")
    assert proba["data"].tolist() == [0.9, 0.1, 0.2, 0.8]
    assert encode_v1(Prediction(labels=np.array([1, 0])))["predictions"].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("spelling", "output"),
    [
        pytest.param("numeric", "regression", id="lower-case"),
        pytest.param("Numeric", "Regression", id="as-in-the-model-resource"),
    ],
)
def test_schema_takes_the_model_resources_type_names(spelling: str, output: str) -> None:
    schema = ModelSchema.model_validate(
        {"inputs": [{"name": "a", "type": spelling}], "output": {"type": output}}
    )
    assert schema == ModelSchema.model_validate(
        {"inputs": [{"name": "a", "type": "numeric"}], "output": {"type": "regression"}}
    )
