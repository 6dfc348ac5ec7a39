"""Shape inference: exact shapes, parameter counts, receptive fields and error messages."""

from __future__ import annotations

import time

import pytest

from cnnplayground.core.builder import BuildError, build, count_parameters, output_shapes
from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer


def chain(input_shape, *layers) -> Graph:
    """Input → layers..., each layer a (kind, params) pair or a kind name."""
    g = Graph()
    c, h, w = input_shape
    prev = g.add_node("Input", {"channels": c, "height": h, "width": w}, id="input").id
    for i, layer in enumerate(layers, 1):
        kind, params = (layer, {}) if isinstance(layer, str) else layer
        nid = g.add_node(kind, params, id=f"l{i}").id
        g.connect(prev, nid)
        prev = nid
    return g


def conv(out=4, k=3, **kw):
    return ("Conv2d", {"out_channels": out, "kernel_size": k, **kw})


# --- shapes and parameter counts ---------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, (4, 30, 30)),
        ({"padding": 1}, (4, 32, 32)),
        ({"padding": "same"}, (4, 32, 32)),
        ({"padding": "valid"}, (4, 30, 30)),
        ({"stride": 2}, (4, 15, 15)),
        ({"stride": 2, "padding": 1}, (4, 16, 16)),
        ({"dilation": 2}, (4, 28, 28)),
        ({"dilation": 3, "padding": "same"}, (4, 32, 32)),
        ({"kernel_size": 4, "padding": "same"}, (4, 32, 32)),  # even kernel, asymmetric pad
        ({"kernel_size": 32}, (4, 1, 1)),
    ],
)
def test_conv_output_shape_matches_pytorch(params, expected):
    g = chain((3, 32, 32), conv(**params))
    res = infer(g)
    assert res["l1"].shape == expected
    assert output_shapes(build(g))["l1"] == expected


