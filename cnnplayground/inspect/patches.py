"""Top dataset patches: the images (and their receptive-field crops) that excite a channel most.

One pass over the images in batches computes, for each image, the channel's largest
activation and where it is; :func:`top_patches` is a generator reporting progress between
batches, so the pass can be cancelled. The crop is the theoretical receptive field of the
most active unit, clipped to the image.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..core.inference import InferenceResult
from ..data.augment import normalize
from .receptive import theoretical_region


@dataclass(frozen=True)
class TopPatches:
    """The ``k`` strongest images: indices into the images given, their peak values and peak units."""

    indices: np.ndarray  # (k,)
    values: np.ndarray  # (k,), best first
    positions: np.ndarray  # (k, 2) row, col of the peak unit (0, 0 for flat outputs)

    def crops(self, result: InferenceResult, layer: str, images: np.ndarray) -> list[np.ndarray]:
        """Each image's receptive-field crop around its peak unit, ``(C, h, w)``."""
        out = []
        for index, (row, col) in zip(self.indices, self.positions):
            image = images[int(index)]
            region = theoretical_region(result, layer, int(row), int(col), image.shape[1:])
            if region is None:
                out.append(image[:, :0, :0])
                continue
            top, left, bottom, right = region
            out.append(image[:, top:bottom + 1, left:right + 1])
        return out


@torch.no_grad()
def top_patches(model, images01: torch.Tensor, mean: Sequence[float], std: Sequence[float], layer: str,
                channel: int, k: int = 16, batch_size: int = 256) -> Iterator[tuple[float, TopPatches]]:
    """Yield ``(fraction done, best k so far)`` after each batch of ``images01`` (``(N, C, H, W)`` in [0, 1])."""
    peaks, rows, cols = [], [], []
    n = len(images01)
    for start in range(0, n, batch_size):
        out = model.forward_all(normalize(images01[start:start + batch_size].float(), mean, std))[layer]
        maps = out[:, channel]
        if maps.dim() == 1:  # a flat output: the unit itself
            peaks.append(maps)
            rows.append(torch.zeros_like(maps, dtype=torch.long))
            cols.append(torch.zeros_like(maps, dtype=torch.long))
        else:
            flat = maps.flatten(1)
            value, where = flat.max(dim=1)
            peaks.append(value)
            rows.append(where // maps.shape[2])
            cols.append(where % maps.shape[2])
        all_peaks = torch.cat(peaks)
        order = torch.argsort(all_peaks, descending=True, stable=True)[:k]
        positions = torch.stack([torch.cat(rows)[order], torch.cat(cols)[order]], dim=1)
        yield min(1.0, (start + batch_size) / n), TopPatches(order.numpy(), all_peaks[order].numpy(),
                                                             positions.numpy())
