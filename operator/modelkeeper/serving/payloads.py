"""Request bodies in, response bodies out: the Open Inference Protocol (V2) and KServe V1.

Decoding checks a body against the model schema and returns a `FeatureBatch`, or
raises `PayloadError` with the HTTP status and a message naming the field: 400
when the body is not a well-formed request at all, 422 when it is well formed but
does not fit this model (names, datatypes, shapes, categories, nulls). Pure: no
HTTP library, so every rule is tested as a table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import numpy as np
import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StrictInt,
    StrictStr,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from modelkeeper.profile import FeatureKind
from modelkeeper.serving import binary
from modelkeeper.serving.errors import BAD_REQUEST
from modelkeeper.serving.errors import PayloadError as PayloadError
from modelkeeper.serving.frames import AnyArray, FeatureBatch, FloatMatrix, ObjectMatrix, Prediction
from modelkeeper.serving.schema import InputSpec, ModelSchema, OutputKind

# Tree ensembles and ONNX runtimes compute in float32: a larger number is infinite to them.
FLOAT32_MAX = float(np.finfo(np.float32).max)


ModelT = TypeVar("ModelT", bound=BaseModel)


class Datatype(StrEnum):
    BOOL = "BOOL"
    INT32 = "INT32"
    INT64 = "INT64"
    FP32 = "FP32"
    FP64 = "FP64"
    BYTES = "BYTES"


class OutputName(StrEnum):
    PREDICT = "predict"
    PREDICT_PROBA = "predict_proba"


# numpy dtype kinds that each datatype's JSON data may parse to (ints are valid floats).
_NUMERIC_KINDS = {
    Datatype.BOOL: "b",
    Datatype.INT32: "iu",
    Datatype.INT64: "iu",
    Datatype.FP32: "iuf",
    Datatype.FP64: "iuf",
}
_INTEGER_RANGES = {Datatype.INT32: 2**31, Datatype.INT64: 2**63}
_CATEGORICAL_TYPES: dict[Datatype, type] = {
    Datatype.BYTES: str,
    Datatype.INT32: int,
    Datatype.INT64: int,
}


class _Lenient(BaseModel):
    """Fields the protocols allow but this server does not use (most parameters) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def _list_or_array(value: object) -> object:
    """JSON data is a list; a binary tensor's arrives decoded, as an array."""
    if isinstance(value, list | np.ndarray):
        return value
    raise PydanticCustomError("list_type", "Input should be a valid list")


Values = list[Any] | AnyArray
TensorData = Annotated[Values, PlainValidator(_list_or_array)]
Parameters = dict[StrictStr, Any]


class TensorInput(_Lenient):
    name: StrictStr
    shape: list[StrictInt] = Field(min_length=1)
    datatype: Datatype
    data: TensorData


class RequestedOutput(_Lenient):
    name: StrictStr
    parameters: Parameters | None = None


class InferenceRequest(_Lenient):
    id: StrictStr | None = None
    inputs: list[TensorInput] = Field(min_length=1)
    outputs: list[RequestedOutput] | None = None
    parameters: Parameters | None = None


class PredictRequest(_Lenient):
    instances: list[Any] = Field(min_length=1)


@dataclass(frozen=True)
class DecodedRequest:
    """A request ready to score; `id` is the body's id, if it had one."""

    id: str | None
    batch: FeatureBatch
    outputs: tuple[OutputName, ...]
    binary: frozenset[OutputName] = frozenset()  # outputs to answer as binary data


def parse_json(body: bytes) -> Any:
    """The parsed body, or a 400 saying why it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise PayloadError(f"malformed JSON: {error}", BAD_REQUEST) from None


def validate_body(model: type[ModelT], document: Any) -> ModelT:
    """`document` as `model`, or a 400 naming the first offending field."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise _field_error(error) from None


def _field_error(error: ValidationError) -> PayloadError:
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return PayloadError(f"{where}: {first['msg']}", BAD_REQUEST)


def available_outputs(schema: ModelSchema) -> tuple[OutputName, ...]:
    if schema.output.type is OutputKind.CLASSIFICATION:
        return (OutputName.PREDICT, OutputName.PREDICT_PROBA)
    return (OutputName.PREDICT,)


def decode_v2(body: bytes, schema: ModelSchema) -> DecodedRequest:
    """A V2 inference request: named tensors, one per input, or one 2-D tensor of all inputs."""
    return decode_v2_document(parse_json(body), schema)


