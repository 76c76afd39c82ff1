"""Tensors of the Open Inference Protocol (REST): JSON bodies and the binary tensor data extension.

A request is a JSON object whose `inputs` each carry `name`, `datatype`, `shape` and either
`data` (JSON values, flat or nested in row-major order) or, with the binary tensor data
extension, `parameters.binary_data_size`: that many bytes of the body after the JSON header,
whose length the `Inference-Header-Content-Length` header gives. Responses mirror it: an output is
sent as JSON `data`, or as raw bytes after the header when the request asked for binary data
(per output, `parameters.binary_data`, or for all, `parameters.binary_data_output`), which is
what `tritonclient.http` does by default. Binary tensors are little-endian, row-major; BYTES
elements are each a 4-byte little-endian length followed by the bytes.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import orjson

from pumpapi.errors import MalformedRequest
from pumpapi.extensions.fastpath import float_array
from pumpapi.limits import read_json

#: The header giving the length of the JSON part of a body that carries binary tensors.
HEADER_LENGTH = "Inference-Header-Content-Length"
#: Media type of a body made of a JSON header followed by binary tensors.
BINARY_MEDIA_TYPE = "application/octet-stream"

#: Numeric datatypes of the protocol and their little-endian numpy types.
NUMERIC: dict[str, np.dtype] = {
    name: np.dtype(code).newbyteorder("<")
    for name, code in (
        ("UINT8", "u1"),
        ("UINT16", "u2"),
        ("UINT32", "u4"),
        ("UINT64", "u8"),
        ("INT8", "i1"),
        ("INT16", "i2"),
        ("INT32", "i4"),
        ("INT64", "i8"),
        ("FP16", "f2"),
        ("FP32", "f4"),
        ("FP64", "f8"),
    )
}
BOOL, BYTES = "BOOL", "BYTES"
DATATYPES = (BOOL, *NUMERIC, BYTES)
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class InferInput:
    """One input tensor of a request, decoded: its values as a float64 array of `shape`."""

    name: str
    datatype: str
    shape: tuple[int, ...]
    values: np.ndarray


@dataclass(frozen=True)
class InferRequest:
    """A decoded inference request."""

    id: str | None
    inputs: dict[str, InferInput]
    #: The outputs asked for, by name, each with whether it is wanted as binary data; None
    #: when the request names none (then every output is sent).
    outputs: dict[str, bool] | None
    #: `parameters.binary_data_output`: send every output not named otherwise as binary.
    binary_output: bool
    parameters: dict[str, Any]


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if type(value) is not list or not all(type(d) is int and d >= 0 for d in value):
        raise MalformedRequest(f"{where}: `shape` must be a list of non-negative integers.")
    return tuple(value)


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedRequest(f"{where}: `parameters` must be an object.")
    return value


def _flatten(data: Any, name: str) -> list[Any]:
    """`data` flat, in row-major order: the protocol allows nested lists matching the shape,
    or one flat list."""
    if type(data) is not list:
        raise MalformedRequest(f"Input '{name}': `data` must be a list of values.")
    while data and type(data[0]) is list:
        if not all(type(item) is list for item in data):
            raise MalformedRequest(f"Input '{name}': `data` mixes lists and values.")
        data = list(chain.from_iterable(data))
    return data


def _from_json(name: str, datatype: str, data: Any, count: int) -> np.ndarray:
    values = _flatten(data, name)
    if len(values) != count:
        raise MalformedRequest(
            f"Input '{name}': its shape holds {count} values but `data` has {len(values)}."
        )
    if datatype == BYTES:
        raise MalformedRequest(f"Input '{name}': this model takes numbers, not BYTES.")
    if datatype == BOOL:
        if not all(type(v) is bool for v in values):
            raise MalformedRequest(f"Input '{name}': BOOL data must be true or false.")
        return np.array(values, dtype=np.float64)
    # Booleans are not numbers here, and neither are strings (the API's rule everywhere).
    array = float_array(values, values) if values else np.empty(0)
    if array is None:
        raise MalformedRequest(f"Input '{name}': {datatype} data must be JSON numbers.")
    return array


def _from_binary(name: str, datatype: str, raw: bytes, count: int) -> np.ndarray:
    if datatype == BYTES:
        raise MalformedRequest(f"Input '{name}': this model takes numbers, not BYTES.")
    dtype = np.dtype("?") if datatype == BOOL else NUMERIC[datatype]
    if len(raw) != count * dtype.itemsize:
        raise MalformedRequest(
            f"Input '{name}': {count} {datatype} values take {count * dtype.itemsize} bytes; "
            f"binary_data_size says {len(raw)}."
        )
    return np.frombuffer(raw, dtype=dtype).astype(np.float64)


def decode_request(body: bytes, header_length: str | None, max_values: int) -> InferRequest:
    """A request body (JSON, or a JSON header of `header_length` bytes followed by binary
    tensors) decoded; MalformedRequest (400) names what does not follow the protocol. No input
    may hold more than `max_values` values (checked before any is decoded)."""
    binary = b""
    if header_length is not None:
        try:
            length = int(header_length)
        except ValueError:
            length = -1
        if not 0 < length <= len(body):
            raise MalformedRequest(
                f"{HEADER_LENGTH} must be the length of the JSON header, from 1 to the body's "
                f"{len(body)} bytes; got {header_length!r}."
            )
        body, binary = body[:length], body[length:]
    try:
        request = read_json(body)
    except ValueError:
        raise MalformedRequest("The inference request is not valid JSON.") from None
    if not isinstance(request, dict):
        raise MalformedRequest("The inference request must be a JSON object.")
    inputs = request.get("inputs")
    if type(inputs) is not list or not inputs:
        raise MalformedRequest("The inference request needs `inputs`: a list of tensors.")
    decoded: dict[str, InferInput] = {}
    offset = 0
    for position, tensor in enumerate(inputs):
        where = f"inputs[{position}]"
        if not isinstance(tensor, dict):
            raise MalformedRequest(f"{where} must be an object.")
        name, datatype = tensor.get("name"), tensor.get("datatype")
        if not isinstance(name, str) or not name:
            raise MalformedRequest(f"{where} needs a `name`.")
        if name in decoded:
            raise MalformedRequest(f"Input '{name}' is sent twice.")
        if datatype not in DATATYPES:
            raise MalformedRequest(
                f"Input '{name}': `datatype` must be one of {', '.join(DATATYPES)}."
            )
        shape = _shape(tensor.get("shape"), f"Input '{name}'")
        count = math.prod(shape)
        if count > max_values:
            raise MalformedRequest(
                f"Input '{name}' holds {count} values; at most {max_values} are accepted."
            )
        parameters = _parameters(tensor.get("parameters"), f"Input '{name}'")
        size = parameters.get("binary_data_size")
        if size is not None:
            if type(size) is not int or size < 0 or offset + size > len(binary):
                raise MalformedRequest(
                    f"Input '{name}': binary_data_size {size!r} does not fit the "
                    f"{len(binary) - offset} bytes left after the JSON header."
                )
            values = _from_binary(name, datatype, binary[offset : offset + size], count)
            offset += size
        elif "data" in tensor:
            values = _from_json(name, datatype, tensor["data"], count)
        else:
            raise MalformedRequest(f"Input '{name}' has neither `data` nor binary_data_size.")
        decoded[name] = InferInput(name, datatype, shape, values.reshape(shape))
    if offset != len(binary):
        raise MalformedRequest(
            f"The body has {len(binary) - offset} bytes after the tensors its header describes."
        )
    parameters = _parameters(request.get("parameters"), "The request")
    return InferRequest(
        id=request.get("id") if isinstance(request.get("id"), str) else None,
        inputs=decoded,
        outputs=_requested_outputs(request.get("outputs")),
        binary_output=parameters.get("binary_data_output") is True,
        parameters=parameters,
    )


def _requested_outputs(outputs: Any) -> dict[str, bool] | None:
    if outputs is None:
        return None
    if type(outputs) is not list:
        raise MalformedRequest("`outputs` must be a list of {name, parameters} objects.")
    requested: dict[str, bool] = {}
    for position, output in enumerate(outputs):
        if not isinstance(output, dict) or not isinstance(output.get("name"), str):
            raise MalformedRequest(f"outputs[{position}] needs a `name`.")
        parameters = _parameters(output.get("parameters"), f"Output '{output['name']}'")
        requested[output["name"]] = parameters.get("binary_data") is True
    return requested


@dataclass(frozen=True)
class OutputTensor:
    """One output of a model's answer: its values (numbers, booleans or strings) and type."""

    name: str
    datatype: str
    values: np.ndarray


