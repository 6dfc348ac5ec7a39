"""Long metric curves in bounded size: the one decimation rule of the app.

A curve of many points becomes at most ``limit`` points, each the mean of the finite values
of an equal run of consecutive points, at the x of the run's last point (so the last point of
a curve stays where training ended). :func:`bucket_means` does it once for a whole curve (a
run's record); :class:`GrowingCurve` does it incrementally for a live curve.

numpy only (no torch, no Qt): ``import cnnplayground.project`` does not load this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def bucket_means(x: list[float], y: Sequence[float | None], limit: int) -> tuple[list[float], list[float | None]]:
    """At most ``limit`` points: means of equal runs of consecutive points (NaNs and ``None`` ignored)."""
    if len(x) <= limit:
        return x, list(y)
    edges = np.linspace(0, len(x), limit + 1).astype(int)
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    finite = np.isfinite(ys)
    sums = np.add.reduceat(np.where(finite, ys, 0.0), edges[:-1])
    counts = np.add.reduceat(finite.astype(float), edges[:-1])
    means = np.divide(sums, counts, out=np.full(limit, np.nan), where=counts > 0)
    return xs[edges[1:] - 1].tolist(), [float(v) if np.isfinite(v) else None for v in means]




class GrowingCurve:
    """A live curve in bounded memory: x/y float64 arrays that grow by doubling (appending a batch
    copies only the batch); :meth:`data` returns views of the filled part.

    At most ``limit`` points (made even), each standing for ``stride`` appended points. When full,
    neighbouring pairs are merged (mean, at the later x) and the stride doubles; appended points are
    then averaged in groups of ``stride`` (at the group's last x), so every point of a long curve
    stands for as many appended points as any other, and the mean of the points is the mean of what
    was appended. The group being filled is shown as one more point (:meth:`data`), so a live curve
    always reaches the latest x.

    ``ignore_nan``: means of the finite values only (a group without any is NaN), as the plots and
    :func:`bucket_means` take them; False: plain means (a NaN makes its group's mean NaN).
    """

    __slots__ = ("_group", "ignore_nan", "limit", "n", "stride", "x", "y")

    def __init__(self, limit: int, capacity: int = 256, ignore_nan: bool = True) -> None:
        self.limit = max(limit - limit % 2, 2)
        self.ignore_nan = ignore_nan
        self.x = np.empty(min(capacity, self.limit + 1))
        self.y = np.empty(min(capacity, self.limit + 1))
        self.n = 0  # points held (not counting the group being filled)
        self.stride = 1
        # points, counted points, their sum, last x: the group being filled
        self._group: list[float] = [0, 0, 0.0, 0.0]

    @property
    def capacity(self) -> int:
        """The points the arrays have room for now (at most ``limit + 1``)."""
        return len(self.x)

    @property
    def pending(self) -> int:
        """How many appended points the group being filled holds (0: none)."""
        return int(self._group[0])

    def extend(self, x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float | None]) -> None:
        """Append points (``x`` increasing, after the last one)."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        i, m = 0, len(x)
        while i < m:
            if self.stride == 1:
                take = min(m - i, self.limit - self.n)
                self._put(x[i : i + take], y[i : i + take])
                i += take
            else:
                group, s = self._group, self.stride
                if group[0]:  # complete the group being filled first
                    take = min(s - int(group[0]), m - i)
                    self._add_to_group(x[i : i + take], y[i : i + take])
                    i += take
                    if group[0] == s:
                        self._put_group()
                full = min((m - i) // s, self.limit - self.n)
                if full:
                    xs = x[i : i + full * s].reshape(full, s)
                    ys = y[i : i + full * s].reshape(full, s)
                    counted = self._counted(ys)
                    count = counted.sum(axis=1)
                    total = np.where(counted, ys, 0.0).sum(axis=1)
                    self._put(xs[:, -1], np.divide(total, count, out=np.full(full, np.nan), where=count > 0))
                    i += full * s
                elif i < m and self.n < self.limit:  # fewer than a group left: it starts the next one
                    self._add_to_group(x[i:], y[i:])
                    i = m
            if self.n >= self.limit:
                self._halve()

    def data(self) -> tuple[np.ndarray, np.ndarray]:
        """Views of x and y: every point, then the group being filled as one more."""
        n = self.n
        points, counted, total, last_x = self._group
        if not points:
            return self.x[:n], self.y[:n]
        self._grow(n + 1)
        self.x[n], self.y[n] = last_x, total / counted if counted else math.nan
        return self.x[: n + 1], self.y[: n + 1]

    def _counted(self, y: np.ndarray) -> np.ndarray:
        return np.isfinite(y) if self.ignore_nan else np.ones(y.shape, dtype=bool)

    def _add_to_group(self, x: np.ndarray, y: np.ndarray) -> None:
        counted = self._counted(y)
        group = self._group
        group[0] += len(x)
        group[1] += int(counted.sum())
        group[2] += float(y[counted].sum())
        group[3] = float(x[-1])

    def _put_group(self) -> None:
        _, counted, total, last_x = self._group
        self._group = [0, 0, 0.0, 0.0]
        self._put(np.array([last_x]), np.array([total / counted if counted else math.nan]))

    def _grow(self, size: int) -> None:
        if size > len(self.x):
            capacity = min(max(size, 2 * len(self.x)), self.limit + 1)
            for name in ("x", "y"):
                grown = np.empty(capacity)
                grown[: self.n] = getattr(self, name)[: self.n]
                setattr(self, name, grown)

    def _put(self, x: np.ndarray, y: np.ndarray) -> None:
        end = self.n + len(x)
        self._grow(end)
        self.x[self.n : end] = x
        self.y[self.n : end] = y
        self.n = end

    def _halve(self) -> None:
        """Merge neighbouring pairs (mean, at the later x); the stride doubles.

        Into new arrays: a plot's curve may still hold views of the old ones until its next ``setData``.
        """
        k, odd = divmod(self.n, 2)  # n is the (even) limit here; an odd last point would stay as it is
        a, b = self.y[0 : 2 * k : 2], self.y[1 : 2 * k : 2]
        fa, fb = self._counted(a), self._counted(b)
        total = np.where(fa, a, 0.0) + np.where(fb, b, 0.0)
        count = fa.astype(float) + fb
        x, y = np.empty(len(self.x)), np.empty(len(self.y))
        x[:k] = self.x[1 : 2 * k : 2]
        y[:k] = np.divide(total, count, out=np.full(k, np.nan), where=count > 0)
        if odd:
            x[k], y[k] = self.x[2 * k], self.y[2 * k]
        self.x, self.y, self.n = x, y, k + odd
        self.stride *= 2