def decode_v2_binary(header: str, body: bytes, schema: ModelSchema) -> DecodedRequest:
    """A V2 request with binary tensors; `header` is its Inference-Header-Content-Length."""
    return decode_v2_document(binary.read_request(body, header), schema)


def decode_v2_document(document: Any, schema: ModelSchema) -> DecodedRequest:
    """A parsed V2 request; a binary tensor's `data` is already an array (or strings)."""
    try:
        request = InferenceRequest.model_validate(document)
    except ValidationError as error:
        binary.refuse_unsupported_inputs(document)
        raise _field_error(error) from None
    outputs, binary_outputs = _requested_outputs(request.outputs, request.parameters, schema)
    by_name = {spec.name: spec for spec in schema.inputs}
    tensors = request.inputs
    if len(tensors) == 1 and tensors[0].name not in by_name and len(tensors[0].shape) == 2:
        batch = _matrix_batch(tensors[0], schema)
        return DecodedRequest(request.id, batch, outputs, binary_outputs)
    columns: dict[str, AnyArray] = {}
    rows: int | None = None
    for tensor in tensors:
        spec = by_name.get(tensor.name)
        if spec is None:
            raise PayloadError(
                f"input {tensor.name!r}: the model has no such input (inputs: {', '.join(by_name)})"
            )
        if spec.name in columns:
            raise PayloadError(f"input {spec.name!r}: given twice")
        count = _column_rows(tensor)
        if rows is not None and count != rows:
            raise PayloadError(f"input {spec.name!r}: {count} rows, but other inputs have {rows}")
        rows = count
        columns[spec.name] = _decode_column(spec, tensor.datatype, tensor.data, tensor.shape)
    absent = [name for name in by_name if name not in columns]
    if absent:
        raise PayloadError(f"input {absent[0]!r}: missing (inputs: {', '.join(by_name)})")
    return DecodedRequest(request.id, _assemble(schema, columns), outputs, binary_outputs)


def decode_v1(body: bytes, schema: ModelSchema) -> DecodedRequest:
    """A KServe V1 `:predict` request: `instances` as rows in input order or objects by name."""
    instances = validate_body(PredictRequest, parse_json(body)).instances
    names = [spec.name for spec in schema.inputs]
    if all(isinstance(instance, list) for instance in instances):
        for index, instance in enumerate(instances):
            if len(instance) != len(names):
                raise PayloadError(
                    f"instances[{index}]: {len(instance)} values, but the model has "
                    f"{len(names)} inputs ({', '.join(names)})"
                )
        values = [list(column) for column in zip(*instances, strict=True)]
    elif all(isinstance(instance, dict) for instance in instances):
        for index, instance in enumerate(instances):
            if instance.keys() != set(names):
                odd = sorted(set(instance) ^ set(names))[0]
                problem = "missing" if odd in names else "not an input of the model"
                raise PayloadError(f"instances[{index}].{odd}: {problem}")
        values = [[instance[name] for instance in instances] for name in names]
    else:
        raise PayloadError(
            "instances: each instance must be a list of values in input order, "
            "or an object keyed by input name",
            BAD_REQUEST,
        )
    shape = [len(instances)]
    columns = {
        spec.name: _decode_column(spec, None, column, shape)
        for spec, column in zip(schema.inputs, values, strict=True)
    }
    return DecodedRequest(None, _assemble(schema, columns), (OutputName.PREDICT,))


def _requested_outputs(
    requested: Sequence[RequestedOutput] | None,
    parameters: Parameters | None,
    schema: ModelSchema,
) -> tuple[tuple[OutputName, ...], frozenset[OutputName]]:
    """The outputs asked for, and which of them as binary data (by default all or none, as
    the request's `binary_data_output` says; an output's own `binary_data` decides for it)."""
    binary_default = parameters is not None and binary.flag(
        parameters, binary.REQUEST_BINARY, "parameters"
    )
    if not requested:
        return (OutputName.PREDICT,), frozenset((OutputName.PREDICT,) if binary_default else ())
    available = available_outputs(schema)
    names = []
    binary_outputs = set()
    for index, output in enumerate(requested):
        if output.name not in available:
            raise PayloadError(
                f"outputs.{index}.name: the model has no output {output.name!r} "
                f"(outputs: {', '.join(available)})"
            )
        name = OutputName(output.name)
        names.append(name)
        if binary.output_is_binary(f"outputs.{index}", output.parameters, binary_default):
            binary_outputs.add(name)
    return tuple(dict.fromkeys(names)), frozenset(binary_outputs)