def test_conv_parameter_count_with_groups_and_bias():
    g = chain((6, 8, 8), conv(out=12, k=3, groups=3), conv(out=4, k=1, bias=False))
    res = infer(g)
    assert res["l1"].params == 12 * (6 // 3) * 9 + 12 == 228
    assert res["l2"].params == 4 * 12 == 48
    assert count_parameters(build(g)) == res.total_params == 276


def test_rectangular_input_pooling_and_ceil_mode():
    g = chain((1, 7, 10), ("MaxPool2d", {"kernel_size": 2, "stride": 2, "ceil_mode": True}),
              ("AvgPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}))
    res = infer(g)
    assert res["l1"].shape == (1, 4, 5)
    assert res["l2"].shape == (1, 4, 5)
    assert output_shapes(build(g)) == {nid: res[nid].shape for nid in res.order}


def test_ceil_mode_drops_window_starting_in_padding():
    # PyTorch: 5 + 2*1 - 2 = 5 → ceil(5/2)+1 = 4, but the 4th window starts in the padding → 3.
    g = chain((1, 5, 5), ("MaxPool2d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}))
    assert infer(g)["l1"].shape == (1, 3, 3)
    assert output_shapes(build(g))["l1"] == (1, 3, 3)


def test_batchnorm_prelu_linear_counts():
    g = chain((8, 4, 4), "BatchNorm2d", ("PReLU", {"per_channel": True}), "Flatten",
              ("Linear", {"out_features": 5}), "PReLU")
    res = infer(g)
    assert [res[f"l{i}"].params for i in range(1, 6)] == [16, 8, 0, 128 * 5 + 5, 1]
    assert res["l3"].shape == (128,)
    assert count_parameters(build(g)) == res.total_params


def test_add_and_concat_merges():
    g = chain((4, 8, 8), conv(out=4, k=3, padding=1))
    g.add_node("Conv2d", {"out_channels": 4, "kernel_size": 1}, id="side")
    g.connect("input", "side")
    g.add_node("Add", id="add")
    g.connect("l1", "add")
    g.connect("side", "add")
    g.add_node("Concat", id="cat")
    g.connect("add", "cat")
    g.connect("input", "cat")
    res = infer(g)
    assert res.ok, res.first_error()
    assert res["add"].shape == (4, 8, 8)
    assert res["cat"].shape == (8, 8, 8)
    assert res.output_id == "cat"
    assert output_shapes(build(g))["cat"] == (8, 8, 8)


def test_input_shape_override():
    g = chain((1, 28, 28), conv(out=2, k=5))
    assert infer(g, (3, 32, 32))["l1"].shape == (2, 28, 28)
    assert infer(g, (3, 32, 32))["l1"].params == 2 * 3 * 25 + 2


# --- receptive fields -----------------------------------------------------------------


def test_stacked_3x3_receptive_field_grows_3_5_7():
    g = chain((1, 32, 32), conv(), conv(), conv())
    res = infer(g)
    assert [res[f"l{i}"].receptive_field.size for i in (1, 2, 3)] == [(3, 3), (5, 5), (7, 7)]


def test_dilated_after_3x3_gives_7_and_doubling_dilations_give_3_7_15():
    g = chain((1, 64, 64), conv(), conv(dilation=2))
    assert infer(g)["l2"].receptive_field.size == (7, 7)
    g = chain((1, 64, 64), conv(dilation=1, padding="same"), conv(dilation=2, padding="same"),
              conv(dilation=4, padding="same"))
    res = infer(g)
    assert [res[f"l{i}"].receptive_field.size[0] for i in (1, 2, 3)] == [3, 7, 15]


def test_stride_multiplies_jump_and_start_accounts_for_padding():
    # conv 3x3 s2 p1 then conv 3x3: jump 2, size 3 + 2*2 = 7; first unit centred at pixel 0.
    g = chain((1, 16, 16), conv(k=3, stride=2, padding=1), conv(k=3, padding=1))
    f1, f2 = infer(g)["l1"].receptive_field, infer(g)["l2"].receptive_field
    assert f1.size == (3, 3) and f1.jump == (2.0, 2.0) and f1.start == (0.0, 0.0)
    assert f2.size == (7, 7) and f2.jump == (2.0, 2.0) and f2.start == (0.0, 0.0)
    assert f2.region(1, 2) == (-1.0, 1.0, 5.0, 7.0)


def test_global_pool_sees_whole_map():
    g = chain((1, 8, 8), conv(k=3), ("AdaptiveAvgPool2d", {"output_size": 1}))
    f = infer(g)["l2"].receptive_field
    assert f.size == (8, 8)  # 3 + (6 - 1) * 1
    assert f.start == (3.5, 3.5)


def test_residual_branch_field_is_union():
    g = chain((1, 16, 16), conv(out=1, k=3, padding=1), conv(out=1, k=3, padding=1))
    g.add_node("Add", id="add")
    g.connect("input", "add")
    g.connect("l2", "add")
    assert infer(g)["add"].receptive_field.size == (5, 5)


# --- precise errors on the node that is wrong ----------------------------------------


def errors_of(g):
    return dict(infer(g).errors)


def test_linear_on_feature_map_says_insert_flatten():
    g = chain((1, 32, 32), conv(out=6, k=5), ("MaxPool2d", {}), conv(out=16, k=5), ("MaxPool2d", {}),
              ("Linear", {"out_features": 120}), "ReLU")
    res = infer(g)
    assert res["l5"].error == "Linear expects a flat input, got 16×5×5: insert Flatten"
    assert res["l6"].blocked_by == "l5" and res["l6"].error is None
    assert not res.ok
    with pytest.raises(BuildError, match="l5: Linear expects a flat input"):
        build(g)


def test_kernel_larger_than_input():
    g = chain((1, 3, 3), conv(k=5))
    assert infer(g)["l1"].error == "Conv2d: kernel 5 is larger than the input height 3"
    g = chain((1, 3, 3), conv(k=3, dilation=2))
    assert infer(g)["l1"].error == "Conv2d: dilated kernel 5 (kernel 3, dilation 2) is larger than the input height 3"
    g = chain((1, 2, 2), conv(k=5, padding=1))
    assert infer(g)["l1"].error == "Conv2d: kernel 5 is larger than the input height 4 (padded from 2)"


@pytest.mark.parametrize(
    ("layers", "node", "message"),
    [
        ([conv(out=6, groups=4)], "l1", "Conv2d: input channels 3 are not divisible by groups 4"),
        ([conv(stride=2, padding="same")], "l1", "padding 'same' needs stride 1"),
        (["Flatten", conv()], "l2", "Conv2d expects a C×H×W feature map, got a flat vector of 3072"),
        (["Flatten", "BatchNorm2d"], "l2", "BatchNorm2d expects a C×H×W feature map"),
        ([("MaxPool2d", {"kernel_size": 2, "padding": 2})], "l1", "padding 2 must be at most half"),
    ],
)
def test_error_messages(layers, node, message):
    assert message in errors_of(chain((3, 32, 32), *layers))[node]


def test_graph_level_errors_dangling_and_unused():
    g = Graph()
    assert infer(g).graph_errors == ["the network has no Input layer: add one from the palette"]
    g = chain((1, 8, 8), "ReLU")
    g.add_node("ReLU", id="orphan")
    g.add_node("Add", id="add")
    g.connect("l1", "add")
    res = infer(g)
    assert res["orphan"].error == "ReLU has no input: draw a wire into it"
    assert res["add"].error == "Add needs at least 2 inputs, has 1"
    g = chain((1, 8, 8), "ReLU", "Tanh")
    g.add_node("Sigmoid", id="side")
    g.connect("l1", "side")
    res = infer(g)
    assert res.output_id == "l2"
    assert res["side"].error.startswith("output of side is not used")


def test_second_input_and_add_shape_mismatch():
    g = chain((1, 8, 8), conv(out=2, k=3))
    g.add_node("Input", id="input2")
    assert "only one Input layer" in infer(g)["input2"].error
    g = chain((1, 8, 8), conv(out=2, k=3))
    g.add_node("Add", id="add")
    g.connect("input", "add")
    g.connect("l1", "add")
    assert infer(g)["add"].error == "Add needs inputs of equal shape, got 1×8×8 and 2×6×6"


# --- speed: inference runs after every edit ------------------------------------------


def test_inference_of_200_nodes_is_fast():
    layers = []
    for _ in range(66):
        layers += [conv(out=8, k=3, padding=1), "BatchNorm2d", "ReLU"]
    g = chain((3, 32, 32), *layers, "Flatten")
    assert len(g) == 200
    infer(g)  # warm
    best = min(_timed(lambda: infer(g)) for _ in range(5))
    # The brief asks for "well under 10 ms"; allow slack for a loaded CI core.
    assert best < 0.010, f"inference of 200 nodes took {best * 1e3:.1f} ms"
    assert infer(g).ok


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --- review fixes: saturating fields, huge activations, PyTorch's ceil_mode -------------


@pytest.mark.parametrize(
    "layer",
    [
        ("MaxPool2d", {"kernel_size": 2, "stride": 1024, "padding": 1}),
        ("AvgPool2d", {"kernel_size": 2, "stride": 1024, "padding": 1, "ceil_mode": True}),
        ("Conv2d", {"out_channels": 1, "kernel_size": 1, "stride": 1024}),
        ("Conv2d", {"out_channels": 1, "kernel_size": 2, "stride": 1024, "padding": 1}),
    ],
    ids=["maxpool", "avgpool-ceil", "conv-k1", "conv-k2"],
)
def test_long_strided_chain_saturates_the_receptive_field(layer):
    from cnnplayground.core.shapes import RF_LIMIT
    from cnnplayground.core.summary import summarize

    g = chain((1, 1, 1), *[layer] * 120, "Flatten", ("Linear", {"out_features": 2}))
    res = infer(g)  # used to raise OverflowError / ValueError (inf and NaN sizes)
    assert res.ok, res.first_error()
    last = res["l120"]
    assert last.shape == (1, 1, 1)
    field = last.receptive_field
    assert field.jump == (float(RF_LIMIT), float(RF_LIMIT))
    assert field.saturated
    assert field.describe().endswith("/≥2^53")
    for info in res.infos.values():
        f = info.receptive_field
        assert all(1 <= v <= RF_LIMIT for v in f.size) and all(0 < v <= RF_LIMIT for v in f.jump)
        assert all(-RF_LIMIT <= v <= RF_LIMIT for v in f.start)
    assert "(all)" in summarize(g)


def test_doubling_concat_chain_stops_at_the_element_cap():
    from cnnplayground.core.inference import MAX_ELEMENTS
    from cnnplayground.core.summary import format_bytes, summarize

    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 1, "width": 1}, id="input")
    prev = "input"
    for i in range(1, 1101):
        nid = g.add_node("Concat", id=f"cat{i}").id
        g.connect(prev, nid, 0)
        g.connect(prev, nid, 1)
        prev = nid
    res = infer(g)
    assert MAX_ELEMENTS == 2**40
    assert res["cat40"].ok and res["cat40"].shape == (2**40, 1, 1)
    assert res["cat41"].error == (
        "Concat would produce 2,199,023,255,552 values per image, too many (at most 2^40 = 1,099,511,627,776)"
    )
    assert res["cat1100"].blocked_by == "cat41" and res["cat1100"].error is None
    assert [nid for nid, _ in res.errors] == ["cat41"]
    text = summarize(g)  # used to raise OverflowError in format_bytes
    assert "cat41: Concat would produce" in text
    assert format_bytes(2**4000) == "more than 2^3970 GB"
    assert format_bytes(1e300) == "9.31e+290 GB"
    assert format_bytes(3 * 2**30) == "3.0 GB"


def test_largest_input_is_within_the_element_cap():
    res = infer(chain((4096, 16384, 16384), "ReLU"))
    assert res.ok
    res = infer(chain((4096, 16384, 16384), conv(out=4097, k=1)))
    assert res["l1"].error.startswith("Conv2d would produce 1,099,780,063,232 values per image, too many")


@pytest.mark.parametrize("kind", ["MaxPool2d", "AvgPool2d"])
def test_ceil_mode_pooling_smaller_than_the_kernel_follows_pytorch(kind):
    # PyTorch lets a ceil-mode window hang over the end: k2 s2 on a side of 1 gives 1.
    params = {"kernel_size": 2, "stride": 2, "ceil_mode": True}
    assert infer(chain((1, 1, 2), (kind, params)))["l1"].shape == (1, 1, 1)
    assert infer(chain((1, 1, 1), (kind, params)))["l1"].shape == (1, 1, 1)
    # Without ceil_mode (or when even the rounded-up count is 0) the friendly message stays.
    g = chain((1, 1, 2), (kind, {"kernel_size": 2, "stride": 2}))
    assert infer(g)["l1"].error == f"{kind}: kernel 2 is larger than the input height 1"
    g = chain((1, 1, 5), (kind, {"kernel_size": 4, "stride": 2, "ceil_mode": True}))
    assert infer(g)["l1"].error == f"{kind}: kernel 4 is larger than the input height 1"


def _grid():
    for kind in ("MaxPool2d", "AvgPool2d"):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(k // 2 + 1):
                    for d in (1, 2) if kind == "MaxPool2d" else (1,):
                        for ceil in (False, True):
                            yield kind, k, s, p, d, ceil


def test_pooling_shapes_match_torch_on_a_grid_of_small_cases():
    import torch
    from torch import nn

    mismatches = []
    checked = 0
    for kind, k, s, p, d, ceil in _grid():
        params = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil}
        if kind == "MaxPool2d":
            params["dilation"] = d
            module = nn.MaxPool2d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil)
        else:
            module = nn.AvgPool2d(k, stride=s, padding=p, ceil_mode=ceil)
        for side in range(1, 7):
            other = 7 - side  # a rectangular map checks both axes
            try:
                expected = tuple(module(torch.zeros(1, 2, side, other)).shape[1:])
            except RuntimeError:
                expected = None
            info = infer(chain((2, side, other), (kind, params)))["l1"]
            got = info.shape if info.error is None else None
            checked += 1
            if got != expected:
                mismatches.append((kind, params, side, other, expected, got, info.error))
            if got is None:
                assert "is larger than the input" in info.error, info.error
    assert checked > 800
    assert not mismatches, mismatches[:5]


def test_conv_shapes_match_torch_on_a_grid_of_small_cases():
    import torch
    from torch import nn

    mismatches = []
    for k in range(1, 5):
        for s in range(1, 4):
            for p in range(3):
                for d in (1, 2):
                    module = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
                    for side in range(1, 7):
                        try:
                            expected = tuple(module(torch.zeros(1, 1, side, side)).shape[1:])
                        except RuntimeError:
                            expected = None
                        params = {"out_channels": 1, "kernel_size": k, "stride": s, "padding": p, "dilation": d}
                        info = infer(chain((1, side, side), conv(**params)))["l1"]
                        got = info.shape if info.error is None else None
                        if got != expected:
                            mismatches.append((params, side, expected, got, info.error))
    assert not mismatches, mismatches[:5]


def test_adaptive_pool_window_is_computed_in_constant_time():
    import math

    from cnnplayground.core.layers import _adaptive_window

    for size in range(1, 61):
        for out in range(1, 61):
            loop = max(math.ceil((i + 1) * size / out) - (i * size) // out for i in range(out))
            assert _adaptive_window(size, out) == loop, (size, out)
    # 2,000 adaptive pools to 16384×16384: a loop over the windows took seconds per inference.
    g = chain((1, 16384, 16384), *[("AdaptiveAvgPool2d", {"output_size": 16384})] * 2000)
    start = time.perf_counter()
    res = infer(g)
    elapsed = time.perf_counter() - start
    assert res.ok and res["l2000"].shape == (1, 16384, 16384)
    assert elapsed < 1.0, f"inference took {elapsed:.2f} s"
