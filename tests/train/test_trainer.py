"""The trainer: accuracy, control between steps, exact resume, failures that keep the weights."""

from __future__ import annotations

import math
import threading

import pytest
import torch
from helpers import synthetic_data as synthetic
from torch import nn

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.data.base import ImageData
from cnnplayground.project import TrainingConfig
from cnnplayground.train.events import (
    CheckpointFailed,
    CheckpointSaved,
    EpochFinished,
    Failed,
    Finished,
    Paused,
    RunStarted,
    StepFinished,
)
from cnnplayground.train.trainer import Trainer, TrainingSetupError


@pytest.fixture(scope="module")
def small_data() -> ImageData:
    return synthetic(1024, 256)


def lenet() -> nn.Module:
    return build(get_preset("lenet5").factory())


def small_net(dropout: bool = False) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Flatten()]
    if dropout:
        layers.append(nn.Dropout(0.3))
    layers.append(nn.Linear(4 * 12 * 12, 10))
    return nn.Sequential(*layers)


def cfg(**kw) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 2, "batch_size": 64, "device": "cpu", "checkpoint_every": 0, **kw})


def events_of(trainer: Trainer) -> list:
    return list(trainer.run())


@pytest.mark.slow
def test_lenet5_reaches_90_percent_on_the_synthetic_set():
    data = synthetic(20_000, 2_000)
    torch.manual_seed(0)
    trainer = Trainer(lenet(), data, cfg(epochs=4, batch_size=128, learning_rate=2e-3))
    events = events_of(trainer)
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert epochs[-1].val_accuracy > 0.90, [round(e.val_accuracy, 3) for e in epochs]
    assert isinstance(events[-1], Finished) and events[-1].reason == "completed"
    # The confusion matrix counts every validation image once.
    assert sum(map(sum, epochs[-1].confusion)) == 2_000


def test_event_sequence_and_metrics_are_consistent(small_data):
    trainer = Trainer(small_net(), small_data, cfg(), step_event_every=4)
    events = events_of(trainer)
    assert isinstance(events[0], RunStarted) and events[0].steps_per_epoch == 16
    kinds = [type(e).__name__ for e in events]
    # Steps 4, 8, 12 of each epoch (step 16 is covered by the epoch event).
    assert kinds == ["RunStarted"] + (["StepFinished"] * 3 + ["EpochFinished"]) * 2 + ["Finished"]
    steps = [e for e in events if isinstance(e, StepFinished)]
    assert [s.step for s in steps] == [4, 8, 12, 20, 24, 28]
    # Plain numbers, never tensors (they cross threads and go to JSON).
    assert all(type(s.loss) is float and type(s.accuracy) is float for s in steps)
    assert all(0 <= s.accuracy <= 1 and s.loss > 0 and s.images_per_second > 0 for s in steps)
    ep = [e for e in events if isinstance(e, EpochFinished)]
    assert ep[1].train_loss < ep[0].train_loss
    assert len(ep[0].per_class_accuracy) == 10 and sum(map(sum, ep[0].confusion)) == 256


def test_same_seed_on_cpu_gives_identical_metrics(small_data):
    def run():
        torch.manual_seed(1)
        t = Trainer(small_net(dropout=True), small_data, cfg(augment={"hflip": True}), step_event_every=5)
        return [(e.train_loss, e.val_loss, e.val_accuracy) for e in t.run() if isinstance(e, EpochFinished)]

    assert run() == run()


def test_pause_resume_and_stop_take_effect_between_two_steps(small_data):
    trainer = Trainer(small_net(), small_data, cfg(epochs=3), step_event_every=1)
    seen = []
    for event in trainer.run():
        seen.append(event)
        if isinstance(event, StepFinished) and event.step == 3:
            trainer.pause()
        elif isinstance(event, Paused):
            assert trainer.state == "paused"
            trainer.resume()
        elif isinstance(event, StepFinished) and event.step == 7:
            trainer.stop()
    names = [type(e).__name__ for e in seen]
    i = names.index("Paused")
    # No step ran between the pause request (after step 3) and the Paused event.
    assert seen[i - 1].step == 3 and seen[i].step == 3
    assert names[i + 1] == "Resumed" and seen[i + 2].step == 4
    assert isinstance(seen[-1], Finished) and seen[-1].reason == "stopped"
    assert seen[-1].step == 7 and seen[-2].step == 7
    assert trainer.state == "finished"


