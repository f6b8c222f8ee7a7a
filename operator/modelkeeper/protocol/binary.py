"""The V2 binary tensor data extension as bytes: a JSON header, then raw tensors after it.

As Triton and KServe define it: the `Inference-Header-Content-Length` HTTP header gives
the length of the JSON document at the start of the body; each tensor whose
`parameters.binary_data_size` is set has no `data` and its bytes follow the JSON, in the
order of the tensors, little-endian, row-major, without padding. A BOOL element is one
byte, 0 or 1; a BYTES element is a 4-byte little-endian length and that many bytes.
The same layout carries request inputs and response outputs.

Pure and standard library only (the router reads it too and imports no numpy): the
body is split into its document and each binary tensor's bytes, sizes checked; turning
bytes into arrays is the reader's (`NUMPY_DTYPES` names the dtype, or `values` gives a
list). Every malformed body is a `BinaryFormatError` whose message names the field.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

HEADER = "Inference-Header-Content-Length"
EXTENSION = "binary_tensor_data"
SIZE = "binary_data_size"
# A requested output's parameter, and the request's parameter that sets every output's default.
OUTPUT_BINARY = "binary_data"
REQUEST_BINARY = "binary_data_output"
CONTENT_TYPE = "application/octet-stream"

# Element sizes of the fixed-size datatypes, and their little-endian numpy dtypes.
ITEM_SIZES = {
    "BOOL": 1,
    "UINT8": 1,
    "UINT16": 2,
    "UINT32": 4,
    "UINT64": 8,
    "INT8": 1,
    "INT16": 2,
    "INT32": 4,
    "INT64": 8,
    "FP16": 2,
    "FP32": 4,
    "FP64": 8,
}
NUMPY_DTYPES = {
    "BOOL": "?",
    "UINT8": "u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
# struct formats, read with `<` (little-endian, standard sizes).
_FORMATS = {
    "BOOL": "?",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
BYTES = "BYTES"
_LENGTH = struct.Struct("<I")


class BinaryFormatError(ValueError):
    """A body that does not follow the binary tensor data extension; a client's error (400)."""


@dataclass(frozen=True)
class BinaryTensor:
    """One tensor's bytes in the body: `index` is its place among the document's tensors."""

    index: int
    name: str
    datatype: str
    data: memoryview


def header_length(value: str, body_size: int) -> int:
    """The JSON header's length from the HTTP header's value, within the body."""
    try:
        length = int(value)
    except ValueError:
        raise BinaryFormatError(f"{HEADER}: {value!r} is not a number of bytes") from None
    if length < 0 or length > body_size:
        raise BinaryFormatError(
            f"{HEADER}: {length} bytes of JSON, but the body has {body_size} bytes"
        )
    return length


def split_body(body: bytes, length: int, key: str) -> tuple[dict[str, Any], list[BinaryTensor]]:
    """The JSON document at the body's start and the binary tensors after it.

    `key` is where the tensors are: `inputs` in a request, `outputs` in a response. Each
    tensor with a `binary_data_size` gets its share of the bytes after the JSON, in order;
    the sizes must add up to exactly those bytes.
    """
    try:
        document = orjson.loads(memoryview(body)[:length])
    except orjson.JSONDecodeError as error:
        raise BinaryFormatError(f"malformed JSON in the first {length} bytes: {error}") from None
    if not isinstance(document, dict):
        raise BinaryFormatError("body: the JSON header must be an object")
    tensors = document.get(key)
    if not isinstance(tensors, list):
        tensors = []
    view = memoryview(body)
    offset = length
    found = []
    for index, tensor in enumerate(tensors):
        size = binary_size(tensor, f"{key}.{index}")
        if size is None:
            continue
        field = f"{key}.{index}"
        if "data" in tensor:
            raise BinaryFormatError(f"{field}: both data and parameters.{SIZE} given")
        name, datatype = tensor.get("name"), tensor.get("datatype")
        if not isinstance(name, str) or not isinstance(datatype, str):
            raise BinaryFormatError(f"{field}: a binary tensor needs a name and a datatype")
        if offset + size > len(body):
            raise BinaryFormatError(
                f"{field}.parameters.{SIZE}: {size} bytes, but only {len(body) - offset} "
                "bytes of the body are left"
            )
        data = view[offset : offset + size]
        offset += size
        check_size(f"{field} ({name!r})", datatype, data)
        found.append(BinaryTensor(index, name, datatype, data))
    if offset != len(body):
        raise BinaryFormatError(
            f"body: {len(body) - offset} bytes after the JSON header and the binary tensors "
            f"that no {SIZE} accounts for"
        )
    return document, found


def binary_size(tensor: object, field: str) -> int | None:
    """A tensor's `parameters.binary_data_size`, or None when it is sent as JSON."""
    if not isinstance(tensor, dict):
        return None
    parameters = tensor.get("parameters")
    if not isinstance(parameters, dict) or SIZE not in parameters:
        return None
    size = parameters[SIZE]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise BinaryFormatError(f"{field}.parameters.{SIZE}: must be a number of bytes >= 0")
    return size


def check_size(field: str, datatype: str, data: memoryview) -> None:
    """Whether `data` can hold whole elements of `datatype` (BOOL bytes 0 or 1); a BYTES
    tensor's elements are checked as they are read (`bytes_elements`), not twice."""
    if datatype == BYTES:
        return
    item = ITEM_SIZES.get(datatype)
    if item is None:
        raise BinaryFormatError(f"{field}: datatype {datatype!r} has no binary form")
    if len(data) % item:
        raise BinaryFormatError(
            f"{field}: {len(data)} bytes is not a whole number of {datatype} elements "
            f"({item} bytes each)"
        )
    if datatype == "BOOL" and bytes(data).translate(None, b"\x00\x01"):
        raise BinaryFormatError(f"{field}: a BOOL element must be the byte 0 or 1")


def bytes_elements(field: str, data: memoryview) -> list[bytes]:
    """The elements of a BYTES tensor: each a 4-byte little-endian length, then the bytes."""
    raw = bytes(data)
    unpack = _LENGTH.unpack_from
    elements = []
    offset, end = 0, len(raw)
    while offset < end:
        if offset + 4 > end:
            raise BinaryFormatError(f"{field}: a BYTES element's 4-byte length is cut short")
        (size,) = unpack(raw, offset)
        start, offset = offset + 4, offset + 4 + size
        if offset > end:
            raise BinaryFormatError(
                f"{field}: a BYTES element of {size} bytes runs past the tensor's end"
            )
        elements.append(raw[start:offset])
    return elements


def values(datatype: str, data: memoryview) -> list[Any]:
    """A checked tensor's elements as Python values, flat (BYTES as str where UTF-8)."""
    if datatype == BYTES:
        return [_text(element) for element in bytes_elements(datatype, data)]
    count = len(data) // ITEM_SIZES[datatype]
    return list(struct.unpack_from(f"<{count}{_FORMATS[datatype]}", data))


def _text(element: bytes) -> str | bytes:
    try:
        return element.decode()
    except UnicodeDecodeError:
        return element


def encode_bytes_elements(elements: Iterable[bytes]) -> bytes:
    """BYTES elements as the extension lays them out."""
    return b"".join(_LENGTH.pack(len(element)) + element for element in elements)


def join_body(document: dict[str, Any], chunks: Sequence[bytes]) -> tuple[bytes, int]:
    """The body of a document whose binary tensors are `chunks`, in order, and the length
    of its JSON header (for `Inference-Header-Content-Length`)."""
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    return b"".join((header, *chunks)), len(header)
