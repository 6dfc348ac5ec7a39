"""``cnnplayground train`` never throws a finished run away (issue 21): the destination is checked before
training, a failed final save goes to the recovery folder, Ctrl-C saves the last finished epoch.

Faults are simulated (the tests run as root): ``os.replace`` failing with ENOSPC for the target only,
a full disk through ``shutil.disk_usage``. Tiny runs: LeNet-5 on 256 synthetic images, batch 64.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import stat

import pytest
import torch

from cnnplayground.cli import main
from cnnplayground.cli import train as cli_train
from cnnplayground.core.presets import get_preset
from cnnplayground.io import atomic, destination
from cnnplayground.io.project import load_project, save_project
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.events import EpochFinished, StepFinished


@pytest.fixture(autouse=True)
def trainers(monkeypatch) -> list:
    """A step event for every step (not 20 a second), so an interrupt lands inside an epoch, at step 2;
    the trainers made, for their models."""
    from cnnplayground.train import trainer

    made: list = []

    class EveryStep(trainer.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, step_event_every=1)
            made.append(self)

    monkeypatch.setattr(trainer, "Trainer", EveryStep)
    return made


@pytest.fixture
def recovery_dir(tmp_path, monkeypatch):
    folder = tmp_path / "autosave"
    monkeypatch.setenv("CNNPLAYGROUND_AUTOSAVE_DIR", str(folder))
    return folder


def _project_file(folder, epochs: int = 2):
    path = folder / "small.cnnp"
    project = Project.new(get_preset("lenet5").factory(), name="small",
                          dataset=DatasetChoice(name="synthetic", options={"train_size": 256, "test_size": 64}),
                          training=TrainingConfig(epochs=epochs, batch_size=64, device="cpu", val_fraction=0.2))
    save_project(project, path)
    return path


def _trained(out) -> bool:
    return out.exists() and load_project(out).weights is not None


@pytest.mark.parametrize("case", ["missing folder", "read-only file", "named pipe", "full disk"])
def test_a_destination_that_cannot_be_saved_is_refused_before_training(case, tmp_path, recovery_dir, capsys,
                                                                       monkeypatch):
    """Before: the run trained to its end, then 'the project could not be saved'."""
    path = _project_file(tmp_path)
    out = tmp_path / "out.cnnp"
    if case == "missing folder":
        out = tmp_path / "missing" / "out.cnnp"
    elif case == "read-only file":
        out.write_bytes(b"keep me")
        out.chmod(0o444)
    elif case == "named pipe":
        os.mkfifo(out)
    else:
        real = destination.shutil.disk_usage
        monkeypatch.setattr(destination.shutil, "disk_usage", lambda p: real(p)._replace(free=100_000))
    code = main(["train", str(path), "--save", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    assert "epoch" not in captured.out and "Training" not in captured.out  # refused before the first step
    message = captured.err.strip()
    assert message.count("\n") == 0 and "nothing was trained" in message, message
    reason = {"missing folder": "does not exist", "read-only file": "read-only", "named pipe": "a named pipe",
              "full disk": "free, the project needs about"}[case]
    assert reason in message, message
    if case == "read-only file":
        assert out.read_bytes() == b"keep me"
    assert not recovery_dir.exists()


def test_a_failed_final_save_goes_to_the_recovery_folder_and_is_named(tmp_path, recovery_dir, capsys, monkeypatch):
    """The disk fills during training: the final save fails (ENOSPC at the rename), the project goes to the
    autosave folder, the message names it, and it holds the trained run and its weights."""
    path = _project_file(tmp_path)
    out = tmp_path / "out.cnnp"
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if os.fspath(dst) == os.fspath(out):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "replace", replace)
    assert main(["train", str(path), "--save", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    copies = sorted(recovery_dir.glob("*.cnnp"))
    assert len(copies) == 1, message
    assert "\n" not in message and "No space left on device" in message
    assert f"the trained project was saved to {copies[0]} instead" in message, message
    saved = load_project(copies[0])
    assert saved.weights is not None and [r.name for r in saved.history] == ["run 1"]
    assert len(saved.history[0].series["val_loss"].x) == 2
    assert json.loads(copies[0].with_suffix(".json").read_text())["original"] == str(out)
    assert not out.exists()


def test_when_the_recovery_copy_fails_too_the_message_says_the_run_is_lost(tmp_path, recovery_dir, capsys,
                                                                          monkeypatch):
    path = _project_file(tmp_path, epochs=1)
    out = tmp_path / "out.cnnp"

    def replace(src, dst, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "replace", replace)
    assert main(["train", str(path), "--save", str(out)]) == 2
    message = capsys.readouterr().err.strip()
    assert "nor could a recovery copy" in message and "the trained network is lost" in message, message
    assert list(recovery_dir.glob("*.cnnp")) == []


@pytest.mark.parametrize("how", ["first Ctrl-C (stop after the step)", "second Ctrl-C (KeyboardInterrupt)"])
def test_ctrl_c_during_an_epoch_saves_the_last_finished_epoch(how, tmp_path, recovery_dir, capsys, monkeypatch,
                                                             trainers):
    """Before: the weights of half of epoch 2 were saved with the record of epoch 1 only."""
    path = _project_file(tmp_path, epochs=3)
    out = tmp_path / "out.cnnp"
    seen: dict = {}
    real_show = cli_train._HumanPrinter.show

    def show(self, event):
        real_show(self, event)
        if isinstance(event, EpochFinished) and event.epoch == 1:  # the model as epoch 1 left it
            seen["epoch 1"] = {k: v.detach().clone() for k, v in trainers[0].model.state_dict().items()}
        if isinstance(event, StepFinished) and event.epoch == 2 and event.epoch_step == 2 and "hit" not in seen:
            seen["hit"] = True
            if how.startswith("first"):
                os.kill(os.getpid(), signal.SIGINT)  # the CLI's handler: stop after this step
            else:
                raise KeyboardInterrupt

    monkeypatch.setattr(cli_train._HumanPrinter, "show", show)
    code = main(["train", str(path), "--save", str(out)])
    captured = capsys.readouterr()
    saved = load_project(out)
    assert len(saved.history[0].series["val_loss"].x) == 1
    assert all(torch.equal(saved.weights[k], v) for k, v in seen["epoch 1"].items()), "not epoch 1's weights"
    assert code == (0 if how.startswith("first") else 130), captured.err
    assert ("interrupted during epoch 2: saved " + str(out) + " with the 1 finished epoch and the weights of "
            "epoch 1 (the steps after it are not kept)") in captured.out


def test_ctrl_c_before_the_first_epoch_ends_saves_nothing_and_says_so(tmp_path, recovery_dir, capsys, monkeypatch):
    path = _project_file(tmp_path, epochs=2)
    out = tmp_path / "out.cnnp"
    real_show = cli_train._HumanPrinter.show

    def show(self, event):
        real_show(self, event)
        if isinstance(event, StepFinished) and event.epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_train._HumanPrinter, "show", show)
    assert main(["train", str(path), "--save", str(out)]) == 130
    assert "interrupted during epoch 1: nothing was saved (no epoch had finished)" in capsys.readouterr().out
    assert not out.exists()


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE")
def test_a_real_file_size_limit_is_refused_before_training(tmp_path, recovery_dir):
    """``ulimit -f`` for real, in a child process (Python ignores SIGXFSZ, so a write past it fails with
    EFBIG): refused before the first step instead of after the run."""
    import resource
    import subprocess
    import sys
    from pathlib import Path

    path = _project_file(tmp_path)
    out = tmp_path / "out.cnnp"

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-m", "cnnplayground", "train", str(path), "--save", str(out)],
                          capture_output=True, text=True, timeout=300, preexec_fn=limit_files, env=env)
    assert proc.returncode == 2, proc.stderr
    assert "files are limited to 97.7 KB (ulimit -f)" in proc.stderr and "nothing was trained" in proc.stderr
    assert "epoch" not in proc.stdout and not out.exists()


@pytest.mark.skipif(os.name != "posix", reason="named pipes")
def test_new_with_force_does_not_replace_a_pipe_or_a_read_only_file(tmp_path, capsys):
    """``cnnplayground new lenet5 /dev/full --force`` replaced the device node; a named pipe stands for it here.
    ``--force`` overwrites a regular file, never a read-only one (make it writable first)."""
    pipe = tmp_path / "pipe.cnnp"
    os.mkfifo(pipe)
    assert main(["new", "lenet5", str(pipe), "--force"]) == 2
    assert "it is a named pipe, not a regular file" in capsys.readouterr().err
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    kept = tmp_path / "kept.cnnp"
    kept.write_bytes(b"mine")
    kept.chmod(0o444)
    assert main(["new", "lenet5", str(kept), "--force"]) == 2
    assert "the file is read-only" in capsys.readouterr().err and kept.read_bytes() == b"mine"
    kept.chmod(0o644)
    assert main(["new", "lenet5", str(kept), "--force"]) == 0 and load_project(kept).name == "LeNet-5"