def test_pause_from_another_thread_blocks_the_worker_until_resume(small_data):
    trainer = Trainer(small_net(), small_data, cfg(epochs=50), step_event_every=1)
    paused = threading.Event()
    log: list = []

    def worker():
        for event in trainer.run():
            log.append(event)
            if isinstance(event, Paused):
                paused.set()

    trainer.pause()  # before the first step
    thread = threading.Thread(target=worker)
    thread.start()
    assert paused.wait(timeout=60)
    assert [type(e).__name__ for e in log] == ["RunStarted", "Paused"]
    trainer.stop()  # stop while paused
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert isinstance(log[-1], Finished) and log[-1].reason == "stopped" and log[-1].step == 0


def test_resume_from_checkpoint_continues_exactly(small_data, tmp_path):
    config = cfg(epochs=3, checkpoint_every=1, augment={"hflip": True, "crop_padding": 2})

    def fresh(seed):
        torch.manual_seed(seed)
        return small_net(dropout=True)

    full = [e for e in Trainer(fresh(0), small_data, config).run() if isinstance(e, EpochFinished)]

    first = Trainer(fresh(0), small_data, config, checkpoint_dir=tmp_path)
    for event in first.run():
        if isinstance(event, EpochFinished) and event.epoch == 2:
            first.stop()
        last = event
    assert isinstance(last, Finished) and last.reason == "stopped" and last.epochs_completed == 2
    ckpt = tmp_path / "last.ckpt"
    assert ckpt.exists()

    resumed = Trainer(fresh(123), small_data, config, resume_from=ckpt)  # different init: all comes from ckpt
    events = list(resumed.run())
    assert events[0].start_epoch == 2
    tail = [e for e in events if isinstance(e, EpochFinished)]
    assert [e.epoch for e in tail] == [3]
    for a, b in [(full[2], tail[0])]:
        assert (a.train_loss, a.train_accuracy, a.val_loss, a.val_accuracy, a.confusion) == (
            b.train_loss, b.train_accuracy, b.val_loss, b.val_accuracy, b.confusion)
    assert [e.epoch for e in resumed.history] == [1, 2, 3]


def test_checkpoint_events_and_bad_checkpoints(small_data, tmp_path):
    events = list(Trainer(small_net(), small_data, cfg(checkpoint_every=1), checkpoint_dir=tmp_path).run())
    assert [e.epoch for e in events if isinstance(e, CheckpointSaved)] == [1, 2]
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(TrainingSetupError, match="damaged or not a CNN Playground checkpoint"):
        Trainer(small_net(), small_data, cfg(), resume_from=bad)
    with pytest.raises(TrainingSetupError, match="does not fit"):
        list(Trainer(lenet(), small_data, cfg(), resume_from=tmp_path / "last.ckpt").run())


def deep_linear() -> nn.Module:
    """Four Linear layers with no activation between them: SGD at a high rate diverges within steps."""
    g = Graph()
    prev = g.add_node("Input", {"channels": 1, "height": 28, "width": 28}).id
    for kind, params in [("Flatten", {})] + [("Linear", {"out_features": n}) for n in (64, 64, 64, 10)]:
        node = g.add_node(kind, params).id
        g.connect(prev, node)
        prev = node
    return build(g)


def test_nan_loss_fails_with_advice_and_keeps_the_last_good_weights(small_data):
    torch.manual_seed(0)
    model = deep_linear()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = Trainer(model, small_data, cfg(optimizer="sgd", learning_rate=10.0), step_event_every=1)
    events = list(trainer.run())
    fail = events[-1]
    assert isinstance(fail, Failed) and fail.kind == "nan"
    assert "learning rate about 10× lower (1)" in fail.message and "last good weights were kept" in fail.message
    assert trainer.state == "failed"
    after = model.state_dict()
    assert all(torch.isfinite(v).all() for v in after.values())
    # Nothing was judged good after the start, so the weights are the initial ones.
    assert all(torch.equal(before[k], after[k]) for k in before)


class _ExplodesAtStep(nn.Module):
    """A tiny net whose forward raises a given error on its n-th training call."""

    def __init__(self, n: int, error: Exception) -> None:
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)
        self.calls, self.n, self.error = 0, n, error

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.n:
                raise self.error
        return self.fc(x.flatten(1))


