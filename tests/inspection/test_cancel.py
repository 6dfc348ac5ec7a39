"""Long analyses report their progress and stop early when cancelled (issue 24): each loop observes the
flag at its next iteration. Counted in iterations (progress reports), no clock involved."""

from __future__ import annotations

import functools

import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.core.progress import Cancelled, Progress
from cnnplayground.inspect.adversarial import epsilon_sweep, fgsm, label_flips
from cnnplayground.inspect.attribution import integrated_gradients_steps
from cnnplayground.inspect.maximize import MaximizeSettings, maximize_many
from cnnplayground.inspect.occlusion import occlusion_steps
from cnnplayground.inspect.patches import layer_peaks, top_patches
from cnnplayground.inspect.receptive import effective_field

MEAN, STD = (0.5,), (0.25,)


class CancelAfter(Progress):
    """Cancelled by its ``after``-th report (as a user pressing Cancel while that iteration runs)."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after

    def report(self, fraction: float) -> None:
        super().report(fraction)
        if self.reports == self.after:
            self.cancel()


@pytest.fixture(scope="module")
def lenet():
    torch.manual_seed(0)
    return build(get_preset("lenet5").factory()).eval()


def _images(n: int) -> torch.Tensor:
    return torch.rand((n, 1, 28, 28), generator=torch.Generator().manual_seed(1))


def _analyses(model):
    """name → (the analysis given a Progress, as a generator or a call; its loop's iterations in all)."""
    x, y = _images(40), torch.arange(40) % 10
    return {
        "occlusion": (lambda p: occlusion_steps(model, x[0], 3, patch=4, stride=2, batch_size=8, progress=p), 22),
        "integrated gradients": (lambda p: integrated_gradients_steps(model, x[:1], torch.tensor([3]), MEAN, STD,
                                                                      steps=64, batch_size=4, progress=p), 16),
        "maximize": (lambda p: maximize_many(model, (1, 28, 28), "conv1", [0, 1], MEAN, STD,
                                             MaximizeSettings(steps=30), progress=p), 30),
        "top patches": (lambda p: top_patches(model, x, MEAN, STD, "conv1", 0, batch_size=4, progress=p), 10),
        "layer peaks": (lambda p: layer_peaks(model, x, MEAN, STD, "conv1", batch_size=4, progress=p), 10),
        "epsilon sweep": (lambda p: epsilon_sweep(model, x, y, [0.0, 0.1, 0.2], MEAN, STD, batch_size=8,
                                                  progress=p), 15),
        "label flips": (lambda p: label_flips(model, x, y, MEAN, STD,
                                              functools.partial(_fgsm_small), limit=1000, batch_size=4,
                                              progress=p), 10),
        "effective field": (lambda p: effective_field(model, (x - 0.5) / 0.25, "conv2", 2, 2, batch_size=4,
                                                      progress=p), 10),
    }


def _fgsm_small(model, xb, yb):
    return fgsm(model, xb, yb, 0.05, MEAN, STD)


def _drain(result) -> None:
    if hasattr(result, "__next__"):
        for _item in result:
            pass


@pytest.mark.parametrize("name", ["occlusion", "integrated gradients", "maximize", "top patches", "layer peaks",
                                  "epsilon sweep", "label flips", "effective field"])
def test_a_cancelled_analysis_stops_at_its_next_iteration(lenet, name):
    analysis, iterations = _analyses(lenet)[name]
    whole = Progress()
    _drain(analysis(whole))
    assert whole.reports == iterations and not whole.cancelled  # every iteration reports once
    assert 0.0 < whole.fraction < 1.0  # how far the last iteration had come when it began
    cancelled = CancelAfter(3)
    with pytest.raises(Cancelled):
        _drain(analysis(cancelled))
    assert cancelled.reports == 3  # the 4th iteration saw the flag and did not run: 3 of them, not all


def test_the_effective_field_is_the_same_taken_in_batches(lenet):
    x = (_images(10) - 0.5) / 0.25
    whole = effective_field(lenet, x, "conv2", 3, 4, batch_size=10)
    assert torch.allclose(torch.from_numpy(effective_field(lenet, x, "conv2", 3, 4, batch_size=3)),
                          torch.from_numpy(whole), rtol=1e-5, atol=1e-7)


def test_without_progress_nothing_changes(lenet):
    x = _images(1)
    steps = list(occlusion_steps(lenet, x[0], 3, patch=4, stride=2, batch_size=8))
    assert len(steps) == 22 and steps[-1][0] == 1.0
