"""Stress test of the trainer's controls, without Qt: hundreds of seeded random pause/resume/stop sequences.

Each sequence trains a tiny network (4 steps per epoch, 1 or 2 epochs) in a thread of its own while the
test's thread (the controller) pauses, resumes, stops and asks for snapshots from outside, as the GUI does.

Most sequences are *scripted*: the trainer thread halts at exact points of the run (inside a training step,
inside the validation pass, inside the checkpoint write) until the controller has issued its commands from
its own thread. Each of them then has one right outcome, which :func:`expected_events` derives from the
trainer's rule (a command takes effect at the control point before the next optimizer step; stop wins over
pause; a paused run waits until resumed or stopped). The others are *racy*: commands fly as events arrive,
without waiting, and the run is checked against what every run must satisfy.

Every wait has a time limit (no sleeps): a deadlock fails the test with the sequence's seed. Checked for
every run: the events and the trainer's state at each of them; the weights at the end are finite and are
exactly those of the last optimizer step (nothing half-done, nothing rolled back), or the initial ones when
no step ran, or, once an epoch was validated, those of the best epoch (keep-best, on by default: the epoch's
own snapshot); the checkpoint on disk loads, fits a fresh network, and holds the last weights when the run
ended on an epoch boundary; each finished epoch is in the history once.
"""

from __future__ import annotations

import collections
import math
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import install_halting_hooks, synthetic_data
from torch import nn

from cnnplayground.data.base import ImageData
from cnnplayground.project import TrainingConfig
from cnnplayground.train.checkpoint import load_checkpoint
from cnnplayground.train.events import (
    CheckpointSaved,
    EpochFinished,
    Failed,
    Finished,
    Paused,
    Resumed,
    RunStarted,
    StepFinished,
    WeightsSnapshot,
)
from cnnplayground.train.trainer import Trainer

SEQUENCES = 400
RACY_SHARE = 0.25
STEPS_PER_EPOCH = 4  # 256 training images, batch 64
TIMEOUT = 30.0  # seconds; a healthy wait here lasts milliseconds
#: Share of stops after which the next sequence starts at once, while this run is still stopping.
OVERLAP_SHARE = 0.35

#: What must happen at least this often over the whole file (the seeds are fixed, so this is stable).
COVERAGE = {
    "before the first step": 10,
    "at a training step": 40,
    "at the last step": 10,
    "during evaluation": 15,
    "during checkpointing": 15,
    "paused": 40,
    "pause while paused": 8,
    "resume while running": 10,
    "double stop": 8,
    "stop while paused": 10,
    "after Finished": 10,
    "start while the previous run is stopping": 10,
    "racy": 30,
}

_local = threading.local()  # the trainer thread's Sequence, for the hooks below


def tiny_data() -> ImageData:
    return synthetic_data(256, 64, seed=3)


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(8 * 5 * 5, 10))


class Deadlock(AssertionError):
    pass


@dataclass
class Sequence:
    """One run, its script, and what happened."""

    seed: int
    epochs: int
    checkpoint: bool
    racy: bool
    #: Phase → commands: "before", ("step", n), ("eval", epoch), ("ckpt", epoch), "after".
    script: dict[Any, list[str]]
    #: Commands for each pause in turn, issued while the trainer waits paused (default: resume).
    paused: list[list[str]]
    folder: Path
    trainer: Trainer | None = None
    model: nn.Module | None = None
    thread: threading.Thread | None = None
    initial: dict[str, torch.Tensor] = field(default_factory=dict)
    last_stepped: dict[str, torch.Tensor] | None = None
    events: list = field(default_factory=list)
    states: list[str] = field(default_factory=list)  # trainer.state as each event was yielded
    errors: list[str] = field(default_factory=list)
    inbox: collections.deque = field(default_factory=collections.deque)
    cond: threading.Condition = field(default_factory=threading.Condition)
    auto: threading.Event = field(default_factory=threading.Event)  # the controller has let go of this run
    training_forwards: int = 0
    evaluations: int = 0
    commands: list[tuple[Any, str]] = field(default_factory=list)  # (where, command) as issued

    def describe(self) -> str:
        kind = "racy" if self.racy else "scripted"
        return (f"seed {self.seed} ({kind}, {self.epochs} epochs, checkpoint {self.checkpoint}): "
                f"commands {self.commands}")

    # --- the trainer thread ---------------------------------------------------------------------
    def post(self, item) -> None:
        with self.cond:
            self.inbox.append(item)
            self.cond.notify_all()

    def reach(self, phase) -> None:
        """Called in the trainer thread at ``phase``: wait there until the controller has acted on it."""
        if self.racy or self.auto.is_set() or phase not in self.script:
            return
        answered = threading.Event()
        self.post(("phase", phase, answered))
        if not answered.wait(TIMEOUT):
            self.errors.append(f"the controller never answered at {phase}")

    def train(self) -> None:
        _local.sequence = self
        try:
            for event in self.trainer.run():
                self.events.append(event)
                self.states.append(self.trainer.state)
                self.post(("event", event))
        except BaseException as exc:  # noqa: BLE001 - reported by the controller
            self.errors.append(f"the generator raised {exc!r}")
            self.post(("event", Failed(kind="error", message=repr(exc), epoch=0, step=0)))
        finally:
            _local.sequence = None

    # --- the controller -------------------------------------------------------------------------
    def next_item(self):
        with self.cond:
            if not self.cond.wait_for(lambda: self.inbox, TIMEOUT):
                raise Deadlock(f"nothing from the trainer for {TIMEOUT:.0f} s (state {self.trainer.state}); "
                               f"{self.describe()}; events so far {names(self.events)}")
            return self.inbox.popleft()

    def let_go(self) -> None:
        """The controller moves on: halts still to come pass, any halt waiting now is answered."""
        self.auto.set()
        with self.cond:
            pending = list(self.inbox)
        for item in pending:
            if item[0] == "phase":
                item[2].set()


