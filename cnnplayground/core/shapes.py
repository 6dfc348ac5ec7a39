"""Tensor shapes and receptive-field arithmetic (no tensors involved).

Shapes exclude the batch dimension: a feature map is ``(C, H, W)``, a flat
vector is ``(F,)``.

Receptive fields follow the usual recurrence (Dumoulin & Visin 2016; Araujo et
al., "Computing receptive fields of convolutional neural networks", Distill 2019)
applied per spatial axis. For a layer with kernel ``k``, stride ``s``, dilation
``d`` and padding ``p`` (before the first pixel), with effective kernel
``k' = d (k - 1) + 1``::

    size_out  = size_in + (k' - 1) * jump_in
    jump_out  = jump_in * s
    start_out = start_in + ((k' - 1) / 2 - p) * jump_in

``start`` is the centre of the first output unit's receptive field, in input
pixel coordinates where pixel ``i`` is centred at ``i`` (it can be negative when
the field reaches into the padding). ``size`` and ``jump`` are in input pixels.

Long chains of strided layers multiply the jump without bound (120 layers of
stride 1024 give 2^1200), so sizes, jumps and starts saturate at
:data:`RF_LIMIT` (``±`` for starts): a saturated value means "at least this",
arithmetic stays finite and :meth:`ReceptiveField.describe` shows ``≥2^53``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import UserError

Shape = tuple[int, ...]

#: Receptive-field sizes, jumps and |starts| saturate here (the largest float that
#: still holds every integer exactly); far beyond any image.
RF_LIMIT = 2**53
_RF_LIMIT_TEXT = "≥2^53"


class ShapeError(UserError, ValueError):
    """A layer cannot accept the shape(s) it is given; the message is for the user."""


def format_shape(shape: Shape | None) -> str:
    """``(16, 5, 5)`` → ``"16×5×5"``; ``None`` → ``"?"``."""
    if shape is None:
        return "?"
    return "×".join(str(d) for d in shape)


def numel(shape: Shape) -> int:
    return math.prod(shape)


def is_spatial(shape: Shape) -> bool:
    return len(shape) == 3


def require_spatial(kind: str, shape: Shape, hint: str = "") -> tuple[int, int, int]:
    """Return ``(C, H, W)`` or raise a :class:`ShapeError` that says what to do."""
    if len(shape) != 3:
        msg = f"{kind} expects a C×H×W feature map, got a flat vector of {shape[0]}"
        raise ShapeError(msg + (f": {hint}" if hint else ""))
    return shape[0], shape[1], shape[2]


@dataclass(frozen=True)
class ReceptiveField:
    """Theoretical receptive field of one unit of a layer, per axis ``(h, w)``.

    ``size`` is the side of the input region (in input pixels) that can affect a
    unit; ``jump`` the distance in input pixels between neighbouring units;
    ``start`` the centre of the first unit's region (see module docstring).
    ``flat`` is true once spatial layout is gone (after Flatten): every unit
    then sees the whole region given by ``size``.
    """

    size: tuple[int, int]
    jump: tuple[float, float]
    start: tuple[float, float]
    flat: bool = False

    def __post_init__(self) -> None:
        # Saturate (see the module docstring): every value is finite and at most RF_LIMIT.
        if any(not 0 < v < RF_LIMIT for v in (*self.size, *self.jump)) or any(
            not -RF_LIMIT < v < RF_LIMIT for v in self.start
        ):
            object.__setattr__(self, "size", (_sat_size(self.size[0]), _sat_size(self.size[1])))
            object.__setattr__(self, "jump", (_sat_jump(self.jump[0]), _sat_jump(self.jump[1])))
            object.__setattr__(self, "start", (_sat_start(self.start[0]), _sat_start(self.start[1])))

    @classmethod
    def identity(cls) -> ReceptiveField:
        """The field of an input pixel: itself."""
        return cls(size=(1, 1), jump=(1.0, 1.0), start=(0.0, 0.0))

    def through_kernel(
        self, kernel: int, stride: int | float, dilation: int, padding: tuple[float, float]
    ) -> ReceptiveField:
        """The field after a sliding-window layer. ``padding`` is (top, left)."""
        k_eff = dilation * (kernel - 1) + 1
        size = tuple(_ceil_size(r + (k_eff - 1) * j) for r, j in zip(self.size, self.jump))
        start = tuple(
            st + ((k_eff - 1) / 2 - p) * j for st, j, p in zip(self.start, self.jump, padding)
        )
        jump = tuple(float(j * stride) for j in self.jump)
        return ReceptiveField(size=size, jump=jump, start=start)  # type: ignore[arg-type]

    def over_whole_map(self, height: int, width: int) -> ReceptiveField:
        """The field of a unit that sees a whole ``height × width`` map (global pooling, Flatten)."""
        size = (
            _ceil_size(self.size[0] + (height - 1) * self.jump[0]),
            _ceil_size(self.size[1] + (width - 1) * self.jump[1]),
        )
        start = (
            self.start[0] + (height - 1) / 2 * self.jump[0],
            self.start[1] + (width - 1) / 2 * self.jump[1],
        )
        jump = (self.jump[0] * height, self.jump[1] * width)
        return ReceptiveField(size=size, jump=jump, start=start)

    def as_flat(self) -> ReceptiveField:
        return ReceptiveField(self.size, self.jump, self.start, flat=True)

    def region(self, row: int, col: int) -> tuple[float, float, float, float]:
        """``(top, left, bottom, right)`` of unit ``(row, col)``'s field, inclusive pixel centres."""
        ch = self.start[0] + row * self.jump[0]
        cw = self.start[1] + col * self.jump[1]
        hh = (self.size[0] - 1) / 2
        hw = (self.size[1] - 1) / 2
        return ch - hh, cw - hw, ch + hh, cw + hw

    @property
    def saturated(self) -> bool:
        """True when a size or jump reached :data:`RF_LIMIT` (the true value is at least that)."""
        return any(v >= RF_LIMIT for v in (*self.size, *self.jump))

    def size_text(self) -> str:
        """``"7×7"``; a saturated side prints as ``≥2^53``."""
        return "×".join(_RF_LIMIT_TEXT if v >= RF_LIMIT else str(v) for v in self.size)

    def describe(self) -> str:
        """``"7×7 /2"`` (size and jump); square fields print one number per axis."""
        s = self.size_text()
        j = "×".join(_fmt_jump(x) for x in self.jump)
        if self.jump[0] == self.jump[1]:
            j = _fmt_jump(self.jump[0])
        return f"{s} /{j}"


