"""Activation maximization raises its unit far above noise and data; top patches equal a brute-force pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnplayground.core.inference import infer
from cnnplayground.core.presets import get_preset
from cnnplayground.inspect.maximize import MaximizeSettings, maximize, maximize_many, unit_value
from cnnplayground.inspect.patches import LayerPeaks, layer_peaks, top_patches


@pytest.mark.parametrize("layer, channel", [("relu2", 3), (None, 7)])  # a conv channel; a class logit
@pytest.mark.parametrize("fourier", [True, False])
def test_maximization_beats_the_noise_it_starts_from_and_the_dataset(trained, layer, channel, fourier):
    model, x, _, mean, std = trained
    settings = MaximizeSettings(steps=60, fourier=fourier, blur_every=0 if fourier else 10)
    steps = list(maximize(model, (1, 28, 28), layer, channel, mean, std, settings))
    assert [s.step for s in steps] == list(range(1, 61))
    first, last = steps[0], steps[-1]
    assert last.image.shape == (1, 28, 28) and last.image.min() >= 0.0 and last.image.max() <= 1.0
    with torch.no_grad():
        on_data = unit_value(model, x, layer, channel, mean, std)
    assert last.activation > first.activation + 1.0
    assert last.activation > float(on_data.mean()) + 3 * float(on_data.std())  # far above typical images
    assert last.activation > float(on_data.max())  # and above every one of the 200 images


def test_maximization_can_be_stopped_after_any_step(trained):
    model, _, _, mean, std = trained
    run = maximize(model, (1, 28, 28), "relu1", 0, mean, std, MaximizeSettings(steps=1000))
    first_three = [next(run).step for _ in range(3)]
    run.close()  # the GUI's Stop: nothing more is computed
    assert first_three == [1, 2, 3]


def test_top_patches_are_the_k_largest_activations(trained):
    model, x, _, mean, std = trained
    from cnnplayground.data.augment import normalize

    updates = list(top_patches(model, x, mean, std, "relu2", 5, k=8, batch_size=64))
    assert [round(f, 2) for f, _ in updates] == [0.32, 0.64, 0.96, 1.0]
    best = updates[-1][1]
    with torch.no_grad():
        maps = model.forward_all(normalize(x, mean, std))["relu2"][:, 5]
    peaks = maps.flatten(1).max(dim=1).values.numpy()
    brute = np.argsort(-peaks, kind="stable")[:8]
    assert best.indices.tolist() == brute.tolist()
    assert np.allclose(best.values, peaks[brute])
    for index, (row, col) in zip(best.indices, best.positions):
        assert maps[index, row, col] == pytest.approx(float(peaks[index]))
    crops = best.crops(infer(get_preset("lenet5").factory()), "relu2", x.numpy())
    assert all(c.shape[0] == 1 and 0 < c.shape[1] <= 14 and 0 < c.shape[2] <= 14 for c in crops)
    flat = list(top_patches(model, x, mean, std, "fc3", 2, k=3))[-1][1]  # a flat layer: the units themselves
    with torch.no_grad():
        logits = model.forward_all(normalize(x, mean, std))["fc3"][:, 2].numpy()
    assert flat.indices.tolist() == np.argsort(-logits, kind="stable")[:3].tolist()


def test_layer_peaks_give_every_channels_top_k_in_one_pass(trained):
    model, x, _, mean, std = trained
    updates = list(layer_peaks(model, (x * 255).round().to(torch.uint8), mean, std, "relu2", batch_size=64))
    assert [round(f, 2) for f, _ in updates] == [0.32, 0.64, 0.96, 1.0]
    assert all(p is None for _, p in updates[:-1])
    peaks = updates[-1][1]
    assert peaks.channels == 16 and peaks.values.shape == (200, 16)
    x8 = (x * 255).round() / 255  # the same images as the uint8 pass saw
    for channel in (0, 5, 15):
        single = list(top_patches(model, x8, mean, std, "relu2", channel, k=6))[-1][1]
        top = peaks.top(channel, 6)
        assert top.indices.tolist() == single.indices.tolist()
        assert np.allclose(top.values, single.values, atol=1e-5)
        assert top.positions.tolist() == single.positions.tolist()
    flat = list(layer_peaks(model, x, mean, std, "fc3"))[-1][1]
    assert flat.values.shape == (200, 10)


def test_a_gallery_image_excites_its_own_channel_most(trained):
    model, x, _, mean, std = trained
    channels = [0, 3, 7, 12]
    steps = list(maximize_many(model, (1, 28, 28), "relu2", channels, mean, std, MaximizeSettings(steps=60)))
    last = steps[-1]
    assert last.images.shape == (4, 1, 28, 28) and last.activations.shape == (4,)
    with torch.no_grad():
        images = torch.from_numpy(last.images)
        response = torch.stack([unit_value(model, images, "relu2", c, mean, std) for c in channels], dim=1)
        on_data = torch.stack([unit_value(model, x, "relu2", c, mean, std) for c in channels], dim=1)
    # Row i is image i; column j channel j: each image excites its own channel more than any other image does.
    assert response.argmax(dim=0).tolist() == [0, 1, 2, 3]
    assert (response.diagonal() > on_data.max(dim=0).values).all()
    assert np.allclose(last.activations, response.diagonal().numpy(), rtol=1e-4, atol=1e-5)
    for p in model.parameters():
        assert p.grad is None


def test_a_relu_is_optimized_through_its_input(trained):
    from cnnplayground.inspect.maximize import objective_layer

    model = trained[0]
    assert [objective_layer(model, n) for n in ("relu1", "relu2", "conv2", "pool1", None)] == \
        ["conv1", "conv2", "conv2", "pool1", None]


def test_a_channel_that_never_fires_and_the_strongest_channel():
    # 2 images × 4 channels: a dead ReLU channel (0 everywhere), two that vary, one all negative but varying
    values = np.array([[0.0, 0.5, 2.0, -3.0], [0.0, 3.0, -1.0, -0.5]], dtype=np.float32)
    peaks = LayerPeaks(values, np.zeros_like(values, dtype=np.int64), np.zeros_like(values, dtype=np.int64))
    assert [peaks.constant(c) for c in range(4)] == [True, False, False, False]  # a negative channel still ranks
    assert peaks.strongest_channel() == 1  # 3.0 on image 1
    silent = LayerPeaks(np.zeros((0, 2), np.float32), np.zeros((0, 2), np.int64), np.zeros((0, 2), np.int64))
    assert silent.constant(0) and silent.strongest_channel() == 0
