"""The CIFAR-10 speedrun preset with its recommended settings, and test-time flip augmentation (issue 10)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnplayground.core.builder import build
from cnnplayground.core.inference import infer
from cnnplayground.core.presets import PRESETS, get_preset
from cnnplayground.data.base import ImageData, Split, channel_stats
from cnnplayground.data.loader import DeviceLoader
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.train.evaluate import evaluate, flip_averaged_logits
from cnnplayground.train.events import EpochFinished
from cnnplayground.train.trainer import Trainer

SPEEDRUN_PARAMETERS = 2_015_008


# --- the preset --------------------------------------------------------------------------------


def test_speedrun_preset_builds_and_states_its_parameter_count():
    preset = get_preset("speedrun_cifar")
    assert preset.input_shape == (3, 32, 32)
    graph = preset.factory()
    res = infer(graph)
    assert res.ok, res.first_error()
    assert res.total_params == SPEEDRUN_PARAMETERS
    assert f"{SPEEDRUN_PARAMETERS:,} parameters" in preset.description
    model = build(graph, result=res).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_speedrun_shapes_follow_the_recipe():
    res = infer(get_preset("speedrun_cifar").factory())
    ids = ("relu0", "relu1", "res1_add", "relu2", "relu3", "res3_add", "pool", "fc")
    shapes = {nid: res[nid].shape for nid in ids}
    assert shapes == {"relu0": (32, 32, 32), "relu1": (64, 16, 16), "res1_add": (64, 16, 16),
                      "relu2": (256, 8, 8), "relu3": (256, 4, 4), "res3_add": (256, 4, 4), "pool": (256, 1, 1),
                      "fc": (10,)}
    graph = get_preset("speedrun_cifar").factory()
    kinds = [graph.node(f"{s}").kind for s in ("conv1", "pool1", "bn1", "relu1")]
    assert kinds == ["Conv2d", "MaxPool2d", "BatchNorm2d", "ReLU"]  # conv → pool → BN → ReLU
    assert graph.node("fc").params["bias"] is False
    assert sorted(graph.inputs_of("res3_add")) == sorted(["relu3", "res3_relu2"])  # the shortcut


def test_speedrun_global_pool_also_fits_28x28_grey_images():
    graph = get_preset("speedrun_cifar").factory(in_channels=1)
    graph.set_params("input", {"channels": 1, "height": 28, "width": 28})
    res = infer(graph)
    assert res.ok, res.first_error()
    assert res["pool"].shape == (256, 1, 1)


def test_recommended_settings_validate_and_follow_the_recipe():
    preset = get_preset("speedrun_cifar")
    settings = preset.recommended_settings()
    config = TrainingConfig.model_validate(settings["training"])
    assert (config.optimizer, config.nesterov, config.momentum) == ("sgd", True, 0.9)
    assert config.label_smoothing == 0.2 and config.tta_flip and config.schedule == "onecycle"
    assert 512 <= config.batch_size <= 1024 and config.epochs == 10
    assert config.augment.hflip and config.augment.crop_padding == 2 and not config.augment.translate
    assert DatasetChoice.model_validate(settings["dataset"]).name == "cifar10"
    settings["training"]["epochs"] = 99  # a copy: the preset keeps its own
    assert preset.recommended_settings()["training"]["epochs"] == 10


def test_presets_without_recommendations_have_only_the_dataset_their_input_needs():
    assert get_preset("lenet5").recommended is None
    assert get_preset("lenet5").recommended_settings() == {"dataset": {"name": "synthetic"}}
    assert [p.name for p in PRESETS.values() if p.recommended] == ["speedrun_cifar"]
    assert [p.name for p in PRESETS.values() if "training" in p.recommended_settings()] == ["speedrun_cifar"]


# --- test-time flip augmentation ---------------------------------------------------------------


def lopsided_net() -> nn.Module:
    """A network that is not mirror-symmetric (a flip changes its output)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 5))


def test_flip_averaged_logits_are_the_mean_of_the_image_and_its_mirror():
    model = lopsided_net().eval()
    x = torch.randn(6, 3, 8, 8)
    with torch.no_grad():
        plain, mirrored = model(x), model(torch.flip(x, dims=[3]))
        assert not torch.allclose(plain, mirrored)
        torch.testing.assert_close(flip_averaged_logits(model, x), (plain + mirrored) / 2, rtol=0, atol=0)


def test_evaluation_with_tta_flip_scores_the_averaged_logits():
    model = lopsided_net()
    torch.manual_seed(1)
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    labels = torch.randint(0, 5, (40,))
    split = Split(images, labels)
    mean, std = channel_stats(images)
    loader = DeviceLoader(split, mean=mean, std=std, batch_size=16, shuffle=False)
    result = evaluate(model, loader, 5, tta_flip=True)
    assert model.training  # evaluate restores the mode
    x = torch.cat([xb for xb, _ in loader])
    with torch.no_grad():
        model.eval()
        logits = (model(x) + model(x.flip(3))) / 2
    assert result.loss == pytest.approx(nn.functional.cross_entropy(logits, labels).item(), rel=1e-6)
    assert result.accuracy == int((logits.argmax(1) == labels).sum()) / 40
    plain = evaluate(model, loader, 5)
    assert plain.loss != pytest.approx(result.loss)  # it did change something


def test_the_trainer_validates_with_tta_flip_when_configured():
    torch.manual_seed(2)
    images = torch.randint(0, 256, (96, 3, 8, 8), dtype=torch.uint8)
    labels = torch.randint(0, 5, (96,))
    train, val = Split(images[:64], labels[:64]), Split(images[64:], labels[64:])
    mean, std = channel_stats(train.images)
    data = ImageData("tiny", tuple("abcde"), train, val, None, mean, std)
    config = TrainingConfig(epochs=1, batch_size=32, device="cpu", checkpoint_every=0, tta_flip=True)
    model = lopsided_net()
    epoch = next(e for e in Trainer(model, data, config).run() if isinstance(e, EpochFinished))
    loader = DeviceLoader(val, mean=mean, std=std, batch_size=512, shuffle=False)
    assert epoch.val_loss == evaluate(model, loader, 5, tta_flip=True).loss
    assert epoch.val_loss != evaluate(model, loader, 5).loss
