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