def _column_rows(tensor: TensorInput) -> int:
    """Rows of a named tensor, whose shape must be [rows] or [rows, 1]."""
    shape = tensor.shape
    if shape[0] < 1 or shape[1:] not in ([], [1]):
        raise PayloadError(
            f"input {tensor.name!r}: shape {shape} must be [rows] or [rows, 1] with rows >= 1"
        )
    return shape[0]


def _matrix_batch(tensor: TensorInput, schema: ModelSchema) -> FeatureBatch:
    """One 2-D tensor [rows, inputs] holding every input in schema order; numeric models only."""
    field = f"input {tensor.name!r}"
    if schema.categorical:
        raise PayloadError(
            f"{field}: the model has no such input; a single 2-D tensor is accepted only "
            "when every input is numeric: send one named tensor per input"
        )
    rows, width = tensor.shape
    if rows < 1 or width != len(schema.inputs):
        raise PayloadError(
            f"{field}: shape {tensor.shape} must be [rows, {len(schema.inputs)}] with rows >= 1"
        )
    numeric = _numeric_values(field, tensor.datatype, tensor.data, tensor.shape)
    matrix = numeric.reshape(rows, width)
    missing: list[bool] = (np.isnan(matrix).sum(axis=0) > 0).tolist()
    _check_nulls(schema.inputs, missing)
    return FeatureBatch(numeric=matrix, categorical=np.empty((rows, 0), dtype=object))


def _decode_column(
    spec: InputSpec, datatype: Datatype | None, data: Values, shape: list[int]
) -> AnyArray:
    """One input's values; `datatype` None means plain JSON values (V1)."""
    field = f"input {spec.name!r}"
    if spec.type is FeatureKind.NUMERIC:
        values: AnyArray = _numeric_values(field, datatype or Datatype.FP64, data, shape)
        missing = bool(np.isnan(values).any())
    else:
        values = _categorical_values(field, datatype, data, shape, spec.categories)
        missing = any(value is None for value in values)
    _check_nulls([spec], [missing])
    return values


def _check_nulls(specs: Sequence[InputSpec], has_missing: Sequence[bool]) -> None:
    for spec, missing in zip(specs, has_missing, strict=True):
        if missing and not spec.nullable:
            raise PayloadError(f"input {spec.name!r}: null given, but the input is not nullable")


def _as_array(field: str, data: Values, shape: list[int], dtype: type | None) -> AnyArray:
    """`data` (flat or nested as `shape`) as a flat array, or a 422 if the sizes disagree."""
    expected = math.prod(shape)
    try:
        array = np.asarray(data, dtype=dtype)
    except (ValueError, TypeError):
        array = None
    if array is None or array.shape not in ((expected,), tuple(shape)):
        raise PayloadError(
            f"{field}: data must hold {expected} values, flat or nested as shape {shape}"
        )
    return array.reshape(-1)


def _numeric_values(field: str, datatype: Datatype, data: Values, shape: list[int]) -> FloatMatrix:
    """Numbers as float64, null as NaN; types checked by datatype, magnitude by float32."""
    if datatype not in _NUMERIC_KINDS:
        raise PayloadError(
            f"{field}: a numeric input needs datatype {', '.join(_NUMERIC_KINDS)}, got {datatype}"
        )
    array = _as_array(field, data, shape, None)
    if array.dtype.kind == "O":
        values = np.array(
            [_object_number(field, datatype, item) for item in array], dtype=np.float64
        )
    elif array.dtype.kind in _NUMERIC_KINDS[datatype]:
        values = array.astype(np.float64)
    else:
        raise PayloadError(f"{field}: {datatype} data must be {_describe(datatype)}")
    limit = _INTEGER_RANGES.get(datatype)
    if limit is not None and np.any((values < -limit) | (values >= limit)):
        raise PayloadError(f"{field}: a value is out of {datatype} range")
    if np.any(np.abs(values) > FLOAT32_MAX):
        raise PayloadError(f"{field}: a value is beyond the float32 range (|x| <= {FLOAT32_MAX:g})")
    return values


def _object_number(field: str, datatype: Datatype, item: object) -> float:
    """One value from a mixed list (nulls, huge integers): a float or NaN, or a 422."""
    if item is None:
        return math.nan
    if isinstance(item, bool):
        valid = datatype is Datatype.BOOL
    elif isinstance(item, int):
        valid = datatype is not Datatype.BOOL
    else:
        valid = isinstance(item, float) and datatype in (Datatype.FP32, Datatype.FP64)
    if not valid or not isinstance(item, int | float):
        raise PayloadError(f"{field}: {datatype} data must be {_describe(datatype)}")
    return float(item)


