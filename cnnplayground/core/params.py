"""Typed, range-checked layer parameters.

A :class:`ParamSpec` describes one parameter of a layer kind (``kernel_size``,
``out_channels``, ...). The same description drives validation of project
files, the property editor, tooltips and generated code, so a parameter is
declared exactly once, next to the layer kind that owns it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import UserError

ParamType = Literal["int", "float", "bool", "choice", "padding"]

#: Values a parameter may hold once validated.
ParamValue = int | float | bool | str


class ParamError(UserError, ValueError):
    """A parameter value is out of range or of the wrong type."""


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a layer kind.

    ``type`` is one of:

    - ``"int"`` / ``"float"``: numbers limited to ``[minimum, maximum]``;
    - ``"bool"``;
    - ``"choice"``: one of ``choices`` (strings);
    - ``"padding"``: a non-negative int, or the string ``"same"`` / ``"valid"``.
    """

    name: str
    type: ParamType
    default: ParamValue
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    label: str = ""
    #: Shown on the node in the canvas (the parameters a user reads at a glance).
    key: bool = False

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " "))
        # A declaration whose own default is invalid is a programming error.
        self.validate(self.default)

    def validate(self, value: Any) -> ParamValue:
        """Return ``value`` coerced to this parameter's type, or raise :class:`ParamError`.

        The message names the parameter and the rule it breaks, so it can be shown
        to a user as it is.
        """
        name = self.name
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            raise ParamError(f"{name} must be true or false, got {_show(value)}")
        if self.type == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            raise ParamError(f"{name} must be one of {', '.join(self.choices)}; got {_show(value)}")
        if self.type == "padding":
            if isinstance(value, str):
                if value in ("same", "valid"):
                    return value
                raise ParamError(f"{name} must be a number of pixels, 'same' or 'valid'; got {_show(value)}")
            return self._validate_number(value, integer=True)
        if self.type == "int":
            return self._validate_number(value, integer=True)
        return self._validate_number(value, integer=False)

    def _validate_number(self, value: Any, *, integer: bool) -> int | float:
        name = self.name
        # bool is an int subclass in Python; True as a kernel size is a mistake.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a whole number" if integer else "a number"
            raise ParamError(f"{name} must be {kind}, got {_show(value)}")
        if integer:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ParamError(f"{name} must be a whole number, got {value!r}")
                value = int(value)
        else:
            try:
                as_float = float(value)
            except OverflowError:
                # An int beyond float range (10**400 in a file): say which bound it breaks.
                got = "a number too large to use" if value > 0 else "a negative number too large to use"
                if value > 0 and self.maximum is not None:
                    raise ParamError(f"{name} must be at most {_fmt(self.maximum)}, got {got}") from None
                if value < 0 and self.minimum is not None:
                    raise ParamError(f"{name} must be at least {_fmt(self.minimum)}, got {got}") from None
                raise ParamError(f"{name} must be a finite number, got {got}") from None
            value = as_float
            if not math.isfinite(value):
                raise ParamError(f"{name} must be a finite number, got {value!r}")
        if self.minimum is not None and value < self.minimum:
            raise ParamError(f"{name} must be at least {_fmt(self.minimum)}, got {_fmt(value)}")
        if self.maximum is not None and value > self.maximum:
            raise ParamError(f"{name} must be at most {_fmt(self.maximum)}, got {_fmt(value)}")
        return value

    def describe_range(self) -> str:
        """A short human description of the allowed values, for tooltips."""
        if self.type == "bool":
            return "true or false"
        if self.type == "choice":
            return " | ".join(self.choices)
        lo = "-∞" if self.minimum is None else _fmt(self.minimum)
        hi = "∞" if self.maximum is None else _fmt(self.maximum)
        text = f"{lo} … {hi}"
        if self.type == "padding":
            text += ", 'same' or 'valid'"
        return text


#: Integers with more digits than this are described, not printed ("a 401-digit number").
MAX_SHOWN_DIGITS = 20
#: Text longer than this is cut in messages.
MAX_SHOWN_TEXT = 40


def _fmt(x: float) -> str:
    if isinstance(x, int):
        return _fmt_int(x)
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}"


def _fmt_int(n: int) -> str:
    """``str(n)``, or ``"a 401-digit number"`` when ``n`` is too long to be worth printing."""
    if abs(n) < 10**MAX_SHOWN_DIGITS:
        return str(n)
    # str() of a huge int is slow and may exceed Python's digit limit: count digits arithmetically.
    m = abs(n)
    digits = max(1, int((m.bit_length() - 1) * math.log10(2)))
    while m >= 10**digits:
        digits += 1
    while digits > 1 and m < 10 ** (digits - 1):
        digits -= 1
    return f"a {'negative ' if n < 0 else ''}{digits}-digit number"


def _show(value: Any) -> str:
    """A value as a message shows it: ``repr``, with huge numbers and long text shortened."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _fmt_int(value)
    if isinstance(value, str) and len(value) > MAX_SHOWN_TEXT:
        return repr(value[:MAX_SHOWN_TEXT]) + "…"
    text = repr(value)
    if len(text) > 2 * MAX_SHOWN_TEXT:
        return f"a {type(value).__name__}"
    return text


@dataclass(frozen=True)
class ParamSet:
    """The ordered parameter declarations of one layer kind."""

    specs: tuple[ParamSpec, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def get(self, name: str) -> ParamSpec | None:
        for s in self.specs:
            if s.name == name:
                return s
        return None

    def defaults(self) -> dict[str, ParamValue]:
        return {s.name: s.default for s in self.specs}

    def validate(self, values: dict[str, Any]) -> dict[str, ParamValue]:
        """Fill defaults, coerce and range-check; refuse unknown names."""
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            allowed = ", ".join(self.names()) or "none"
            raise ParamError(f"unknown parameter {unknown[0]!r} (allowed: {allowed})")
        out: dict[str, ParamValue] = {}
        for spec in self.specs:
            out[spec.name] = spec.validate(values[spec.name]) if spec.name in values else spec.default
        return out