def test_out_of_memory_suggests_a_smaller_batch(small_data):
    model = _ExplodesAtStep(5, torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    events = list(Trainer(model, small_data, cfg(batch_size=256)).run())
    fail = events[-1]
    assert isinstance(fail, Failed) and fail.kind == "out_of_memory"
    assert "batch size 256: try a batch size of 128" in fail.message
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_other_errors_end_the_run_with_a_failed_event(small_data):
    model = _ExplodesAtStep(2, ValueError("boom"))
    fail = list(Trainer(model, small_data, cfg()).run())[-1]
    assert isinstance(fail, Failed) and fail.kind == "error"
    assert fail.message.startswith("training failed: ValueError: boom.")


def test_early_stopping_restores_the_best_weights(small_data):
    torch.manual_seed(0)
    model = small_net()
    # A learning rate too small to change anything: validation loss never improves after epoch 1.
    config = cfg(epochs=10, learning_rate=1e-12, early_stopping_patience=2, optimizer="sgd", momentum=0.0)
    trainer = Trainer(model, small_data, config, snapshot_every_epoch=True)
    events = list(trainer.run())
    end = events[-1]
    assert isinstance(end, Finished) and end.reason == "early_stopping"
    assert end.epochs_completed == 3 and end.best_epoch == 1
    assert end.kept_epoch == 1
    assert ("did not improve for 2 epochs; kept the weights of epoch 1, the best by validation loss "
            f"({end.best_value:.4f})") in end.message


def test_unknown_device_is_a_setup_error(small_data):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(TrainingSetupError, match="no CUDA GPU is available"):
        Trainer(small_net(), small_data, cfg(device="cuda"))


def test_after_divergence_the_kept_weights_still_give_a_sane_loss(small_data, monkeypatch):
    """Weights are only trusted once they have produced sane losses since (review finding)."""
    from cnnplayground.train import trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "GOOD_WEIGHTS_INTERVAL", 0.0)  # propose a copy at every check
    torch.manual_seed(0)
    model = deep_linear()
    trainer = Trainer(model, small_data, cfg(optimizer="sgd", learning_rate=1.0, epochs=5), step_event_every=1)
    events = list(trainer.run())
    fail = events[-1]
    assert isinstance(fail, Failed) and fail.kind == "nan"
    assert any(isinstance(e, StepFinished) for e in events)  # copies were proposed before it broke
    x = (small_data.train.images[:256].float() / 255 - small_data.mean[0]) / small_data.std[0]
    with torch.no_grad():
        loss = nn.functional.cross_entropy(model(x), small_data.train.labels[:256]).item()
    assert math.isfinite(loss) and loss < 50 * math.log(10)


def test_a_checkpoint_that_cannot_be_written_does_not_stop_training(small_data, tmp_path, monkeypatch):
    from cnnplayground.train import trainer as trainer_mod

    def refuse(state, path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(trainer_mod, "save_checkpoint", refuse)
    events = list(Trainer(small_net(), small_data, cfg(checkpoint_every=1), checkpoint_dir=tmp_path).run())
    failed = [e for e in events if isinstance(e, CheckpointFailed)]
    assert [e.epoch for e in failed] == [1, 2] and "Permission denied" in failed[0].message
    assert isinstance(events[-1], Finished) and events[-1].reason == "completed"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(TrainingSetupError, match="cannot use .* for checkpoints"):
        Trainer(small_net(), small_data, cfg(), checkpoint_dir=tmp_path / "afile" / "ck")


def test_a_checkpoint_of_another_network_is_refused_before_training(small_data, tmp_path):
    list(Trainer(small_net(), small_data, cfg(epochs=1, checkpoint_every=1), checkpoint_dir=tmp_path).run())
    with pytest.raises(TrainingSetupError) as info:
        Trainer(lenet(), small_data, cfg(), resume_from=tmp_path / "last.ckpt")
    assert str(info.value).startswith("the checkpoint does not fit this network: ")
    assert "\n" not in str(info.value)


def test_a_conv_net_clearly_beats_a_linear_model_on_the_synthetic_set():
    data = synthetic(6000, 1000)

    def val_accuracy(model):
        torch.manual_seed(0)
        epochs = [e for e in Trainer(model, data, cfg(epochs=3, learning_rate=2e-3)).run()
                  if isinstance(e, EpochFinished)]
        return epochs[-1].val_accuracy

    torch.manual_seed(0)
    linear = val_accuracy(nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)))
    conv = val_accuracy(lenet())
    assert conv > linear + 0.2, (conv, linear)
