"""The wire format between the grader and its child processes: JSON plus raw array bytes.

Nothing in it can execute code when read (no pickle): a message is one JSON
header line, then the raw little-endian bytes of each array it lists. The
reader accepts only plain numeric dtypes and checks every size before it
allocates, so a child that writes garbage can only spoil its own result.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

import numpy as np

# The dtypes an array may have on the wire; anything else (object arrays above all) is refused.
ALLOWED_DTYPES = {"<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1", "<c16", "<c8"}
MAX_MESSAGE_BYTES = 256 * 2**20
MAX_DIMENSIONS = 32  # NumPy's own limit is 64; no graded value has more than a handful


class ProtocolError(ValueError):
    """A message that is malformed, too large, or holds something other than plain arrays."""


def encode(header: dict, arrays: dict[str, np.ndarray]) -> bytes:
    """Serialise ``header`` (JSON-able) and named numeric arrays into one message."""
    specs, chunks = [], []
    for name, array in arrays.items():
        array = np.asarray(array, order="C")  # (ascontiguousarray would turn 0-d into 1-d)
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        if dtype.str not in ALLOWED_DTYPES:
            raise ProtocolError(f"{name}: dtype {array.dtype} cannot be sent")
        data = array.astype(dtype, copy=False).tobytes()
        specs.append({"name": name, "dtype": dtype.str, "shape": list(array.shape), "nbytes": len(data)})
        chunks.append(data)
    head = json.dumps({"header": header, "arrays": specs}).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(chunks)


def write(stream: BinaryIO, header: dict, arrays: dict[str, np.ndarray]) -> None:
    stream.write(encode(header, arrays))
    stream.flush()


def decode(message: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of ``encode``; raises ProtocolError on anything unexpected."""
    if len(message) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(message)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")
    if len(message) < 8:
        raise ProtocolError("truncated message (no header)")
    (head_len,) = struct.unpack("<Q", message[:8])
    if head_len > len(message) - 8:
        raise ProtocolError("truncated message (header)")
    try:
        head = json.loads(message[8:8 + head_len].decode())
        header, specs = head["header"], head["arrays"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as error:
        raise ProtocolError(f"unreadable header: {type(error).__name__}") from None
    if not isinstance(header, dict) or not isinstance(specs, list):
        raise ProtocolError("header must be an object and arrays a list")
    arrays, offset = {}, 8 + head_len
    for spec in specs:
        name, array, offset = _read_array(spec, message, offset)
        arrays[name] = array
    if offset != len(message):
        raise ProtocolError("trailing bytes after the last array")
    return header, arrays


def _read_array(spec: Any, message: bytes, offset: int) -> tuple[str, np.ndarray, int]:
    try:
        name, dtype_str, shape, nbytes = spec["name"], spec["dtype"], tuple(spec["shape"]), spec["nbytes"]
    except (KeyError, TypeError) as error:
        raise ProtocolError(f"bad array description: {error}") from None
    if not isinstance(name, str) or not isinstance(dtype_str, str) or dtype_str not in ALLOWED_DTYPES:
        raise ProtocolError(f"array {str(name)[:100]!r}: dtype {str(dtype_str)[:20]!r} is not a plain numeric dtype")
    if len(shape) > MAX_DIMENSIONS or not all(type(n) is int and n >= 0 for n in shape) or type(nbytes) is not int:
        raise ProtocolError(f"array {name[:100]!r}: bad shape or size")
    dtype = np.dtype(dtype_str)
    if int(np.prod(shape, dtype=object)) * dtype.itemsize != nbytes or offset + nbytes > len(message):
        raise ProtocolError(f"array {name[:100]!r}: size does not match shape {shape} and dtype {dtype_str}")
    array = np.frombuffer(message, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset).reshape(shape).copy()
    return name, array, offset + nbytes


def encode_param(value: Any) -> Any:
    """A backward function's keyword parameter (axis, shape, index...) as JSON, or raise TypeError."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list": [encode_param(v) for v in value]}
    if isinstance(value, slice):
        return {"slice": [encode_param(value.start), encode_param(value.stop), encode_param(value.step)]}
    if value is Ellipsis:
        return {"ellipsis": True}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.size <= 10_000:
        return {"array": value.tolist(), "dtype": value.dtype.str}
    raise TypeError(f"cannot send a parameter of type {type(value).__name__}")


def decode_param(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "tuple" in value:
        return tuple(decode_param(v) for v in value["tuple"])
    if "list" in value:
        return [decode_param(v) for v in value["list"]]
    if "slice" in value:
        return slice(*(decode_param(v) for v in value["slice"]))
    if "ellipsis" in value:
        return Ellipsis
    if "array" in value and value.get("dtype") in ALLOWED_DTYPES:
        return np.array(value["array"], dtype=np.dtype(value["dtype"]))
    raise ProtocolError(f"unknown parameter encoding {sorted(value)}")
