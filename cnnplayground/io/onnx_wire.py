"""A look at an ONNX file's protobuf encoding before anything parses it: counts and sizes, no objects.

``onnx`` (protobuf) builds every message of a file at once: a 13 MB file of a million tiny nodes
becomes about 340 MB of objects. :func:`survey` walks the wire format instead — the model, its
graph, each node and its attributes, each initializer's header — and refuses, from the bytes alone
and before any message is built, a file that is damaged at that level, one with more nodes or
entries than :data:`MAX_NODES` / :data:`MAX_ENTRIES`, one whose description (everything but
tensor data) exceeds :data:`MAX_STRUCTURE_BYTES`, and one that keeps tensor data outside the
file (external data: the file would name paths to read). Tensor payloads (``raw_data``) are
skipped over, not read. Subgraphs of control-flow nodes count as description.

Reference: https://protobuf.dev/programming-guides/encoding/ and ``onnx/onnx.proto`` (field numbers).
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass

from ..core.errors import UserError

__all__ = ["MAX_ENTRIES", "MAX_NODES", "MAX_STRUCTURE_BYTES", "OnnxImportError", "Survey", "survey"]

#: Nodes of the main graph; ResNet-152 exports to about 500, the canvas shows far fewer than this.
MAX_NODES = 20_000
#: Entries of the main graph of all sorts (nodes, initializers, inputs, outputs, value infos).
MAX_ENTRIES = 100_000
#: Bytes of everything but tensor data (names, attributes, shapes, subgraphs, small typed tensors).
#: Parsed, such bytes take up to about 25 times their size in memory (a minimal node: 13 → 340 bytes).
MAX_STRUCTURE_BYTES = 8 * 2**20
_MAX_MESSAGE = 600

# Field numbers (onnx.proto).
_MODEL_GRAPH = 7
_GRAPH_NODE, _GRAPH_INITIALIZER = 1, 5
_GRAPH_ENTRIES = {1, 5, 11, 12, 13, 15}  # node, initializer, input, output, value_info, sparse_initializer
_NODE_NAME, _NODE_OP_TYPE, _NODE_ATTRIBUTE = 3, 4, 5
_ATTRIBUTE_TENSOR, _ATTRIBUTE_TENSORS = 5, 10
_TENSOR_NAME, _TENSOR_RAW_DATA, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 9, 13, 14
_EXTERNAL = 1


class OnnxImportError(UserError, ValueError):
    """An ONNX file cannot be imported; ``str()`` is one line saying why and what to do.

    ``problems`` lists, for a model with operators that cannot be mapped, one
    ``(op_type, node_name, reason)`` per node (empty for other errors).
    """

    def __init__(self, message: str, problems: list[tuple[str, str, str]] | None = None) -> None:
        text = " ".join(str(message).split()) or "the ONNX model cannot be imported"
        if len(text) > _MAX_MESSAGE:
            text = text[: _MAX_MESSAGE - 1] + "…"
        super().__init__(text)
        self.problems = list(problems or [])


class _Damaged(UserError, ValueError):
    """The bytes are not a protobuf message (caught and reported by :func:`survey`, never seen by callers)."""


@dataclass
class Survey:
    """What the wire format says about a model: counts and byte sizes."""

    nodes: int = 0
    entries: int = 0
    graphs: int = 0
    structure_bytes: int = 0
    data_bytes: int = 0


Buffer = bytes | mmap.mmap


def survey(buf: Buffer, name: str) -> Survey:
    """Check the encoding of the model in ``buf`` against the limits; ``name`` is the file's name for messages.

    Raises :class:`OnnxImportError` for a damaged encoding, a model over a limit, or external data.
    Reads only field headers and the small fields it needs (node names, tensor names, locations).
    """
    # Indexed directly, never through a memoryview: a mapped file with a view left alive (in a traceback)
    # cannot be closed.
    view = buf
    found = Survey()
    try:
        for field, wire, a, b in _fields(view, 0, len(view)):
            if field == _MODEL_GRAPH and wire == 2:
                found.graphs += 1
                _graph(view, a, b, found, name)
            else:
                found.structure_bytes += _span(wire, a, b)
    except _Damaged as exc:
        raise OnnxImportError(f"{name} is not an ONNX model, or it is damaged ({exc})") from None
    if found.graphs == 0:
        raise OnnxImportError(f"{name} is not an ONNX model: it holds no graph")
    _check_structure(found, name)
    return found


def _graph(view: Buffer, start: int, end: int, found: Survey, name: str) -> None:
    for field, wire, a, b in _fields(view, start, end):
        if field in _GRAPH_ENTRIES:
            found.entries += 1
            if found.entries > MAX_ENTRIES:
                raise OnnxImportError(
                    f"{name} has over {MAX_ENTRIES:,} graph entries (nodes, weights, inputs, shapes); "
                    "the networks CNN Playground imports have far fewer"
                )
        if field == _GRAPH_NODE and wire == 2:
            found.nodes += 1
            if found.nodes > MAX_NODES:
                raise OnnxImportError(
                    f"{name} has over {MAX_NODES:,} nodes; CNN Playground imports networks of up to "
                    f"{MAX_NODES:,} operators"
                )
            _node(view, a, b, found, name)
        elif field == _GRAPH_INITIALIZER and wire == 2:
            _tensor(view, a, b, found, name)
        else:
            found.structure_bytes += _span(wire, a, b)
        _check_structure(found, name)


def _node(view: Buffer, start: int, end: int, found: Survey, name: str) -> None:
    for field, wire, a, b in _fields(view, start, end):
        if field == _NODE_ATTRIBUTE and wire == 2:
            for sub, sub_wire, c, d in _fields(view, a, b):
                if sub in (_ATTRIBUTE_TENSOR, _ATTRIBUTE_TENSORS) and sub_wire == 2:
                    _tensor(view, c, d, found, name)
                else:
                    found.structure_bytes += _span(sub_wire, c, d)
        else:
            found.structure_bytes += _span(wire, a, b)


def _tensor(view: Buffer, start: int, end: int, found: Survey, name: str) -> None:
    tensor_name = ""
    external = False
    for field, wire, a, b in _fields(view, start, end):
        if field == _TENSOR_RAW_DATA and wire == 2:
            found.data_bytes += b - a
            continue
        found.structure_bytes += _span(wire, a, b)
        if field == _TENSOR_NAME and wire == 2 and b - a <= 200:
            tensor_name = view[a:b].decode("utf-8", "replace")
        elif field == _TENSOR_EXTERNAL_DATA or (field == _TENSOR_DATA_LOCATION and wire == 0 and a == _EXTERNAL):
            external = True
    if external:
        label = f" ({tensor_name})" if tensor_name else ""
        raise OnnxImportError(
            f"{name} keeps weights{label} in a separate data file (ONNX external data), which CNN Playground "
            "does not read; save the model as one file (onnx.save_model(model, path, save_as_external_data=False))"
        )


def _check_structure(found: Survey, name: str) -> None:
    if found.structure_bytes > MAX_STRUCTURE_BYTES:
        raise OnnxImportError(
            f"{name} describes its graph in over {MAX_STRUCTURE_BYTES // 2**20} MB (names, attributes, shapes, "
            "small tensors; weights not counted); the networks CNN Playground imports need far less"
        )


def _span(wire: int, a: int, b: int) -> int:
    """Bytes of a field's value (varints and fixed-size values count as their size on the wire)."""
    return b - a if wire == 2 else {0: 1, 1: 8, 5: 4}.get(wire, 1)


def _fields(view: Buffer, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(field number, wire type, a, b)`` for each field in ``view[start:end]``.

    For length-delimited fields (wire type 2) the value is ``view[a:b]``; for varints ``a`` is the value.
    """
    pos = start
    while pos < end:
        key, pos = _varint(view, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _Damaged("a field numbered 0")
        if wire == 0:
            value, pos = _varint(view, pos, end)
            yield field, wire, value, pos
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise _Damaged("a value runs past the end of its message")
            yield field, wire, pos, pos + size
            pos += size
        elif wire == 2:
            length, pos = _varint(view, pos, end)
            if length > end - pos:
                raise _Damaged(f"a field of {length:,} bytes runs past the end of its message")
            yield field, wire, pos, pos + length
            pos += length
        else:
            raise _Damaged(f"unknown wire type {wire}")


def _varint(view: Buffer, pos: int, end: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Damaged("the data ends inside a number")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _Damaged("a number longer than 10 bytes")
