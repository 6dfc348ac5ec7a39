"""Import an existing PyTorch network onto the canvas: trace it, map every operation to a layer kind, take
its weights.

:func:`import_module` traces an ``nn.Module`` with ``torch.fx`` (symbolic tracing, in evaluation mode) or,
when fx cannot trace it (Python control flow on tensor values), with ``torch.export``; an exported program
(``.pt2``) is imported through the same mapping (:func:`import_program`). Each node of the traced graph
becomes a layer node of a :class:`~cnnplayground.core.graph.Graph`:

- module calls (``nn.Conv2d``, ``nn.BatchNorm2d``, pools, activations, ``nn.Linear``, ``nn.Dropout``,
  ``nn.Flatten`` …) by their attributes;
- functional forms and tensor methods (``F.relu``, ``F.adaptive_avg_pool2d``, ``torch.flatten``,
  ``x.view(x.size(0), -1)``, ``+``/``torch.add``, ``*`` for channel gating, ``torch.cat``, ``x.mean((2, 3))``),
  and the ATen operators ``torch.export`` records (``aten.conv2d``, ``aten.batch_norm`` …), whose weights are
  the module's parameters they read;
- operations that compute nothing (``nn.Identity``, ``contiguous``, a one-tensor ``cat``) leave no node.

Shapes are followed with the layer kinds' own shape rules (no forward pass), so every decision that depends
on a shape (the axis of a ``cat``, what a ``view`` does) is checked. Anything that cannot be mapped exactly is
an :class:`ImportProblem` naming the source line it comes from and why; with problems there is no graph:
nothing is approximated. Node ids follow the module's attribute names (``layer1.0.conv1`` →
``layer1_0_conv1``; a function inside ``layer1.0`` → ``layer1_0_add``), the weights and buffers (batch-norm
statistics included) are copied under the app's keys, and the graph is laid out with
:func:`~cnnplayground.core.layout.layered_layout`.

:func:`load_source` turns the command line's SOURCE (``file.py:Class``, ``torchvision:NAME``, ``FILE.pt2``,
``FILE.onnx``) into a module or program; an ONNX file becomes a module through
:func:`~cnnplayground.io.onnx_import.load_onnx`, which this mapping then imports like any other.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import math
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..core import memory
from ..core.errors import UserError, one_line
from ..core.graph import RESERVED_IDS, Graph, GraphError
from ..core.inference import infer
from ..core.layout import layered_layout
from ..core.params import ParamError
from ..core.registry import get_kind
from ..core.shapes import Shape, ShapeError, format_shape

if TYPE_CHECKING:  # pragma: no cover
    from torch import fx

    from ..project import Project

__all__ = [
    "ImportProblem",
    "ImportResult",
    "LoadedSource",
    "ModelImportError",
    "import_module",
    "import_program",
    "import_source",
    "load_source",
]

#: The side of the image a torchvision classifier is given when no input shape is named.
TORCHVISION_INPUT = (3, 224, 224)
_TORCHVISION_SIDES = {"inception_v3": 299}
#: At most this many problems are listed (the rest are counted).
MAX_LISTED = 20


class ModelImportError(UserError, ValueError):
    """A model cannot be imported; ``problems`` lists what cannot be mapped, with the source line of each."""

    def __init__(self, message: str, problems: list[ImportProblem] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


@dataclass(frozen=True)
class ImportProblem:
    """One operation of the model that has no exact counterpart on the canvas."""

    #: The operation: ``"nn.LSTM 'rnn'"``, ``"torch.sin"``.
    what: str
    #: Why it cannot be imported, and what to do.
    reason: str
    #: The source line it comes from: ``"model.py:12: x, _ = self.rnn(x)"`` (empty when unknown).
    where: str = ""

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: {self.reason}" if self.where else f"{self.what}: {self.reason}"


@dataclass
class ImportResult:
    """What :func:`import_module` made of a model: the graph and weights, or the problems."""

    name: str
    input_shape: Shape
    #: ``None`` when there are problems.
    graph: Graph | None
    #: The app's state dict (``layers.<node id>.<param>``), ``None`` when there are problems.
    weights: dict[str, torch.Tensor] | None
    problems: list[ImportProblem] = field(default_factory=list)
    #: Things the user should know that do not stop the import (unused submodules, dtype conversion).
    warnings: list[str] = field(default_factory=list)
    #: Trainable parameters of the source module, and of the imported network.
    source_params: int = 0
    params: int = 0
    #: ``"torch.fx"`` or ``"torch.export"``.
    method: str = "torch.fx"

    @property
    def ok(self) -> bool:
        return not self.problems and self.graph is not None

    @property
    def layers(self) -> int:
        return 0 if self.graph is None else sum(1 for n in self.graph.nodes.values() if n.kind != "Input")

    def require(self) -> ImportResult:
        """``self`` when the import worked, else :class:`ModelImportError` with the problems."""
        if self.ok:
            return self
        shown = "; ".join(str(p) for p in self.problems[:3])
        more = len(self.problems) - 3
        tail = f" (and {more} more)" if more > 0 else ""
        count = len(self.problems)
        raise ModelImportError(
            f"{self.name} cannot be imported: {count} operation{'s' * (count != 1)} "
            f"{'have' if count != 1 else 'has'} no layer on the canvas: {shown}{tail}", self.problems)

    def project(self) -> Project:
        """A new project holding the imported network and its weights, on the synthetic set at the network's
        input size when that is small enough to generate (at most :data:`MAX_SYNTHETIC_SIDE`), else the default
        dataset (:meth:`dataset_note` says so)."""
        from ..project import Project

        self.require()
        assert self.graph is not None
        project = Project.new(self.graph, name=self.name, dataset=fitting_dataset(self.input_shape))
        project.weights = self.weights
        # A network imported at 224×224 (ResNet-50: 36 GB to train at batch 128) opened in the window
        # with "its network was not built", and no panel could look inside it: the batch size is chosen so
        # that training needs at most half the memory there is now.
        fitting = memory.fitting_batch_size(self.graph, project.training.batch_size, memory.available_memory())
        if fitting != project.training.batch_size:
            project.training = project.training.model_copy(update={"batch_size": fitting})
        return project

    def dataset_note(self) -> str | None:
        """What to do before training when no built-in dataset gives the network's input, else ``None``."""
        if fitting_dataset(self.input_shape) is not None:
            return None
        return (f"no built-in dataset gives {format_shape(self.input_shape)} images: choose one (an image "
                "folder at that size) before training")

    def summary(self) -> str:
        """``"ResNet: 126 layers, 25,557,032 parameters (torch.fx)"`` or the problem count."""
        if not self.ok:
            return f"{self.name}: {len(self.problems)} operation(s) cannot be imported"
        return f"{self.name}: {self.layers} layers, {self.params:,} parameters (traced with {self.method})"


#: The largest side of images the imported project's synthetic set is generated at (24,000 images of 3×64×64
#: are 295 MB; at 224×224 they would be 3.6 GB).
MAX_SYNTHETIC_SIDE = 64


def fitting_dataset(shape: Shape) -> Any:
    """A ``DatasetChoice`` of the built-in synthetic set that gives ``shape`` (C, H, W) images, or ``None``."""
    from ..data.base import DatasetError
    from ..data.registry import input_shape_of
    from ..project import DatasetChoice

    c, h, w = shape
    if h != w or h > MAX_SYNTHETIC_SIDE or c not in (1, 3):
        return None
    choice = (DatasetChoice(name="synthetic-rgb", options={"size": h}) if c == 3
              else DatasetChoice(name="synthetic", options={"size": h}))
    try:
        return choice if input_shape_of(choice) == tuple(shape) else None
    except DatasetError:
        return None


# --- values flowing through the traced graph ----------------------------------------------------


@dataclass(frozen=True)
class _Tensor:
    """A tensor on the canvas: the node that makes it and its shape without the batch."""

    id: str
    shape: Shape


@dataclass(frozen=True)
class _Param:
    """A parameter or buffer of the module, read directly (``get_attr``): the weight of a functional layer."""

    name: str
    tensor: torch.Tensor


class _Batch:
    """The batch size: symbolic (``x.size(0)``), it may only be passed on to ``view``/``reshape``."""

    def __repr__(self) -> str:
        return "batch"


