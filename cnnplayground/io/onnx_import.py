"""An ONNX file as a PyTorch module: :func:`load_onnx`.

The model's graph becomes a ``torch.fx.GraphModule`` of standard modules (``nn.Conv2d``,
``nn.BatchNorm2d``, ``nn.Linear``, pools, activations) and functional calls (``operator.add`` for
``+``, ``operator.mul`` for ``*``, ``torch.cat``, ``torch.flatten``), with the file's initializers as
its weights and buffers: the same kind of module a hand-written network traces to, so the model
importer maps it onto the canvas. :data:`ONNX_OPERATORS` (``onnx_ops.py``) is the table of
operators and what each becomes; anything else is refused with every node that cannot be mapped
named (operator, node name, reason), and nothing is returned. A final ``Softmax`` is dropped (the
networks output logits) and said so in ``module.meta["onnx_notes"]``.

Files are hostile until read: the protobuf encoding is surveyed before it is parsed
(``onnx_wire.py``: node count, description size, external data refused — no path the file names
is ever opened), and each tensor's declared size is checked against the bytes it holds before it
is converted. Every problem is an :class:`OnnxImportError` with a one-line message.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import one_line
from .input_file import regular_file
from .onnx_wire import OnnxImportError, survey
from .project import _size

if TYPE_CHECKING:
    from torch import fx

__all__ = ["MAX_ONNX_BYTES", "MIN_OPSET", "OnnxImportError", "load_onnx"]

#: protobuf cannot encode more; larger models use external data, which is refused.
MAX_ONNX_BYTES = 2 * 2**30
#: The oldest operator set whose operators' semantics ``onnx_ops.py`` follows (opset 9: BatchNormalization
#: without ``spatial``; older exporters are a decade old).
MIN_OPSET = 9
_ONNX_DOMAINS = ("", "ai.onnx")
_MISSING_PACKAGE = "importing ONNX files needs the package onnx: pip install onnx"


def load_onnx(path: str | os.PathLike[str]) -> tuple[fx.GraphModule, tuple[int, ...]]:
    """The network in the ONNX file ``path`` as a module in eval mode, and its input shape ``(C, H, W)``.

    The module takes ``(N, C, H, W)`` float32 batches and returns what the file's graph returns
    (logits; a final Softmax is dropped, see ``module.meta["onnx_notes"]``). Raises
    :class:`OnnxImportError` for a file that cannot be read, is damaged or hostile, or holds
    operators that cannot be mapped (``.problems`` lists each as ``(op_type, node_name, reason)``).
    """
    path = Path(path)
    try:
        import onnx
    except ImportError:
        raise OnnxImportError(_MISSING_PACKAGE) from None
    data = _read(path)
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except MemoryError:
        raise OnnxImportError(f"there is not enough memory to read {path.name}") from None
    except Exception as exc:  # protobuf's DecodeError and whatever a damaged file makes it raise
        raise OnnxImportError(f"{path.name} is not an ONNX model, or it is damaged ({one_line(exc, 200)})") from None
    finally:
        del data
    opset = _opset(model, path.name)
    from .onnx_ops import Converter

    converter = Converter(model.graph, opset, path.name)
    return converter.convert()


def _read(path: Path) -> bytes:
    """The file's bytes, after :func:`~.onnx_wire.survey` has checked its encoding in place (memory-mapped)."""
    info = regular_file(path, "an ONNX file", OnnxImportError)
    if info.st_size == 0:
        raise OnnxImportError(f"{path.name} is empty, not an ONNX model")
    if info.st_size > MAX_ONNX_BYTES:
        raise OnnxImportError(
            f"{path.name} is {_size(info.st_size)}; ONNX files are limited to {_size(MAX_ONNX_BYTES)} "
            "(larger models keep their weights in external data, which is not read)"
        )
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            survey(mapped, path.name)
            return mapped[:]
    except OnnxImportError:
        raise
    except MemoryError:
        raise OnnxImportError(f"there is not enough memory to read {path.name}") from None
    except (OSError, ValueError) as exc:
        raise OnnxImportError(f"cannot read {path}: {getattr(exc, 'strerror', None) or one_line(exc)}") from None


def _opset(model: Any, name: str) -> int:
    """The version of the standard operator set the model uses, checked against what is supported."""
    import onnx

    newest = onnx.defs.onnx_opset_version()
    versions = [entry.version for entry in model.opset_import if entry.domain in _ONNX_DOMAINS]
    if not versions:
        raise OnnxImportError(f"{name} does not say which ONNX operator set it uses (no opset_import)")
    opset = max(versions)
    if opset < MIN_OPSET:
        raise OnnxImportError(
            f"{name} uses ONNX opset {opset}; opsets {MIN_OPSET} to {newest} can be imported "
            "(convert it with onnx.version_converter, or export it again)"
        )
    if opset > newest:
        raise OnnxImportError(
            f"{name} uses ONNX opset {opset}, newer than the installed onnx package knows ({newest}); "
            "update onnx (pip install -U onnx)"
        )
    return int(opset)
