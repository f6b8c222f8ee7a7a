"""The binary tensor data extension in the scoring server, and the extensions it refuses.

A request with the `Inference-Header-Content-Length` header is split by the shared codec
(`modelkeeper.protocol.binary`); each binary input becomes the array its datatype says
(BYTES as strings) in the tensor's `data`, so `payloads` decodes it as it decodes JSON
and the batch, its drift counting and its feedback are the same. The outputs a request
asks for as binary data leave the JSON for the bytes after it. Parameters of the
extensions this server lacks (shared memory, classification) are refused with a 400
that names them. Pure.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from modelkeeper.protocol import binary as codec
from modelkeeper.protocol.binary import HEADER as HEADER
from modelkeeper.protocol.binary import OUTPUT_BINARY, SIZE
from modelkeeper.protocol.binary import REQUEST_BINARY as REQUEST_BINARY
from modelkeeper.serving.errors import BAD_REQUEST, PayloadError

CONTENT_TYPE = codec.CONTENT_TYPE
EXTENSIONS = (codec.EXTENSION,)

# Parameters of V2 extensions this server does not implement, by the extension's name.
UNSUPPORTED_PARAMETERS = {
    "shared_memory_region": "shared-memory",
    "shared_memory_byte_size": "shared-memory",
    "shared_memory_offset": "shared-memory",
    "classification": "classification",
}


def read_request(body: bytes, header: str) -> dict[str, Any]:
    """The request's JSON document with each binary input's values in its `data`."""
    try:
        length = codec.header_length(header, len(body))
        document, tensors = codec.split_body(body, length, "inputs")
        for tensor in tensors:  # only when `inputs` is a list of objects
            document["inputs"][tensor.index]["data"] = _values(tensor)
    except codec.BinaryFormatError as error:
        raise PayloadError(str(error), BAD_REQUEST) from None
    return document


def _values(tensor: codec.BinaryTensor) -> Any:
    if tensor.datatype == codec.BYTES:
        elements = codec.bytes_elements(f"inputs.{tensor.index} ({tensor.name!r})", tensor.data)
        try:
            return [element.decode() for element in elements]
        except UnicodeDecodeError:
            raise PayloadError(f"input {tensor.name!r}: a BYTES element is not UTF-8") from None
    return np.frombuffer(tensor.data, dtype=codec.NUMPY_DTYPES[tensor.datatype])


def encode_response(document: dict[str, Any], binary: Collection[str]) -> tuple[bytes, int]:
    """A V2 response body with the `binary` outputs as binary data after the JSON, and the
    JSON's length; `document` is `payloads.encode_v2`'s (it is changed)."""
    chunks = []
    for tensor in document["outputs"]:
        if tensor["name"] in binary:
            data = chunk(tensor["datatype"], tensor.pop("data"))
            tensor["parameters"] = {SIZE: len(data)}
            chunks.append(data)
    return codec.join_body(document, chunks)


def chunk(datatype: str, data: Any) -> bytes:
    """An output's bytes: strings as BYTES elements, numbers little-endian (also gRPC's
    `raw_output_contents`)."""
    if datatype == codec.BYTES:
        return codec.encode_bytes_elements(str(value).encode() for value in data)
    return np.ascontiguousarray(data, dtype=codec.NUMPY_DTYPES[datatype]).tobytes()


def flag(parameters: dict[str, Any], key: str, field: str) -> bool:
    """A boolean parameter (`binary_data`, `binary_data_output`), false when absent."""
    value = parameters.get(key, False)
    if not isinstance(value, bool):
        raise PayloadError(f"{field}.{key}: must be true or false", BAD_REQUEST)
    return value


def output_is_binary(field: str, parameters: dict[str, Any] | None, default: bool) -> bool:
    """Whether a requested output is answered as binary data: its own `binary_data`, else
    the request's `binary_data_output` (`default`); its parameters are checked for extensions."""
    if not parameters:
        return default
    field = f"{field}.parameters"
    refuse_extensions(field, parameters)
    return flag(parameters, OUTPUT_BINARY, field) if OUTPUT_BINARY in parameters else default


def refuse_extensions(field: str, parameters: dict[str, Any]) -> None:
    """A 400 naming the extension if `parameters` use one this server lacks."""
    for key in parameters:
        extension = UNSUPPORTED_PARAMETERS.get(key)
        if extension is not None:
            raise PayloadError(
                f"{field}.{key}: the {extension} extension is not supported "
                f"(supported: {', '.join(EXTENSIONS)})",
                BAD_REQUEST,
            )


def refuse_unsupported_inputs(document: Any) -> None:
    """Name what an invalid request's inputs use, if they have no `data` because of an
    extension this server lacks or binary data sent without its HTTP header."""
    inputs = document.get("inputs") if isinstance(document, dict) else None
    for index, tensor in enumerate(inputs if isinstance(inputs, list) else []):
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict):
            continue
        field = f"inputs.{index}.parameters"
        refuse_extensions(field, parameters)
        if SIZE in parameters and "data" not in tensor:
            raise PayloadError(
                f"{field}.{SIZE}: binary data needs the {HEADER} header", BAD_REQUEST
            )
