"""The built-in synthetic dataset."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.data.synthetic import CLASS_NAMES, make_synthetic


@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_shapes_range_balance_and_determinism(channels, size):
    x, y = make_synthetic(500, size=size, channels=channels, seed=3)
    assert x.shape == (500, channels, size, size) and x.dtype == torch.float32
    assert y.shape == (500,) and y.dtype == torch.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert torch.bincount(y, minlength=10).tolist() == [50] * 10
    x2, y2 = make_synthetic(500, size=size, channels=channels, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x3, _ = make_synthetic(500, size=size, channels=channels, seed=4)
    assert not torch.equal(x, x3)


def test_classes_differ_in_their_mean_image():
    x, y = make_synthetic(2000, seed=0, noise=0.0)
    means = torch.stack([x[y == c].mean(0).flatten() for c in range(len(CLASS_NAMES))])
    # Every pair of class-mean images differs clearly (no two classes are the same picture).
    d = torch.cdist(means, means) + torch.eye(len(CLASS_NAMES)) * 1e3
    assert d.min() > 0.5


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        make_synthetic(10, channels=2)
    with pytest.raises(ValueError, match="size >= 8"):
        make_synthetic(10, size=4)


def _reference(n: int, size: int, channels: int, seed: int, noise: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The straightforward (slow) formulation of the generator: full-size u, v, rho and
    boolean-indexed classes; the same random draws in the same order."""
    import math

    g = torch.Generator().manual_seed(seed)
    labels = (torch.arange(n) % 10)[torch.randperm(n, generator=g)]

    def rand(*shape, lo=0.0, hi=1.0):
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    cx, cy = rand(n, 1, 1, lo=-0.3, hi=0.3), rand(n, 1, 1, lo=-0.3, hi=0.3)
    theta = rand(n, 1, 1, lo=-math.pi, hi=math.pi)
    oriented = ((labels >= 4) & (labels <= 7)).view(n, 1, 1)
    theta = torch.where(oriented, theta * (20 / 180), theta)
    cos, sin = torch.cos(theta), torch.sin(theta)
    u = cos * (xx - cx) + sin * (yy - cy)
    v = -sin * (xx - cx) + cos * (yy - cy)
    r, w = rand(n, 1, 1, lo=0.35, hi=0.65), rand(n, 1, 1, lo=0.08, hi=0.14)
    fq, ph = rand(n, 1, 1, lo=2.5, hi=4.5) * math.pi, rand(n, 1, 1, lo=0.0, hi=2 * math.pi)
    rho = torch.sqrt(u * u + v * v)
    a, b = (u + v) * math.sqrt(0.5), (u - v) * math.sqrt(0.5)
    tri = torch.ones_like(u, dtype=torch.bool)
    for angle in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 + 4 * math.pi / 3):
        tri &= (u * math.cos(angle) + v * math.sin(angle)) < r * 0.45
    shapes = [
        (rho - r * 0.8).abs() < w,
        rho < r * 0.85,
        torch.maximum(u.abs(), v.abs()) < r * 0.75,
        tri,
        ((u.abs() < w) & (v.abs() < r)) | ((v.abs() < w) & (u.abs() < r)),
        ((a.abs() < w) & (b.abs() < r)) | ((b.abs() < w) & (a.abs() < r)),
        torch.sin(v * fq + ph) > 0,
        torch.sin(u * fq + ph) > 0,
        torch.sin(u * fq * 0.8 + ph) * torch.sin(v * fq * 0.8 + ph) > 0,
        (torch.cos(u * fq + ph) > 0.6) & (torch.cos(v * fq + ph) > 0.6),
    ]
    masks = torch.stack(shapes)[labels, torch.arange(n)].float()
    blurred = torch.nn.functional.avg_pool2d(masks.unsqueeze(1), 3, stride=1, padding=1, count_include_pad=False)
    if channels == 1:
        fg, bg = rand(n, 1, 1, 1, lo=0.6, hi=1.0), rand(n, 1, 1, 1, lo=0.0, hi=0.3)
    else:
        fg, bg = rand(n, 3, 1, 1), rand(n, 3, 1, 1)
        fg = torch.where((fg - bg).abs().sum(1, keepdim=True) < 0.6, 1 - bg, fg)
    images = bg + (fg - bg) * blurred + noise * torch.randn((n, channels, size, size), generator=g)
    return images.clamp(0, 1), labels


@pytest.mark.parametrize(("channels", "size", "noise"), [(1, 28, 0.08), (3, 32, 0.08), (1, 9, 0.0)])
def test_fast_generator_matches_the_plain_formulas(channels, size, noise):
    x, y = make_synthetic(600, size=size, channels=channels, seed=11, noise=noise)
    ref_x, ref_y = _reference(600, size, channels, 11, noise)
    assert torch.equal(y, ref_y)
    # Only pixels exactly on a shape's edge may fall the other way by rounding.
    close = (x - ref_x).abs() < 1e-5
    assert close.float().mean() > 0.9999


def test_negative_noise_is_refused():
    with pytest.raises(ValueError, match="noise must be >= 0"):
        make_synthetic(10, noise=-0.1)
