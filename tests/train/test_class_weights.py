"""Class-weighted loss (``TrainingConfig.class_weights``): with ``balanced`` the trainer steps on
``F.cross_entropy(weight=n / (k · count_c))``, label smoothing included, on the eager and the compiled (fast)
path; the validation loss stays unweighted."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnplayground.data.base import ImageData, Split, channel_stats
from cnnplayground.project import TrainingConfig
from cnnplayground.train import trainer as trainer_module
from cnnplayground.train.events import EpochFinished
from cnnplayground.train.fastpath import CompileResult
from cnnplayground.train.trainer import Trainer

#: 20 training images: 12 of class 0, 6 of class 1, 2 of class 2 (balanced weights 20/36, 20/18, 20/6).
COUNTS = (12, 6, 2)
WEIGHTS = (20 / 36, 20 / 18, 20 / 6)


def _unbalanced() -> ImageData:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (26, 1, 4, 4), generator=g, dtype=torch.uint8)
    labels = torch.tensor([0] * 12 + [1] * 6 + [2] * 2 + [0, 1, 2, 0, 1, 2])
    train, val = Split(images[:20], labels[:20]), Split(images[20:], labels[20:])
    mean, std = channel_stats(train.images)
    return ImageData("unbalanced", ("a", "b", "c"), train, val, None, mean, std)


def _normalized(split: Split, data: ImageData) -> torch.Tensor:
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    return (split.images.float() / 255.0 - mean) / std


def _first_step(class_weights: str, smoothing: float, monkeypatch=None, compiled: bool = False):
    """(loss of the one step of a one-batch epoch, the hand-computed losses, the epoch event, the model)."""
    data = _unbalanced()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    start = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainingConfig(epochs=1, batch_size=20, device="cpu", checkpoint_every=0, val_fraction=0.2,
                            class_weights=class_weights, label_smoothing=smoothing, compile=compiled)
    calls = []
    if compiled:  # the fast path without compiling: the "compiled" module is the model itself
        monkeypatch.setattr(trainer_module, "compile_for_training",
                            lambda model, *a, **k: calls.append(1) or CompileResult(model, 0.0, "stub"))
    events = list(Trainer(model, data, config).run())
    assert len(calls) == compiled
    epoch = next(e for e in events if isinstance(e, EpochFinished))
    first = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    first.load_state_dict(start)
    with torch.no_grad():
        logits = first(_normalized(data.train, data))
    y = data.train.labels
    hand = {
        "weighted": float(F.cross_entropy(logits, y, weight=torch.tensor(WEIGHTS), label_smoothing=smoothing)),
        "plain": float(F.cross_entropy(logits, y, label_smoothing=smoothing)),
    }
    return epoch.train_loss, hand, epoch, model, data  # one step: the epoch's loss is the step's


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_balanced_class_weights_weigh_the_training_loss(smoothing):
    loss, hand, _, _, _ = _first_step("balanced", smoothing)
    assert abs(hand["weighted"] - hand["plain"]) > 0.01  # the weights make a difference on this batch
    assert loss == pytest.approx(hand["weighted"], rel=1e-5)
    loss, hand, _, _, _ = _first_step("none", smoothing)  # off (the default): the plain loss
    assert loss == pytest.approx(hand["plain"], rel=1e-5)


def test_the_fast_path_uses_the_weighted_loss_too(monkeypatch):
    loss, hand, _, _, _ = _first_step("balanced", 0.1, monkeypatch, compiled=True)
    assert loss == pytest.approx(hand["weighted"], rel=1e-5)


def test_the_validation_loss_stays_unweighted():
    _, _, epoch, model, data = _first_step("balanced", 0.0)
    with torch.no_grad():
        logits = model(_normalized(data.val, data))
    plain = float(F.cross_entropy(logits, data.val.labels))
    weighted = float(F.cross_entropy(logits, data.val.labels, weight=torch.tensor(WEIGHTS)))
    assert abs(plain - weighted) > 0.01
    assert epoch.val_loss == pytest.approx(plain, rel=1e-5)


def test_class_weights_are_off_by_default_and_checked():
    assert TrainingConfig().class_weights == "none"
    with pytest.raises(ValueError, match="class_weights"):
        TrainingConfig(class_weights="inverse")
