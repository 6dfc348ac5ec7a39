"""The built-in synthetic image dataset: always available, no download.

Ten classes of shapes, strokes and textures drawn with random position, scale,
rotation, contrast and noise, so that a convolutional net has real work to do
(a linear model on raw pixels does clearly worse) and the first layer learns
edge, bar and frequency detectors worth looking at.

Generation is vectorized over the whole batch (no per-image Python) and fully
determined by the seed: 12,000 28×28 images take a fraction of a second on CPU.
"""

from __future__ import annotations

import math

import torch

CLASS_NAMES: tuple[str, ...] = (
    "ring",
    "disk",
    "square",
    "triangle",
    "plus",
    "cross",
    "h-stripes",
    "v-stripes",
    "checker",
    "dots",
)


def make_synthetic(
    n: int,
    *,
    size: int = 28,
    channels: int = 1,
    seed: int = 0,
    noise: float = 0.08,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``n`` labelled images.

    Returns ``images`` of shape ``(n, channels, size, size)``, float32 in ``[0, 1]``,
    and ``labels`` of shape ``(n,)``, int64 in ``[0, 10)`` (balanced: label ``i % 10``
    then shuffled). ``channels`` is 1 (grey) or 3 (random foreground and background
    colours per image). ``noise`` is the std of added Gaussian pixel noise.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if n < 0 or size < 8:
        raise ValueError(f"need n >= 0 and size >= 8, got n={n}, size={size}")
    g = torch.Generator().manual_seed(seed)
    k = len(CLASS_NAMES)
    labels = (torch.arange(n) % k)[torch.randperm(n, generator=g)]

    def rand(*shape: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    # Pixel grid in [-1, 1], then per image: shift, rotate, scale.
    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")  # (S, S)
    cx, cy = rand(n, 1, 1, lo=-0.3, hi=0.3), rand(n, 1, 1, lo=-0.3, hi=0.3)
    theta = rand(n, 1, 1, lo=-math.pi, hi=math.pi)
    # Classes defined by orientation (plus vs cross, horizontal vs vertical
    # stripes) turn by at most ±20° so they stay distinct.
    oriented = ((labels == 4) | (labels == 5) | (labels == 6) | (labels == 7)).view(n, 1, 1)
    theta = torch.where(oriented, theta * (20 / 180), theta)
    cos, sin = torch.cos(theta), torch.sin(theta)
    dx, dy = xx - cx, yy - cy
    u = cos * dx + sin * dy
    v = -sin * dx + cos * dy
    r = rand(n, 1, 1, lo=0.35, hi=0.65)  # shape radius
    w = rand(n, 1, 1, lo=0.08, hi=0.14)  # stroke half-width
    freq = rand(n, 1, 1, lo=2.5, hi=4.5) * math.pi  # texture frequency (periods per image ×π)
    phase = rand(n, 1, 1, lo=0.0, hi=2 * math.pi)

    rho = torch.sqrt(u * u + v * v)
    masks = torch.zeros(n, size, size)
    for label in range(k):
        sel = labels == label
        if not sel.any():
            continue
        uu, vv, rr, ww, rh, fq, ph = u[sel], v[sel], r[sel], w[sel], rho[sel], freq[sel], phase[sel]
        if label == 0:  # ring
            m = (rh - rr * 0.8).abs() < ww
        elif label == 1:  # disk
            m = rh < rr * 0.85
        elif label == 2:  # square
            m = torch.maximum(uu.abs(), vv.abs()) < rr * 0.75
        elif label == 3:  # triangle (three half-planes of an equilateral triangle)
            m = torch.ones_like(uu, dtype=torch.bool)
            for a in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 + 4 * math.pi / 3):
                m &= (uu * math.cos(a) + vv * math.sin(a)) < rr * 0.45
        elif label == 4:  # plus
            m = ((uu.abs() < ww) & (vv.abs() < rr)) | ((vv.abs() < ww) & (uu.abs() < rr))
        elif label == 5:  # cross (a plus turned 45°)
            a, b = (uu + vv) * math.sqrt(0.5), (uu - vv) * math.sqrt(0.5)
            m = ((a.abs() < ww) & (b.abs() < rr)) | ((b.abs() < ww) & (a.abs() < rr))
        elif label == 6:  # horizontal stripes
            m = torch.sin(vv * fq + ph) > 0
        elif label == 7:  # vertical stripes
            m = torch.sin(uu * fq + ph) > 0
        elif label == 8:  # checkerboard
            m = torch.sin(uu * fq * 0.8 + ph) * torch.sin(vv * fq * 0.8 + ph) > 0
        else:  # dots on a grid
            m = (torch.cos(uu * fq + ph) > 0.6) & (torch.cos(vv * fq + ph) > 0.6)
        masks[sel] = m.float()

    # Soften edges a little (one 3×3 box blur) so the images are not pure binary.
    blurred = torch.nn.functional.avg_pool2d(masks.unsqueeze(1), 3, stride=1, padding=1, count_include_pad=False)
    if channels == 1:
        fg = rand(n, 1, 1, 1, lo=0.6, hi=1.0)
        bg = rand(n, 1, 1, 1, lo=0.0, hi=0.3)
    else:
        fg = rand(n, 3, 1, 1, lo=0.0, hi=1.0)
        bg = rand(n, 3, 1, 1, lo=0.0, hi=1.0)
        # Keep enough contrast between foreground and background colours.
        too_close = (fg - bg).abs().sum(1, keepdim=True) < 0.6
        fg = torch.where(too_close, 1 - bg, fg)
    images = bg + (fg - bg) * blurred
    images = images + noise * torch.randn(images.shape, generator=g)
    return images.clamp_(0, 1).contiguous(), labels
