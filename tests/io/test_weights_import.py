"""Importing weights: safetensors files checked against a graph, torchvision's weights for transfer learning."""

from __future__ import annotations

import pytest
import safetensors.torch
import torch
import torchvision
from torch import nn

from cnnplayground.core.builder import GraphModule, build
from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import lenet5, resnet18, vgg11, vgg16, vgg_small
from cnnplayground.io import weights_import
from cnnplayground.io.project import check_weights, weights_from_module
from cnnplayground.io.weights_import import (
    WeightsImportError,
    import_safetensors,
    import_torchvision,
    local_torchvision_weights,
    match_layers,
)


def _save(path, weights: dict[str, torch.Tensor]):
    safetensors.torch.save_file({k: v.contiguous() for k, v in weights.items()}, path)
    return path


def _outputs(model: GraphModule, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(x)


# --- safetensors ---------------------------------------------------------------------------


@pytest.mark.parametrize("naming", ["app", "code_export"])
def test_round_trip_gives_identical_outputs(naming, tmp_path):
    graph = vgg_small(width=4)  # BatchNorm: buffers and the integer counter travel too
    source = build(graph)
    with torch.no_grad():
        source(torch.randn(8, 3, 32, 32))  # training-mode forward: running statistics move away from 0/1
    weights = weights_from_module(source)
    if naming == "code_export":
        weights = {k.removeprefix("layers."): v for k, v in weights.items()}
    imported = import_safetensors(graph, _save(tmp_path / "w.safetensors", weights))

    assert list(imported) == list(source.state_dict())
    check_weights(graph, imported)  # fit to be a project's weights
    target = build(graph)
    target.load_state_dict(imported)
    x = torch.randn(3, 3, 32, 32)
    assert torch.equal(_outputs(target, x), _outputs(source, x))


def test_code_export_names_of_renamed_layers(tmp_path):
    """The code exporter renames ids that are Python keywords (``class`` → ``class_``)."""
    graph = lenet5()
    graph.rename_node("conv1", "class")
    graph.rename_node("fc3", "lambda")
    source = build(graph)
    names = {nid: nid + "_" if nid in ("class", "lambda") else nid for nid in graph.nodes}
    weights = {f"{names[k.split('.')[1]]}.{k.split('.', 2)[2]}": v for k, v in weights_from_module(source).items()}
    assert "class_.weight" in weights
    path = _save(tmp_path / "model.safetensors", weights)
    with pytest.raises(WeightsImportError, match="class.weight: missing from the file"):
        import_safetensors(graph, path)  # without the names, the renamed layers do not fit
    imported = import_safetensors(graph, path, names)
    x = torch.randn(2, 1, 28, 28)
    target = build(graph)
    target.load_state_dict(imported)
    assert torch.equal(_outputs(target, x), _outputs(source, x))


def test_a_missing_batchnorm_counter_counts_as_zero(tmp_path):
    graph = vgg_small(width=4)
    weights = {k: v for k, v in weights_from_module(build(graph)).items() if "num_batches_tracked" not in k}
    imported = import_safetensors(graph, _save(tmp_path / "w.safetensors", weights))
    assert imported["layers.bn1_1.num_batches_tracked"].dtype == torch.int64
    assert int(imported["layers.bn1_1.num_batches_tracked"]) == 0


def test_shape_mismatch_names_the_layers_and_both_shapes(tmp_path):
    other = lenet5()
    other.set_params("conv1", {"out_channels": 16})
    path = _save(tmp_path / "wide.safetensors", weights_from_module(build(other)))
    with pytest.raises(WeightsImportError) as info:
        import_safetensors(lenet5(), path)
    message = str(info.value)
    assert isinstance(info.value, ValueError) and "\n" not in message
    assert message.startswith("wide.safetensors does not fit the network: ")
    assert "conv1.weight: the file has 16×1×5×5, the network needs 6×1×5×5" in message
    assert "conv1.bias: the file has 16, the network needs 6" in message
    assert "conv2.weight: the file has 16×16×5×5, the network needs 16×6×5×5" in message


def test_missing_and_unexpected_weights_are_named(tmp_path):
    weights = weights_from_module(build(lenet5()))
    del weights["layers.fc3.bias"]
    weights["layers.extra.weight"] = torch.zeros(3)
    with pytest.raises(WeightsImportError) as info:
        import_safetensors(lenet5(), _save(tmp_path / "w.safetensors", weights))
    message = str(info.value)
    assert "fc3.bias: missing from the file (the network needs 10)" in message
    assert "layers.extra.weight: the network has no such weight" in message


def test_more_than_three_problems_are_counted(tmp_path):
    weights = {k: v for k, v in weights_from_module(build(lenet5())).items() if not k.startswith("layers.fc")}
    with pytest.raises(WeightsImportError, match=r"fc1\.weight: missing.*\(and 3 more\)$"):
        import_safetensors(lenet5(), _save(tmp_path / "w.safetensors", weights))


def test_wrong_dtype_damaged_missing_and_oversized_files(tmp_path, monkeypatch):
    weights = weights_from_module(build(lenet5()))
    weights["layers.conv1.weight"] = weights["layers.conv1.weight"].to(torch.int32)
    with pytest.raises(WeightsImportError, match="conv1.weight: the file has int32 values, the network needs "
                                                 "floating-point"):
        import_safetensors(lenet5(), _save(tmp_path / "int.safetensors", weights))
    half = {k: v.half() for k, v in weights_from_module(build(lenet5())).items()}
    imported = import_safetensors(lenet5(), _save(tmp_path / "half.safetensors", half))
    assert imported["layers.fc1.weight"].dtype == torch.float32  # converted to the network's dtype

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 100)
    with pytest.raises(WeightsImportError, match="^junk.safetensors is not a safetensors weights file"):
        import_safetensors(lenet5(), junk)
    with pytest.raises(WeightsImportError, match="there is no such file"):
        import_safetensors(lenet5(), tmp_path / "absent.safetensors")
    monkeypatch.setattr(weights_import, "MAX_WEIGHTS_BYTES", 50)
    with pytest.raises(WeightsImportError, match="^junk.safetensors is 100 bytes; weights files are limited to "
                                                 "50 bytes"):
        import_safetensors(lenet5(), junk)


