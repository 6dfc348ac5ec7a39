"""PyTorch code export: a standalone ``model.py`` generated from the graph, and its weights.

:func:`module_code` writes readable Python defining ``class Net(nn.Module)``: one
attribute per layer, named after the canvas node id (made a valid, non-clashing
identifier: :func:`attribute_names`), explicit constructor arguments (input
channels and features come from shape inference), and a ``forward`` in
topological order with the output shape of every line as a comment. Add, Multiply and
Concat merges are written inline (``a + b``, ``a * b``, ``torch.cat([a, b], dim=1)``); a
value used by several layers, or not by the very next line, gets a variable named
after its node, everything else flows through ``x``. The file imports only torch
(safetensors inside ``load()``); the one custom module the app uses,
``SamePadConv2d`` for "same" padding with an even kernel, is reproduced in it.

The generated module's ``state_dict`` keys are the app's with the ``layers.``
prefix dropped and the node id replaced by its attribute name:
``layers.<node id>.<param>`` → ``<attribute>.<param>`` (:func:`exported_state_dict`).
:func:`export_pytorch` writes ``model.py`` and ``model.safetensors`` in those keys,
which ``model.load()`` reads directly.
"""

from __future__ import annotations

import builtins
import keyword
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..core.graph import Graph
from ..core.inference import InferenceResult, infer
from ..core.registry import get_kind
from ..core.shapes import Shape, format_shape
from .errors import ExportError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

    from ..project import Project

__all__ = [
    "MODEL_FILE",
    "WEIGHTS_FILE",
    "ExportError",
    "attribute_names",
    "export_pytorch",
    "exported_keys",
    "exported_state_dict",
    "module_code",
]

MODEL_FILE = "model.py"
WEIGHTS_FILE = "model.safetensors"
#: Longest line the generated code aims at (ruff's limit in this project).
LINE_LIMIT = 120
_INDENT = "        "


# --- names -----------------------------------------------------------------------------------


def _module_attribute_names() -> set[str]:
    from torch import nn

    return set(dir(nn.Module)) | set(vars(nn.Module()))


def attribute_names(graph: Graph) -> dict[str, str]:
    """Node id → the Python identifier the generated code uses for it (attribute and variable).

    Ids are identifiers already (the graph enforces ``[A-Za-z_][A-Za-z0-9_]*``); an id
    that is a keyword or an ``nn.Module`` attribute (``forward``, ``training``...) gets a
    ``_`` appended, one starting with ``_`` gets ``layer`` prepended (``__x`` would be
    name-mangled inside the class), and the result is made unique.
    """
    reserved = _module_attribute_names()
    taken: set[str] = set()
    names: dict[str, str] = {}
    for nid in graph.nodes:
        name = nid if nid.isidentifier() else "".join(c if c.isalnum() or c == "_" else "_" for c in nid)
        if not name or name[0].isdigit():
            name = "layer_" + name
        if name.startswith("_"):
            name = "layer" + name
        if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in reserved:
            name += "_"
        names[nid] = _claim(name, taken)
    return names


