"""The convolution explorer's arithmetic, against hand-computed values and torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnplayground.inspect.explorer import EXAMPLE_1D, EXAMPLE_2D, convolve, output_size, pool


def test_the_lecture_example_gives_the_hand_computed_outputs():
    x, k = EXAMPLE_1D
    out, steps = convolve(x, k)
    # x[i] + 2 x[i+1] + 0 x[i+2] − x[i+3], by hand: 1+8−0=9, 4−2−2=0, −1+0+2=1, 0+4−1=3, 2−4−3=−5, −2+2−3=−3, 1+6−1=6
    assert out.tolist() == [9, 0, 1, 3, -5, -3, 6]
    first = steps[0]
    assert first.cells == ((0,), (1,), (2,), (3,))
    assert first.values == (1, 4, -1, 0) and first.weights == (1, 2, 0, -1)
    assert first.products == (1, 8, 0, 0) and first.result == 9
    assert len(steps) == 7


def test_flipped_convolution_differs_from_cross_correlation_by_the_kernel_flip():
    x, k = EXAMPLE_1D
    flipped, _ = convolve(x, k, flip=True)
    # kernel reversed: −1 0 2 1 → −x[i] + 2 x[i+2] + x[i+3]; by hand: −1−2+0, −4+0+2, 1+4−2, 0−4+1, −2+2+3, 2+6+3,
    # −1+6+1
    assert flipped.tolist() == [-3, -2, 3, -3, 3, 11, 6]
    assert flipped.tolist() == [-x[i] + 2 * x[i + 2] + x[i + 3] for i in range(7)]


@pytest.mark.parametrize("stride, padding, dilation", [(1, 0, 1), (2, 1, 1), (1, 2, 2), (3, 0, 2), (2, 3, 1)])
def test_1d_and_2d_match_torch(stride, padding, dilation):
    rng = np.random.default_rng(stride * 10 + padding + dilation)
    x1, k1 = rng.integers(-3, 4, 11), rng.integers(-2, 3, 3)
    ours, steps = convolve(x1, k1, stride, padding, dilation)
    t64 = lambda a: torch.tensor(a, dtype=torch.float64)[None, None]  # noqa: E731
    theirs = F.conv1d(t64(x1), t64(k1), stride=stride, padding=padding, dilation=dilation)[0, 0]
    assert ours.tolist() == theirs.tolist()
    assert len(ours) == output_size(11, 3, stride, padding, dilation) == len(steps)
    x2, k2 = rng.integers(-3, 4, (7, 8)), rng.integers(-2, 3, (3, 2))
    ours2, steps2 = convolve(x2, k2, stride, padding, dilation)
    theirs2 = F.conv2d(t64(x2), t64(k2), stride=stride, padding=padding, dilation=dilation)[0, 0]
    assert ours2.tolist() == theirs2.tolist()
    assert all(s.result == sum(s.products) for s in steps2)


def test_padding_cells_are_marked_and_hold_zero():
    _, steps = convolve([1, 2, 3], [1, 1, 1], padding=1)
    assert steps[0].cells == (None, (0,), (1,)) and steps[0].values == (0, 1, 2) and steps[0].result == 3


def test_the_2d_edge_example_finds_the_edge():
    image, kernel = EXAMPLE_2D
    out, _ = convolve(image, kernel)
    assert out.shape == (4, 4)
    assert out[:, 0].tolist() == [0, 0, 0, 0]  # flat region
    assert out[:, 1].tolist() == [-27, -27, -27, -27] and out[:, 2].tolist() == [-27] * 4  # the edge


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size, stride, padding", [(2, None, 0), (3, 1, 1), (3, 2, 1), (2, 3, 0)])
def test_pooling_matches_torch(mode, size, stride, padding):
    rng = np.random.default_rng(size + padding)
    x = rng.integers(-9, 10, (6, 7)).astype(float)
    ours, steps = pool(x, size, stride, padding, mode)
    t = torch.tensor(x)[None, None]
    fn = F.max_pool2d if mode == "max" else F.avg_pool2d
    theirs = fn(t, size, stride=stride, padding=padding)[0, 0]
    assert np.allclose(ours, theirs.numpy())
    if mode == "max":
        assert all(s.result == max(v for v in s.values) for s in steps)
        assert all(sum(s.weights) >= 1 for s in steps)  # the cell the maximum came from is marked


def test_pool_1d_and_bad_settings():
    out, _ = pool([1, 5, 2, 0, 3, 3], 2)
    assert out.tolist() == [5, 2, 3]
    out, _ = pool([1, 5, 2, 0, 3, 3], 2, mode="avg")
    assert out.tolist() == [3, 1, 3]
    with pytest.raises(ValueError, match="at least 1"):
        convolve([1, 2], [1], stride=0)
    with pytest.raises(ValueError, match="half the window"):
        pool([1, 2, 3], 2, padding=2)
    assert convolve([1, 2], [1, 1, 1])[0].size == 0  # the kernel does not fit: no output
