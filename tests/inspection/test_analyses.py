"""Kernels, feature maps, activation statistics, receptive fields and occlusion on hand-weighted networks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer
from cnnplayground.core.presets import get_preset
from cnnplayground.inspect.activations import activation_stats, dead_channels, feature_maps, predict
from cnnplayground.inspect.kernels import conv_weights, kernel_images, weight_histogram
from cnnplayground.inspect.occlusion import occlusion_map, occlusion_steps
from cnnplayground.inspect.receptive import effective_field, field_sizes, theoretical_region
from cnnplayground.inspect.snapshot import prepare, snapshot


def chain(size: int, *layers: tuple[str, dict], channels: int = 1) -> Graph:
    g = Graph()
    prev = g.add_node("Input", {"channels": channels, "height": size, "width": size}, id="input").id
    for i, (kind, params) in enumerate(layers):
        node = g.add_node(kind, params, id=f"{kind.lower()}{i}").id
        g.connect(prev, node)
        prev = node
    return g


def set_conv(model, node: str, weight: torch.Tensor, bias: float = 0.0) -> None:
    conv = model.layers[node]
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(conv.weight.shape))
        if conv.bias is not None:
            conv.bias.fill_(bias)


def test_feature_maps_of_a_hand_weighted_conv_equal_hand_computed_ones():
    g = chain(4, ("Conv2d", {"out_channels": 2, "kernel_size": 2, "padding": 0}), ("ReLU", {}))
    model = build(g).eval()
    # Filter 0 sums its 2×2 window; filter 1 is "right minus left".
    set_conv(model, "conv2d0", torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[-1.0, 1.0], [-1.0, 1.0]]]]))
    x = torch.tensor([[1.0, 2.0, 0.0, 1.0], [0.0, 1.0, 3.0, 0.0], [2.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 2.0]])
    maps = feature_maps(model, x[None])
    by_hand_sum = [[4, 6, 4], [3, 5, 5], [4, 2, 4]]
    by_hand_edge = [[2, 0, -2], [-1, 3, -3], [-2, 0, 2]]
    assert maps["conv2d0"][0].tolist() == by_hand_sum
    assert maps["conv2d0"][1].tolist() == by_hand_edge
    assert maps["relu1"][1].tolist() == [[2, 0, 0], [0, 3, 0], [0, 0, 2]]
    assert dead_channels(maps["relu1"]).tolist() == [False, False]
    assert dead_channels(-np.abs(maps["conv2d0"])).tolist() == [True, True]


def test_activation_stats_count_zeros_and_dead_channels():
    g = chain(3, ("Conv2d", {"out_channels": 2, "kernel_size": 1, "padding": 0}), ("ReLU", {}))
    model = build(g).eval()
    set_conv(model, "conv2d0", torch.tensor([[[[1.0]]], [[[-1.0]]]]))  # channel 1 is −x: dead on positive inputs
    x = torch.arange(1.0, 19.0).reshape(2, 1, 3, 3)  # all positive
    stats = activation_stats(model, x)
    relu = stats["relu1"]
    assert relu.zero_fraction == 0.5 and relu.dead_fraction == 0.5
    values = torch.cat([x.flatten(), torch.zeros(18)])
    assert relu.mean == pytest.approx(float(values.mean()))
    assert relu.std == pytest.approx(float(values.std(unbiased=False)))
    assert "input" not in stats and stats["conv2d0"].dead_fraction == 0.5


def test_predict_returns_the_top_classes_with_softmax_probabilities():
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 3, bias=True))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([0.0, 2.0, 1.0]))
    top = predict(model, torch.zeros(1, 1, 1), k=2)
    e = np.exp([0.0, 2.0, 1.0])
    assert [c for c, _ in top] == [1, 2]
    assert [p for _, p in top] == pytest.approx([e[1] / e.sum(), e[2] / e.sum()])


def test_kernel_images_scale_symmetrically_shared_or_per_filter():
    w = torch.tensor([[[[1.0, -2.0], [0.0, 4.0]]], [[[0.5, 0.0], [0.0, -0.5]]]])
    shared = kernel_images(w, scale="shared")
    assert shared.mode == "channels" and shared.values.shape == (2, 1, 2, 2)
    assert shared.scale.tolist() == [4.0, 4.0]
    assert shared.values[0, 0].tolist() == [[0.25, -0.5], [0.0, 1.0]]
    assert shared.values[1, 0].tolist() == [[0.125, 0.0], [0.0, -0.125]]
    per = kernel_images(w, scale="per_filter")
    assert per.scale.tolist() == [4.0, 0.5] and per.values[1, 0].tolist() == [[1.0, 0.0], [0.0, -1.0]]
    rgb = kernel_images(torch.tensor([[[[2.0]], [[-2.0]], [[0.0]]]]))
    assert rgb.mode == "rgb" and rgb.values.shape == (1, 1, 1, 3) and rgb.values[0, 0, 0].tolist() == [1.0, 0.0, 0.5]
    summed = kernel_images(torch.ones(4, 5, 3, 3))
    assert summed.mode == "sum" and summed.values.shape == (4, 1, 3, 3) and summed.scale.tolist() == [5.0] * 4
    with pytest.raises(ValueError, match="3 input channels"):
        kernel_images(torch.ones(2, 1, 3, 3), mode="rgb")
    counts, edges = weight_histogram(w, bins=4)
    assert counts.sum() == 8 and edges[0] == -4.0 and edges[-1] == 4.0


def test_conv_weights_are_named_by_node_and_are_copies():
    model = build(get_preset("lenet5").factory())
    weights = conv_weights(model)
    assert list(weights) == ["conv1", "conv2"] and tuple(weights["conv2"].shape) == (16, 6, 5, 5)
    weights["conv1"].zero_()
    assert model.layers["conv1"].weight.abs().sum() > 0


def test_snapshot_is_a_frozen_copy_and_prepare_normalizes():
    model = build(get_preset("lenet5").factory()).train()
    copy = snapshot(model)
    assert model.training and not copy.training
    assert not any(p.requires_grad for p in copy.parameters())
    with torch.no_grad():
        model.layers["conv1"].weight.add_(1.0)
    assert not torch.equal(copy.layers["conv1"].weight, model.layers["conv1"].weight)
    x = prepare(torch.full((1, 2, 2), 255, dtype=torch.uint8), mean=(0.5,), std=(0.25,))
    assert x.shape == (1, 1, 2, 2) and torch.allclose(x, torch.full_like(x, 2.0))


def test_effective_field_is_zero_outside_the_theoretical_one_and_peaks_at_its_centre():
    g = chain(11, ("Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 0, "bias": False}),
              ("Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 0, "bias": False}))
    model = build(g).eval()
    for node in ("conv2d0", "conv2d1"):
        set_conv(model, node, torch.ones(3, 3))
    result = infer(g)
    top, left, bottom, right = theoretical_region(result, "conv2d1", 3, 4, (11, 11))
    assert (top, left, bottom, right) == (3, 4, 7, 8)  # 5×5 field of output unit (3, 4)
    erf = effective_field(model, torch.randn(4, 1, 11, 11), "conv2d1", 3, 4)
    # Two 3×3 box filters: the gradient is the outer product of 1 2 3 2 1 with itself.
    pyramid = np.outer([1, 2, 3, 2, 1], [1, 2, 3, 2, 1])
    assert erf[top:bottom + 1, left:right + 1].tolist() == pyramid.tolist()
    outside = erf.copy()
    outside[top:bottom + 1, left:right + 1] = 0
    assert not outside.any()
    assert np.unravel_index(erf.argmax(), erf.shape) == (5, 6)  # the centre dominates


def test_effective_field_of_a_random_relu_net_stays_inside_and_centres():
    torch.manual_seed(0)
    g = chain(21, *[("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}), ("ReLU", {})] * 3)
    model = build(g).eval()
    result = infer(g)
    node = "relu5"
    top, left, bottom, right = theoretical_region(result, node, 10, 10, (21, 21))
    assert (bottom - top + 1, right - left + 1) == (7, 7)
    erf = effective_field(model, torch.randn(64, 1, 21, 21), node, 10, 10)
    inside = erf[top:bottom + 1, left:right + 1]
    assert erf.sum() == pytest.approx(inside.sum())  # nothing outside the theoretical field
    centre = inside[2:5, 2:5].mean()
    ring = np.concatenate([inside[0], inside[-1], inside[1:-1, 0], inside[1:-1, -1]]).mean()
    assert centre > 2 * ring


def test_field_sizes_grow_with_stride_and_dilation():
    g = chain(32, ("Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 1}),
              ("Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 2, "dilation": 2}),
              ("MaxPool2d", {"kernel_size": 2}),
              ("Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 1}))
    sizes = [(f.node_id, f.size[0], f.jump[0]) for f in field_sizes(g)]
    assert sizes == [("input", 1, 1.0), ("conv2d0", 3, 1.0), ("conv2d1", 7, 1.0), ("maxpool2d2", 8, 2.0),
                     ("conv2d3", 12, 2.0)]


def test_occluding_the_informative_region_lowers_the_class_probability():
    # Class 1's logit is the mean of the top-left 4×4 corner; class 0's logit is 0.
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
        mask = torch.zeros(8, 8)
        mask[:4, :4] = 1.0
        model[1].weight[1] = mask.flatten() / 16 * 4
    image = torch.ones(1, 8, 8)
    result = occlusion_map(model, image, target=1, patch=4, stride=4, fill=0.0)
    assert result.rows.tolist() == [0, 4] and result.cols.tolist() == [0, 4]
    p = result.probability
    assert result.baseline == pytest.approx(1 / (1 + np.exp(-4)))
    assert p[0, 0] == pytest.approx(0.5)  # the corner hidden: logits equal
    assert p[0, 1] == p[1, 0] == p[1, 1] == pytest.approx(result.baseline)
    heat = result.heat(8, 8)
    assert heat[:4, :4].min() > 0.4
    assert heat[4:, :].max() == pytest.approx(0.0) and heat[:, 4:].max() == pytest.approx(0.0)
    fractions = [done for done, _ in occlusion_steps(model, image, 1, patch=4, stride=4, batch_size=3)]
    assert fractions == [0.75, 1.0]
    with pytest.raises(ValueError, match="must fit"):
        occlusion_map(model, image, 1, patch=9)


def test_a_field_entirely_in_the_padding_has_no_region():
    g = chain(8, ("Conv2d", {"out_channels": 1, "kernel_size": 1, "padding": 3}))
    result = infer(g)
    assert theoretical_region(result, "conv2d0", 0, 0, (8, 8)) is None  # the unit sees only padding
    assert theoretical_region(result, "conv2d0", 3, 4, (8, 8)) == (0, 1, 0, 1)
    g2 = chain(8, ("Conv2d", {"out_channels": 1, "kernel_size": 5, "padding": 2}))
    assert theoretical_region(infer(g2), "conv2d0", 0, 0, (8, 8)) == (0, 0, 2, 2)  # clipped at the border


def test_occlusion_heat_is_the_mean_drop_of_the_covering_patches_and_skips_positions_not_done():
    """Overlapping patches average; a position still NaN (map in progress) adds nothing."""
    from cnnplayground.inspect.occlusion import OcclusionMap

    rows = cols = np.array([0, 2])  # 4×4 patches with stride 2 on a 6×6 image: they overlap in the middle
    probability = np.array([[0.2, 0.6], [np.nan, 1.0]])
    heat = OcclusionMap(probability, rows, cols, baseline=1.0, patch=4).heat(6, 6)
    assert heat[0, 0] == pytest.approx(0.8)  # only the top-left patch
    assert heat[0, 5] == pytest.approx(0.4)  # only the top-right patch
    assert heat[2, 2] == pytest.approx((0.8 + 0.4 + 0.0) / 3)  # three done patches cover the middle
    assert heat[5, 0] == pytest.approx(0.0)  # only the bottom-left patch, not computed yet
    assert heat[5, 5] == pytest.approx(0.0)  # the bottom-right patch: no drop
    assert not np.isnan(heat).any()