def _describe(datatype: Datatype) -> str:
    if datatype is Datatype.BOOL:
        return "booleans"
    if datatype in _INTEGER_RANGES:
        return "integers"
    return "numbers"


def _categorical_values(
    field: str,
    datatype: Datatype | None,
    data: Values,
    shape: list[int],
    allowed: list[str] | None,
) -> ObjectMatrix:
    """Categories as strings (integers become their decimal form), null as None."""
    if datatype is not None and datatype not in _CATEGORICAL_TYPES:
        raise PayloadError(
            f"{field}: a categorical input needs datatype BYTES, INT32 or INT64, got {datatype}"
        )
    accepted = (str, int) if datatype is None else (_CATEGORICAL_TYPES[datatype],)
    array = _as_array(field, data, shape, object)
    values = np.empty(array.shape, dtype=object)
    allowed_set = None if allowed is None else frozenset(allowed)
    for index, item in enumerate(array):
        if item is not None:
            if isinstance(item, bool) or not isinstance(item, accepted):
                kinds = " or ".join("strings" if kind is str else "integers" for kind in accepted)
                raise PayloadError(f"{field}: categories must be {kinds}")
            item = str(item)
            if allowed_set is not None and item not in allowed_set:
                raise PayloadError(
                    f"{field}: unknown category {item!r} (allowed: {', '.join(allowed or [])})"
                )
        values[index] = item
    return values


def _assemble(schema: ModelSchema, columns: dict[str, AnyArray]) -> FeatureBatch:
    rows = len(next(iter(columns.values())))
    numeric = np.empty((rows, len(schema.numeric)), dtype=np.float64)
    for index, spec in enumerate(schema.numeric):
        numeric[:, index] = columns[spec.name]
    categorical = np.empty((rows, len(schema.categorical)), dtype=object)
    for index, spec in enumerate(schema.categorical):
        categorical[:, index] = columns[spec.name]
    return FeatureBatch(numeric=numeric, categorical=categorical)


def label_datatype(labels: AnyArray) -> Datatype:
    """The V2 datatype of class labels or regression values."""
    kind = labels.dtype.kind
    if kind == "b":
        return Datatype.BOOL
    if kind in "iu":
        return Datatype.INT64
    if kind == "f":
        return Datatype.FP64
    return Datatype.BYTES


def json_values(values: AnyArray) -> Any:
    """Flat values ready for orjson: numeric arrays as they are, anything else as strings."""
    if label_datatype(values) is Datatype.BYTES:
        return [str(value) for value in values.ravel().tolist()]
    return values.ravel()


def _tensor(name: str, values: AnyArray) -> dict[str, Any]:
    return {
        "name": name,
        "shape": list(values.shape),
        "datatype": label_datatype(values),
        "data": json_values(values),
    }


def encode_v2(
    model_name: str,
    model_version: str,
    request_id: str,
    outputs: Sequence[OutputName],
    prediction: Prediction,
) -> dict[str, Any]:
    """A V2 inference response; numpy arrays are left for orjson to serialise."""
    tensors = []
    for output in outputs:
        if output is OutputName.PREDICT:
            tensors.append(_tensor(output, prediction.labels))
        elif prediction.probabilities is not None:
            tensors.append(_tensor(output, prediction.probabilities))
    return {
        "model_name": model_name,
        "model_version": model_version,
        "id": request_id,
        "outputs": tensors,
    }


def encode_v1(prediction: Prediction) -> dict[str, Any]:
    return {"predictions": json_values(prediction.labels)}


def model_metadata(
    name: str, version: str, platform: str, schema: ModelSchema, classes: AnyArray | None
) -> dict[str, Any]:
    """The V2 model metadata: inputs from the schema, outputs from the model's kind."""
    inputs = [
        {
            "name": spec.name,
            "datatype": Datatype.FP64 if spec.type is FeatureKind.NUMERIC else Datatype.BYTES,
            "shape": [-1],
        }
        for spec in schema.inputs
    ]
    predict = Datatype.FP64 if classes is None else label_datatype(classes)
    outputs: list[dict[str, Any]] = [
        {"name": OutputName.PREDICT, "datatype": predict, "shape": [-1]}
    ]
    if classes is not None:
        outputs.append(
            {
                "name": OutputName.PREDICT_PROBA,
                "datatype": Datatype.FP64,
                "shape": [-1, len(classes)],
            }
        )
    return {
        "name": name,
        "versions": [version],
        "platform": platform,
        "inputs": inputs,
        "outputs": outputs,
    }
