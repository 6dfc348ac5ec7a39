"""Random labels and random pixels (Zhang et al. 2017)."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.data.base import channel_stats
from cnnplayground.data.corruption import randomize_labels, randomize_pixels
from cnnplayground.data.registry import load_dataset
from cnnplayground.project import DatasetChoice


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
def test_share_of_changed_labels_matches_the_fraction(fraction):
    labels = torch.arange(10_000) % 10
    out = randomize_labels(labels, fraction, 10, gen())
    changed = (out != labels).float().mean().item()
    assert abs(changed - fraction * 0.9) < 0.015
    assert torch.equal(labels, torch.arange(10_000) % 10)  # the input is untouched
    assert out.dtype == torch.int64 and out.min() >= 0 and out.max() <= 9
    if fraction == 1.0:
        # All labels are redrawn uniformly: every class gets about a tenth.
        counts = torch.bincount(out, minlength=10).float() / 10_000
        assert (counts - 0.1).abs().max() < 0.015


def test_fraction_zero_changes_nothing_and_returns_a_new_tensor():
    labels = torch.arange(100) % 7
    out = randomize_labels(labels, 0.0, 7, gen())
    assert torch.equal(out, labels) and out.data_ptr() != labels.data_ptr()
    images = torch.randint(0, 256, (20, 1, 4, 4), dtype=torch.uint8)
    assert torch.equal(randomize_pixels(images, 0.0, gen()), images)


def test_corruption_is_determined_by_the_generator():
    labels = torch.arange(1000) % 10
    assert torch.equal(randomize_labels(labels, 0.5, 10, gen(3)), randomize_labels(labels, 0.5, 10, gen(3)))
    assert not torch.equal(randomize_labels(labels, 0.5, 10, gen(3)), randomize_labels(labels, 0.5, 10, gen(4)))


def test_random_pixels_replace_exactly_the_chosen_share_with_noise():
    images = torch.full((1000, 3, 8, 8), 7, dtype=torch.uint8)
    out = randomize_pixels(images, 0.3, gen())
    replaced = (out != 7).flatten(1).any(1)
    assert int(replaced.sum()) == 300
    assert (images == 7).all()
    noise = out[replaced].float()
    assert abs(noise.mean().item() - 127.5) < 1.5 and abs(noise.std().item() - 73.9) < 1.0
    assert out.dtype == torch.uint8 and out.shape == images.shape


@pytest.mark.parametrize("fraction", [-0.1, 1.1])
def test_fraction_must_be_a_share(fraction):
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        randomize_labels(torch.zeros(5, dtype=torch.int64), fraction, 2, gen())
    with pytest.raises(ValueError, match="fraction must be between 0 and 1"):
        randomize_pixels(torch.zeros(5, 1, 2, 2, dtype=torch.uint8), fraction, gen())


def synthetic(**options) -> DatasetChoice:
    return DatasetChoice(name="synthetic", options={"train_size": 2000, "test_size": 500, **options})


def test_random_labels_touch_the_training_part_only():
    clean = load_dataset(synthetic(), val_fraction=0.2, seed=5)
    noisy = load_dataset(synthetic(random_labels=1.0), val_fraction=0.2, seed=5)
    assert torch.equal(noisy.val.labels, clean.val.labels) and torch.equal(noisy.val.images, clean.val.images)
    assert torch.equal(noisy.test.labels, clean.test.labels) and torch.equal(noisy.test.images, clean.test.images)
    assert torch.equal(noisy.train.images, clean.train.images)
    changed = (noisy.train.labels != clean.train.labels).float().mean().item()
    assert abs(changed - 0.9) < 0.03
    again = load_dataset(synthetic(random_labels=1.0), val_fraction=0.2, seed=5)
    assert torch.equal(again.train.labels, noisy.train.labels)


def test_random_pixels_touch_the_training_part_only():
    clean = load_dataset(synthetic(), val_fraction=0.2, seed=5)
    noisy = load_dataset(synthetic(random_pixels=0.5), val_fraction=0.2, seed=5)
    assert torch.equal(noisy.val.images, clean.val.images) and torch.equal(noisy.test.images, clean.test.images)
    assert torch.equal(noisy.train.labels, clean.train.labels)
    replaced = (noisy.train.images != clean.train.images).flatten(1).any(1)
    assert int(replaced.sum()) == 800
    # Normalization comes from the training part as the network sees it.
    assert (noisy.mean, noisy.std) == channel_stats(noisy.train.images)
