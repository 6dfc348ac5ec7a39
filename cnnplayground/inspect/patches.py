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
from ..core.progress import Progress, report
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
                channel: int, k: int = 16, batch_size: int = 256,
                progress: Progress | None = None) -> Iterator[tuple[float, TopPatches]]:
    """Yield ``(fraction done, best k so far)`` after each batch of ``images01`` (``(N, C, H, W)`` in [0, 1]);
    ``progress`` is told each batch and stops the search when cancelled."""
    peaks, rows, cols = [], [], []
    n = len(images01)
    for start in range(0, n, batch_size):
        report(progress, start / n)
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


@dataclass(frozen=True)
class LayerPeaks:
    """Every channel's peak on every image of one layer: the whole pass, so any channel's top k is a sort away.

    A panel computes this once per weight snapshot and layer, then switching channels costs nothing.
    """

    values: np.ndarray  # (N, K) float32: channel k's largest activation on image n
    rows: np.ndarray  # (N, K) row of that peak (0 for flat layers)
    cols: np.ndarray  # (N, K)

    @property
    def channels(self) -> int:
        return int(self.values.shape[1])

    def constant(self, channel: int) -> bool:
        """Whether ``channel`` peaks at the same value on every image (a ReLU channel that never fires: 0
        everywhere), so that its "top" images are merely the first ones."""
        column = self.values[:, channel]
        return not column.size or float(column.max()) == float(column.min())

    def strongest_channel(self) -> int:
        """The channel with the largest activation over all images (the first, on a tie)."""
        return int(np.argmax(self.values.max(axis=0))) if self.values.size else 0

    def top(self, channel: int, k: int = 16) -> TopPatches:
        """Channel ``channel``'s ``k`` strongest images, best first (ties: the earlier image)."""
        column = self.values[:, channel]
        order = np.argsort(-column, kind="stable")[:k]
        positions = np.stack([self.rows[order, channel], self.cols[order, channel]], axis=1)
        return TopPatches(order, column[order], positions)


@torch.no_grad()
def layer_peaks(model, images01: torch.Tensor, mean: Sequence[float], std: Sequence[float], layer: str,
                batch_size: int = 256, progress: Progress | None = None) -> Iterator[tuple[float, LayerPeaks | None]]:
    """Yield ``(fraction done, None)`` after each batch, then ``(1.0, LayerPeaks)`` for all of ``images01``
    (``progress`` is told each batch and stops the pass when cancelled).

    ``images01`` may be uint8 (0..255) or floats in [0, 1]; batches are moved to the model's device.
    """
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    values, rows, cols = [], [], []
    n = len(images01)
    for start in range(0, n, batch_size):
        report(progress, start / n)
        batch = images01[start:start + batch_size].to(device)
        batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        out = model.forward_all(normalize(batch, mean, std))[layer].float()
        if out.dim() == 2:  # a flat output: each unit is a channel
            values.append(out.cpu())
            rows.append(torch.zeros(out.shape, dtype=torch.int32))
            cols.append(torch.zeros(out.shape, dtype=torch.int32))
        else:
            value, where = out.flatten(2).max(dim=2)
            values.append(value.cpu())
            rows.append((where // out.shape[3]).to(torch.int32).cpu())
            cols.append((where % out.shape[3]).to(torch.int32).cpu())
        if start + batch_size < n:
            yield (start + batch_size) / n, None
    yield 1.0, LayerPeaks(torch.cat(values).numpy(), torch.cat(rows).numpy(), torch.cat(cols).numpy())