def names(events) -> list[str]:
    return [type(e).__name__ for e in events]


def issue(seq: Sequence, where, commands: list[str]) -> None:
    t = seq.trainer
    for command in commands:
        seq.commands.append((where, command))
        {"pause": t.pause, "resume": t.resume, "stop": t.stop, "snapshot": t.request_snapshot}[command]()


# --- the oracle ---------------------------------------------------------------------------------------


def expected_events(seq: Sequence) -> list[tuple[str, int]]:
    """(event name, step) of the run a scripted sequence must give, by the trainer's rule."""
    pause = stop = snapshot = False
    paused = iter(seq.paused)
    out: list[tuple[str, int]] = [("RunStarted", 0)]

    def do(commands):
        nonlocal pause, stop, snapshot
        for c in commands or ():
            pause = True if c == "pause" else False if c == "resume" else pause
            stop = stop or c == "stop"
            snapshot = snapshot or c == "snapshot"

    do(seq.script.get("before"))
    step = 0
    for epoch in range(1, seq.epochs + 1):
        for epoch_step in range(1, STEPS_PER_EPOCH + 1):
            # The control point before this step.
            if stop:
                return [*out, ("Finished:stopped", step)]
            if pause:
                out.append(("Paused", step))
                do(next(paused, ["resume"]))
                if stop:
                    return [*out, ("Finished:stopped", step)]
                out.append(("Resumed", step))
            if snapshot:
                snapshot = False
                out.append(("WeightsSnapshot", step))
            do(seq.script.get(("step", step + 1)))  # during the step: effective at the next control point
            step += 1
            if epoch_step < STEPS_PER_EPOCH:
                out.append(("StepFinished", step))
        do(seq.script.get(("eval", epoch)))
        out.append(("EpochFinished", step))
        if seq.checkpoint:
            do(seq.script.get(("ckpt", epoch)))
            out.append(("CheckpointSaved", step))
        out.append(("WeightsSnapshot", step))  # snapshot_every_epoch
    return [*out, ("Finished:completed", step)]


def observed(events) -> list[tuple[str, int]]:
    out = []
    for e in events:
        name = type(e).__name__
        if isinstance(e, Finished):
            name = f"Finished:{e.reason}"
        step = e.step if hasattr(e, "step") else 0
        if isinstance(e, CheckpointSaved):
            step = e.epoch * STEPS_PER_EPOCH
        out.append((name, step))
    return out


# --- building and checking sequences --------------------------------------------------------------

PHASE_COMMANDS = (["pause"], ["pause"], ["resume"], ["stop"], ["stop"], ["stop", "stop"], ["snapshot"],
                  ["pause", "resume"], ["snapshot", "pause"], ["resume", "pause"], ["pause", "stop"])
PAUSED_COMMANDS = (["resume"], ["resume"], ["stop"], ["pause", "resume"], ["snapshot", "resume"],
                   ["stop", "stop"], ["stop", "resume"], ["pause", "pause", "stop"], ["snapshot", "pause", "resume"])