def union(fields: list[ReceptiveField]) -> ReceptiveField:
    """Field of a unit combining several branches (Add, Concat): the union of their regions."""
    if len(fields) == 1:
        return fields[0]
    size: list[int] = []
    start: list[float] = []
    jump: list[float] = []
    for axis in range(2):
        lo = min(f.start[axis] - (f.size[axis] - 1) / 2 for f in fields)
        hi = max(f.start[axis] + (f.size[axis] - 1) / 2 for f in fields)
        size.append(_ceil_size(hi - lo + 1))
        start.append((lo + hi) / 2)
        jump.append(max(f.jump[axis] for f in fields))
    return ReceptiveField(
        size=(size[0], size[1]),
        jump=(jump[0], jump[1]),
        start=(start[0], start[1]),
        flat=any(f.flat for f in fields),
    )


def _ceil_size(x: float) -> int:
    # Sizes are whole pixels; tolerate float noise from fractional jumps.
    if not x < RF_LIMIT:  # also inf and NaN
        return RF_LIMIT
    return int(math.ceil(x - 1e-9))


def _sat_size(x: float) -> int:
    if not x < RF_LIMIT:  # also NaN
        return RF_LIMIT
    return max(1, int(x))


def _sat_jump(x: float) -> float:
    if not x < RF_LIMIT:  # also NaN
        return float(RF_LIMIT)
    return x if x > 0 else 1.0


def _sat_start(x: float) -> float:
    if math.isnan(x):
        return 0.0
    return float(min(max(x, -RF_LIMIT), RF_LIMIT))


def _fmt_jump(x: float) -> str:
    if x >= RF_LIMIT:
        return _RF_LIMIT_TEXT
    return str(int(x)) if float(x).is_integer() else f"{x:.3g}"
