"""Class balance (``data/balance.py``): images per class of every split, the unbalanced rule (largest class at
least 3 × the smallest in the training split) and scikit-learn's ``balanced`` class weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnplayground.data.balance import (
    UNBALANCED_RATIO,
    ClassCounts,
    balanced_weights,
    class_counts,
    count_classes,
    loss_weights,
)
from cnnplayground.data.registry import load_dataset
from cnnplayground.project import DatasetChoice


def write_folder(root: Path, counts: dict[str, int], size: int = 8) -> Path:
    """A generated image folder: ``counts[class]`` small solid-colour PNGs per class folder."""
    for c, (cls, n) in enumerate(counts.items()):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (size, size), (30 + 70 * c, (11 * i) % 256, 220 - 60 * c)).save(root / cls / f"{i}.png")
    return root


def test_balanced_weights_are_exact_for_known_counts():
    # n = 20 images in k = 3 classes: n / (k · count) = 20/36, 20/18, 20/6, exactly as scikit-learn's "balanced".
    assert balanced_weights((12, 6, 2)) == (20 / 36, 20 / 18, 20 / 6)
    assert balanced_weights([5, 5]) == (1.0, 1.0)
    # Averaged over the images, the weights are 1: each image of a class of average size keeps weight 1.
    counts = (900, 450, 300, 120)
    w = balanced_weights(counts)
    assert sum(c * x for c, x in zip(counts, w)) / sum(counts) == pytest.approx(1.0, rel=1e-12)
    assert balanced_weights((4, 0, 2)) == (6 / 12, 0.0, 6 / 6)  # a class without images: weight 0
    labels = torch.tensor([0] * 12 + [1] * 6 + [2] * 2)
    assert count_classes(labels, 4) == (12, 6, 2, 0)
    weight = loss_weights("balanced", labels, 3)
    assert weight is not None and weight.dtype == torch.float32
    assert weight.tolist() == pytest.approx([20 / 36, 20 / 18, 20 / 6], rel=1e-7)
    assert loss_weights("none", labels, 3) is None


@pytest.mark.parametrize(("train", "unbalanced"), [
    ((30, 10), True),        # exactly 3×: unbalanced (the rule is ≥)
    ((29, 10), False),       # 2.9×
    ((100, 100, 100), False),
    ((5, 0, 5), True),       # a class with no training image
    ((7,), False),           # one class: nothing to balance
])
def test_the_unbalanced_rule_is_largest_at_least_three_times_the_smallest(train, unbalanced):
    counts = ClassCounts(tuple("abc"[: len(train)]), train, train, None)
    assert UNBALANCED_RATIO == 3.0
    assert counts.unbalanced is unbalanced
    if train == (5, 0, 5):
        assert math.isinf(counts.ratio) and counts.extremes() == "a 5 … b 0 (no images)"


def test_a_generated_unbalanced_folder_is_unbalanced_and_a_balanced_one_is_not(tmp_path):
    unbalanced = write_folder(tmp_path / "u", {"cat": 60, "dog": 30, "emu": 8})
    balanced = write_folder(tmp_path / "b", {"cat": 20, "dog": 20, "emu": 20})
    data = load_dataset(DatasetChoice(name="folder", root=str(unbalanced), options={"size": 8, "test_fraction": 0.2}),
                        val_fraction=0.1, seed=0)
    counts = class_counts(data)
    # Every image is counted once, in exactly one split.
    totals = [a + b + c for a, b, c in zip(counts.train, counts.val, counts.test or ())]
    assert totals == [60, 30, 8]
    assert counts.train == tuple(torch.bincount(data.train.labels, minlength=3).tolist())
    assert counts.unbalanced and counts.ratio == max(counts.train) / min(counts.train) >= 3
    assert counts.extremes() == f"cat {counts.train[0]} … emu {counts.train[2]} ({counts.ratio:.1f}×)"
    data = load_dataset(DatasetChoice(name="folder", root=str(balanced), options={"size": 8}), val_fraction=0.1,
                        seed=0)
    counts = class_counts(data)
    assert counts.test is None and sum(counts.train) + sum(counts.val) == 60
    assert not counts.unbalanced and counts.ratio < 3


def test_the_listing_names_every_class_or_the_largest_and_smallest():
    counts = ClassCounts(("cat", "dog", "emu"), (900, 450, 120), (100, 50, 13), None)
    assert counts.listing() == "cat 900, dog 450, emu 120"
    assert counts.listing("val") == "cat 100, dog 50, emu 13"
    many = ClassCounts(tuple(f"c{i}" for i in range(12)), tuple(range(1, 13)), (0,) * 12, None)
    assert many.listing(limit=4) == "c11 12, c10 11, …, c1 2, c0 1"