def make_sequence(seed: int, folder: Path) -> Sequence:
    rng = random.Random(seed)
    epochs = rng.choice((1, 2, 2))
    checkpoint = rng.random() < 0.6
    racy = rng.random() < RACY_SHARE
    total = epochs * STEPS_PER_EPOCH
    phases: list[Any] = ["before", ("step", 1), ("step", total), "after"]
    phases += [("step", n) for n in range(2, total)]
    phases += [("eval", e) for e in range(1, epochs + 1)]
    phases += [("ckpt", e) for e in range(1, epochs + 1)] * checkpoint
    script: dict[Any, list[str]] = {}
    if not racy:
        for phase in rng.sample(phases, rng.randint(1, 4)):
            script[phase] = list(rng.choice(PHASE_COMMANDS))
    paused = [list(rng.choice(PAUSED_COMMANDS)) for _ in range(rng.randint(0, 3))]
    return Sequence(seed, epochs, checkpoint, racy, script, paused, folder / f"run{seed}")


def start(seq: Sequence, data: ImageData) -> None:
    torch.manual_seed(seq.seed)
    seq.model = tiny_net()
    seq.initial = {k: v.detach().clone() for k, v in seq.model.state_dict().items()}
    config = TrainingConfig(epochs=seq.epochs, batch_size=64, device="cpu", seed=seq.seed,
                            checkpoint_every=1 if seq.checkpoint else 0)
    seq.trainer = Trainer(seq.model, data, config, step_event_every=1, snapshot_every_epoch=True,
                          checkpoint_dir=seq.folder if seq.checkpoint else None)

    def in_step(module, _inputs):
        if module.training:
            seq.training_forwards += 1
            seq.reach(("step", seq.training_forwards))

    seq.model.register_forward_pre_hook(in_step)
    seq.thread = threading.Thread(target=seq.train, name=f"trainer {seq.seed}", daemon=True)


@pytest.fixture
def hooks(monkeypatch):
    """Halts inside validation and checkpoint writes, and a record of the weights after every optimizer step."""
    install_halting_hooks(monkeypatch, _local)


def drive(seq: Sequence, rng: random.Random, coverage: collections.Counter) -> bool:
    """Control one run until it ends (True) or until the controller lets it stop on its own (False)."""
    paused = iter(seq.paused)
    stopped = False
    if "before" in seq.script:
        coverage["before the first step"] += 1
        issue(seq, "before", seq.script["before"])
        stopped = "stop" in seq.script["before"]
    seq.thread.start()
    while True:
        item = seq.next_item()
        if item[0] == "phase":
            phase, answered = item[1], item[2]
            commands = seq.script[phase]
            if seq.trainer.state != "running":
                seq.errors.append(f"trainer state {seq.trainer.state!r} inside {phase}")
            if phase[0] == "step":
                coverage["at the last step" if phase[1] == seq.epochs * STEPS_PER_EPOCH else "at a training step"] += 1
            else:
                coverage["during evaluation" if phase[0] == "eval" else "during checkpointing"] += 1
            if "resume" in commands and commands.index("resume") == 0:
                coverage["resume while running"] += 1
            issue(seq, phase, commands)
            stopped = stopped or "stop" in commands
            answered.set()
            if "stop" in commands and rng.random() < OVERLAP_SHARE:
                seq.let_go()
                return False
            continue
        event = item[1]
        if isinstance(event, Finished | Failed):
            return True
        if isinstance(event, Paused):
            coverage["paused"] += 1
            if seq.trainer.state != "paused":
                seq.errors.append(f"trainer state {seq.trainer.state!r} after Paused")
            commands = next(paused, None) or (rng.choice(PAUSED_COMMANDS) if seq.racy else ["resume"])
            coverage["pause while paused"] += "pause" in commands
            coverage["stop while paused"] += "stop" in commands
            issue(seq, "paused", list(commands))
            if "stop" in commands:
                stopped = True
                if rng.random() < OVERLAP_SHARE:
                    seq.let_go()
                    return False
            continue
        if seq.racy and rng.random() < 0.3:
            command = rng.choice(("pause", "pause", "resume", "stop", "snapshot"))
            if command == "resume" and seq.trainer.state == "running":
                coverage["resume while running"] += 1
            issue(seq, type(event).__name__, [command])
            if command == "stop":
                stopped = True
                if rng.random() < OVERLAP_SHARE:
                    seq.let_go()
                    return False


def finish(seq: Sequence, coverage: collections.Counter) -> None:
    """Join the run's thread (bounded), then check everything about it."""
    seq.thread.join(TIMEOUT)
    if seq.thread.is_alive():
        raise Deadlock(f"the trainer thread did not end within {TIMEOUT:.0f} s; {seq.describe()}; "
                       f"events {names(seq.events)}")
    if "after" in seq.script:  # commands on a finished trainer change nothing
        coverage["after Finished"] += 1
        issue(seq, "after", seq.script["after"])
    coverage["double stop"] += sum(c == "stop" for _, c in seq.commands) >= 2
    check(seq)


