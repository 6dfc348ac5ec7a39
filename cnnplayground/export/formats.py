"""Trained networks as files other programs run: ONNX and ``torch.export`` (``.pt2``).

Both take a built network (a :class:`~cnnplayground.core.builder.GraphModule`,
or any ``nn.Module`` taking one ``(N, C, H, W)`` tensor) or a graph, which is
built first. The batch dimension stays dynamic: the files take any batch size.
The network is exported in eval mode (BatchNorm uses its running statistics,
Dropout is off) and from a CPU copy when it lives elsewhere; its own mode and
device are left as they were.

ONNX export uses PyTorch's current exporter (``torch.onnx.export(...,
dynamo=True)``, built on ``torch.export``), which handles every layer kind of
the registry, DAGs with Add/Concat included; it needs the packages
``onnx`` and ``onnxscript`` (dependencies of the app: a damaged environment may lack them). The file's
input is named ``input`` and its output ``logits``.

Every failure is an :class:`ExportError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from ..core.builder import BuildError, build
from ..core.errors import one_line
from ..core.graph import Graph
from ..core.memory import NotEnoughMemoryError, check_memory
from ..core.shapes import format_shape
from ..io.atomic import AtomicWriteError, atomic_write_bytes, atomic_writer
from .errors import ExportError

__all__ = ["ONNX_EXTRA_MESSAGE", "ExportError", "MIN_ONNX_OPSET", "export_onnx", "export_pt2"]

#: The oldest ONNX opset PyTorch's exporter writes without a lossy version conversion.
MIN_ONNX_OPSET = 18
ONNX_EXTRA_MESSAGE = ("ONNX export needs the packages onnx and onnxscript, which this environment lacks: "
                      "install CNN Playground again (pip install cnnplayground) or pip install onnx onnxscript")
#: Weights beyond this many bytes go to a ``<file>.data`` beside the ``.onnx`` (protobuf's 2 GB limit).
ONNX_EXTERNAL_DATA_BYTES = 1536 * 2**20


def export_onnx(
    model: nn.Module | Graph,
    path: str | os.PathLike[str],
    input_shape: Sequence[int] | None = None,
    opset: int | None = None,
) -> Path:
    """Write ``model`` as an ONNX file with a dynamic batch size; return the path written.

    ``input_shape`` is one image's ``(C, H, W)`` (default: the network's own
    ``input_shape``). ``opset`` is the ONNX operator set (default: the exporter's
    recommended one; at least :data:`MIN_ONNX_OPSET`). Networks whose weights
    exceed 1.5 GB keep them in ``<path>.data`` beside the file (ONNX's protobuf
    cannot hold 2 GB); smaller ones are a single file, written atomically.
    """
    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxscript") is None:
        raise ExportError(ONNX_EXTRA_MESSAGE)
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < MIN_ONNX_OPSET):
        raise ExportError(f"ONNX opset must be a whole number of at least {MIN_ONNX_OPSET}, got {opset!r}")
    path = Path(path)
    with _exportable(model, input_shape) as (module, example):
        batch = torch.export.Dim("batch", min=1)
        try:
            program = torch.onnx.export(
                module, (example,), None, dynamo=True, input_names=["input"], output_names=["logits"],
                dynamic_shapes=({0: batch},), opset_version=opset, external_data=False, verbose=False,
            )
        except ImportError:
            raise ExportError(ONNX_EXTRA_MESSAGE) from None
        except Exception as exc:
            raise ExportError(f"ONNX export failed: {one_line(exc)}") from exc
        if program is None:  # pragma: no cover - only the TorchScript exporter returns None
            raise ExportError("ONNX export failed: the exporter returned no model")
        weight_bytes = sum(t.numel() * t.element_size() for t in module.state_dict().values())
    try:
        if weight_bytes > ONNX_EXTERNAL_DATA_BYTES:
            program.save(path, external_data=True)
        else:
            atomic_write_bytes(path, program.model_proto.SerializeToString())
    except AtomicWriteError as exc:
        raise ExportError(str(exc)) from exc
    except (OSError, ValueError, RuntimeError) as exc:
        raise ExportError(f"cannot write {path}: {one_line(exc)}") from exc
    return path


def export_pt2(
    model: nn.Module | Graph,
    path: str | os.PathLike[str],
    input_shape: Sequence[int] | None = None,
) -> Path:
    """Write ``model`` as a ``torch.export`` program (``.pt2``) with a dynamic batch size.

    Load it with ``torch.export.load(path).module()``; the result takes
    ``(N, *input_shape)`` for any ``N >= 1``. Written atomically.
    """
    path = Path(path)
    with _exportable(model, input_shape) as (module, example):
        batch = torch.export.Dim("batch", min=1)
        try:
            program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
        except Exception as exc:
            raise ExportError(f"torch.export failed: {one_line(exc)}") from exc
    try:
        with atomic_writer(path) as f:
            torch.export.save(program, f)
    except AtomicWriteError as exc:
        raise ExportError(str(exc)) from exc
    except (ValueError, RuntimeError, TypeError) as exc:
        raise ExportError(f"cannot write {path}: {one_line(exc)}") from exc
    return path


# --- helpers -------------------------------------------------------------------------------


@contextlib.contextmanager
def _exportable(
    model: nn.Module | Graph, input_shape: Sequence[int] | None
) -> Iterator[tuple[nn.Module, torch.Tensor]]:
    """The module to export (eval mode, on the CPU) and an example batch of two images.

    The model's own training mode is restored afterwards. A module elsewhere than
    on the CPU is copied, so the files never refer to a GPU.
    """
    if isinstance(model, Graph):
        try:
            check_memory(model, "inference", 2)  # the example batch: refused before anything is allocated
            model = build(model)
        except BuildError as exc:
            raise ExportError(f"cannot export: the network is not valid ({exc})") from None
        except NotEnoughMemoryError as exc:
            raise ExportError(f"cannot export: {exc}") from None
    if not isinstance(model, nn.Module):
        raise ExportError(f"cannot export a {type(model).__name__}: expected a network or a graph")
    shape = _input_shape(model, input_shape)
    tensors = [*model.parameters(), *model.buffers()]
    if any(t.device.type == "meta" for t in tensors):
        raise ExportError("cannot export a network without weights (built on the meta device)")
    if any(t.device.type != "cpu" for t in tensors):
        model = copy.deepcopy(model).to("cpu")
    dtype = next((t.dtype for t in tensors if t.is_floating_point()), torch.float32)
    was_training = model.training
    model.eval()
    try:
        # A real forward first: a wrong input size gets PyTorch's short message here instead of
        # a page of tracer logs, and the exporters trace a network known to run.
        try:
            with torch.no_grad():
                model(torch.zeros((1, *shape), dtype=dtype))
        except (RuntimeError, ValueError, TypeError, IndexError) as exc:
            raise ExportError(
                f"cannot export: the network does not run on {format_shape(shape)} inputs ({one_line(exc)})"
            ) from None
        # Batch 2, not 1: torch.export would otherwise specialize the batch dimension to 1.
        yield model, torch.zeros((2, *shape), dtype=dtype)
    finally:
        model.train(was_training)


def _input_shape(model: nn.Module, input_shape: Sequence[int] | None) -> tuple[int, ...]:
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ExportError("cannot export: give the input shape (C, H, W); the network does not say")
    try:
        shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise ExportError(f"the input shape must be whole numbers (C, H, W), got {input_shape!r}") from None
    if not shape or any(d < 1 for d in shape) or any(isinstance(d, bool) for d in input_shape):
        raise ExportError(f"the input shape must be positive whole numbers (C, H, W), got {input_shape!r}")
    return shape


