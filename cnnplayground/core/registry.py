"""The layer registry: one declaration per layer kind drives everything else.

A layer kind is a subclass of :class:`LayerKind` decorated with :func:`register`.
It declares its parameters, how many inputs it takes, and four rules:

- ``output_shape(params, input_shapes)`` — raise :class:`ShapeError` with a
  message for the user when the inputs do not fit;
- ``param_count(params, input_shapes)`` — trainable parameters, by arithmetic;
- ``receptive_field(params, input_shapes, input_fields)``;
- ``build(params, input_shapes)`` — the ``torch.nn.Module`` (torch imported lazily
  so that shape inference stays cheap to import);
- ``code(params, input_shapes)`` — the same module as Python source for exported code:
  ``("nn.Conv2d", ["in_channels=1", "out_channels=6", "kernel_size=5"])``.

The palette, property editor, validation, summaries and code export are all
generated from these declarations (see ``docs/ARCHITECTURE.md``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import UserError
from .params import ParamSet, ParamValue
from .shapes import ReceptiveField, Shape

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

Params = dict[str, ParamValue]

#: Palette groups, in the order they are shown.
CATEGORIES: tuple[str, ...] = (
    "Input",
    "Convolution",
    "Pooling",
    "Normalization",
    "Activation",
    "Regularization",
    "Dense",
    "Merge",
)


class LayerKind:
    """Base class of layer-kind declarations. Subclasses set the class attributes."""

    #: Registry key and the name a user sees, e.g. ``"Conv2d"``.
    name: ClassVar[str]
    category: ClassVar[str]
    #: One or two sentences for tooltips and documentation.
    summary: ClassVar[str]
    params: ClassVar[ParamSet] = ParamSet()
    #: Prefix of generated node ids (``conv`` → ``conv1``, ``conv2``).
    id_prefix: ClassVar[str] = "layer"
    min_inputs: ClassVar[int] = 1
    #: ``None`` means any number (merges).
    max_inputs: ClassVar[int | None] = 1
    #: The built module holds learned weights (or statistics): such nodes take the common
    #: training attributes (``frozen``, ``lr_scale``; see ``graph.NODE_ATTRIBUTES``).
    has_weights: ClassVar[bool] = False

    # --- rules -------------------------------------------------------------------
    def output_shape(self, p: Params, inputs: list[Shape]) -> Shape:
        raise NotImplementedError

    def param_count(self, p: Params, inputs: list[Shape]) -> int:
        return 0

    def receptive_field(
        self, p: Params, inputs: list[Shape], fields: list[ReceptiveField]
    ) -> ReceptiveField:
        """Default: an element-wise layer leaves the field unchanged."""
        return fields[0]

    def build(self, p: Params, inputs: list[Shape]) -> nn.Module:
        raise NotImplementedError

    def code(self, p: Params, inputs: list[Shape]) -> tuple[str, list[str]]:
        """``(callable, arguments)`` that build this layer in exported PyTorch code, the same module as
        :meth:`build` (``tests/export`` checks that the exported code gives the built network's outputs).

        Default: ``nn.<name>()`` without arguments (element-wise layers without parameters).
        """
        if self.params.names():
            raise NotImplementedError(f"layer kind {self.name} does not say how to write it as PyTorch code")
        return f"nn.{self.name}", []

    # --- presentation --------------------------------------------------------------
    def key_params_text(self, p: Params) -> str:
        """The parameters shown on a node, e.g. ``"16, 5×5, s1"``."""
        parts = []
        for spec in self.params:
            if spec.key:
                parts.append(f"{spec.label} {p.get(spec.name, spec.default)}")
        return ", ".join(parts)

    @property
    def takes_inputs(self) -> bool:
        return self.max_inputs is None or self.max_inputs > 0

    def arity_text(self) -> str:
        if self.max_inputs is None:
            return f"at least {self.min_inputs} inputs"
        if self.max_inputs == 0:
            return "no inputs"
        if self.min_inputs == self.max_inputs == 1:
            return "1 input"
        return f"{self.min_inputs}–{self.max_inputs} inputs"

    def validate_params(self, values: dict[str, Any]) -> Params:
        return self.params.validate(values)

    def __repr__(self) -> str:
        return f"<LayerKind {self.name}>"


#: A keyword that :func:`code_args` always writes, even when it equals PyTorch's default.
ALWAYS: Any = object()


def code_value(value: ParamValue | int | float) -> str:
    """A parameter value as Python source: ``True``, ``0.5``, ``"same"``, ``3``."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return f'"{value}"'
    return str(int(value))


def code_args(keywords: list[tuple[str, Any, Any]]) -> list[str]:
    """``name=value`` for each ``(name, value, default)``, leaving out values equal to PyTorch's default
    (unless the default is :data:`ALWAYS`)."""
    return [f"{k}={code_value(v)}" for k, v, default in keywords if default is ALWAYS or v != default]


_REGISTRY: dict[str, LayerKind] = {}


def register(cls: type[LayerKind]) -> type[LayerKind]:
    """Class decorator: add a layer kind to the registry (one instance per kind)."""
    if cls.category not in CATEGORIES:
        raise ValueError(f"{cls.__name__}: unknown category {cls.category!r}")
    if cls.name in _REGISTRY:
        raise ValueError(f"layer kind {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls()
    return cls


class UnknownKindError(UserError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


def get_kind(name: str) -> LayerKind:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownKindError(f"unknown layer kind {name!r}") from None


def has_kind(name: str) -> bool:
    _ensure_loaded()
    return name in _REGISTRY


def all_kinds() -> list[LayerKind]:
    """All layer kinds, ordered by palette category, then declaration order."""
    _ensure_loaded()
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return sorted(_REGISTRY.values(), key=lambda k: order[k.category])


def kinds_by_category() -> Iterator[tuple[str, list[LayerKind]]]:
    kinds = all_kinds()
    for cat in CATEGORIES:
        members = [k for k in kinds if k.category == cat]
        if members:
            yield cat, members


def _ensure_loaded() -> None:
    # The declarations live in .layers, which imports this module; import lazily
    # so that `from cnnplayground.core.registry import get_kind` always works.
    from . import layers  # noqa: F401
