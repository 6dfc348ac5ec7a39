"""Occlusion sensitivity (Zeiler & Fergus 2014): how the class probability drops when a patch is hidden.

A grey (here: ``fill``) square slides over the image; at each position the network's
probability of the target class is recorded. Low values mark the regions the decision
depends on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..core.progress import Progress, report


@dataclass(frozen=True)
class OcclusionMap:
    """``probability[i, j]``: target-class probability with the patch at ``(rows[i], cols[j])`` (top-left)."""

    probability: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    baseline: float
    patch: int

    def heat(self, height: int, width: int) -> np.ndarray:
        """Per pixel: the mean drop in probability (baseline − occluded) over the patches covering it.

        Positions not computed yet (NaN probability, while the map is in progress) count for nothing.
        Summed with a 2-D difference array: O(pixels + positions), cheap enough to redraw per batch.
        """
        rows, cols = np.meshgrid(np.asarray(self.rows), np.asarray(self.cols), indexing="ij")
        drop = self.baseline - np.asarray(self.probability, dtype=float)
        done = ~np.isnan(drop)
        r, c, v = rows[done], cols[done], drop[done]
        p = self.patch
        total = np.zeros((height + p + 1, width + p + 1))
        count = np.zeros_like(total)
        for grid, value in ((total, v), (count, np.ones_like(v))):
            np.add.at(grid, (r, c), value)
            np.add.at(grid, (r + p, c), -value)
            np.add.at(grid, (r, c + p), -value)
            np.add.at(grid, (r + p, c + p), value)
        total = total.cumsum(0).cumsum(1)[:height, :width]
        count = np.rint(count.cumsum(0).cumsum(1)[:height, :width])
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


def _positions(n: int, patch: int, stride: int) -> np.ndarray:
    last = max(n - patch, 0)
    positions = list(range(0, last + 1, stride))
    if positions[-1] != last:
        positions.append(last)  # the last patch touches the border
    return np.asarray(positions)


@torch.no_grad()
def occlusion_steps(model, image: torch.Tensor, target: int, patch: int = 7, stride: int = 2,
                    fill: float = 0.0, batch_size: int = 64,
                    progress: Progress | None = None) -> Iterator[tuple[float, OcclusionMap]]:
    """Compute the map in batches, yielding ``(fraction done, map so far)`` (cancellable between batches;
    ``progress`` is told each batch and stops the loop when cancelled: :class:`~..core.progress.Cancelled`).

    ``image``: one normalized ``(C, H, W)`` input; ``fill``: the value of the patch in normalized
    units (0 = the training mean: "grey").
    """
    if image.dim() != 3:
        raise ValueError(f"need one (C, H, W) image, got shape {tuple(image.shape)}")
    _, h, w = image.shape
    if not 1 <= patch <= min(h, w) or stride < 1:
        raise ValueError(f"the patch must fit the {h}×{w} image and the stride be at least 1")
    rows, cols = _positions(h, patch, stride), _positions(w, patch, stride)
    x = image.float()
    baseline = float(torch.softmax(model(x[None]).float(), dim=1)[0, target])
    probability = np.full((len(rows), len(cols)), np.nan)
    places = [(i, j) for i in range(len(rows)) for j in range(len(cols))]
    for start in range(0, len(places), batch_size):
        report(progress, start / len(places))
        chunk = places[start:start + batch_size]
        batch = x.repeat(len(chunk), 1, 1, 1)
        for k, (i, j) in enumerate(chunk):
            batch[k, :, rows[i]:rows[i] + patch, cols[j]:cols[j] + patch] = fill
        p = torch.softmax(model(batch).float(), dim=1)[:, target].cpu().numpy()
        for k, (i, j) in enumerate(chunk):
            probability[i, j] = p[k]
        done = (start + len(chunk)) / len(places)
        yield done, OcclusionMap(probability.copy(), rows, cols, baseline, patch)


def occlusion_map(model, image: torch.Tensor, target: int, patch: int = 7, stride: int = 2,
                  fill: float = 0.0, batch_size: int = 64) -> OcclusionMap:
    """The whole :class:`OcclusionMap` (see :func:`occlusion_steps`)."""
    *_, (_, last) = occlusion_steps(model, image, target, patch, stride, fill, batch_size)
    return last
