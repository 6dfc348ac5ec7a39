"""Reading a ``.cnnp`` archive without trusting what it declares.

Two checks that run before anything large is parsed or inflated:

- :func:`check_central_directory` reads the ZIP end record (and its ZIP64
  variant) the way :mod:`zipfile` will find it and refuses an archive whose
  central directory holds more entries or bytes than a project can have, before
  ``zipfile.ZipFile`` parses every record of it (two million entries cost
  ``zipfile`` 10 s and 1.6 GB).
- :func:`read_weights` streams ``weights.safetensors`` out of the archive: it
  reads the 8-byte length prefix and the JSON header only, checks every tensor's
  name, shape and dtype against the network and the declared sizes against the
  entry's size, and only then inflates the data, straight into the tensors (one
  copy of the weights in memory, not two). A small file whose weights inflate to
  gigabytes that the network does not need is refused after a few KB.

Every refusal is a one-line :class:`ProjectError`.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Mapping
from typing import IO, Any

import torch

from .project_schema import ProjectError

__all__ = ["check_central_directory", "header_limit", "read_weights"]

WEIGHTS_ENTRY = "weights.safetensors"
#: Bytes of the central directory a project archive may have (entries of ~100 bytes each: a few, and the
#: runs' stored epochs, at most 2,000).
MAX_DIRECTORY_BYTES = 1 * 2**20
#: Inflated bytes read at a time while filling a tensor.
_CHUNK = 4 * 2**20

_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record (22 bytes)
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"

#: A tensor of a safetensors header: dtype, shape, (begin, end) of its data.
_Entry = tuple[torch.dtype, list[int], tuple[int, int]]

#: The safetensors dtypes that can be read (as ``safetensors.torch`` maps them); others are refused.
SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U64": torch.uint64, "U32": torch.uint32, "U16": torch.uint16, "U8": torch.uint8, "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2,
    "F8_E4M3FNUZ": torch.float8_e4m3fnuz, "F8_E5M2FNUZ": torch.float8_e5m2fnuz,
    "C64": torch.complex64,
}  # fmt: skip


# --- the central directory -----------------------------------------------------------------


def check_central_directory(f: IO[bytes], max_entries: int, name: str = "the project archive") -> None:
    """Refuse an archive whose end record declares over ``max_entries`` entries or a large directory.

    Finds the end record as ``zipfile`` does (at the very end, else the last
    one within 64 KB of comment) and, when present, the ZIP64 record just before
    it, whose counts ``zipfile`` uses instead. Reads at most 64 KB. A file with
    no end record is left to ``zipfile`` to refuse. ``name`` is the archive as
    the messages call it.
    """
    f.seek(0, 2)
    size = f.tell()
    start = max(size - _EOCD.size - 0xFFFF, 0)
    f.seek(start)
    tail = f.read()
    if len(tail) >= _EOCD.size and tail.endswith(b"\0\0") and tail[-_EOCD.size:].startswith(_EOCD_SIGNATURE):
        at = len(tail) - _EOCD.size
    else:
        at = tail.rfind(_EOCD_SIGNATURE)
        if at < 0 or len(tail) - at < _EOCD.size:
            return
    _, _, _, entries_here, entries, directory_bytes, _, _ = _EOCD.unpack_from(tail, at)
    record = start + at
    locator_at = record - _ZIP64_LOCATOR.size
    if locator_at >= 0:
        f.seek(locator_at)
        locator = f.read(_ZIP64_LOCATOR.size)
        if len(locator) == _ZIP64_LOCATOR.size and locator.startswith(_ZIP64_LOCATOR_SIGNATURE):
            zip64_at = locator_at - _ZIP64_EOCD.size
            if zip64_at >= 0:
                f.seek(zip64_at)
                zip64 = f.read(_ZIP64_EOCD.size)
                if len(zip64) == _ZIP64_EOCD.size and zip64.startswith(_ZIP64_EOCD_SIGNATURE):
                    entries_here, entries, directory_bytes = _ZIP64_EOCD.unpack(zip64)[6:9]
    f.seek(0)
    most = max(entries_here, entries)
    if most > max_entries:
        raise ProjectError(f"{name} holds {most:,} files; at most {max_entries} are allowed")
    if directory_bytes > MAX_DIRECTORY_BYTES:
        raise ProjectError(
            f"{name}'s directory is {directory_bytes:,} bytes; at most {MAX_DIRECTORY_BYTES:,} are allowed"
            + (" (it is not a CNN Playground project)" if name == "the project archive" else "")
        )


# --- the weights ---------------------------------------------------------------------------


def header_limit(tensors: int) -> int:
    """The most bytes a safetensors header for ``tensors`` tensors may take (1 MB + 1 KB each)."""
    return 2**20 + 2**10 * tensors


def read_weights(f: IO[bytes], size: int, expected: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of the safetensors stream ``f`` (``size`` bytes), which must fit ``expected`` exactly.

    ``expected`` is the network's state dict (tensors on the ``meta`` device do:
    only names, shapes and dtypes are used). The header is checked before any
    tensor data is read: the same names, the same shapes, floating-point values
    where the network has them, offsets that tile the data, and ``size`` equal to
    what the header declares. The result has the file's dtypes.
    """
    prefix = _read_exactly(f, 8, "its length prefix")
    (length,) = struct.unpack("<Q", prefix)
    limit = header_limit(len(expected))
    if length > limit or 8 + length > size:
        raise _damaged(f"its header claims {length:,} bytes; a header for this network takes at most "
                       f"{min(limit, size - 8):,}")
    entries = _parse_header(_read_exactly(f, length, "its header"))
    problems = _problems(expected, entries)
    if problems:
        more = len(problems) - 1
        raise ProjectError(problems[0] + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""))
    # No problems: every dtype is one torch reads.
    tensors_of: dict[str, _Entry] = {k: (d, s, o) for k, (d, s, o) in entries.items() if not isinstance(d, str)}
    order = sorted(tensors_of, key=lambda key: tensors_of[key][2][0])
    total = 0
    for key in order:
        dtype, shape, (begin, end) = tensors_of[key]
        nbytes = _numel(shape) * dtype.itemsize
        if begin != total or end - begin != nbytes:
            raise _damaged(f"the offsets of {key} are {begin}..{end}; the data of a {_shape_text(shape)} "
                           f"{dtype} tensor there would be {total}..{total + nbytes}")
        total = end
    if 8 + length + total != size:
        raise _damaged(f"its header declares {total:,} bytes of tensor data, the file holds {size - 8 - length:,}")
    if sys.byteorder != "little" and order:  # safetensors is little-endian; let it swap the bytes
        return _swapped(f, tensors_of)
    tensors: dict[str, torch.Tensor] = {}
    for key in order:
        dtype, shape, _ = tensors_of[key]
        tensor = torch.empty(shape, dtype=dtype)
        _fill(f, tensor, key)
        tensors[key] = tensor
    return tensors