def check(seq: Sequence) -> None:
    where = seq.describe()
    assert not seq.errors, f"{seq.errors}; {where}"
    events, t = seq.events, seq.trainer
    got = observed(events)
    assert isinstance(events[0], RunStarted), where
    end = events[-1]
    assert isinstance(end, Finished), f"{end}; {where}"
    assert sum(isinstance(e, Finished | Failed) for e in events) == 1, where
    assert t.state == "finished", where
    # The trainer's state as each event was yielded.
    for e, state in zip(events, seq.states):
        want = "paused" if isinstance(e, Paused) else "finished" if isinstance(e, Finished) else "running"
        assert state == want, f"state {state!r} at {e}; {where}"
    if not seq.racy:
        assert got == expected_events(seq), f"{where}\n got      {got}\n expected {expected_events(seq)}"
    else:
        stops = [c for _, c in seq.commands if c == "stop"]
        assert end.reason in (("stopped", "completed") if stops else ("completed",)), where
        for a, b in zip(events, events[1:]):
            if isinstance(a, Paused):  # nothing runs while paused
                assert isinstance(b, Resumed) or (isinstance(b, Finished) and b.reason == "stopped"), where
                assert b.step == a.step, where
        steps = [e.step for e in events if isinstance(e, StepFinished | EpochFinished)]
        assert steps == sorted(set(steps)), where
    # Epochs: each finished one once, in order; the final event agrees.
    epochs = [e.epoch for e in events if isinstance(e, EpochFinished)]
    assert epochs == list(range(1, len(epochs) + 1)) == [e.epoch for e in t.history], where
    assert end.epochs_completed == len(epochs), where
    steps_done = seq.training_forwards
    assert end.step == steps_done, where
    # The weights at the end: finite, and exactly those of the last optimizer step (or the initial ones), or
    # with keep-best (on by default) those of the best epoch, as its end-of-epoch snapshot holds them.
    final = seq.model.state_dict()
    assert all(torch.isfinite(v).all() for v in final.values()), where
    last = seq.last_stepped if steps_done else seq.initial
    assert last is not None, where
    reference = last
    if end.kept_epoch is not None:
        assert end.kept_epoch == end.best_epoch, where
        reference = next(e.state for e in events if isinstance(e, WeightsSnapshot) and e.epoch == end.kept_epoch
                         and e.step == end.kept_epoch * STEPS_PER_EPOCH)
    else:  # no epoch was validated
        assert not epochs, where
    assert all(torch.equal(final[k], reference[k]) for k in final), where
    for e in events:
        if isinstance(e, WeightsSnapshot):
            assert all(torch.isfinite(v).all() for v in e.state.values()), where
    # The checkpoint on disk: loads, fits a fresh network, and holds the final weights at an epoch boundary.
    ckpt = seq.folder / "last.ckpt"
    if seq.checkpoint and epochs:
        state = load_checkpoint(ckpt)
        assert state["epoch"] == len(epochs) and state["step"] == len(epochs) * STEPS_PER_EPOCH, where
        assert all(math.isfinite(float(v.float().abs().max())) for v in state["model"].values()), where
        if end.step == state["step"]:  # the checkpoint holds the last weights, to resume from
            assert all(torch.equal(state["model"][k], last[k]) for k in final), where
        Trainer(tiny_net(), seq.trainer.data, seq.trainer.config, resume_from=ckpt)  # fits: no error
    else:
        assert not ckpt.exists(), where


def test_random_control_sequences_never_hang_and_keep_the_weights(hooks, tmp_path):
    data = tiny_data()
    coverage: collections.Counter = collections.Counter()
    let_go: list[Sequence] = []
    t0 = time.perf_counter()
    torch_threads = torch.get_num_threads()
    for seed in range(SEQUENCES):
        seq = make_sequence(seed, tmp_path)
        coverage["racy"] += seq.racy
        start(seq, data)
        if any(old.thread.is_alive() for old in let_go):
            coverage["start while the previous run is stopping"] += 1
        if drive(seq, random.Random(seed + 10_000), coverage):
            finish(seq, coverage)
        else:
            let_go.append(seq)
        for old in [s for s in let_go if not s.thread.is_alive() or len(let_go) > 2]:
            let_go.remove(old)
            finish(old, coverage)
    for old in let_go:
        finish(old, coverage)
    seconds = time.perf_counter() - t0
    assert torch.get_num_threads() == torch_threads
    missing = {k: (coverage[k], n) for k, n in COVERAGE.items() if coverage[k] < n}
    assert not missing, f"states not hit often enough (got, wanted): {missing}"
    print(f"\n{SEQUENCES} sequences in {seconds:.1f} s; {dict(coverage)}")
