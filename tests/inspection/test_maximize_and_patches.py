"""Activation maximization raises its unit far above noise and data; top patches equal a brute-force pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnplayground.core.inference import infer
from cnnplayground.core.presets import get_preset
from cnnplayground.inspect.maximize import MaximizeSettings, maximize, unit_value
from cnnplayground.inspect.patches import top_patches


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