BATCH = _Batch()


class _Blocked:
    """A value that depends on an operation that could not be imported (reported once, there)."""


BLOCKED = _Blocked()


@dataclass(frozen=True)
class _Multi:
    """The tuple an ATen operator returns (a max pool's values and indices): only the first can be used."""

    value: Any
    what: str


class _Unsupported(UserError, ValueError):
    """Raised by a handler: this operation cannot be imported, for ``reason`` (collected as an
    :class:`ImportProblem`, never seen by the caller)."""

    def __init__(self, reason: str, what: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.what = what


# --- tracing ------------------------------------------------------------------------------------


def _quiet() -> contextlib.AbstractContextManager[None]:
    @contextlib.contextmanager
    def quiet() -> Iterator[None]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield

    return quiet()


def _fx_trace(module: nn.Module, *, stack_traces: bool = False) -> fx.GraphModule:
    from torch import fx

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
            return _module_handler(m) is not None or super().is_leaf_module(m, module_qualified_name)

    tracer = Tracer()
    tracer.record_stack_traces = stack_traces
    with _quiet():
        graph = tracer.trace(module)
    return fx.GraphModule(tracer.root, graph, type(module).__name__)


def _export(module: nn.Module, shape: Shape) -> fx.GraphModule:
    with _quiet():
        batch = torch.export.Dim("batch", min=1)
        program = torch.export.export(module, (torch.zeros((2, *shape)),), dynamic_shapes=({0: batch},))
        return program.module()


def import_module(module: nn.Module, input_shape: Shape | tuple[int, ...], *, name: str | None = None) -> ImportResult:
    """Trace ``module`` for inputs of ``input_shape`` (C, H, W) and map it onto a graph with its weights.

    Never raises for a model it cannot map: the result lists the problems (``result.require()`` raises
    :class:`ModelImportError` with them). The module is traced in evaluation mode (its mode is restored):
    layers that act only in training (dropout) are kept as layers, Python branches on ``self.training`` take
    the evaluation branch.
    """
    shape = _check_shape(input_shape)
    title = name or type(module).__name__
    if not isinstance(module, nn.Module):
        raise ModelImportError(f"{title} is not a torch.nn.Module (got {type(module).__name__})")
    was_training = module.training
    module.eval()
    try:
        try:
            traced = _fx_trace(module)
            method = "torch.fx"
        except Exception as exc:  # fx's TraceError, or anything forward raises on a Proxy
            fx_problem = _trace_problem(exc, module)
            try:
                traced = _export(module, shape)
                method = "torch.export"
            except Exception as exc2:
                reason = (f"{fx_problem.reason}; torch.export cannot trace it either "
                          f"({one_line(exc2, 200, with_type=True)})")
                problem = ImportProblem(fx_problem.what, reason, fx_problem.where)
                return ImportResult(title, shape, None, None, [problem], source_params=_count(module),
                                    method="torch.fx")
        result = _Mapper(traced, shape, title, method, module).run()
        if result.graph is not None:
            _restore_merge_ids(result.graph, module)
        if result.problems and method == "torch.fx":
            # Name the source lines: trace again, recording where each operation comes from (slower).
            with contextlib.suppress(Exception):
                result = _Mapper(_fx_trace(module, stack_traces=True), shape, title, method, module).run()
        return result
    finally:
        module.train(was_training)


_MERGE_COMMENT = re.compile(r"\s*(?P<id>[A-Za-z_][A-Za-z0-9_]*) -> ")
_MERGE_CODE = {"Add": re.compile(r"[A-Za-z_]\w* = [A-Za-z_]\w*(?: \+ [A-Za-z_]\w*)+"),
               "Multiply": re.compile(r"[A-Za-z_]\w* = [A-Za-z_]\w*(?: \* [A-Za-z_]\w*)+"),
               "Concat": re.compile(r"[A-Za-z_]\w* = torch\.cat\(\[[\w, ]+\], dim=1\)")}


def _merge_ids_in_source(module: nn.Module) -> list[tuple[str, str]]:
    """``(kind, id)`` of each merge line of code exported by CNN Playground (``x = a + b  # add1 -> 16×8×8``, the
    comment on its own line above a long one), in the order of ``forward``; empty for other code."""
    try:
        lines = inspect.getsource(type(module).forward).splitlines()
    except (OSError, TypeError):
        return []
    found: list[tuple[str, str]] = []
    above: str | None = None
    for line in lines:
        code, _, comment = line.partition("#")
        named = _MERGE_COMMENT.match(comment) if comment else None
        code = code.strip()
        if not code:
            above = named["id"] if named else None
            continue
        nid = named["id"] if named else above
        above = None
        kind = next((k for k, pattern in _MERGE_CODE.items() if pattern.fullmatch(code)), None)
        if kind is not None and nid is not None:
            found.append((kind, nid))
    return found


def _restore_merge_ids(graph: Graph, module: nn.Module) -> None:
    """Give merges back the ids that exported code names in its comments (a traced ``+`` is only ``add``), when
    the merges of the graph are exactly those of the code, in the same order and kinds."""
    merges = [nid for nid, node in graph.nodes.items() if node.kind in ("Add", "Concat", "Multiply")]
    if not merges:
        return
    named = _merge_ids_in_source(module)
    wanted = [nid for _, nid in named]
    others = set(graph.nodes) - set(merges)
    if ([graph.nodes[m].kind for m in merges] != [k for k, _ in named] or len(set(wanted)) != len(wanted)
            or others & set(wanted) or set(wanted) & (RESERVED_IDS | {"input"})):
        return
    try:
        temporary = [f"merge_{i}_{nid}" for i, nid in enumerate(merges)]
        for old, tmp in zip(merges, temporary):
            graph.rename_node(old, tmp)
        for tmp, new in zip(temporary, wanted):
            graph.rename_node(tmp, new)
    except GraphError:  # pragma: no cover - ids checked above; a graph with other rules keeps the traced ids
        return


def import_program(program: torch.export.ExportedProgram, input_shape: Shape | tuple[int, ...] | None = None, *,
                   name: str | None = None) -> ImportResult:
    """Map an exported program (``torch.export``, e.g. a loaded ``.pt2``) onto a graph with its weights.

    ``input_shape`` defaults to the program's own input (without the batch).
    """
    with _quiet():
        module = program.module()
    placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
    if input_shape is None:
        val = placeholders[0].meta.get("val") if placeholders else None
        try:
            input_shape = tuple(int(d) for d in val.shape[1:])  # type: ignore[union-attr]
        except (AttributeError, TypeError, ValueError, RuntimeError):
            raise ModelImportError("the program's input size is not fixed: give the input shape (C,H,W)") from None
    shape = _check_shape(input_shape)
    return _Mapper(module, shape, name or "Exported program", "torch.export", None).run()


def _check_shape(shape: tuple[int, ...] | Shape) -> Shape:
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ModelImportError(f"the input shape must be C,H,W (three whole numbers), got {shape!r}") from None
    if len(dims) != 3 or min(dims) < 1:
        raise ModelImportError(f"the input shape must be C,H,W (three positive numbers), got {shape!r}")
    get_kind("Input").validate_params({"channels": dims[0], "height": dims[1], "width": dims[2]})
    return dims


def _count(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


# --- where a problem comes from ------------------------------------------------------------------

_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep  # with the separator: torchvision's files are the model's
_OWN_DIR = os.path.dirname(os.path.dirname(__file__)) + os.sep
_FRAME_RE = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>\S+)\n(?P<code>[^\n]*)')


def _is_library(filename: str) -> bool:
    return filename.startswith(_TORCH_DIR) or filename.startswith(_OWN_DIR) or filename.startswith("<")


def _where(filename: str, line: int | str, code: str) -> str:
    code = " ".join(code.split())
    return f"{os.path.basename(filename)}:{line}: {code}" if code else f"{os.path.basename(filename)}:{line}"


def _where_from_stack(stack: str | None) -> str:
    """The innermost frame of a recorded stack trace that is not PyTorch's own (the model's line)."""
    if not stack:
        return ""
    frames = [m for m in _FRAME_RE.finditer(stack)]
    mine = [m for m in frames if not _is_library(m["file"])]  # never PyTorch's own line (fx's proxy.py)
    if not mine:
        return ""
    m = mine[-1]
    return _where(m["file"], m["line"], m["code"])


def _trace_problem(exc: BaseException, module: nn.Module) -> ImportProblem:
    """The line where tracing failed (the innermost frame outside PyTorch) and fx's reason."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not _is_library(f.filename)]
    where = _where(frames[-1].filename, frames[-1].lineno or 0, frames[-1].line or "") if frames else ""
    text = one_line(exc, 240)
    if "control flow" in text or "iteration" in text or "Proxy" in text:
        reason = ("Python control flow depends on the values of a tensor (a loop or an if over data); "
                  "the canvas holds a fixed network")
    else:
        reason = f"tracing failed: {one_line(exc, 200, with_type=True)}"
    return ImportProblem(f"forward of {type(module).__name__}", reason, where)


# --- the mapping ----------------------------------------------------------------------------------

#: Argument names of the functions, methods and ATen operators handled (for binding positional arguments).
_SIGNATURES: dict[str, tuple[str, ...]] = {
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "linear": ("input", "weight", "bias"),
    "batch_norm": ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    "aten.batch_norm": ("input", "weight", "bias", "running_mean", "running_var", "training", "momentum", "eps",
                        "cudnn_enabled"),
    "aten._native_batch_norm_legit_no_training": ("input", "weight", "bias", "running_mean", "running_var",
                                                  "momentum", "eps"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "aten.max_pool2d_with_indices": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                   "divisor_override"),
    "adaptive_avg_pool2d": ("input", "output_size"),
    "dropout": ("input", "p", "training", "inplace"),
    "aten.dropout": ("input", "p", "train"),
    "relu": ("input", "inplace"),
    "relu6": ("input", "inplace"),
    "hardtanh": ("input", "min_val", "max_val", "inplace"),
    "leaky_relu": ("input", "negative_slope", "inplace"),
    "elu": ("input", "alpha", "inplace"),
    "aten.elu": ("input", "alpha", "scale", "input_scale"),
    "gelu": ("input", "approximate"),
    "prelu": ("input", "weight"),
    "silu": ("input", "inplace"),
    "hardswish": ("input", "inplace"),
    "hardsigmoid": ("input", "inplace"),
    "sigmoid": ("input",),
    "tanh": ("input",),
    "add": ("input", "other", "alpha"),
    "mul": ("input", "other"),
    "cat": ("tensors", "dim"),
    "flatten": ("input", "start_dim", "end_dim"),
    "mean": ("input", "dim", "keepdim", "dtype"),
    "size": ("input", "dim"),
    "sym_size": ("input", "dim"),
    "contiguous": ("input", "memory_format"),
    "stochastic_depth": ("input", "p", "mode", "training"),
    "clone": ("input", "memory_format"),
}
_INPLACE_ALIASES = {"relu_": "relu", "add_": "add", "mul_": "mul", "hardtanh_": "hardtanh",
                    "leaky_relu_": "leaky_relu", "elu_": "elu", "silu_": "silu", "hardswish_": "hardswish",
                    "hardsigmoid_": "hardsigmoid", "sigmoid_": "sigmoid", "tanh_": "tanh", "concat": "cat",
                    "concatenate": "cat", "multiply": "mul", "iadd": "add", "imul": "mul", "dropout_": "dropout",
                    "max_pool2d_with_indices": "max_pool2d", "_max_pool2d": "max_pool2d",
                    "_native_batch_norm_legit_no_training": "batch_norm"}
#: ATen operators that return a tuple whose first element is the layer's output, and what the rest is.
_TUPLE_RESULTS = {"max_pool2d_with_indices": "indices of a max pool",
                  "_native_batch_norm_legit_no_training": "batch statistics of a batch norm"}
#: Operations with no layer kind whose reason is worth saying.
_REASONS = {
    "softmax": "the app's loss applies softmax itself: return the logits (remove it from forward)",
    "log_softmax": "the app's loss applies log-softmax itself: return the logits (remove it from forward)",
    "interpolate": "there is no upsampling layer on the canvas",
    "upsample": "there is no upsampling layer on the canvas",
    "getitem": "indexing or slicing a tensor has no layer on the canvas",
    "pad": "explicit padding has no layer on the canvas: give the convolution or pool its padding",
}


def _op_name(node: fx.Node) -> tuple[str, str]:
    """``(name, shown)``: the operation's name for the handlers (``relu``, ``aten.conv2d``-style binding key)
    and as the user reads it (``F.relu``, ``aten.conv2d``, ``x.view``)."""
    target = node.target
    if node.op == "call_method":
        return str(target), f"tensor.{target}"
    if isinstance(target, torch._ops.OpOverload):
        base = target.overloadpacket.__name__
        return base, f"aten.{base}"
    name = getattr(target, "__name__", str(target))
    mod = getattr(target, "__module__", "") or ""
    shown = {"torch.nn.functional": "F", "_operator": "operator"}.get(mod, "torch" if mod.startswith("torch") else mod)
    return name, f"{shown}.{name}" if shown else name


def _ints(value: Any, what: str) -> int:
    """A square size: ``3``, ``(3, 3)`` or ``[3, 3]`` → 3; ``(1, 3)`` refused."""
    if isinstance(value, (list, tuple)):
        if len(value) == 1 or len(value) == 2 and value[0] == value[1]:
            value = value[0]
        else:
            raise _Unsupported(f"{what} {tuple(value)} is not square; the canvas has square {what}s only")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unsupported(f"{what} {value!r} is not a whole number")
    return value


@dataclass
class _Emit:
    """A layer the mapping adds: kind, parameters, inputs, the weights of its module and a name hint."""

    kind: str
    params: dict[str, Any]
    inputs: list[_Tensor]
    weights: dict[str, torch.Tensor] | None = None
    hint: str = ""


class _Mapper:
    def __init__(self, traced: fx.GraphModule, shape: Shape, name: str, method: str,
                 source: nn.Module | None) -> None:
        self.traced = traced
        self.shape = shape
        self.name = name
        self.method = method
        self.source = source
        self.graph = Graph()
        self.weights: dict[str, torch.Tensor] = {}
        self.problems: list[ImportProblem] = []
        self.warnings: list[str] = []
        self.values: dict[fx.Node, Any] = {}
        self.used_params: set[str] = set()
        self.modules_called: dict[str, str] = {}  # module path with weights → the node that uses it
        self.traced_batch: int | None = None
        self.node: fx.Node | None = None
        self.converted_dtype = False
        # A module made from a file (an ONNX model): fx node name → where in the file (its generated code has no
        # source line of its own). Tracing it again keeps the node names.
        meta = getattr(source, "meta", None)
        self.origins: dict[str, str] = dict(meta.get("onnx_nodes", {})) if isinstance(meta, dict) else {}

    # --- driving ---
    def run(self) -> ImportResult:
        nodes = list(self.traced.graph.nodes)
        outputs = [n for n in nodes if n.op == "output"]
        needed = self._needed(outputs)
        for node in nodes:
            if node not in needed:
                continue
            self.node = node
            try:
                self.values[node] = self._visit(node)
            except _Unsupported as exc:
                self.values[node] = BLOCKED
                self._problem(node, exc.reason, exc.what)
            except (GraphError, ParamError, ShapeError) as exc:
                self.values[node] = BLOCKED
                self._problem(node, str(exc))
        return self._result()

    def _needed(self, outputs: list[fx.Node]) -> set[fx.Node]:
        seen: set[fx.Node] = set()
        todo = list(outputs)
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            todo.extend(n.all_input_nodes)
        return seen

    def _problem(self, node: fx.Node, reason: str, what: str | None = None) -> None:
        if what is None:
            if node.op == "call_module":
                mod = self.traced.get_submodule(str(node.target))
                what = f"{_module_name(mod)} '{node.target}'"
            elif node.op == "get_attr":
                what = f"tensor attribute '{node.target}'"
            else:
                what = _op_name(node)[1]
        where = self.origins.get(node.name) or _where_from_stack(node.stack_trace or node.meta.get("stack_trace"))
        self.problems.append(ImportProblem(what, reason, where))

    def _result(self) -> ImportResult:
        source_params = _count(self.source) if self.source is not None else None
        if self.problems:
            return ImportResult(self.name, self.shape, None, None, self.problems, self.warnings,
                                source_params or 0, 0, self.method)
        result = infer(self.graph)
        if not result.ok:  # a mapping that shape inference refuses: a bug of this module, never written
            problem = ImportProblem(self.name, f"the imported network is not valid: {result.first_error()}")
            return ImportResult(self.name, self.shape, None, None, [problem], self.warnings, source_params or 0,
                                0, self.method)
        from .project import ProjectError, check_weights

        try:
            check_weights(self.graph, self.weights)
        except ProjectError as exc:
            problem = ImportProblem(self.name, f"the weights do not fit the imported network: {exc}")
            return ImportResult(self.name, self.shape, None, None, [problem], self.warnings, source_params or 0,
                                0, self.method)
        if source_params is None:
            source_params = result.total_params
        self._unused_warning()
        if self.converted_dtype:
            self.warnings.append("the weights were converted to float32, the precision the app trains in")
        positions = layered_layout(self.graph)
        for nid, pos in positions.items():
            self.graph.nodes[nid].position = pos
        return ImportResult(self.name, self.shape, self.graph, self.weights, [], self.warnings, source_params,
                            result.total_params, self.method)

    def _unused_warning(self) -> None:
        if self.source is None:
            return
        unused: dict[str, int] = {}
        for pname, p in self.source.named_parameters():
            if pname not in self.used_params:
                owner = pname.rsplit(".", 1)[0] if "." in pname else pname
                top = owner.split(".")[0]
                unused[top] = unused.get(top, 0) + p.numel()
        for top, count in unused.items():
            self.warnings.append(f"'{top}' ({count:,} parameters) is not used by forward in evaluation mode "
                                 "and is left out")
        kinds = {type(m).__name__ for m in self.source.modules()}
        if "StochasticDepth" in kinds:
            self.warnings.append("StochasticDepth (random dropping of residual branches while training) acts "
                                 "only in training and is left out: the imported network trains without it")

    # --- visiting one node ---
    def _visit(self, node: fx.Node) -> Any:
        if node.op == "placeholder":
            return self._placeholder(node)
        if node.op == "output":
            return self._output(node)
        if node.op == "get_attr":
            return self._get_attr(node)
        args = self._resolve(node.args)
        kwargs = self._resolve(node.kwargs)
        if _contains(args, BLOCKED) or _contains(kwargs, BLOCKED):
            return BLOCKED
        if node.op == "call_module":
            if str(node.target) == "_guards_fn":
                return None
            module = self.traced.get_submodule(str(node.target))
            module_handler = _module_handler(module)
            if module_handler is None:
                raise _Unsupported(_module_reason(module))
            inputs = [a for a in args if isinstance(a, _Tensor)]
            if len(inputs) != 1 or len(args) != 1 or kwargs:
                raise _Unsupported("a layer module called with other than one tensor")
            out = module_handler(module, inputs[0])
            if out is None or isinstance(out, _Tensor):
                return inputs[0] if out is None else out
            return self._emit(out, module_path=str(node.target), module=module)
        name, shown = _op_name(node)
        key = _INPLACE_ALIASES.get(name, name)
        if isinstance(node.target, torch._ops.OpOverload) and f"aten.{name}" in _SIGNATURES:
            bound = _bind(_SIGNATURES[f"aten.{name}"], args, kwargs, shown)
        elif isinstance(node.target, torch._ops.OpOverload) and f"aten.{key}" in _SIGNATURES:
            bound = _bind(_SIGNATURES[f"aten.{key}"], args, kwargs, shown)
        elif key in ("view", "reshape", "_unsafe_view"):
            bound = {"input": args[0], "shape": _flat_args(args[1:], kwargs.get("shape"))}
        elif key in _SIGNATURES:
            bound = _bind(_SIGNATURES[key], args, kwargs, shown)
        elif key in ("getattr",):
            bound = {"input": args[0], "name": args[1]}
        elif key == "getitem":
            bound = {"input": args[0], "index": args[1]}
        else:
            bound = {}
        handler = _FUNCTIONS.get(key)
        if handler is None:
            raise _Unsupported(_REASONS.get(key, "no layer on the canvas computes it"))
        out = handler(self, bound)
        if name in _TUPLE_RESULTS and isinstance(out, _Emit):
            return _Multi(self._emit(out), _TUPLE_RESULTS[name])
        if isinstance(out, _Emit):
            return self._emit(out)
        if isinstance(out, list):
            value: Any = None
            for emit in out:
                if value is not None:
                    emit.inputs = [value]
                value = self._emit(emit)
            return value
        return out

    def _resolve(self, value: Any) -> Any:
        from torch import fx

        return fx.node.map_aggregate(value, lambda v: self.values.get(v, BLOCKED) if isinstance(v, fx.Node) else v)

    def _placeholder(self, node: fx.Node) -> Any:
        if any(n.kind == "Input" for n in self.graph.nodes.values()):
            raise _Unsupported("forward takes more than one input; the canvas network has one input image",
                               what=f"input '{node.target}'")
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor):
            if val.dim() != 4:
                raise _Unsupported(f"the input has {val.dim()} dimensions; the canvas takes N×C×H×W images",
                                   what=f"input '{node.target}'")
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                self.traced_batch = int(val.shape[0])
        c, h, w = self.shape
        self.graph.add_node("Input", {"channels": c, "height": h, "width": w}, id="input")
        return _Tensor("input", self.shape)

    def _output(self, node: fx.Node) -> Any:
        value = self._resolve(node.args[0])
        if isinstance(value, (tuple, list)):
            if len(value) != 1:
                raise _Unsupported(f"forward returns {len(value)} values; the canvas network has one output",
                                   what="the output")
            value = value[0]
        if value is BLOCKED:
            return BLOCKED
        if not isinstance(value, _Tensor):
            raise _Unsupported("forward does not return a tensor computed from its input", what="the output")
        if value.id == "input":
            raise _Unsupported("forward returns its input unchanged", what="the output")
        return value

    def _get_attr(self, node: fx.Node) -> Any:
        target = str(node.target)
        obj: Any = self.traced
        for part in target.split("."):
            obj = getattr(obj, part)
        if isinstance(obj, torch.Tensor):
            return _Param(target, obj)
        return obj

    # --- adding layers ---
    def _emit(self, emit: _Emit, *, module_path: str | None = None, module: nn.Module | None = None) -> _Tensor:
        kind = get_kind(emit.kind)
        params = kind.validate_params(emit.params)
        shapes = [t.shape for t in emit.inputs]
        shape = kind.output_shape(params, shapes)
        hint = emit.hint or self._hint(module_path, kind.id_prefix)
        nid = self._new_id(hint)
        if module is not None and module_path is not None:
            emit.weights = self._module_weights(module_path, module, nid)
        self.graph.add_node(emit.kind, params, id=nid)
        for port, t in enumerate(emit.inputs):
            self.graph.connect(t.id, nid, port)
        if emit.weights:
            for key, tensor in emit.weights.items():
                self.weights[f"layers.{nid}.{key}"] = self._copy(tensor)
        self._check_traced_shape(shape)
        return _Tensor(nid, shape)

    def _check_traced_shape(self, shape: Shape) -> None:
        """Where the trace knows the shape (``torch.export``), it must be the one the layer kinds compute."""
        assert self.node is not None
        val = self.node.meta.get("val")
        if isinstance(val, (tuple, list)) and val:
            val = val[0]
        if not isinstance(val, torch.Tensor):
            return
        try:
            traced = tuple(int(d) for d in val.shape[1:])
        except (TypeError, ValueError, RuntimeError):
            return
        if traced != tuple(shape):
            raise _Unsupported(f"the layer would give {format_shape(shape)}, the model gives {format_shape(traced)}")

    def _copy(self, tensor: torch.Tensor) -> torch.Tensor:
        """The weight as the project keeps it: float32 on the CPU. A tensor already so is shared, not copied
        (a ResNet-50's 100 MB took a second to copy on two busy cores): copy the result's weights before
        training the source module further."""
        t = tensor.detach()
        if t.is_floating_point() and t.dtype != torch.float32:
            t = t.float()
            self.converted_dtype = True
        return t.to(device="cpu").contiguous()

    def _module_weights(self, path: str, module: nn.Module, nid: str) -> dict[str, torch.Tensor]:
        state = module.state_dict()
        if any(True for _ in module.parameters()) or state:
            earlier = self.modules_called.get(path)
            if earlier is not None:
                raise _Unsupported(f"the module is called twice, sharing its weights (first as '{earlier}'); "
                                   "each layer on the canvas has weights of its own")
            self.modules_called[path] = nid
        for pname, _ in module.named_parameters():
            self.used_params.add(f"{path}.{pname}")
        return dict(state)

    def _use_params(self, *params: _Param | None) -> None:
        for p in params:
            if p is not None:
                self.used_params.add(p.name)

    def _hint(self, module_path: str | None, prefix: str) -> str:
        if module_path:
            return module_path
        assert self.node is not None
        scope, leaf = _scope(self.node)
        if leaf:  # the operation of a torch.nn layer (torch.export): named after that layer
            return scope
        return f"{scope}.{prefix}" if scope else prefix

    def _new_id(self, hint: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", hint.replace(".", "_")).strip("_") or "layer"
        if base[0].isdigit():
            base = "layer_" + base
        if len(base) > 58:
            base = base[-58:].lstrip("_0123456789") or "layer"
        if base in RESERVED_IDS or base == "input":
            base += "_"
        nid, n = base, 2
        while nid in self.graph.nodes:
            nid = f"{base}_{n}"
            n += 1
        return nid

    def param_of(self, value: Any, what: str) -> _Param | None:
        """A weight argument of a functional layer: a parameter of the module, or ``None``."""
        if value is None:
            return None
        if isinstance(value, _Param):
            return value
        raise _Unsupported(f"its {what} is computed in forward, not a parameter of the module")

    def owner(self, *params: _Param | None) -> str:
        """The node name for a functional layer: the module path of its weights (``conv1.weight`` → ``conv1``)."""
        names = [p.name for p in params if p is not None]
        if not names:
            return ""
        return names[0].rsplit(".", 1)[0] if "." in names[0] else names[0]


def _contains(value: Any, item: Any) -> bool:
    if value is item:
        return True
    if isinstance(value, (list, tuple)):
        return any(_contains(v, item) for v in value)
    if isinstance(value, dict):
        return any(_contains(v, item) for v in value.values())
    return False


def _bind(names: tuple[str, ...], args: tuple[Any, ...], kwargs: Mapping[str, Any], shown: str) -> dict[str, Any]:
    if len(args) > len(names):
        raise _Unsupported(f"{shown} is called with more arguments than the canvas knows")
    bound = dict(zip(names, args))
    for k, v in kwargs.items():
        bound["input" if k == "self" else k] = v
    return bound


def _flat_args(rest: tuple[Any, ...], shape: Any) -> list[Any]:
    if shape is not None:
        return list(shape)
    if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
        return list(rest[0])
    return list(rest)


def _scope(node: fx.Node) -> tuple[str, bool]:
    """The module path whose forward made ``node`` (``layer1.0``), from fx's or export's module stack, and
    whether that module is a torch.nn layer (not a container)."""
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return "", False
    path, cls = list(stack.values())[-1]
    qualified = cls if isinstance(cls, str) else f"{cls.__module__}.{cls.__qualname__}"
    leaf = qualified.startswith("torch.nn.modules.") and not qualified.startswith("torch.nn.modules.container")
    return str(path), leaf


def _module_name(module: nn.Module) -> str:
    cls = type(module)
    return f"nn.{cls.__name__}" if cls.__module__.startswith("torch.nn") else cls.__name__


def _module_reason(module: nn.Module) -> str:
    cls = type(module).__name__
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return f"recurrent layers (nn.{cls}) have no layer on the canvas, which holds convolutional networks"
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        return "the app's loss applies softmax itself: return the logits (remove it from forward)"
    return f"{_module_name(module)} has no layer kind on the canvas"


# --- module handlers: (module, input) → _Emit, an alias (_Tensor / None for the input) ------------


def _tensor_in(t: Any, what: str = "input") -> _Tensor:
    if isinstance(t, _Tensor):
        return t
    if isinstance(t, _Param):
        raise _Unsupported(f"it uses the tensor attribute '{t.name}' as its {what}; only layers' own weights "
                           "can be imported")
    raise _Unsupported(f"its {what} is not a tensor computed from the image")


def _conv_params(t: _Tensor, out_channels: int, in_channels: int, kernel: Any, stride: Any, padding: Any,
                 dilation: Any, groups: int, bias: bool) -> dict[str, Any]:
    if len(t.shape) != 3:
        raise _Unsupported(f"a convolution of a flat {format_shape(t.shape)} input")
    if in_channels != t.shape[0]:
        raise _Unsupported(f"it takes {in_channels} channels, its input has {t.shape[0]}")
    pad = padding if isinstance(padding, str) else _ints(padding, "padding")
    return {"out_channels": out_channels, "kernel_size": _ints(kernel, "kernel"), "stride": _ints(stride, "stride"),
            "padding": pad, "dilation": _ints(dilation, "dilation"), "groups": int(groups), "bias": bias}


def _m_conv(m: nn.Conv2d, t: _Tensor) -> _Emit:
    if m.padding_mode != "zeros":
        raise _Unsupported(f"padding_mode '{m.padding_mode}': the canvas pads with zeros only")
    return _Emit("Conv2d", _conv_params(t, m.out_channels, m.in_channels, m.kernel_size, m.stride, m.padding,
                                        m.dilation, m.groups, m.bias is not None), [t])


def _is_same_pad_conv(m: nn.Module) -> bool:
    """The app's ``SamePadConv2d`` (core/modules.py, an ONNX file's 'same' padding with an even kernel) or the
    copy of it that exported code defines: a ``Conv2d`` whose ``forward`` is that class's, byte for byte."""
    from ..core.modules import SamePadConv2d

    if type(m) is SamePadConv2d:
        return True
    forward = getattr(type(m), "forward", None)
    code, ours = getattr(forward, "__code__", None), SamePadConv2d.forward.__code__
    return (isinstance(m, nn.Conv2d) and type(m).__name__ == "SamePadConv2d" and code is not None
            and code.co_code == ours.co_code and code.co_names == ours.co_names)


def _m_same_pad_conv(m: nn.Conv2d, t: _Tensor) -> _Emit:
    """Explicit padding then a convolution: the Conv2d kind's padding 'same' where PyTorch's 'same' pads exactly
    so (stride 1, the extra pixel of an even kernel at the bottom and right), its padding in pixels where the
    pad is the same on every side; else refused."""
    pad = tuple(int(p) for p in getattr(m, "pad", ()))
    emit = _m_conv(m, t)
    k, d = emit.params["kernel_size"], emit.params["dilation"]
    total = d * (k - 1)
    same = (total // 2, total - total // 2) * 2
    if len(pad) != 4 or emit.params["padding"] != 0:
        raise _Unsupported(f"explicit padding {pad} on top of the convolution's own padding")
    if len(set(pad)) == 1:
        emit.params["padding"] = pad[0]
    elif pad == same and emit.params["stride"] == 1:
        emit.params["padding"] = "same"
    else:
        left, right, top, bottom = pad
        raise _Unsupported(f"padding left {left}, right {right}, top {top}, bottom {bottom} is neither the same on "
                           f"every side nor PyTorch's 'same' at stride 1 ({same}); the canvas has no layer for it")
    return emit


def _bn_params(t: _Tensor, num_features: int, eps: float, momentum: float | None, affine: bool) -> dict[str, Any]:
    if len(t.shape) != 3:
        raise _Unsupported(f"batch norm of a flat {format_shape(t.shape)} input (BatchNorm1d) has no layer kind")
    if num_features != t.shape[0]:
        raise _Unsupported(f"it normalizes {num_features} channels, its input has {t.shape[0]}")
    if momentum is None:
        raise _Unsupported("momentum None (a cumulative average) has no counterpart: give a momentum")
    return {"eps": float(eps), "momentum": float(momentum), "affine": bool(affine)}


def _m_bn(m: nn.BatchNorm2d, t: _Tensor) -> _Emit:
    if not m.track_running_stats:
        raise _Unsupported("track_running_stats=False (batch statistics at test time) has no counterpart")
    return _Emit("BatchNorm2d", _bn_params(t, m.num_features, m.eps, m.momentum, m.affine), [t])


def _pool_params(kernel: Any, stride: Any, padding: Any) -> dict[str, Any]:
    k = _ints(kernel, "kernel")
    s = k if stride is None or stride == [] or stride == () else _ints(stride, "stride")
    return {"kernel_size": k, "stride": s, "padding": _ints(padding, "padding")}


def _m_maxpool(m: nn.MaxPool2d, t: _Tensor) -> _Emit:
    if m.return_indices:
        raise _Unsupported("return_indices=True: the canvas passes one tensor")
    return _Emit("MaxPool2d", {**_pool_params(m.kernel_size, m.stride, m.padding),
                               "dilation": _ints(m.dilation, "dilation"), "ceil_mode": bool(m.ceil_mode)}, [t])


def _avg_params(kernel: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool,
                divisor_override: Any) -> dict[str, Any]:
    if divisor_override is not None:
        raise _Unsupported("divisor_override has no counterpart on the canvas")
    params = _pool_params(kernel, stride, padding)
    # Without padding both counts are the window's own pixels (ceil_mode's clipped last window too): the default.
    include = bool(count_include_pad) or params["padding"] == 0
    return {**params, "ceil_mode": bool(ceil_mode), "count_include_pad": include}


def _m_avgpool(m: nn.AvgPool2d, t: _Tensor) -> _Emit:
    return _Emit("AvgPool2d", _avg_params(m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad,
                                          m.divisor_override), [t])


def _adaptive(t: _Tensor, size: Any) -> _Emit:
    if isinstance(size, (list, tuple)) and any(s is None for s in size):
        raise _Unsupported("an output size of None (keep that side) has no counterpart")
    return _Emit("AdaptiveAvgPool2d", {"output_size": _ints(size, "output size")}, [t])


def _m_flatten(m: nn.Flatten, t: _Tensor) -> _Emit | _Tensor:
    return _flatten(t, m.start_dim, m.end_dim)


def _flatten(t: _Tensor, start: int, end: int) -> _Emit | _Tensor:
    rank = len(t.shape) + 1
    if start < 0:
        start += rank
    if end < 0:
        end += rank
    if start != 1 or end != rank - 1:
        raise _Unsupported(f"flattening dimensions {start}..{end}; the canvas flattens all but the batch")
    return t if len(t.shape) == 1 else _Emit("Flatten", {}, [t])


def _m_linear(m: nn.Linear, t: _Tensor) -> _Emit:
    if len(t.shape) != 1:
        raise _Unsupported(f"Linear on a {format_shape(t.shape)} input; the canvas applies it to flat vectors")
    if m.in_features != t.shape[0]:
        raise _Unsupported(f"it takes {m.in_features} features, its input has {t.shape[0]}")
    return _Emit("Linear", {"out_features": m.out_features, "bias": m.bias is not None}, [t])


def _m_prelu(m: nn.PReLU, t: _Tensor) -> _Emit:
    n = m.num_parameters
    if n != 1 and n != t.shape[0]:
        raise _Unsupported(f"{n} slopes for {t.shape[0]} channels")
    return _Emit("PReLU", {"per_channel": n > 1}, [t])


def _m_hardtanh(m: nn.Hardtanh, t: _Tensor) -> _Emit:
    if (m.min_val, m.max_val) != (0.0, 6.0):
        raise _Unsupported(f"Hardtanh({m.min_val}, {m.max_val}); only ReLU6 (0, 6) has a layer kind")
    return _Emit("ReLU6", {}, [t])


def _m_lrn(m: nn.LocalResponseNorm, t: _Tensor) -> _Emit:
    return _Emit("LocalResponseNorm", {"size": m.size, "alpha": float(m.alpha), "beta": float(m.beta),
                                       "k": float(m.k)}, [t])


def _simple(kind: str, **params: Callable[[Any], Any]) -> Callable[[Any, _Tensor], _Emit]:
    def handler(m: Any, t: _Tensor) -> _Emit:
        return _Emit(kind, {k: f(m) for k, f in params.items()}, [t])

    return handler


_MODULES: dict[type, Callable[[Any, _Tensor], _Emit | _Tensor | None]] = {
    nn.Conv2d: _m_conv,
    nn.BatchNorm2d: _m_bn,
    nn.MaxPool2d: _m_maxpool,
    nn.AvgPool2d: _m_avgpool,
    nn.AdaptiveAvgPool2d: lambda m, t: _adaptive(t, m.output_size),
    nn.LocalResponseNorm: _m_lrn,
    nn.Linear: _m_linear,
    nn.Flatten: _m_flatten,
    nn.Dropout: _simple("Dropout", p=lambda m: float(m.p)),
    nn.Dropout2d: _simple("Dropout2d", p=lambda m: float(m.p)),
    nn.ReLU: _simple("ReLU"),
    nn.ReLU6: _simple("ReLU6"),
    nn.Hardtanh: _m_hardtanh,
    nn.Hardswish: _simple("Hardswish"),
    nn.Hardsigmoid: _simple("Hardsigmoid"),
    nn.SiLU: _simple("SiLU"),
    nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"),
    nn.GELU: _simple("GELU", approximate=lambda m: m.approximate),
    nn.LeakyReLU: _simple("LeakyReLU", negative_slope=lambda m: float(m.negative_slope)),
    nn.ELU: _simple("ELU", alpha=lambda m: float(m.alpha)),
    nn.PReLU: _m_prelu,
    nn.Identity: lambda m, t: t,
}




def _module_handler(m: nn.Module) -> Callable[[Any, _Tensor], _Emit | _Tensor | None] | None:
    handler = _MODULES.get(type(m))
    if handler is None and _is_same_pad_conv(m):
        return _m_same_pad_conv
    return handler


# --- function, method and ATen handlers: (mapper, bound arguments) → value --------------------------

Handler = Callable[[_Mapper, dict[str, Any]], Any]


def _f_conv(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    t = _tensor_in(a["input"])
    w = mp.param_of(a["weight"], "weight")
    b = mp.param_of(a.get("bias"), "bias")
    assert w is not None
    if w.tensor.dim() != 4:
        raise _Unsupported("a convolution whose weight is not 4-dimensional")
    groups = int(a.get("groups", 1))
    out_c, in_per_group, kh, kw = w.tensor.shape
    params = _conv_params(t, out_c, in_per_group * groups, (kh, kw), a.get("stride", 1), a.get("padding", 0),
                          a.get("dilation", 1), groups, b is not None)
    mp._use_params(w, b)
    weights = {"weight": w.tensor, **({"bias": b.tensor} if b is not None else {})}
    return _Emit("Conv2d", params, [t], weights, mp.owner(w, b))


def _f_linear(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    t = _tensor_in(a["input"])
    w = mp.param_of(a["weight"], "weight")
    b = mp.param_of(a.get("bias"), "bias")
    assert w is not None
    if len(t.shape) != 1 or w.tensor.dim() != 2 or w.tensor.shape[1] != t.shape[0]:
        raise _Unsupported(f"a linear map of a {format_shape(t.shape)} input; the canvas applies it to flat vectors")
    mp._use_params(w, b)
    weights = {"weight": w.tensor, **({"bias": b.tensor} if b is not None else {})}
    return _Emit("Linear", {"out_features": int(w.tensor.shape[0]), "bias": b is not None}, [t], weights,
                 mp.owner(w, b))


def _f_batch_norm(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    t = _tensor_in(a["input"])
    mean, var = mp.param_of(a.get("running_mean"), "running mean"), mp.param_of(a.get("running_var"), "variance")
    w, b = mp.param_of(a.get("weight"), "weight"), mp.param_of(a.get("bias"), "bias")
    if mean is None or var is None:
        raise _Unsupported("batch norm without running statistics has no counterpart")
    if a.get("training", False):
        raise _Unsupported("batch norm with training=True always (batch statistics at test time)")
    if (w is None) != (b is None):
        raise _Unsupported("batch norm with a weight but no bias (or the reverse)")
    params = _bn_params(t, int(mean.tensor.shape[0]), a.get("eps", 1e-5), a.get("momentum", 0.1), w is not None)
    mp._use_params(w, b)
    owner = mp.owner(mean)
    weights: dict[str, torch.Tensor] = {}
    if w is not None and b is not None:
        weights = {"weight": w.tensor, "bias": b.tensor}
    weights |= {"running_mean": mean.tensor, "running_var": var.tensor}
    tracked = _attribute(mp.traced, f"{owner}.num_batches_tracked") if owner else None
    weights["num_batches_tracked"] = tracked if isinstance(tracked, torch.Tensor) else torch.tensor(0)
    return _Emit("BatchNorm2d", params, [t], weights, owner)


def _attribute(root: nn.Module, path: str) -> Any:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _f_maxpool(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    if a.get("return_indices"):
        raise _Unsupported("return_indices=True: the canvas passes one tensor")
    return _Emit("MaxPool2d", {**_pool_params(a["kernel_size"], a.get("stride"), a.get("padding", 0)),
                               "dilation": _ints(a.get("dilation", 1), "dilation"),
                               "ceil_mode": bool(a.get("ceil_mode", False))}, [_tensor_in(a["input"])])


def _f_avgpool(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    return _Emit("AvgPool2d", _avg_params(a["kernel_size"], a.get("stride"), a.get("padding", 0),
                                          a.get("ceil_mode", False), a.get("count_include_pad", True),
                                          a.get("divisor_override")), [_tensor_in(a["input"])])


def _f_adaptive(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    return _adaptive(_tensor_in(a["input"]), a["output_size"])


def _f_activation(kind: str, **params: tuple[str, Any]) -> Handler:
    def handler(mp: _Mapper, a: dict[str, Any]) -> _Emit:
        return _Emit(kind, {k: a.get(arg, default) for k, (arg, default) in params.items()}, [_tensor_in(a["input"])])

    return handler


def _f_hardtanh(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    lo, hi = a.get("min_val", -1.0), a.get("max_val", 1.0)
    if (lo, hi) != (0.0, 6.0):
        raise _Unsupported(f"hardtanh({lo}, {hi}); only ReLU6 (0, 6) has a layer kind")
    return _Emit("ReLU6", {}, [_tensor_in(a["input"])])


def _f_elu(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    if a.get("scale", 1) != 1 or a.get("input_scale", 1) != 1:
        raise _Unsupported("a scaled ELU (SELU) has no layer kind")
    return _Emit("ELU", {"alpha": float(a.get("alpha", 1.0))}, [_tensor_in(a["input"])])


def _f_prelu(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    t = _tensor_in(a["input"])
    w = mp.param_of(a["weight"], "weight")
    assert w is not None
    n = w.tensor.numel()
    if n != 1 and (len(t.shape) == 0 or n != t.shape[0]):
        raise _Unsupported(f"{n} slopes for {t.shape[0]} channels")
    mp._use_params(w)
    return _Emit("PReLU", {"per_channel": n > 1}, [t], {"weight": w.tensor}, mp.owner(w))


def _f_dropout(mp: _Mapper, a: dict[str, Any]) -> _Emit:
    p = float(a.get("p", 0.5))
    return _Emit("Dropout", {"p": p}, [_tensor_in(a["input"])])


def _merge_inputs(a: dict[str, Any], what: str) -> tuple[_Tensor, _Tensor]:
    x, y = a.get("input"), a.get("other")
    if not isinstance(x, _Tensor) or not isinstance(y, _Tensor):
        other = y if isinstance(x, _Tensor) else x
        if isinstance(other, _Param):
            raise _Unsupported(f"{what} with the tensor attribute '{other.name}' has no layer on the canvas")
        raise _Unsupported(f"{what} with a number has no layer on the canvas; only tensors computed from the "
                           "image can be combined")
    return x, y


def _f_add(mp: _Mapper, a: dict[str, Any]) -> Any:
    x, y = a.get("input"), a.get("other")
    if isinstance(x, int) and isinstance(y, int) and not isinstance(x, bool):
        return x + y
    if a.get("alpha", 1) != 1:
        raise _Unsupported("adding with alpha ≠ 1 has no layer on the canvas")
    x, y = _merge_inputs(a, "adding")
    return _Emit("Add", {}, [x, y])


def _f_mul(mp: _Mapper, a: dict[str, Any]) -> Any:
    x, y = a.get("input"), a.get("other")
    if isinstance(x, int) and isinstance(y, int):
        return x * y
    x, y = _merge_inputs(a, "multiplying")
    return _Emit("Multiply", {}, [x, y])


def _f_cat(mp: _Mapper, a: dict[str, Any]) -> Any:
    tensors = list(a["tensors"])
    if not tensors:
        raise _Unsupported("concatenating no tensors")
    parts = [_tensor_in(t) for t in tensors]
    rank = len(parts[0].shape) + 1
    dim = int(a.get("dim", 0))
    if dim < 0:
        dim += rank
    if dim != 1:
        raise _Unsupported(f"concatenating along dimension {dim}; the canvas concatenates channels (dimension 1)")
    if len(parts) == 1:
        return parts[0]
    return _Emit("Concat", {}, parts)


def _f_flatten(mp: _Mapper, a: dict[str, Any]) -> Any:
    return _flatten(_tensor_in(a["input"]), int(a.get("start_dim", 0)), int(a.get("end_dim", -1)))


def _f_view(mp: _Mapper, a: dict[str, Any]) -> Any:
    t = _tensor_in(a["input"])
    dims = list(a["shape"])
    n = math.prod(t.shape)
    # torch.export writes a fixed batch as a number: that of the traced example.
    fixed_batch = mp.traced_batch is not None and mp.method == "torch.export" and dims[:1] == [mp.traced_batch]
    batch_ok = dims and (dims[0] is BATCH or (dims[0] == -1 and len(dims) == 2 and dims[1] == n) or fixed_batch)
    if len(dims) == 2 and batch_ok and dims[1] in (-1, n):
        return t if len(t.shape) == 1 else _Emit("Flatten", {}, [t])
    shown = ", ".join("batch" if d is BATCH else str(d) for d in dims)
    if dims and isinstance(dims[0], int) and dims[0] not in (-1,) and len(dims) == 2:
        raise _Unsupported(f"view/reshape to ({shown}) fixes the batch size; use x.view(x.size(0), -1) or "
                           "torch.flatten(x, 1)")
    raise _Unsupported(f"view/reshape of {format_shape(t.shape)} to ({shown}); only flattening (batch, -1) has "
                       "a layer")


def _f_mean(mp: _Mapper, a: dict[str, Any]) -> Any:
    t = _tensor_in(a["input"])
    dims = a.get("dim")
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    if len(t.shape) != 3 or sorted(d % 4 for d in dims) != [2, 3] or a.get("dtype") is not None:
        raise _Unsupported("a mean over other dimensions than height and width (global average pooling)")
    pool = _Emit("AdaptiveAvgPool2d", {"output_size": 1}, [t])
    return pool if a.get("keepdim", False) else [pool, _Emit("Flatten", {}, [])]


def _f_size(mp: _Mapper, a: dict[str, Any]) -> Any:
    t = _tensor_in(a["input"])
    sizes = (BATCH, *t.shape)
    dim = a.get("dim")
    if dim is None:
        return sizes
    return sizes[int(dim)]


def _f_getattr(mp: _Mapper, a: dict[str, Any]) -> Any:
    t, name = a["input"], a["name"]
    if isinstance(t, _Tensor) and name == "shape":
        return (BATCH, *t.shape)
    raise _Unsupported(f"the attribute '{name}' of a tensor has no layer on the canvas")


def _f_getitem(mp: _Mapper, a: dict[str, Any]) -> Any:
    seq, index = a["input"], a["index"]
    if isinstance(seq, (tuple, list)) and isinstance(index, int):
        return seq[index]
    if isinstance(seq, _Multi) and index == 0:
        return seq.value
    if isinstance(seq, _Multi):
        raise _Unsupported(f"the {seq.what} have no layer on the canvas")
    raise _Unsupported(_REASONS["getitem"])


def _f_alias(mp: _Mapper, a: dict[str, Any]) -> Any:
    return _tensor_in(a["input"])


def _f_stochastic_depth(mp: _Mapper, a: dict[str, Any]) -> Any:
    if a.get("training", True) and a.get("p", 0) != 0:
        raise _Unsupported("stochastic depth while training has no layer on the canvas")
    return _tensor_in(a["input"])  # an identity in evaluation; the module scan warns that it is left out


_FUNCTIONS: dict[str, Handler] = {
    "conv2d": _f_conv,
    "linear": _f_linear,
    "batch_norm": _f_batch_norm,
    "max_pool2d": _f_maxpool,
    "avg_pool2d": _f_avgpool,
    "adaptive_avg_pool2d": _f_adaptive,
    "relu": _f_activation("ReLU"),
    "relu6": _f_activation("ReLU6"),
    "hardtanh": _f_hardtanh,
    "hardswish": _f_activation("Hardswish"),
    "hardsigmoid": _f_activation("Hardsigmoid"),
    "silu": _f_activation("SiLU"),
    "sigmoid": _f_activation("Sigmoid"),
    "tanh": _f_activation("Tanh"),
    "gelu": _f_activation("GELU", approximate=("approximate", "none")),
    "leaky_relu": _f_activation("LeakyReLU", negative_slope=("negative_slope", 0.01)),
    "elu": _f_elu,
    "prelu": _f_prelu,
    "dropout": _f_dropout,
    "add": _f_add,
    "mul": _f_mul,
    "cat": _f_cat,
    "flatten": _f_flatten,
    "view": _f_view,
    "reshape": _f_view,
    "_unsafe_view": _f_view,
    "mean": _f_mean,
    "size": _f_size,
    "sym_size": _f_size,
    "getattr": _f_getattr,
    "getitem": _f_getitem,
    "contiguous": _f_alias,
    "clone": _f_alias,
    "alias": _f_alias,
    "detach": _f_alias,
    "stochastic_depth": _f_stochastic_depth,
}
_SIGNATURES["aten.conv2d"] = _SIGNATURES["conv2d"]


# --- sources ---------------------------------------------------------------------------------------


@dataclass
class LoadedSource:
    """A model named on the command line: a module (``module``) or an exported program (``program``)."""

    name: str
    module: nn.Module | None = None
    program: torch.export.ExportedProgram | None = None
    #: The input shape the source declares (``INPUT_SHAPE`` of a file, 3×224×224 for torchvision), if any.
    input_shape: Shape | None = None
    #: What the user should know about reading the source (an ONNX file's final Softmax left out).
    notes: list[str] = field(default_factory=list)


def load_source(source: str, args: Mapping[str, Any] | None = None) -> LoadedSource:
    """``path/to/file.py:Class`` (the file is executed; the class constructed with ``args``),
    ``torchvision:NAME`` (torchvision's architecture with its initial weights; nothing is downloaded), or
    ``FILE.pt2`` (:func:`~cnnplayground.io.pt2_import.load_program`, which runs nothing in the file) or
    ``FILE.onnx`` (:func:`~cnnplayground.io.onnx_import.load_onnx`).
    Raises :class:`ModelImportError` with what to do (for an ONNX file with operators that cannot be
    mapped, with one :class:`ImportProblem` per node)."""
    kwargs = dict(args or {})
    if source.startswith("torchvision:"):
        return _torchvision(source.split(":", 1)[1], kwargs)
    if source.lower().endswith(".pt2"):
        if kwargs:
            raise ModelImportError("--args does not apply to an exported program (.pt2)")
        return _pt2(Path(source))
    if source.lower().endswith(".onnx"):
        if kwargs:
            raise ModelImportError("--args does not apply to an ONNX file")
        return _onnx(Path(source))
    path_text, sep, cls_name = source.rpartition(":")
    if not sep or not path_text.lower().endswith(".py") or not cls_name.isidentifier():
        raise ModelImportError(f"cannot read {source!r}: name path/to/file.py:ClassName, torchvision:NAME, a "
                               ".pt2 file or an .onnx file")
    return _python_file(Path(path_text), cls_name, kwargs)


def import_source(source: str, args: Mapping[str, Any] | None = None,
                  input_shape: Shape | tuple[int, ...] | None = None) -> ImportResult:
    """:func:`load_source` then :func:`import_module` / :func:`import_program`."""
    try:
        loaded = load_source(source, args)
    except ModelImportError as exc:
        if not exc.problems:
            raise
        # An ONNX file's nodes that cannot be mapped: listed as the mapping lists a module's operations.
        return ImportResult(Path(source).stem, tuple(input_shape or ()), None, None, exc.problems)
    shape = input_shape or loaded.input_shape
    if loaded.program is not None:
        return import_program(loaded.program, shape, name=loaded.name)
    assert loaded.module is not None
    if shape is None:
        raise ModelImportError(f"{loaded.name} does not say what size of image it takes: give --input-shape C,H,W")
    result = import_module(loaded.module, shape, name=loaded.name)
    result.warnings.extend(loaded.notes)
    return result


def _torchvision(name: str, kwargs: dict[str, Any]) -> LoadedSource:
    import torchvision

    available = torchvision.models.list_models(module=torchvision.models)
    if name not in available:
        import difflib

        close = difflib.get_close_matches(name, available, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f" (one of {len(available)} classifiers)"
        raise ModelImportError(f"torchvision has no classification model {name!r}{hint}")
    if "weights" in kwargs:
        raise ModelImportError("torchvision models come with their initial weights only (nothing is downloaded); "
                               "load pretrained weights afterwards with the weights import")
    try:
        with _quiet():
            module = torchvision.models.get_model(name, weights=None, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelImportError(f"torchvision:{name} cannot be built with {kwargs}: {one_line(exc, 200)}") from None
    side = _TORCHVISION_SIDES.get(name, TORCHVISION_INPUT[1])
    return LoadedSource(name, module=module, input_shape=(3, side, side))


def _pt2(path: Path) -> LoadedSource:
    from .pt2_import import Pt2ImportError, load_program

    try:
        program = load_program(path)  # checked first: nothing in the file is unpickled or evaluated
    except Pt2ImportError as exc:
        raise ModelImportError(str(exc)) from None
    return LoadedSource(path.stem, program=program)


def _onnx(path: Path) -> LoadedSource:
    from .onnx_import import OnnxImportError, load_onnx

    try:
        module, shape = load_onnx(path)
    except OnnxImportError as exc:
        problems = [ImportProblem(f"ONNX {op} {name!r}", reason) for op, name, reason in exc.problems]
        raise ModelImportError(str(exc), problems) from None
    return LoadedSource(path.stem, module=module, input_shape=shape, notes=list(module.meta.get("onnx_notes", [])))


def _python_file(path: Path, cls_name: str, kwargs: dict[str, Any]) -> LoadedSource:
    if not path.is_file():
        raise ModelImportError(f"{path} is not a file")
    module_name = f"cnnplayground_import_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"cannot load {path} as Python")
    pymod = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file may import its neighbours
    sys.modules[module_name] = pymod
    try:
        spec.loader.exec_module(pymod)
    except Exception as exc:
        raise ModelImportError(f"running {path.name} failed: {one_line(exc, 200, with_type=True)}") from None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)
    cls = getattr(pymod, cls_name, None)
    if cls is None:
        classes = [n for n, v in vars(pymod).items() if inspect.isclass(v) and issubclass(v, nn.Module)
                   and v.__module__ == module_name]
        hint = f" (it defines {', '.join(classes)})" if classes else ""
        raise ModelImportError(f"{path.name} has no {cls_name}{hint}")
    try:
        module = cls(**kwargs)
    except Exception as exc:
        raise ModelImportError(f"{cls_name}(**{kwargs}) failed: {one_line(exc, 200, with_type=True)}") from None
    if not isinstance(module, nn.Module):
        raise ModelImportError(f"{cls_name} did not make a torch.nn.Module (got {type(module).__name__})")
    shape = getattr(pymod, "INPUT_SHAPE", None)
    input_shape = None
    if isinstance(shape, (tuple, list)) and len(shape) == 3 and all(isinstance(d, int) for d in shape):
        input_shape = tuple(shape)
    return LoadedSource(cls_name, module=module, input_shape=input_shape)