def test_an_invalid_graph_is_refused(tmp_path):
    graph = lenet5()
    graph.remove_node("flatten")
    path = _save(tmp_path / "w.safetensors", weights_from_module(build(lenet5())))
    with pytest.raises(WeightsImportError, match="the network is not valid"):
        import_safetensors(graph, path)


# --- torchvision ---------------------------------------------------------------------------


def _small(graph: Graph, side: int = 64) -> Graph:
    """The preset at a small input size (its adaptive pooling takes any size): fast forwards."""
    graph.set_params("input", {"height": side, "width": side})
    return graph


@pytest.fixture(scope="module")
def torchvision_resnet18(tmp_path_factory):
    """A locally made stand-in for torchvision's download: random weights, saved as torchvision does."""
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None).eval()
    with torch.no_grad():  # give BatchNorm statistics that are not 0/1, as trained weights have
        for module in reference.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("tv") / "resnet18-f37072fd.pth"
    torch.save(reference.state_dict(), path)
    return reference, path


def test_torchvision_weights_give_torchvisions_outputs(torchvision_resnet18):
    reference, path = torchvision_resnet18
    graph = _small(resnet18())
    result = import_torchvision(graph, "resnet18", path)
    assert result.skipped == [] and result.unused == [] and result.reasons == {}
    assert result.summary() == "Loaded 122 of 122 tensors from resnet18-f37072fd.pth"
    model = build(graph)
    result.load_into(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(_outputs(model, x), reference(x), atol=1e-5, rtol=1e-5)


def test_a_10_class_head_is_skipped_and_everything_else_loaded(torchvision_resnet18):
    reference, path = torchvision_resnet18
    graph = _small(resnet18(num_classes=10))
    result = import_torchvision(graph, "resnet18", path)
    assert result.skipped == ["layers.fc.weight", "layers.fc.bias"]
    assert result.unused == ["fc.weight", "fc.bias"]
    assert result.reasons == {"fc": "fc.weight: the file has 1000×512, the network needs 10×512"}
    assert len(result.weights) == 120
    assert result.summary() == ("Loaded 120 of 122 tensors from resnet18-f37072fd.pth; skipped fc "
                                "(fc.weight: the file has 1000×512, the network needs 10×512)")
    model = build(graph)
    head = model.layers["fc"].weight.detach().clone()
    result.load_into(model)
    assert torch.equal(model.layers["fc"].weight, head), "the skipped head keeps its initial weights"
    features = nn.Sequential(*list(reference.children())[:-1], nn.Flatten()).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours = model.eval().forward_all(x)["flatten"]
        torch.testing.assert_close(ours, features(x), atol=1e-5, rtol=1e-5)


def test_torchvision_cache_is_searched_and_a_missing_file_is_explained(torchvision_resnet18, tmp_path,
                                                                        monkeypatch):
    _, made = torchvision_resnet18
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    assert local_torchvision_weights("resnet18") is None
    with pytest.raises(WeightsImportError) as info:
        import_torchvision(resnet18(), "resnet18")
    assert str(info.value).startswith(
        "No local weights for resnet18: download them with torchvision once, or choose the .pth file"
    )
    assert str(hub / "checkpoints") in str(info.value)

    cached = hub / "checkpoints" / "resnet18-f37072fd.pth"  # the file name of ResNet18_Weights' URL
    cached.parent.mkdir(parents=True)
    cached.write_bytes(made.read_bytes())
    assert local_torchvision_weights("resnet18") == cached
    assert import_torchvision(resnet18(), "resnet18").source == cached


def test_torchvision_errors(torchvision_resnet18, tmp_path):
    _, path = torchvision_resnet18
    with pytest.raises(WeightsImportError, match="none of torchvision's resnet18 weights fit this network"):
        import_torchvision(lenet5(), "resnet18", path)
    with pytest.raises(WeightsImportError, match=r"differs too much from torchvision's resnet18: only \d+ of its 40 "
                                                 r"tensors fit; conv1_1: conv1.weight: the file has 64×3×7×7"):
        import_torchvision(vgg_small(), "resnet18", path)  # a few BatchNorms would fit by chance
    lenet_file = _save(tmp_path / "lenet.safetensors", weights_from_module(build(lenet5())))
    with pytest.raises(WeightsImportError, match="lenet.safetensors does not hold torchvision's resnet18 weights"):
        import_torchvision(resnet18(), "resnet18", lenet_file)
    with pytest.raises(WeightsImportError, match="unknown torchvision model 'resnet19'; those with a matching "
                                                 "preset: vgg11, vgg16, resnet18"):
        import_torchvision(resnet18(), "resnet19", path)
    pickled = tmp_path / "code.pth"
    torch.save({"weights": nn.Linear(2, 2)}, pickled)  # a module: pickled code, refused by weights_only
    with pytest.raises(WeightsImportError, match="code.pth is not a weights file that can be read safely"):
        import_torchvision(resnet18(), "resnet18", pickled)


def _meta_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize(("name", "factory"), [("vgg11", vgg11), ("vgg16", vgg16), ("resnet18", resnet18)])
def test_layer_matching_pairs_the_presets_with_torchvision(name, factory):
    with torch.device("meta"):  # shapes only
        theirs = _meta_shapes(torchvision.models.get_model(name, weights=None))
        ours = _meta_shapes(build(factory()))
        ours_10 = _meta_shapes(build(factory(num_classes=10)))
    mapping, reasons = match_layers(ours, theirs)
    assert reasons == {}
    assert mapping == dict(zip(ours, theirs))  # the same pairing as tests/core's equality with torchvision
    mapping, reasons = match_layers(ours_10, theirs)
    head = "fc" if name == "resnet18" else "fc8"
    their_head = list(theirs)[-1].rpartition(".")[0]
    assert reasons == {head: f"{their_head}.weight: the file has 1000×{theirs[their_head + '.weight'][1]}, "
                             f"the network needs 10×{theirs[their_head + '.weight'][1]}"}
    assert len(mapping) == len(ours) - 2