def _bytes_elements(values: np.ndarray) -> bytes:
    parts = []
    for value in values.reshape(-1):
        encoded = str(value).encode("utf-8")
        parts.append(_LENGTH.pack(len(encoded)))
        parts.append(encoded)
    return b"".join(parts)


def _binary(tensor: OutputTensor) -> bytes:
    if tensor.datatype == BYTES:
        return _bytes_elements(tensor.values)
    dtype = np.dtype("?") if tensor.datatype == BOOL else NUMERIC[tensor.datatype]
    return np.ascontiguousarray(tensor.values, dtype=dtype).tobytes()


def _json_data(tensor: OutputTensor) -> list[Any]:
    flat = tensor.values.reshape(-1)
    if tensor.datatype == BYTES:
        return [str(v) for v in flat]
    if tensor.datatype == BOOL:
        return [bool(v) for v in flat]
    if tensor.datatype in ("FP32", "FP16"):
        # The shortest decimals of the float32 values: what the model computed, as our own
        # routes answer it (0.05, not 0.0500000007).
        return orjson.loads(
            orjson.dumps(flat.astype(np.float32), option=orjson.OPT_SERIALIZE_NUMPY)
        )
    return flat.tolist()


def encode_response(
    model_name: str,
    model_version: str,
    request: InferRequest,
    outputs: Sequence[OutputTensor],
    warnings: Sequence[Sequence[Mapping[str, Any]]] = (),
) -> tuple[bytes, dict[str, str]]:
    """The response body and its headers: JSON, or a JSON header followed by the outputs that
    were asked for as binary data (then `Inference-Header-Content-Length` says where the JSON
    ends).

    `warnings` (one list per row of the input: reading, window, series) reach the client as
    the response parameter `warnings`, a JSON text of `[{"row": i, "code": …, "field": …,
    "value": …, "trained_range": [lo, hi]}, …]` — the protocol's parameters hold strings,
    numbers and booleans only, and an extra output tensor would change every model's
    signature. Absent when no row has any, as the family routes' lists are then empty."""
    wanted: Mapping[str, bool]
    if request.outputs is None:
        wanted = {tensor.name: request.binary_output for tensor in outputs}
    else:
        known = {tensor.name for tensor in outputs}
        unknown = sorted(set(request.outputs) - known)
        if unknown:
            raise MalformedRequest(
                f"Unknown output(s) {unknown} of model '{model_name}'; it has {sorted(known)}."
            )
        wanted = {name: binary or request.binary_output for name, binary in request.outputs.items()}
    header: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        header["id"] = request.id
    flagged = [{"row": row, **w} for row, found in enumerate(warnings) for w in found]
    if flagged:
        header["parameters"] = {"warnings": orjson.dumps(flagged).decode()}
    described, blobs = [], []
    for tensor in outputs:
        if tensor.name not in wanted:
            continue
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.values.shape),
        }
        if wanted[tensor.name]:
            blob = _binary(tensor)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_data(tensor)
        described.append(entry)
    header["outputs"] = described
    text = orjson.dumps(header)
    if not blobs:
        return text, {"Content-Type": "application/json"}
    return b"".join([text, *blobs]), {
        "Content-Type": BINARY_MEDIA_TYPE,
        HEADER_LENGTH: str(len(text)),
    }
