"""Long metric curves in bounded size: the one decimation rule of the app.

A curve of many points becomes at most ``limit`` points, each the mean of the finite values
of an equal run of consecutive points, at the x of the run's last point (so the last point of
a curve stays where training ended). :func:`bucket_means` does it once for a whole curve (a
run's record); :class:`GrowingCurve` does it incrementally for a live curve.

numpy only (no torch, no Qt): ``import cnnplayground.project`` does not load this module.
"""

from __future__ import annotations

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


