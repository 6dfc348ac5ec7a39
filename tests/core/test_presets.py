"""Presets: exact shapes and parameter counts from the papers, and equality with torchvision."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torchvision

from cnnplayground.core.builder import build, count_parameters, output_shapes
from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer
from cnnplayground.core.presets import (
    PRESETS,
    Preset,
    UnknownPresetError,
    get_preset,
    list_presets,
    resnet20_cifar,
)

ALL_NAMES = list(PRESETS)
REQUIRED = ["lenet5", "alexnet", "vgg11", "vgg16", "vgg11_cifar", "resnet18", "resnet20_cifar", "mlp",
            "dilated"]


def shapes_of(graph: Graph, *node_ids: str) -> list[tuple[int, ...]]:
    res = infer(graph)
    return [res[nid].shape for nid in node_ids]


# --- registry ----------------------------------------------------------------------------


def test_registry_lists_required_presets_in_order():
    assert set(REQUIRED) <= set(PRESETS)
    assert [p.name for p in list_presets()] == ALL_NAMES
    for name, preset in PRESETS.items():
        assert preset.name == name
        assert preset.title and 20 <= len(preset.description) <= 500
        assert get_preset(name) is preset


def test_preset_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_preset("lenet5").name = "other"  # type: ignore[misc]


def test_unknown_preset_lists_available_names():
    with pytest.raises(UnknownPresetError) as info:
        get_preset("lenet6")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert message.startswith("unknown preset 'lenet6'; available: ")
    for name in ALL_NAMES:
        assert name in message


# --- every preset ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_NAMES)
def test_preset_builds_with_real_shapes_equal_to_inferred(name):
    preset: Preset = get_preset(name)
    graph = preset.factory()
    res = infer(graph)
    assert res.ok, res.first_error()
    assert res.input_shape == preset.input_shape
    assert all(info.warning is None for info in res.infos.values())
    module = build(graph, result=res)
    # Batch 1 keeps the 224×224 forwards of VGG-16 and friends well under a second.
    real = output_shapes(module, batch=1)
    assert real == {nid: info.shape for nid, info in res.infos.items()}
    assert count_parameters(module) == res.total_params


@pytest.mark.parametrize("name", ALL_NAMES)
def test_preset_layout_and_options(name):
    preset = get_preset(name)
    graph = preset.factory()
    positions = [n.position for n in graph.iter_nodes()]
    assert len(set(positions)) == len(positions), "two layers on the same spot of the canvas"
    assert graph.node("input").position == (0.0, 0.0)
    # Every wire points downwards or climbs to the next column on its right: the canvas reads
    # top to bottom, column after column.
    assert all(graph.node(e.source).position[1] < graph.node(e.target).position[1]
               or graph.node(e.source).position[0] < graph.node(e.target).position[0] for e in graph.edges)
    # Every factory takes the class count and a channel count.
    res = infer(preset.factory(num_classes=7, in_channels=2))
    assert res.ok, res.first_error()
    assert res.output_shape == (7,)
    assert res.input_shape == (2, *preset.input_shape[1:])


# --- LeNet-5, MLP, dilated -----------------------------------------------------------------


def test_lenet5_shapes_and_61706_parameters():
    graph = get_preset("lenet5").factory()
    res = infer(graph)
    ids = ["conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "fc2", "fc3"]
    assert shapes_of(graph, *ids) == [
        (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 5, 5), (400,), (120,), (84,), (10,)
    ]
    weighted = ("conv1", "conv2", "fc1", "fc2", "fc3")
    assert [res[nid].params for nid in weighted] == [156, 2416, 48120, 10164, 850]
    assert res.total_params == 61_706
    kinds = [n.kind for n in graph.iter_nodes()]
    assert kinds == ["Input", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                     "Linear", "ReLU", "Linear", "ReLU", "Linear"]


def test_mlp_parameters_and_hidden_sizes():
    res = infer(get_preset("mlp").factory())
    assert res.total_params == (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10) == 235_146
    res = infer(get_preset("mlp").factory(hidden=(32,)))
    assert res.total_params == 784 * 32 + 32 + 32 * 10 + 10
    assert res["fc2"].shape == (10,)


def test_dilated_receptive_fields_are_3_7_15():
    graph = get_preset("dilated").factory()
    res = infer(graph)
    assert [graph.node(f"conv{i}").params["dilation"] for i in (1, 2, 3)] == [1, 2, 4]
    assert [res[f"conv{i}"].receptive_field.size for i in (1, 2, 3)] == [(3, 3), (7, 7), (15, 15)]
    assert [res[f"conv{i}"].shape for i in (1, 2, 3)] == [(16, 28, 28)] * 3  # 'same' keeps the size


# --- AlexNet -------------------------------------------------------------------------------


def test_alexnet_shapes_match_the_2012_table():
    graph = get_preset("alexnet").factory()
    ids = ["conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8"]
    assert shapes_of(graph, *ids) == [
        (96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13), (384, 13, 13), (384, 13, 13),
        (256, 13, 13), (256, 6, 6), (4096,), (4096,), (1000,),
    ]
    assert [graph.node(f"conv{i}").params["groups"] for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert graph.node("norm1").params == {"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}


def test_alexnet_has_60965224_parameters():
    res = infer(get_preset("alexnet").factory())
    weighted = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
    assert [res[nid].params for nid in weighted] == [
        34_944, 307_456, 885_120, 663_936, 442_624, 37_752_832, 16_781_312, 4_097_000
    ]
    assert res.total_params == 60_965_224


# --- equality with torchvision -------------------------------------------------------------

TORCHVISION_COUNTS = {"vgg11": 132_863_336, "vgg16": 138_357_544, "resnet18": 11_689_512}


@pytest.mark.parametrize("name", list(TORCHVISION_COUNTS))
def test_parameter_count_and_layout_equal_torchvision(name):
    reference = getattr(torchvision.models, name)(weights=None)
    res = infer(get_preset(name).factory())
    assert res.total_params == count_parameters(reference) == TORCHVISION_COUNTS[name]
    with torch.device("meta"):  # shapes only: allocate no weights (the real build is tested above)
        ours = build(get_preset(name).factory(), result=res)
    # Same tensors in the same order: the networks are the same layer for layer.
    assert [tuple(t.shape) for t in ours.state_dict().values()] == [
        tuple(t.shape) for t in reference.state_dict().values()
    ]


@pytest.mark.parametrize(("name", "side"), [("vgg11", 32), ("resnet18", 64)])
def test_forward_equals_torchvision_with_the_same_weights(name, side):
    reference = getattr(torchvision.models, name)(weights=None).eval()
    with torch.device("meta"):  # the weights come from the reference, so skip initializing ours
        ours = build(get_preset(name).factory()).eval()
    weights = dict(zip(ours.state_dict(), reference.state_dict().values(), strict=True))
    ours.load_state_dict(weights, assign=True)
    x = torch.randn(2, 3, side, side)  # small images keep it fast; both nets pool adaptively
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x))


# --- CIFAR presets -------------------------------------------------------------------------


def test_vgg11_cifar_shapes_and_width():
    graph = get_preset("vgg11_cifar").factory()
    res = infer(graph)
    assert [res[f"pool{s}"].shape for s in range(1, 6)] == [
        (64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2), (512, 1, 1)
    ]
    assert sum(n.kind == "BatchNorm2d" for n in graph.iter_nodes()) == 8
    assert res.total_params == 9_228_362
    slim = infer(get_preset("vgg11_cifar").factory(width=16))
    assert slim["flatten"].shape == (128,)


def test_vgg_small_shapes():
    res = infer(get_preset("vgg_small").factory())
    assert [res[f"pool{s}"].shape for s in (1, 2, 3)] == [(32, 16, 16), (64, 8, 8), (128, 4, 4)]
    assert res["flatten"].shape == (2048,)
    assert res.output_shape == (10,)


def test_resnet20_cifar_structure_and_parameters():
    graph = resnet20_cifar()
    res = infer(graph)
    kinds = [n.kind for n in graph.iter_nodes()]
    assert kinds.count("Add") == 9
    # 19 convolutions + the Linear are the 20 weighted layers; 2 more are 1×1 projections.
    assert kinds.count("Conv2d") == 21
    assert [res[f"layer{s}_2_relu2"].shape for s in (1, 2, 3)] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    assert res["layer2_0_downsample_conv"].params == 32 * 16
    # 269,722 with He et al.'s zero-padding shortcuts, plus 576 + 2,176 for the two projections.
    assert res.total_params == 272_474


def test_resnet_depth_option():
    res = infer(resnet20_cifar(depth=32))
    assert res.ok
    assert sum(n.kind == "Add" for n in resnet20_cifar(depth=32).iter_nodes()) == 15
    with pytest.raises(ValueError, match="6n \\+ 2"):
        resnet20_cifar(depth=21)


def test_resnet18_residual_wiring():
    graph = get_preset("resnet18").factory()
    assert graph.inputs_of("layer1_0_add") == ["layer1_0_bn2", "pool1"]  # identity shortcut
    assert graph.inputs_of("layer2_0_add") == ["layer2_0_bn2", "layer2_0_downsample_bn"]
    downsample = graph.node("layer2_0_downsample_conv").params
    assert (downsample["kernel_size"], downsample["stride"], downsample["bias"]) == (1, 2, False)
    res = infer(graph)
    assert res["pool1"].shape == (64, 56, 56)
    assert res["layer4_1_relu2"].shape == (512, 7, 7)
