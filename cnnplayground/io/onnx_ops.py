"""ONNX operators as PyTorch modules and functions: the :class:`Converter` behind ``load_onnx``.

The converter walks the ONNX graph in order and emits a ``torch.fx`` graph. Each supported operator
has a handler in ``onnx_handlers.HANDLERS``; a handler reads its inputs as runtime tensors (``tensor``) or as
constants (``constant``: initializers, ``Constant`` nodes), makes a module (built on the ``meta``
device, then given the file's tensors) or a functional call, and runs it on ``meta`` tensors to learn
the output shape — so shape mistakes in a file are reported on the node, and nothing large is
allocated before the weights are real. A node that cannot be mapped adds ``(op_type, name, reason)``
to the problems and the conversion goes on, so that every such node is reported at once; nodes that
only depend on a refused one are skipped (reported once, at the cause).

"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import fx, nn

from ..core.errors import UserError, one_line
from .onnx_wire import OnnxImportError

__all__ = ["Converter", "Unsupported"]

#: Batch size of the ``meta`` tensors that carry shapes (2, so that the batch axis is told from a 1).
_BATCH = 2
_FLOAT_TYPES = {1: np.float32, 10: np.float16, 11: np.float64, 16: None}  # 16: bfloat16 (to_array gives float32)
# ONNX data type → (bytes per value, the typed field that holds values when there is no raw_data)
_DTYPES: dict[int, tuple[int, str]] = {
    1: (4, "float_data"), 2: (1, "int32_data"), 3: (1, "int32_data"), 5: (2, "int32_data"),
    6: (4, "int32_data"), 7: (8, "int64_data"), 9: (1, "int32_data"), 10: (2, "int32_data"),
    11: (8, "double_data"), 16: (2, "int32_data"),
}
_MAX_TENSOR_VALUES = 2**31
#: Axes of a tensor, and values of a list attribute, read at most (an ONNX model needs a handful).
_MAX_AXES = 8
_MAX_LIST = 1024


class Unsupported(UserError, ValueError):
    """This node cannot be mapped; the message says why (a clause, no full stop). Collected as a problem."""


class _Blocked(UserError, LookupError):
    """An input of this node comes from a node that was refused (reported there; never seen by callers)."""


class _Value:
    """A tensor of the ONNX graph: a runtime value (an fx node and its meta tensor) or a constant."""

    __slots__ = ("const", "meta", "node")

    def __init__(self, node: fx.Node | None = None, meta: torch.Tensor | None = None,
                 const: np.ndarray[Any, Any] | None = None) -> None:
        self.node, self.meta, self.const = node, meta, const


Handler = Callable[["Converter", Any, dict[str, Any]], None]


class Converter:
    """One ONNX ``GraphProto`` → a ``torch.fx.GraphModule``; :meth:`convert` does the work once."""

    def __init__(self, graph: Any, opset: int, file_name: str) -> None:
        self.onnx_graph = graph
        self.opset = opset
        self.file_name = file_name
        self.fx_graph = fx.Graph()
        self.modules: dict[str, nn.Module] = {}
        self.values: dict[str, _Value] = {}
        self.initializers = {t.name: t for t in graph.initializer}
        self.problems: list[tuple[str, str, str]] = []
        self.notes: list[str] = []
        self.outputs = [o.name for o in graph.output]
        self.consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        self.fused: set[int] = set()  # id() of nodes folded into an earlier one (MatMul + Add)
        self._used_names: set[str] = set()
        self.declared_batch: int | None = None  # the input's batch size when the file fixes it
        self.origins: dict[str, str] = {}  # fx node name → the ONNX node it comes from

    # --- the whole graph -----------------------------------------------------------------------

    def convert(self) -> tuple[fx.GraphModule, tuple[int, ...]]:
        from .onnx_handlers import HANDLERS

        input_shape = self._input()
        for node in self.onnx_graph.node:
            if id(node) in self.fused:
                continue
            label = node.name or "(unnamed)"
            if node.domain not in ("", "ai.onnx"):
                reason = f"an operator of the {node.domain!r} domain, not standard ONNX"
                self.problems.append((node.op_type, label, reason))
                continue
            handler = HANDLERS.get(node.op_type)
            if handler is None:
                self.problems.append((node.op_type, label, f"no layer kind for the ONNX operator {node.op_type}"))
                continue
            try:
                handler(self, node, _attributes(node))
            except _Blocked:
                continue
            except Unsupported as exc:
                self.problems.append((node.op_type, label, str(exc)))
            except OnnxImportError:
                raise
            except Exception as exc:  # a torch error on the meta tensors: the node does not fit its inputs
                self.problems.append((node.op_type, label, one_line(exc, 160)))
        if self.problems:
            raise self._refusal()
        output = self._output()
        self.fx_graph.output(output)
        module = fx.GraphModule(self.modules, self.fx_graph, class_name="OnnxModel")
        module.meta["onnx_notes"] = list(self.notes)
        module.meta["onnx_nodes"] = dict(self.origins)  # the importer names these in its problems
        return module.eval(), input_shape

    def _input(self) -> tuple[int, ...]:
        inputs = [i for i in self.onnx_graph.input if i.name not in self.initializers]
        if len(inputs) != 1:
            raise OnnxImportError(
                f"{self.file_name} has {len(inputs)} inputs; CNN Playground networks take one batch of images"
            )
        entry = inputs[0]
        tensor_type = entry.type.tensor_type
        if not entry.type.HasField("tensor_type") or tensor_type.elem_type != 1:
            raise OnnxImportError(f"{self.file_name}'s input {entry.name!r} is not a float32 tensor")
        if len(tensor_type.shape.dim) != 4:
            raise OnnxImportError(
                f"{self.file_name}'s input has {len(tensor_type.shape.dim):,} axes; CNN Playground networks take "
                "images (N, C, H, W)"
            )
        dims = list(tensor_type.shape.dim)
        shape: list[int] = []
        for axis, dim in zip(("channels", "height", "width"), dims[1:]):
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                raise OnnxImportError(
                    f"{self.file_name}'s input has no fixed {axis} ({dim.dim_param or 'unknown'}); "
                    "export the model with a fixed image size"
                )
            shape.append(int(dim.dim_value))
        batch = dims[0]
        self.declared_batch = int(batch.dim_value) if batch.HasField("dim_value") else None
        placeholder = self.fx_graph.placeholder("x")
        meta = torch.empty((_BATCH, *shape), device="meta")
        self.values[entry.name] = _Value(placeholder, meta)
        return tuple(shape)

    def _output(self) -> fx.Node:
        if len(self.outputs) != 1:
            raise OnnxImportError(f"{self.file_name} has {len(self.outputs)} outputs; CNN Playground networks have one")
        name = self.outputs[0]
        value = self.values.get(name)
        if value is None:
            raise OnnxImportError(
                f"{self.file_name}'s output {name!r} is not computed from its input (the graph uses values it "
                "does not define, or is out of order): the file is damaged"
            )
        if value.node is None:
            raise OnnxImportError(f"{self.file_name}'s output {name!r} is a constant, not computed from its input")
        return value.node

    def _refusal(self) -> OnnxImportError:
        shown = "; ".join(f"{op} {name!r} ({reason})" for op, name, reason in self.problems[:6])
        more = f"; and {len(self.problems) - 6} more" if len(self.problems) > 6 else ""
        count = len(self.problems)
        nodes = "1 node" if count == 1 else f"{count} nodes"
        return OnnxImportError(
            f"{self.file_name} cannot be imported, {nodes} cannot be mapped: {shown}{more}; nothing was imported",
            self.problems,
        )

    # --- inputs of a node -----------------------------------------------------------------------

    def tensor(self, name: str) -> _Value:
        """A runtime input; raises :class:`Unsupported` for a constant, :class:`_Blocked` for a refused one."""
        value = self.values.get(name)
        if value is None:
            if name in self.initializers:
                raise Unsupported(f"its input {name!r} is a constant (a weight), not the image data")
            raise _Blocked(name)
        if value.node is None:
            raise Unsupported(f"its input {name!r} is a constant, not the image data")
        return value

    def constant(self, name: str, what: str) -> np.ndarray[Any, Any]:
        """A constant input (an initializer, a Constant node's value); ``what`` names it in messages."""
        value = self.values.get(name)
        if value is not None and value.const is not None:
            return value.const
        if value is None and name in self.initializers:
            array = self.array(self.initializers[name])
            self.values[name] = _Value(const=array)
            return array
        if value is None:
            raise _Blocked(name)  # made by a node that was refused (or by none: then the output check says so)
        raise Unsupported(f"its {what} ({name!r}) is computed, not a constant of the file")

    def optional(self, node: Any, index: int) -> str | None:
        """The name of the node's input ``index``, or ``None`` where ONNX leaves an optional input out."""
        return node.input[index] if len(node.input) > index and node.input[index] else None

    def array(self, tensor: Any) -> np.ndarray[Any, Any]:
        """A tensor of the file as an array, after checking that its declared size matches its data."""
        from onnx import numpy_helper

        label = tensor.name or "a constant"
        if len(tensor.dims) > _MAX_AXES:  # checked before the dimensions become Python numbers
            raise OnnxImportError(f"{self.file_name} declares tensor {label!r} with {len(tensor.dims):,} axes; "
                                  f"at most {_MAX_AXES} are read")
        if tensor.data_location == 1 or len(tensor.external_data):  # EXTERNAL: refused by the survey already
            raise OnnxImportError(f"{self.file_name} keeps tensor {label!r} in a separate data file, which is not read")
        dims = [int(d) for d in tensor.dims]
        if any(d < 0 for d in dims):
            raise OnnxImportError(f"{self.file_name} is damaged: tensor {label!r} has a negative dimension {dims}")
        count = math.prod(dims)
        if count > _MAX_TENSOR_VALUES:
            raise OnnxImportError(
                f"{self.file_name} declares tensor {label!r} of shape {dims} ({count:,} values); "
                f"at most {_MAX_TENSOR_VALUES:,} values a tensor are read"
            )
        if tensor.data_type not in _DTYPES:
            raise OnnxImportError(f"tensor {label!r} of {self.file_name} has data type {tensor.data_type}, "
                                  "which is not a number type CNN Playground reads")
        width, field = _DTYPES[tensor.data_type]
        if tensor.HasField("raw_data"):
            held, wanted = len(tensor.raw_data), count * width
        else:
            held, wanted = len(getattr(tensor, field)), count
        if held != wanted:
            raise OnnxImportError(
                f"{self.file_name} is damaged: tensor {label!r} declares shape {dims} ({count:,} values) "
                f"but holds {held:,} {'bytes' if tensor.HasField('raw_data') else 'values'}"
            )
        try:
            return np.array(numpy_helper.to_array(tensor), copy=True)
        except Exception as exc:
            raise OnnxImportError(f"{self.file_name}: tensor {label!r} cannot be read ({one_line(exc, 160)})") from None

    # --- emitting ----------------------------------------------------------------------------

    def set(self, name: str, value: _Value) -> None:
        self.values[name] = value

    def call_module(self, node: Any, factory: Callable[[], nn.Module], inputs: Sequence[_Value],
                    weights: dict[str, np.ndarray[Any, Any]] | None = None, weight_name: str | None = None,
                    output: str | None = None) -> _Value:
        """Make the module on ``meta``, learn its output shape there, then give it the file's tensors."""
        with torch.device("meta"):
            module = factory()
        meta = module(*[v.meta for v in inputs])
        if weights is not None:
            state = {key: torch.as_tensor(np.ascontiguousarray(array)) for key, array in weights.items()}
            for key, ref in module.state_dict().items():
                if key not in state and key.endswith("num_batches_tracked"):
                    state[key] = torch.zeros((), dtype=torch.long)
                elif key not in state:  # pragma: no cover - each handler names every tensor of its module
                    raise Unsupported(f"no value for {key}")
                state[key] = state[key].to(ref.dtype).reshape(ref.shape)
            module.load_state_dict(state, assign=True)
        target = self._name(node, weight_name)
        self.modules[target] = module
        fx_node = self.fx_graph.call_module(target, tuple(v.node for v in inputs))
        self._origin(fx_node, node)
        value = _Value(fx_node, meta)
        self.set(output or node.output[0], value)
        return value

    def call_function(self, node: Any, function: Callable[..., Any], args: tuple[Any, ...],
                      output: str | None = None) -> _Value:
        """A functional call; ``args`` holds :class:`_Value` s (runtime tensors) and plain values."""

        def as_meta(a: Any) -> Any:
            if isinstance(a, _Value):
                return a.meta
            if isinstance(a, list):
                return [as_meta(x) for x in a]
            return a

        def as_node(a: Any) -> Any:
            if isinstance(a, _Value):
                return a.node
            if isinstance(a, list):
                return [as_node(x) for x in a]
            return a

        meta = function(*[as_meta(a) for a in args])
        fx_node = self.fx_graph.call_function(function, tuple(as_node(a) for a in args))
        self._origin(fx_node, node)
        value = _Value(fx_node, meta)
        self.set(output or node.output[0], value)
        return value

    def _origin(self, fx_node: fx.Node, node: Any) -> None:
        """Where an fx node comes from, for the import's problems: ``file.onnx: node 'fc' (Gemm)``."""
        self.origins[fx_node.name] = f"{self.file_name}: node {node.name or '(unnamed)'!r} ({node.op_type})"

    def _name(self, node: Any, weight_name: str | None) -> str:
        """A module name after the original network's attribute names where the file keeps them.

        ``layer1.0.conv1.weight`` (a weight's name) → ``layer1.0.conv1``; ``layers.conv1.weight`` (the
        app's own export) → ``conv1``;
        ``/layer1/layer1.0/conv1/Conv`` (PyTorch's node names) → ``layer1.0.conv1``;
        otherwise the node's name, or the operator's.
        """
        candidate = ""
        if weight_name and weight_name.endswith(".weight") and _DOTTED.fullmatch(weight_name):
            candidate = weight_name.removesuffix(".weight")
            if _APP_LAYER.fullmatch(candidate):  # CNN Playground's own export: layers.<node id>
                candidate = candidate.removeprefix("layers.")
        elif node.name.startswith("/"):
            parts: list[str] = []
            for segment in node.name.strip("/").split("/")[:-1]:
                if parts and segment.startswith(parts[-1] + "."):
                    parts[-1] = segment
                else:
                    parts.append(segment)
            candidate = ".".join(parts)
        if not candidate:
            candidate = node.name.removeprefix("node_") or node.op_type.lower()
        parts = [re.sub(r"\W", "_", p) or "_" for p in candidate.split(".")]
        if parts[0][:1].isdigit():
            parts[0] = f"{node.op_type.lower()}_{parts[0]}"
        base = ".".join(parts)
        name, n = base, 0
        while not self._free(name):
            n += 1
            name = f"{base}_{n}"
        self._used_names.add(name)
        return name

    def _free(self, name: str) -> bool:
        """No module has this name, none is inside it, and it is inside none (a leaf cannot hold another)."""
        if name in self._used_names:
            return False
        prefixes = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        return not (prefixes & self._used_names) and not any(u.startswith(name + ".") for u in self._used_names)


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*")
_APP_LAYER = re.compile(r"layers\.[A-Za-z_][A-Za-z0-9_]*")


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    values: dict[str, Any] = {}
    for attribute in node.attribute:
        count = sum(len(getattr(attribute, f)) for f in ("floats", "ints", "strings", "tensors", "graphs"))
        if count > _MAX_LIST:  # checked before the list becomes Python objects
            raise Unsupported(f"its attribute {attribute.name!r} holds {count:,} values")
        value = helper.get_attribute_value(attribute)
        values[attribute.name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return values