def _claim(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``... whichever is not in ``taken`` first; added to ``taken``."""
    name, n = base, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


def _local_names(attrs: dict[str, str]) -> dict[str, str]:
    """Variable names in ``forward``: the attribute names, kept clear of ``x``, builtins and imports."""
    reserved = {"x", "self", "torch", "nn", "Net", "SamePadConv2d", "Path"} | set(dir(builtins))
    taken = set(reserved)
    out: dict[str, str] = {}
    for nid, name in attrs.items():
        out[nid] = _claim(name + "_" if name in reserved else name, taken)
    return out


# --- the plan ---------------------------------------------------------------------------------


def _checked(graph: Graph) -> InferenceResult:
    result = infer(graph)
    if not result.ok:
        raise ExportError(f"the network is not valid: {result.first_error() or 'unknown problem'}")
    return result


def _plan(graph: Graph, result: InferenceResult) -> list[str]:
    """Layer ids the network runs, in the builder's order (topological, stable in insertion order)."""
    needed = {result.output_id}
    todo = [result.output_id]
    while todo:
        for s in graph.inputs_of(todo.pop()):  # type: ignore[arg-type]
            if s not in needed:
                needed.add(s)
                todo.append(s)
    return [nid for nid in result.order if nid in needed and nid != result.input_id]


# --- constructors -----------------------------------------------------------------------------


def _constructor(kind: str, p: Mapping[str, Any], in_shape: Shape) -> tuple[str, list[str]]:
    """``(callable, arguments)`` for one layer, e.g. ``("nn.Conv2d", ["in_channels=1", ...])``: the layer
    kind's own :meth:`~cnnplayground.core.registry.LayerKind.code`, so a new kind is declared in one place."""
    try:
        return get_kind(kind).code(dict(p), [in_shape])
    except NotImplementedError:
        raise ExportError(f"layer kind {kind} cannot be exported to PyTorch code yet") from None


#: Layer kinds written as expressions in ``forward`` (no attribute, no weights).
MERGES = ("Add", "Concat", "Multiply")


def _assignment(target: str, func: str, args: list[str], indent: str = _INDENT) -> list[str]:
    """``target = func(args)``, wrapped when it would pass the line limit."""
    one = f"{indent}{target} = {func}({', '.join(args)})"
    if len(one) <= LINE_LIMIT or not args:
        return [one]
    inner = indent + "    "
    joined = f"{inner}{', '.join(args)},"
    if len(joined) <= LINE_LIMIT:
        return [f"{indent}{target} = {func}(", joined, f"{indent})"]
    return [f"{indent}{target} = {func}(", *[f"{inner}{a}," for a in args], f"{indent})"]


def _commented(code: str, comment: str, indent: str = _INDENT) -> list[str]:
    """``code  # comment``, or the comment on its own line above when that is too long."""
    line = f"{code}  # {comment}"
    if len(line) <= LINE_LIMIT:
        return [line]
    return [f"{indent}# {comment}", code]


# --- the source -------------------------------------------------------------------------------

_SAME_PAD_CONV = '''

class SamePadConv2d(nn.Conv2d):
    """Conv2d with padding "same" for an even (effective) kernel.

    Pads explicitly, the extra pixel at the bottom/right as PyTorch's padding="same" does,
    without PyTorch's copy-and-warn path. Weights and state-dict keys are those of nn.Conv2d.
    """

    def __init__(self, *args, pad: tuple[int, int, int, int], **kwargs) -> None:
        super().__init__(*args, padding=0, **kwargs)
        self.pad = pad  # (left, right, top, bottom), as nn.functional.pad takes it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, self.pad))
'''

_LOAD = '''

def load(path: str | Path = "{weights}", device: str | torch.device = "cpu") -> {cls}:
    """``{cls}`` with the weights saved in ``path`` (safetensors), in eval mode on ``device``.

    A relative path that does not exist from the working directory is looked up next to this file.
    The module is created on the meta device and takes the loaded tensors as they are.
    """
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = Path(__file__).resolve().parent / path
    with torch.device("meta"):
        model = {cls}()
    model.load_state_dict(load_file(str(path), device=str(device)), assign=True)
    return model.eval()


if __name__ == "__main__":
    net = {cls}()
    print(net)
    with torch.no_grad():
        out = net.eval()(torch.zeros(1, *INPUT_SHAPE))
    print(f"input {{tuple(INPUT_SHAPE)}} -> output {{tuple(out.shape[1:])}}, "
          f"{{sum(p.numel() for p in net.parameters()):,}} parameters")
'''


def _doc_text(text: str) -> str:
    """``text`` safe inside a triple-quoted docstring, on one line."""
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')


def module_code(
    graph: Graph,
    class_name: str = "Net",
    *,
    title: str | None = None,
    weights_file: str = WEIGHTS_FILE,
    date: str | None = None,
) -> str:
    """Standalone Python source defining ``class <class_name>(nn.Module)`` for ``graph``.

    ``title`` names the network in the header (the project name); ``date`` (ISO
    ``YYYY-MM-DD``) defaults to today. Raises :class:`ExportError` if the graph is
    not valid or has a layer kind that cannot be written.
    """
    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise ExportError(f"class name {class_name!r} is not a Python identifier")
    result = _checked(graph)
    plan = _plan(graph, result)
    attrs = attribute_names(graph)
    local = _local_names(attrs)
    in_shape: Shape = result.input_shape  # type: ignore[assignment]
    out_shape: Shape = result.output_shape  # type: ignore[assignment]
    date = date or datetime.now(UTC).date().isoformat()
    name = _doc_text(title or "Untitled network")

    # Constructor lines.
    init: list[str] = []
    uses_same_pad = False
    for nid in plan:
        node = graph.nodes[nid]
        if node.kind in MERGES:
            continue
        sources = graph.inputs_of(nid)
        func, args = _constructor(node.kind, node.params, result[sources[0]].shape)  # type: ignore[arg-type]
        uses_same_pad |= func == "SamePadConv2d"
        init += _assignment(f"self.{attrs[nid]}", func, args)

    # Forward lines: a value flows through ``x`` when only the very next line uses it.
    position = {nid: i for i, nid in enumerate(plan)}
    var: dict[str, str] = {}

    def variable(nid: str) -> str:
        consumers = [c for c in graph.consumers_of(nid) if c in position]
        if nid == result.output_id:
            return "x"
        here = -1 if nid == result.input_id else position[nid]
        if len(consumers) == 1 and position[consumers[0]] == here + 1:
            return "x"
        return local[nid]

    forward: list[str] = []
    var[result.input_id] = variable(result.input_id)  # type: ignore[index]
    if var[result.input_id] != "x":  # type: ignore[index]
        forward += _commented(f"{_INDENT}{var[result.input_id]} = x", f"{result.input_id}: the input")  # type: ignore
    for nid in plan:
        node = graph.nodes[nid]
        sources = [var[s] for s in graph.inputs_of(nid)]
        target = var[nid] = variable(nid)
        shape = format_shape(result[nid].shape)
        if node.kind == "Add":
            code, comment = f"{_INDENT}{target} = {' + '.join(sources)}", f"{nid} -> {shape}"
        elif node.kind == "Multiply":
            code, comment = f"{_INDENT}{target} = {' * '.join(sources)}", f"{nid} -> {shape}"
        elif node.kind == "Concat":
            code, comment = f"{_INDENT}{target} = torch.cat([{', '.join(sources)}], dim=1)", f"{nid} -> {shape}"
        else:
            code, comment = f"{_INDENT}{target} = self.{attrs[nid]}({sources[0]})", f"-> {shape}"
        forward += _commented(code, comment)
    forward.append(f"{_INDENT}return x")

    params = result.total_params
    lines = [
        f'"""{name}: a PyTorch module generated by CNN Playground.',
        "",
        f"Input: {format_shape(in_shape)} (channels × height × width; batches are N×{format_shape(in_shape)}).",
        f"Output: {format_shape(out_shape)}. Parameters: {params:,}.",
        f"Generated by CNN Playground {__version__} on {date}; this file needs only PyTorch "
        "(and safetensors for load()).",
        "",
        f"    model = load()  # {class_name} with the weights in {weights_file} next to this file, in eval mode",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from pathlib import Path",
        "",
        "import torch",
        "from torch import nn",
        "",
        f"INPUT_SHAPE = {tuple(in_shape)!r}",
        f"OUTPUT_SHAPE = {tuple(out_shape)!r}",
    ]
    text = "\n".join(lines) + "\n"
    if uses_same_pad:
        text += _SAME_PAD_CONV
    body = [
        "",
        "",
        f"class {class_name}(nn.Module):",
        f'    """{name}: {params:,} parameters, input {format_shape(in_shape)}, output {format_shape(out_shape)}."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *init,
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        f"        # x: N×{format_shape(in_shape)}",
        *forward,
    ]
    text += "\n".join(body) + "\n"
    text += _LOAD.format(weights=weights_file, cls=class_name)
    return text


# --- weights ----------------------------------------------------------------------------------


def exported_state_dict(graph: Graph, weights: Mapping[str, torch.Tensor] | nn.Module) -> dict[str, torch.Tensor]:
    """The app's weights (``layers.<node id>.<param>``) under the generated module's keys.

    ``weights`` is a state dict or the app's ``GraphModule``. The weights must fit the
    network exactly (same keys and shapes as the app builds); tensors come back as
    contiguous CPU tensors.
    """
    from torch import nn

    from ..io.project import ProjectError, check_weights

    state = weights.state_dict() if isinstance(weights, nn.Module) else dict(weights)
    try:
        check_weights(graph, state)
    except ProjectError as exc:
        raise ExportError(f"the weights do not fit the network: {exc}") from None
    keys = exported_keys(graph, state)
    return {keys[key]: value.detach().to("cpu").contiguous() for key, value in state.items()}


def exported_keys(graph: Graph, keys: Iterable[str]) -> dict[str, str]:
    """App state-dict key → generated module key: ``layers.<node id>.<param>`` → ``<attribute>.<param>``.

    Raises :class:`ExportError` for a key that names no layer of ``graph``.
    """
    attrs = attribute_names(graph)
    out: dict[str, str] = {}
    for key in keys:
        prefix, nid, rest = (key.split(".", 2) + ["", ""])[:3]
        if prefix != "layers" or nid not in attrs or not rest:
            raise ExportError(f"weight {key!r} belongs to no layer of the network")
        out[key] = f"{attrs[nid]}.{rest}"
    return out


def _target(target: Project | Graph) -> tuple[Graph, str | None, Mapping[str, torch.Tensor] | None]:
    if isinstance(target, Graph):
        return target, None, None
    return target.graph, target.name, target.weights


def export_pytorch(
    target: Project | Graph,
    weights: Mapping[str, torch.Tensor] | nn.Module | None,
    out_dir: str | os.PathLike[str],
    *,
    class_name: str = "Net",
    title: str | None = None,
) -> list[Path]:
    """Write ``model.py`` and, when there are weights, ``model.safetensors`` into ``out_dir``.

    ``target`` is a project (its name titles the file; its weights are used when
    ``weights`` is ``None``) or a graph. Returns the paths written. The safetensors file
    holds :func:`exported_state_dict`'s keys, which ``load()`` in ``model.py`` reads.
    """
    graph, name, own_weights = _target(target)
    weights = weights if weights is not None else own_weights
    source = module_code(graph, class_name, title=title or name)
    tensors = exported_state_dict(graph, weights) if weights is not None else None
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {exc.strerror or exc}") from None
    written = [write_text(out / MODEL_FILE, source)]
    if tensors is not None:
        written.append(write_safetensors(out / WEIGHTS_FILE, tensors, {"source": name or "", "keys": "model.py"}))
    return written


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` atomically (UTF-8); :class:`ExportError` on failure."""
    from ..io.atomic import AtomicWriteError, atomic_write_text

    try:
        atomic_write_text(path, text)
    except AtomicWriteError as exc:
        raise ExportError(str(exc)) from None
    return path


def write_safetensors(path: Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> Path:
    """``safetensors.torch.save_file`` to a temporary name in the same folder, then renamed over ``path``."""
    import safetensors.torch

    tmp = path.with_name(f".{path.name}.tmp")
    meta = {"format": "pt", "generated_by": f"CNN Playground {__version__}", **metadata}
    try:
        safetensors.torch.save_file(dict(tensors), str(tmp), metadata=meta)
        os.replace(tmp, path)
    except (OSError, ValueError, RuntimeError) as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc}") from None
    return path
