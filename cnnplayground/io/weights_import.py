"""Weights from outside a project: safetensors files, and torchvision's pretrained networks.

:func:`import_safetensors` reads weights saved earlier (by the app, keys
``layers.<node id>.<param>``, or by the code exporter, keys ``<attribute>.<param>``
where the attribute is the node id unless that is a Python keyword)
and checks them against the network of a graph: every weight present, none
extra, every shape right. The result is a state dict with the app's keys, ready
for ``GraphModule.load_state_dict`` and ``Project.weights``.

:func:`import_torchvision` is for transfer learning: torchvision's ImageNet
weights for VGG-11, VGG-16 or ResNet-18 (the presets equal those networks layer
for layer) mapped onto a graph, from a file the user names or from torchvision's
download cache. Nothing is ever downloaded. Layers are paired in order, by kind
and parameter shapes, so a preset whose classifier was changed (10 classes
instead of 1000) gets everything but the classifier, which is reported as
skipped.

Files are read without running code: safetensors, or ``torch.load(...,
weights_only=True)`` for torchvision's ``.pth`` files. Every problem is a
:class:`WeightsImportError` with a one-line message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import safetensors.torch
import torch
from safetensors import SafetensorError
from torch import nn

from ..core.builder import BuildError, build
from ..core.errors import UserError, one_line
from ..core.graph import Graph
from .input_file import regular_file
from .project import MAX_WEIGHTS_BYTES, _size

__all__ = [
    "TORCHVISION_PRESETS",
    "TransferWeights",
    "WeightsImportError",
    "import_safetensors",
    "import_torchvision",
    "local_torchvision_weights",
    "match_layers",
]

#: torchvision models whose weights fit a preset of the same name (tested layer for layer).
TORCHVISION_PRESETS = ("vgg11", "vgg16", "resnet18")
_PREFIX = "layers."
#: Offending weights named in a message; the rest are counted.
_SHOWN = 3
_MAX_MESSAGE = 400

Shape = tuple[int, ...]


class WeightsImportError(UserError, ValueError):
    """Weights cannot be imported; ``str()`` is one line saying why."""

    def __init__(self, message: str) -> None:
        text = " ".join(str(message).split()) or "the weights cannot be imported"
        if len(text) > _MAX_MESSAGE:
            text = text[: _MAX_MESSAGE - 1] + "…"
        super().__init__(text)


# --- safetensors -----------------------------------------------------------------------------


def import_safetensors(
    graph: Graph, path: str | os.PathLike[str], names: Mapping[str, str] | None = None
) -> dict[str, torch.Tensor]:
    """The weights in the safetensors file ``path``, checked against the network of ``graph``.

    Keys may be ``layers.<id>.<param>`` (the app's), ``<id>.<param>``, or
    ``<name>.<param>`` with ``names`` mapping node ids to the names a file uses
    (pass the code exporter's ``attribute_names(graph)``: it renames ids that are
    Python keywords, such as ``class`` → ``class_``); the naming that fits
    most of the file's keys is used. The result always has the app's keys and
    the network's dtypes. A missing ``num_batches_tracked`` counter of a
    BatchNorm is taken as 0.
    """
    path = Path(path)
    _check_size(path)
    try:
        tensors = safetensors.torch.load_file(path, device="cpu")
    except FileNotFoundError:
        raise WeightsImportError(f"cannot read {path}: there is no such file") from None
    except OSError as exc:
        raise WeightsImportError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (SafetensorError, ValueError, TypeError, RuntimeError, KeyError, OverflowError) as exc:
        raise WeightsImportError(f"{path.name} is not a safetensors weights file ({one_line(exc, 200)})") from None
    expected = _network_state(graph)
    translate = _best_naming(list(tensors), expected, graph, names)
    weights: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, tensor in tensors.items():
        ours = translate(key)
        if ours in expected:
            weights[ours] = tensor
        else:
            unexpected.append(key)
    problems: list[str] = []
    for key, ref in expected.items():
        name = key.removeprefix(_PREFIX)
        got = weights.get(key)
        if got is None:
            if key.endswith(".num_batches_tracked"):
                weights[key] = torch.zeros((), dtype=ref.dtype)
            else:
                problems.append(f"{name}: missing from the file (the network needs {_shape_text(ref.shape)})")
        elif tuple(got.shape) != tuple(ref.shape):
            problems.append(
                f"{name}: the file has {_shape_text(got.shape)}, the network needs {_shape_text(ref.shape)}"
            )
        else:
            converted, problem = _convert(got, ref)
            if converted is None:  # then problem says why
                problems.append(f"{name}: {problem}")
            else:
                weights[key] = converted
    problems += [f"{key}: the network has no such weight" for key in unexpected]
    if problems:
        raise WeightsImportError(f"{path.name} does not fit the network: {_listing(problems)}")
    return {key: weights[key] for key in expected}


def _best_naming(
    keys: list[str], expected: Mapping[str, torch.Tensor], graph: Graph, names: Mapping[str, str] | None
) -> Callable[[str], str]:
    """Of the app's keys, bare ids and ``names``, the key translation that fits most of ``keys``."""

    def renamed(table: Mapping[str, str]) -> Callable[[str], str]:
        def translate(key: str) -> str:
            head, dot, rest = key.partition(".")
            nid = table.get(head)
            return f"{_PREFIX}{nid}.{rest}" if nid is not None and dot else key

        return translate

    schemes = [lambda key: key, renamed({nid: nid for nid in graph.nodes})]
    if names:
        schemes.append(renamed({name: nid for nid, name in names.items()}))
    # max() keeps the first of equal counts: the app's keys, then ids, then the given names.
    return max(schemes, key=lambda translate: sum(translate(k) in expected for k in keys))


# --- torchvision ---------------------------------------------------------------------------


@dataclass
class TransferWeights:
    """Weights of a pretrained network mapped onto a graph's network.

    ``weights`` holds the tensors that fit, under the graph's keys
    (``layers.<id>.<param>``); ``skipped`` the graph's keys left as they are
    (e.g. a classifier with another class count), with ``reasons`` per layer
    id; ``unused`` the file's keys that went nowhere.
    """

    weights: dict[str, torch.Tensor]
    skipped: list[str]
    unused: list[str]
    source: Path
    reasons: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the user, e.g. "Loaded 60 of 62 tensors from …; skipped fc (…)"."""
        total = len(self.weights) + len(self.skipped)
        text = f"Loaded {len(self.weights)} of {total} tensors from {self.source.name}"
        if self.reasons:
            text += "; skipped " + _listing([f"{nid} ({why})" for nid, why in self.reasons.items()])
        return text

    def load_into(self, module: nn.Module) -> None:
        """Copy the weights into ``module`` (built from the graph); skipped layers keep their values."""
        result = module.load_state_dict(self.weights, strict=False)
        if result.unexpected_keys or set(result.missing_keys) != set(self.skipped):
            raise WeightsImportError("the network is not the one these weights were mapped onto")


def import_torchvision(
    graph: Graph, model_name: str, weights_path: str | os.PathLike[str] | None = None
) -> TransferWeights:
    """torchvision's pretrained ``model_name`` weights mapped onto ``graph``'s network.

    ``weights_path``: a state dict saved by torchvision / ``torch.save``
    (``.pth``, read with ``weights_only=True``) or a safetensors file with
    torchvision's keys. Without it, torchvision's download cache
    (``torch.hub.get_dir()/checkpoints``) is searched; nothing is downloaded.
    Layers pair up in order while their kinds agree (see :func:`match_layers`);
    pairs whose shapes differ are skipped and reported. A network of which less
    than half the tensors fit is refused: it is not that model.
    """
    reference = _torchvision_shapes(model_name)
    if weights_path is None:
        path = local_torchvision_weights(model_name)
        if path is None:
            where = Path(torch.hub.get_dir()) / "checkpoints"
            raise WeightsImportError(
                f"No local weights for {model_name}: download them with torchvision once, or choose the .pth "
                f"file (looked in {where})"
            )
    else:
        path = Path(weights_path)
    state = _read_state_dict(path)
    present = sum(key in state for key in reference)
    if present < len(reference) / 2:
        first = next(iter(state), None)
        raise WeightsImportError(
            f"{path.name} does not hold torchvision's {model_name} weights: only {present} of the "
            f"{len(reference)} tensors {model_name} has are in it"
            + (f" (its first key is {first[:60]!r})" if first is not None else " (it holds no tensors)")
        )
    # Pair on the file's shapes where it has the tensor, torchvision's order and kinds otherwise.
    theirs = {key: tuple(state[key].shape) if key in state else shape for key, shape in reference.items()}
    expected = _network_state(graph)
    mapping, reasons = match_layers({k: tuple(v.shape) for k, v in expected.items()}, theirs)
    converted: dict[str, torch.Tensor] = {}
    for ours, their_key in mapping.items():
        if their_key not in state:
            reasons.setdefault(_layer_of(ours), f"{their_key} is not in the file")
            continue
        tensor, problem = _convert(state[their_key], expected[ours])
        if tensor is None:
            reasons.setdefault(_layer_of(ours), f"{their_key}: {problem}")
        else:
            converted[ours] = tensor
    weights = {ours: tensor for ours, tensor in converted.items() if _layer_of(ours) not in reasons}
    if not weights:
        why = next(iter(reasons.values()), "the layers differ")
        raise WeightsImportError(f"none of torchvision's {model_name} weights fit this network ({why})")
    if len(weights) < len(expected) / 2:  # a few look-alike layers of an unrelated network
        raise WeightsImportError(
            f"this network differs too much from torchvision's {model_name}: only {len(weights)} of its "
            f"{len(expected)} tensors fit; " + _listing([f"{nid}: {why}" for nid, why in reasons.items()])
        )
    skipped = [key for key in expected if key not in weights]
    used = {mapping[key] for key in weights}
    unused = [key for key in state if key not in used]
    return TransferWeights(weights, skipped, unused, path, reasons)


def local_torchvision_weights(model_name: str) -> Path | None:
    """The file of ``model_name``'s pretrained weights in torchvision's download cache, if there is one.

    The default weights come first, then any other published version.
    """
    from torchvision.models import get_model_weights

    try:
        enum = get_model_weights(model_name)
    except (ValueError, KeyError):
        return None
    default = getattr(enum, "DEFAULT", None)
    candidates = ([default] if default is not None else []) + [w for w in enum if w is not default]
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    for weights in candidates:
        name = os.path.basename(urlparse(weights.url).path)
        if name and (folder / name).is_file():
            return folder / name
    return None


def match_layers(ours: Mapping[str, Shape], theirs: Mapping[str, Shape]) -> tuple[dict[str, str], dict[str, str]]:
    """Pair two state dicts' tensors layer by layer, in order.

    Both map keys ``<layer>.<param>`` to shapes, in execution order. Layers pair
    up while they are of the same kind (the same parameter names with the same
    number of dimensions); at the first difference the rest of ``ours`` stays
    unpaired. Returns ``(mapping, reasons)``: ``mapping`` from each of our keys
    to theirs for the pairs with equal shapes, ``reasons`` by our layer (with a
    ``layers.`` prefix removed) for every layer left out.
    """
    our_layers, their_layers = _group(ours), _group(theirs)
    mapping: dict[str, str] = {}
    reasons: dict[str, str] = {}
    for i, (layer, params) in enumerate(our_layers):
        name = layer.removeprefix(_PREFIX)
        if i >= len(their_layers):
            reasons[name] = "no counterpart: the other network has fewer layers"
            continue
        their_layer, their_params = their_layers[i]
        if _kind(params) != _kind(their_params):
            reasons[name] = f"{their_layer} in the file is another kind of layer; the networks differ from here on"
            for later, _ in our_layers[i + 1:]:
                reasons[later.removeprefix(_PREFIX)] = "no counterpart: the networks differ before it"
            break
        wrong = next((p for p in params if params[p] != their_params[p]), None)
        if wrong is not None:
            reasons[name] = (f"{their_layer}.{wrong}: the file has {_shape_text(their_params[wrong])}, "
                             f"the network needs {_shape_text(params[wrong])}")
            continue
        mapping.update({f"{layer}.{p}": f"{their_layer}.{p}" for p in params})
    return mapping, reasons


# --- helpers -------------------------------------------------------------------------------


def _network_state(graph: Graph) -> dict[str, torch.Tensor]:
    """The state dict of ``graph``'s network, on the meta device (shapes and dtypes, no memory)."""
    try:
        with torch.device("meta"):
            module = build(graph)
    except (BuildError, ValueError, RuntimeError) as exc:
        raise WeightsImportError(f"the weights cannot be imported: the network is not valid ({exc})") from None
    return dict(module.state_dict())


def _torchvision_shapes(model_name: str) -> dict[str, Shape]:
    """torchvision's ``model_name`` state-dict keys and shapes, in order (built on the meta device)."""
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if model_name not in names:
        raise WeightsImportError(
            f"unknown torchvision model {str(model_name)[:60]!r}; those with a matching preset: "
            f"{', '.join(TORCHVISION_PRESETS)}"
        )
    with torch.device("meta"):
        model = torchvision.models.get_model(model_name, weights=None)
    return {key: tuple(t.shape) for key, t in model.state_dict().items()}


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a torch file (``weights_only``) or a safetensors file, told apart by content."""
    _check_size(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise WeightsImportError(f"cannot read {path}: there is no such file") from None
    except OSError as exc:
        raise WeightsImportError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head[:2] == b"PK" or head[:1] == b"\x80":  # torch.save's zip archive, or its legacy pickle
        try:
            loaded: Any = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # unpickling raises many kinds; weights_only refuses code
            refused = re.search(r"\bGLOBAL ([\w.]+)", str(exc)) if "Weights only load failed" in str(exc) else None
            why = (f"it holds Python objects ({refused[1][:60]}), and loading them could run code" if refused
                   else one_line(exc, 200))
            raise WeightsImportError(f"{path.name} is not a weights file that can be read safely ({why})") from None
    else:
        try:
            loaded = safetensors.torch.load_file(path, device="cpu")
        except (SafetensorError, ValueError, TypeError, RuntimeError, KeyError, OverflowError) as exc:
            raise WeightsImportError(
                f"{path.name} is neither a PyTorch .pth file nor a safetensors file ({one_line(exc, 200)})"
            ) from None
    if isinstance(loaded, Mapping):
        for wrapper in ("state_dict", "model"):  # training checkpoints nest the weights
            inner = loaded.get(wrapper)
            if isinstance(inner, Mapping):
                loaded = inner
                break
    if not isinstance(loaded, Mapping):
        raise WeightsImportError(f"{path.name} holds a {type(loaded).__name__}, not a state dict of weights")
    state = {str(k): v for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise WeightsImportError(f"{path.name} holds no weights")
    return state


def _convert(tensor: torch.Tensor, ref: torch.Tensor) -> tuple[torch.Tensor | None, str | None]:
    """``tensor`` as ``ref``'s dtype, or why it cannot be: values of another kind (integers, true/false,
    complex numbers for floating-point weights), or a dtype torch cannot convert (4-bit floats)."""
    if tensor.is_floating_point() != ref.is_floating_point() or tensor.dtype == torch.bool or tensor.is_complex():
        return None, f"the file has {_dtype_text(tensor)} values, the network needs {_dtype_text(ref)}"
    try:
        return tensor.to(ref.dtype).contiguous(), None
    except (RuntimeError, TypeError) as exc:  # NotImplementedError is a RuntimeError
        return None, f"the file's {_dtype_text(tensor, exact=True)} values cannot be converted ({one_line(exc, 200)})"


def _check_size(path: Path) -> None:
    """Refuse a missing file, a folder, a pipe or device (reading one could block), and a file over the limit."""
    size = regular_file(path, "a weights file", WeightsImportError).st_size
    if size > MAX_WEIGHTS_BYTES:
        raise WeightsImportError(
            f"{path.name} is {_size(size)}; weights files are limited to {_size(MAX_WEIGHTS_BYTES)}, "
            "as in projects"
        )


def _group(shapes: Mapping[str, Shape]) -> list[tuple[str, dict[str, Shape]]]:
    """``{"a.weight": s, "a.bias": t}`` → ``[("a", {"weight": s, "bias": t})]``, in first-seen order."""
    layers: dict[str, dict[str, Shape]] = {}
    for key, shape in shapes.items():
        layer, _, param = key.rpartition(".")
        layers.setdefault(layer, {})[param] = tuple(shape)
    return list(layers.items())


def _kind(params: Mapping[str, Shape]) -> frozenset[tuple[str, int]]:
    return frozenset((name, len(shape)) for name, shape in params.items())


def _layer_of(key: str) -> str:
    return key.removeprefix(_PREFIX).rpartition(".")[0]


def _shape_text(shape: Any) -> str:
    dims = tuple(shape)
    return "×".join(str(d) for d in dims) if dims else "a scalar"


def _dtype_text(t: torch.Tensor, exact: bool = False) -> str:
    return "floating-point" if t.is_floating_point() and not exact else str(t.dtype).removeprefix("torch.")


def _listing(items: list[str]) -> str:
    more = len(items) - _SHOWN
    return "; ".join(items[:_SHOWN]) + (f" (and {more} more)" if more > 0 else "")


