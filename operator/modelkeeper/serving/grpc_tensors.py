"""V2 gRPC messages in and out: `ModelInferRequest` to the V2 document `payloads` decodes,
and a prediction to `ModelInferResponse`.

A request's tensors come as typed `contents` (the repeated field of their datatype) or
as `raw_input_contents` (one entry per input, the binary tensor data extension's
layout: little-endian, row-major, a BYTES element a 4-byte length and its bytes). Either
way each input becomes the array its datatype says in the document's `data`, so
`payloads.decode_v2_document` checks it against the schema as it checks JSON, and the
batch, its drift counting and its held prediction are the same as over REST. The
answer is raw (`raw_output_contents`, as Triton answers and its client reads) when the
request sent raw inputs or asked for binary outputs (`binary_data`,
`binary_data_output`), and typed `contents` otherwise. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np

from modelkeeper.protocol import binary as codec
from modelkeeper.protocol import grpc_predict_v2_pb2 as pb
from modelkeeper.serving import binary
from modelkeeper.serving.errors import BAD_REQUEST, PayloadError
from modelkeeper.serving.payloads import DecodedRequest, decode_v2_document
from modelkeeper.serving.schema import ModelSchema

# The `InferTensorContents` field that carries each datatype's values.
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}

# The `InferTensorContents` field numbers of the fixed-width datatypes (`_packed_values`).
PACKED_FIELDS = {"FP32": 6, "FP64": 7}


def parameters(values: Any) -> dict[str, Any]:
    """An `InferParameter` map as plain values (bool, int or str)."""
    return {
        key: getattr(parameter, parameter.WhichOneof("parameter_choice") or "string_param")
        for key, parameter in values.items()
    }


def request_document(request: pb.ModelInferRequest) -> dict[str, Any]:
    """The V2 document of a gRPC request, each input's values already an array (or strings)."""
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise PayloadError(
            f"raw_input_contents: {len(raw)} entries, but the request has "
            f"{len(request.inputs)} inputs (raw contents are one entry per input, for all)",
            BAD_REQUEST,
        )
    inputs = []
    for index, tensor in enumerate(request.inputs):
        field = f"inputs.{index}"
        document: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
        }
        if tensor.parameters:
            document["parameters"] = parameters(tensor.parameters)
            binary.refuse_extensions(f"{field}.parameters", document["parameters"])
        if raw:
            if tensor.HasField("contents"):
                raise PayloadError(
                    f"{field}: contents given beside raw_input_contents", BAD_REQUEST
                )
            document["data"] = _raw_values(field, tensor.name, tensor.datatype, raw[index])
        else:
            document["data"] = _contents_values(field, tensor.name, tensor.datatype, tensor)
        inputs.append(document)
    document = {"inputs": inputs}
    if request.id:
        document["id"] = request.id
    if request.parameters:
        document["parameters"] = parameters(request.parameters)
    if request.outputs:
        document["outputs"] = [
            {"name": output.name, "parameters": parameters(output.parameters)}
            for output in request.outputs
        ]
    return document


def _raw_values(field: str, name: str, datatype: str, data: bytes) -> Any:
    view = memoryview(data)
    try:
        codec.check_size(f"raw_input_contents.{field.split('.')[1]} ({name!r})", datatype, view)
        if datatype == codec.BYTES:
            elements = codec.bytes_elements(f"{field} ({name!r})", view)
            return _texts(name, elements)
    except codec.BinaryFormatError as error:
        raise PayloadError(str(error), BAD_REQUEST) from None
    return np.frombuffer(view, dtype=codec.NUMPY_DTYPES[datatype])


def _contents_values(field: str, name: str, datatype: str, tensor: Any) -> Any:
    """The values of the contents field of the tensor's datatype; an unknown datatype is
    left for `payloads` to refuse by name, with no values."""
    key = CONTENTS_FIELDS.get(datatype)
    if key is None:
        return []
    contents = tensor.contents
    packed = _packed_values(contents, datatype)
    if packed is not None:
        return packed
    present = [other for other in set(CONTENTS_FIELDS.values()) if len(getattr(contents, other))]
    if any(other != key for other in present):
        raise PayloadError(
            f"{field}.contents: {datatype} values go in {key}, got {', '.join(sorted(present))}",
            BAD_REQUEST,
        )
    values = getattr(contents, key)
    if datatype == codec.BYTES:
        return _texts(name, values)
    return np.array(values, dtype=codec.NUMPY_DTYPES[datatype])


def _packed_values(contents: Any, datatype: str) -> Any:
    """FP32 or FP64 values read from the contents' wire bytes in one step, or None when the
    contents are anything but that one field (left to the field-by-field path, which names
    what is wrong).

    Proto3 packs repeated floats and doubles as one length-delimited field of little-endian
    values, so numpy reads them where they lie: for a [64, 30] tensor about 3 µs, against
    about 65 µs for converting the repeated field value by value.
    """
    number = PACKED_FIELDS.get(datatype)
    if number is None:
        return None
    wire = contents.SerializeToString()
    if not wire or wire[0] != (number << 3 | 2):  # field `number`, length-delimited
        return None
    length, shift, offset = 0, 0, 1
    while offset < len(wire):
        byte = wire[offset]
        length |= (byte & 0x7F) << shift
        offset += 1
        if byte < 0x80:
            break
        shift += 7
    if offset + length != len(wire):  # another field, or unknown ones: not this fast path
        return None
    return np.frombuffer(wire, dtype=codec.NUMPY_DTYPES[datatype], offset=offset)


def _texts(name: str, elements: Sequence[bytes]) -> list[str]:
    try:
        return [element.decode() for element in elements]
    except UnicodeDecodeError:
        raise PayloadError(f"input {name!r}: a BYTES element is not UTF-8") from None


def decode_request(
    request: pb.ModelInferRequest, schema: ModelSchema
) -> tuple[DecodedRequest, bool]:
    """The decoded request, and whether its answer goes in `raw_output_contents`."""
    decoded = decode_v2_document(request_document(request), schema)
    return decoded, bool(request.raw_input_contents) or bool(decoded.binary)


def response(document: dict[str, Any], raw: bool) -> pb.ModelInferResponse:
    """A `ModelInferResponse` from `payloads.encode_v2`'s document."""
    answer = pb.ModelInferResponse(
        model_name=document["model_name"],
        model_version=document["model_version"],
        id=document["id"],
    )
    for tensor in document["outputs"]:
        datatype, data = tensor["datatype"], tensor["data"]
        output = answer.outputs.add(name=tensor["name"], datatype=datatype, shape=tensor["shape"])
        if raw:
            answer.raw_output_contents.append(binary.chunk(datatype, data))
        elif datatype == codec.BYTES:
            output.contents.bytes_contents.extend(str(value).encode() for value in data)
        else:
            getattr(output.contents, CONTENTS_FIELDS[datatype]).extend(
                np.asarray(data).ravel().tolist()
            )
    return answer


def metadata_response(document: dict[str, Any]) -> pb.ModelMetadataResponse:
    """The model's V2 metadata (`payloads.model_metadata`), as REST's `GET /v2/models/NAME`."""
    answer = pb.ModelMetadataResponse(
        name=document["name"], versions=document["versions"], platform=document["platform"]
    )
    for key in ("inputs", "outputs"):
        for tensor in document[key]:
            getattr(answer, key).add(
                name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
            )
    return answer


def server_metadata(
    name: str, version: str, extensions: Collection[str]
) -> pb.ServerMetadataResponse:
    return pb.ServerMetadataResponse(name=name, version=version, extensions=list(extensions))