def _swapped(f: IO[bytes], entries: dict[str, _Entry]) -> dict[str, torch.Tensor]:
    """Big-endian machines: the data rebuilt as a safetensors file for ``safetensors.torch`` (two copies)."""
    import safetensors.torch

    header = {key: {"dtype": _name(dtype), "shape": shape, "data_offsets": list(offsets)}
              for key, (dtype, shape, offsets) in entries.items()}
    text = json.dumps(header).encode()
    data = _read_exactly(f, max(end for _, _, (_, end) in entries.values()), "its data")
    return safetensors.torch.load(struct.pack("<Q", len(text)) + text + data)


def _name(dtype: torch.dtype) -> str:
    return next(name for name, dt in SAFETENSORS_DTYPES.items() if dt == dtype)


def _fill(f: IO[bytes], tensor: torch.Tensor, key: str) -> None:
    """Read ``tensor``'s bytes from ``f`` into it, a chunk at a time."""
    if tensor.numel() == 0:
        return
    view = tensor.reshape(-1).view(torch.uint8).numpy().data
    pos = 0
    while pos < len(view):
        chunk = f.read(min(_CHUNK, len(view) - pos))
        if not chunk:
            raise _damaged(f"it ends inside the data of {key}")
        view[pos:pos + len(chunk)] = chunk
        pos += len(chunk)


def _read_exactly(f: IO[bytes], n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _damaged(f"it ends inside {what}")
    return data


def _damaged(reason: str) -> ProjectError:
    return ProjectError(f"{WEIGHTS_ENTRY} is damaged ({reason})")


def _parse_header(raw: bytes) -> dict[str, tuple[torch.dtype | str, list[int], tuple[int, int]]]:
    """``{name: (dtype, shape, (begin, end))}``; a known dtype as torch's, an unknown one as its name."""
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _damaged(f"its header is not valid JSON: {' '.join(str(exc).split())[:120]}") from None
    if not isinstance(header, dict):
        raise _damaged("its header is not a JSON object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _damaged("its metadata is not a table of texts")
    entries: dict[str, tuple[torch.dtype | str, list[int], tuple[int, int]]] = {}
    for key, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise _damaged(f"the entry of {key[:80]!r} is not dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str):
            raise _damaged(f"the dtype of {key[:80]!r} is not a text")
        if not isinstance(shape, list) or not all(_whole(d) for d in shape):
            raise _damaged(f"the shape of {key[:80]!r} is not a list of whole numbers")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(_whole(d) for d in offsets) \
                or offsets[0] > offsets[1]:
            raise _damaged(f"the data_offsets of {key[:80]!r} are not two increasing whole numbers")
        entries[key] = (SAFETENSORS_DTYPES.get(dtype, dtype), shape, (offsets[0], offsets[1]))
    return entries


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a name appears twice")
    return out


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _problems(expected: Mapping[str, torch.Tensor], entries: Mapping[str, tuple[Any, list[int], Any]]) -> list[str]:
    """What keeps the header's tensors from fitting ``expected``, in the words of ``check_weights``."""
    problems: list[str] = []
    for key, ref in expected.items():
        got = entries.get(key)
        if got is None:
            problems.append(f"weights file is missing {key}")
            continue
        dtype, shape, _ = got
        if shape != list(ref.shape):
            problems.append(f"weights for {key} have shape {_shape_text(shape)}, the network needs "
                            f"{_shape_text(ref.shape)}")
        elif isinstance(dtype, str):
            problems.append(f"weights for {key} have the data type {dtype[:20]!r}, which cannot be read")
        elif dtype.is_floating_point != ref.is_floating_point() or dtype.is_complex:
            problems.append(f"weights for {key} are {dtype}, the network needs {ref.dtype}")
    problems += [f"unexpected weight {key[:80]}" for key in entries if key not in expected]
    return problems


def _numel(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _shape_text(shape: Any) -> str:
    dims = list(shape)
    if len(dims) > 8:
        return "×".join(str(d) for d in dims[:8]) + f"×… ({len(dims)} dimensions)"
    return "×".join(str(d)[:20] for d in dims) if dims else "a scalar"
