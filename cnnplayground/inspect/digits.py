"""A hand-drawn digit prepared the way MNIST's digits were (LeCun et al. 1998).

MNIST's digits were scaled, keeping their aspect ratio, to fit a 20×20 box, then placed in the
28×28 field so that their centre of mass lies at its centre. A digit drawn in a corner of the
Feature Maps canvas, or drawn small, goes through the same steps before the network sees it.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (torch's usual name)


def center_of_mass(image: np.ndarray) -> tuple[float, float]:
    """``(row, column)`` of the intensity-weighted centre of an ``(H, W)`` image, in pixel indices."""
    a = np.asarray(image, dtype=np.float64)
    total = a.sum()
    if total <= 0:
        return (a.shape[0] - 1) / 2, (a.shape[1] - 1) / 2
    rows, cols = np.indices(a.shape)
    return float((rows * a).sum() / total), float((cols * a).sum() / total)


def center_digit(image: np.ndarray, box: int | None = None, threshold: float = 0.02) -> np.ndarray:
    """Scale and centre a drawn digit as MNIST's were.

    ``image``: ``(H, W)`` floats in ``[0, 1]`` (ink bright). The ink's bounding box (pixels above
    ``threshold``) is scaled, aspect ratio kept, so that its longer side is ``box`` pixels (default
    20/28 of the shorter side of the image: 20 for 28×28), with area averaging (antialiased); the
    result is shifted by whole pixels so that its centre of mass lies within half a pixel of
    ``(H/2, W/2)`` (``(14, 14)`` for 28×28, the convention of MNIST's own preprocessing). An empty
    drawing comes back unchanged. Returns a new ``(H, W)`` float32 array in ``[0, 1]``.
    """
    a = np.clip(np.asarray(image, dtype=np.float32), 0.0, 1.0)
    h, w = a.shape
    rows, cols = np.nonzero(a > threshold)
    if not len(rows):
        return a.copy()
    box = box if box is not None else max(1, round(min(h, w) * 20 / 28))
    ink = a[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    ih, iw = ink.shape
    scale = box / max(ih, iw)
    nh, nw = max(1, min(h, round(ih * scale))), max(1, min(w, round(iw * scale)))
    scaled = F.interpolate(torch.from_numpy(np.ascontiguousarray(ink))[None, None], size=(nh, nw),
                           mode="bilinear", align_corners=False, antialias=True)[0, 0].numpy()
    out = np.zeros((h, w), dtype=np.float32)
    top, left = (h - nh) // 2, (w - nw) // 2
    out[top:top + nh, left:left + nw] = scaled
    cy, cx = center_of_mass(out)
    dy, dx = round(h / 2 - cy), round(w / 2 - cx)
    # Shift without wrapping around: rows and columns pushed past an edge are dropped (ink near an
    # edge only when a very lopsided digit's mass is far from its box's middle).
    shifted = np.zeros_like(out)
    src = out[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    shifted[max(0, dy):max(0, dy) + src.shape[0], max(0, dx):max(0, dx) + src.shape[1]] = src
    return np.clip(shifted, 0.0, 1.0)
