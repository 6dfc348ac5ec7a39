"""Stress test of the Training dock's controls: seeded random Train / Pause / Resume / Stop sequences.

A real :class:`TrainingDock` trains a tiny network (4 steps per epoch, 1 or 2 epochs, with or without a
checkpoint every epoch) through its :class:`TrainingSession` and worker thread, over and over. The trainer
thread halts at exact points of a run (before the first step, inside a training step, inside validation,
inside the checkpoint write) until the test, in the GUI thread, has seen every event sent so far and used
the dock's controls, as a user would: Pause/Resume (``toggle_pause``), Stop, Train, and the session's
``resume()``. While the trainer waits paused, the test answers the pause the same way. Two races are
forced on purpose: Stop pressed after Resume but before the ``Resumed`` event reached the GUI, and Stop
pressed after the trainer paused but before ``Paused`` reached it. A second test drives the main
window's Train / Pause / Stop actions instead (a disabled action does nothing), with the Curves, Results
and Inspect model source listening, and checks that the actions follow the state too.

Checked for every run: no wait runs out (no deadlock; all waits are ``waitUntil`` / ``waitSignal`` or
thread events with limits, no sleeps); the events are exactly those the trainer's rule gives for the
commands that took effect; the dock's and the session's states only make allowed transitions, agree with
each other, and the buttons match them at every halt and after the run; ``running`` is false when
``run_ended`` arrives; the weights kept are finite and those of the last optimizer step, or of the best
validated epoch (keep-best); a checkpoint written during the run loads and holds the last ones when the run
ended on an epoch boundary; each run with a
finished epoch is recorded in the project once (one undo step), a run stopped before any is not.
"""

from __future__ import annotations

import collections
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import install_halting_hooks

from cnnplayground.io.project import weights_from_module
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.checkpoint import load_checkpoint
from cnnplayground.train.events import CheckpointSaved, Failed, Finished, Paused, WeightsSnapshot
from cnnplayground.train.run_state import RunState
from cnnplayground.train.trainer import Trainer
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training import dock as dock_module
from cnnplayground.ui.training.dock import TrainingDock

from .graphs import chain_graph

SEQUENCES = 200
STEPS_PER_EPOCH = 4  # 320 synthetic images, 20 % held out: 256 to train on, batch 64
TIMEOUT_S = 30.0
TIMEOUT_MS = int(TIMEOUT_S * 1000)
DATA = DatasetChoice(name="synthetic", options={"train_size": 320, "test_size": 0})

#: Allowed state changes (the dock adds "loading" before a run; a refused or failed load goes back to idle).
DOCK_TRANSITIONS = {
    ("idle", "loading"), ("finished", "loading"), ("failed", "loading"), ("loading", "idle"),
    ("loading", "running"), ("running", "paused"), ("paused", "running"), ("running", "stopping"),
    ("paused", "stopping"), ("running", "finished"), ("running", "failed"), ("stopping", "finished"),
    ("stopping", "failed"),
}
SESSION_TRANSITIONS = {(a, b) for a, b in DOCK_TRANSITIONS if "loading" not in (a, b)} | {("idle", "running")}

PHASE_COMMANDS = (["toggle"], ["toggle"], ["toggle"], ["toggle"], ["stop"], ["stop", "stop"], ["start"], ["resume"],
                  ["toggle", "toggle"], ["toggle", "stop"], ["stop", "toggle"], ["stop", "start"],
                  ["pause_then_stop"], ["pause_then_stop"])
PAUSED_COMMANDS = (["toggle"], ["toggle"], ["stop"], ["stop", "stop"], ["start", "toggle"], ["stop", "start"],
                   ["pause", "toggle"], ["resume_then_stop"], ["resume_then_stop"], ["stop", "toggle"],
                   ["pause", "stop"])
AFTER_COMMANDS = (["toggle"], ["stop"], ["start"], ["stop", "start"], [])

COVERAGE = {
    "before the first step": 8,
    "at a training step": 25,
    "at the last step": 6,
    "during evaluation": 10,
    "during checkpointing": 8,
    "paused": 25,
    "pause while paused": 4,
    "resume while running": 5,
    "double stop": 5,
    "start while stopping": 5,
    "stop pressed before Resumed arrived": 5,
    "stop pressed before Paused arrived": 5,
    "start right after Finished": 10,
    "recorded": 40,
    "stopped before any epoch (not recorded)": 5,
}

_local = threading.local()


def tiny_graph():
    return chain_graph(("Conv2d", {"out_channels": 4, "kernel_size": 5, "stride": 2}), ("ReLU", {}),
                       ("Conv2d", {"out_channels": 8, "kernel_size": 3, "stride": 2}), ("ReLU", {}),
                       ("Flatten", {}), ("Linear", {"out_features": 10}))


@dataclass
class Sequence:
    seed: int
    epochs: int
    checkpoint: bool
    script: dict[Any, list[str]]  # phase → GUI commands; phases ("start",), ("step", n), ("eval", e), ("ckpt", e)
    paused: list[list[str]]  # GUI commands for each pause in turn (default: Resume)
    after: list[str]  # GUI commands in the run_ended handler
    folder: Path
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Event = field(default_factory=threading.Event)  # the trainer halted, paused or ended
    halt: tuple | None = None  # (phase, answered) while the trainer waits at a phase
    yielded: int = 0
    paused_yielded: int = 0
    ended_yielded: bool = False
    trainer: Trainer | None = None
    last_stepped: dict | None = None
    initial: dict | None = None
    training_forwards: int = 0
    evaluations: int = 0
    errors: list[str] = field(default_factory=list)
    # What the GUI saw and did.
    received: list = field(default_factory=list)
    dock_states: list[str] = field(default_factory=list)
    session_states: list[str] = field(default_factory=list)
    effective: dict[Any, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    log: list[tuple[Any, str, str]] = field(default_factory=list)  # (where, GUI command, trainer command)
    stop_issued: bool = False
    answered_pauses: set[int] = field(default_factory=set)
    handled: int = 0  # Paused events the test has dealt with
    history_before: int = 0
    undo_before: int = 0
    end: Any = None
    at_end: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"seed {self.seed} ({self.epochs} epochs, checkpoint {self.checkpoint}): {self.log}"

    # --- the trainer thread ---------------------------------------------------------------------
    def reach(self, phase) -> None:
        if phase not in self.script:
            return
        answered = threading.Event()
        with self.lock:
            self.halt = (phase, answered)
        self.wake.set()
        if not answered.wait(TIMEOUT_S):
            self.errors.append(f"the GUI never answered at {phase}")


class HookedTrainer(Trainer):
    """The dock's trainer, with a step event per step, the test's checkpoint folder and halts."""

    def __init__(self, model, data, config, **kwargs) -> None:
        seq: Sequence = _local.current
        kwargs.update(step_event_every=1, checkpoint_dir=seq.folder if seq.checkpoint else None)
        super().__init__(model, data, config, **kwargs)
        self.seq = seq
        seq.trainer = self
        seq.initial = {k: v.detach().clone() for k, v in model.state_dict().items()}

        def in_step(module, _inputs):
            if module.training:
                seq.training_forwards += 1
                seq.reach(("step", seq.training_forwards))

        model.register_forward_pre_hook(in_step)

    def run(self):
        seq = self.seq
        _local.sequence = seq
        try:
            seq.reach(("start",))
            for event in super().run():
                with seq.lock:
                    seq.yielded += 1
                    if isinstance(event, Paused):
                        seq.paused_yielded += 1
                    if isinstance(event, Finished | Failed):
                        seq.ended_yielded = True
                if isinstance(event, Paused | Finished | Failed):
                    seq.wake.set()
                yield event
        finally:
            _local.sequence = None


@pytest.fixture
def hooks(monkeypatch):
    """Halts inside validation and checkpoint writes, and a record of the weights after every optimizer step."""
    install_halting_hooks(monkeypatch, _local)
    monkeypatch.setattr(dock_module, "Trainer", HookedTrainer)


def make_sequence(seed: int, folder: Path) -> Sequence:
    rng = random.Random(seed)
    epochs = rng.choice((1, 2, 2))
    checkpoint = rng.random() < 0.6
    total = epochs * STEPS_PER_EPOCH
    phases: list[Any] = [("start",), ("step", 1), ("step", total)] + [("step", n) for n in range(2, total)]
    phases += [("eval", e) for e in range(1, epochs + 1)] + [("ckpt", e) for e in range(1, epochs + 1)] * checkpoint
    script = {phase: list(rng.choice(PHASE_COMMANDS)) for phase in rng.sample(phases, rng.randint(1, 3))}
    paused = [list(rng.choice(PAUSED_COMMANDS)) for _ in range(rng.randint(0, 3))]
    return Sequence(seed, epochs, checkpoint, script, paused, list(rng.choice(AFTER_COMMANDS)),
                    folder / f"run{seed}")


def expected_events(seq: Sequence) -> list[tuple[str, int]]:
    """(event name, step) by the trainer's rule, given the commands that reached the trainer and where."""
    pause = stop = False
    eff = seq.effective
    out: list[tuple[str, int]] = [("RunStarted", 0)]
    pauses = 0

    def do(commands):
        nonlocal pause, stop
        for c in commands:
            pause = True if c == "pause" else False if c == "resume" else pause
            stop = stop or c == "stop"

    do(eff.get(("start",), []))
    step = 0
    for epoch in range(1, seq.epochs + 1):
        for epoch_step in range(1, STEPS_PER_EPOCH + 1):
            if stop:
                return [*out, ("Finished:stopped", step)]
            if pause:
                pauses += 1
                out.append(("Paused", step))
                do(eff.get(("paused", pauses), []))
                assert pause is False or stop, f"pause {pauses} was never answered; {seq.describe()}"
                if stop:
                    return [*out, ("Finished:stopped", step)]
                out.append(("Resumed", step))
            do(eff.get(("step", step + 1), []))
            step += 1
            if epoch_step < STEPS_PER_EPOCH:
                out.append(("StepFinished", step))
        do(eff.get(("eval", epoch), []))
        out.append(("EpochFinished", step))
        if seq.checkpoint:
            do(eff.get(("ckpt", epoch), []))
            out.append(("CheckpointSaved", step))
        out.append(("WeightsSnapshot", step))
    return [*out, ("Finished:completed", step)]


def observed(events) -> list[tuple[str, int]]:
    out = []
    for e in events:
        name = f"Finished:{e.reason}" if isinstance(e, Finished) else type(e).__name__
        step = e.epoch * STEPS_PER_EPOCH if isinstance(e, CheckpointSaved) else getattr(e, "step", 0)
        out.append((name, step))
    return out


def check_buttons(dock: TrainingDock, where: str, acts=None) -> None:
    """The dock's buttons (and the window's Train menu actions) match the dock's state."""
    state = RunState(dock.state)
    pausable = state.can_pause or state.can_resume  # one button: Pause, or Resume when paused
    assert dock.train_button.isEnabled() is state.can_start, f"Train button in state {state}; {where}"
    assert dock.form.isEnabled() is not state.busy, where
    assert dock.pause_button.isEnabled() is pausable, f"Pause in {state}; {where}"
    assert dock.pause_button.text() == ("Resume" if state.can_resume else "Pause"), where
    assert dock.stop_button.isEnabled() is state.can_stop, f"Stop in {state}; {where}"
    if acts is not None:
        assert acts.train.isEnabled() is state.can_start, f"Train action in state {state}; {where}"
        assert acts.pause.isEnabled() is pausable, f"Pause action in {state}; {where}"
        assert acts.pause.text() == ("&Resume" if state.can_resume else "&Pause"), where
        assert acts.stop.isEnabled() is state.can_stop, f"Stop action in {state}; {where}"


class Driver:
    """Runs the sequences one after another on one dock (with ``acts``: through the window's actions)."""

    def __init__(self, qtbot, dock: TrainingDock, sequences: list[Sequence], acts=None) -> None:
        self.qtbot, self.dock, self.sequences, self.acts = qtbot, dock, sequences, acts
        self.coverage: collections.Counter = collections.Counter()
        self.seq: Sequence | None = None
        self.started_early: Sequence | None = None  # started from the previous run's run_ended handler
        dock.state_changed.connect(self._on_dock_state)
        dock.events_arrived.connect(self._on_events)
        dock.run_ended.connect(self._on_run_ended)
        dock.run_started.connect(lambda session: session.state_changed.connect(
            lambda state, seq=self.seq: seq.session_states.append(state)))

    def _on_dock_state(self, state: str) -> None:
        if self.seq is not None:
            self.seq.dock_states.append(state)

    def _on_events(self, events: list) -> None:
        self.seq.received.extend(events)

    # --- commands --------------------------------------------------------------------------------
    def press(self, control: str) -> None:
        """Train, Pause/Resume or Stop: the dock's method, or the window's action (a no-op while disabled)."""
        if self.acts is not None:
            {"start": self.acts.train, "toggle": self.acts.pause, "stop": self.acts.stop}[control].trigger()
        else:
            {"start": self.dock.start, "toggle": self.dock.toggle_pause, "stop": self.dock.stop}[control]()

    def command(self, seq: Sequence, where, gui: str) -> None:
        dock = self.dock
        session = dock.session
        before = session.state
        trainer_command = ""
        if gui == "toggle":
            trainer_command = {"running": "pause", "paused": "resume"}.get(before, "")
            self.press("toggle")
        elif gui == "stop":
            trainer_command = "stop" if before in ("running", "paused") else ""
            self.coverage["double stop"] += seq.stop_issued and before == "stopping"
            self.press("stop")
        elif gui == "pause":
            trainer_command = "pause" if before in ("idle", "running") else ""
            self.coverage["pause while paused"] += before == "paused"
            session.pause()
        elif gui == "resume":
            trainer_command = "resume" if before in ("idle", "running", "paused") else ""
            self.coverage["resume while running"] += before == "running"
            session.resume()
        elif gui == "start":
            state = dock.state
            self.coverage["start while stopping"] += state == "stopping"
            self.press("start")
            assert dock.session is session and dock.state == state, f"Train while {state} was not refused"
        if trainer_command:
            seq.effective[where].append(trainer_command)
            seq.stop_issued |= trainer_command == "stop"
        seq.log.append((where, gui, trainer_command))
        assert session.state == ("stopping" if seq.stop_issued else session.state), seq.describe()

    def wait_for_trainer(self, seq: Sequence):
        """Block (without Qt events: the GUI must not see the trainer's news yet) until it halts, pauses or ends."""
        assert seq.wake.wait(TIMEOUT_S), f"the trainer neither halted, paused nor ended; {seq.describe()}"
        with seq.lock:
            if seq.halt is not None:
                return seq.halt[0]
            if seq.ended_yielded:
                return ("end",)
            return ("paused", seq.paused_yielded)

    def at_phase(self, seq: Sequence) -> None:
        phase, answered = seq.halt
        self.qtbot.waitUntil(lambda: len(seq.received) == seq.yielded, timeout=TIMEOUT_MS)
        where = seq.describe()
        expected_state = "stopping" if seq.stop_issued else "running"
        assert self.dock.state == self.dock.session.state == expected_state, f"at {phase}: {self.dock.state}; {where}"
        check_buttons(self.dock, where, self.acts)
        if phase == ("start",):
            self.coverage["before the first step"] += 1
        elif phase[0] == "step":
            last = phase[1] == seq.epochs * STEPS_PER_EPOCH
            self.coverage["at the last step" if last else "at a training step"] += 1
        else:
            self.coverage["during evaluation" if phase[0] == "eval" else "during checkpointing"] += 1
        for gui in seq.script[phase]:
            if gui == "pause_then_stop":
                self.pause_then_stop(seq, phase, answered)
                return
            self.command(seq, phase, gui)
        with seq.lock:
            seq.halt = None
            seq.wake.clear()
        answered.set()

    def pause_then_stop(self, seq: Sequence, phase, answered: threading.Event) -> None:
        """Pause, let the trainer go on, and press Stop once it paused, before Paused reaches the GUI."""
        self.command(seq, phase, "toggle")
        with seq.lock:
            seq.halt = None
            seq.wake.clear()
        answered.set()
        where = self.wait_for_trainer(seq)
        if where[0] == "paused":
            self.coverage["stop pressed before Paused arrived"] += self.dock.session.state == "running"
            seq.answered_pauses.add(where[1])
        self.command(seq, where, "stop")

    def at_pause(self, seq: Sequence, number: int) -> None:
        where = seq.describe()
        self.coverage["paused"] += 1
        assert self.dock.state == self.dock.session.state == "paused", f"{self.dock.state}; {where}"
        check_buttons(self.dock, where, self.acts)
        assert seq.trainer.state == "paused", where
        commands = seq.paused[number - 1] if number <= len(seq.paused) else ["toggle"]
        for gui in commands:
            if gui == "resume_then_stop":
                # Resume, then press Stop before the Resumed event reaches the GUI: the trainer runs
                # its next step, where it halts for the test.
                seq.script.setdefault(("step", seq.training_forwards + 1), [])
                seq.wake.clear()  # the trainer waits paused: nothing sets it meanwhile
                self.command(seq, ("paused", number), "toggle")
                halted = self.wait_for_trainer(seq)
                self.coverage["stop pressed before Resumed arrived"] += self.dock.session.state == "paused"
                self.command(seq, halted, "stop")
                return
            self.command(seq, ("paused", number), gui)

    def _on_run_ended(self, end) -> None:
        seq, dock = self.seq, self.dock
        where = seq.describe()
        seq.end = end
        assert not dock.running, where
        model = dock.trained_model
        seq.at_end = {
            "state": dock.state,
            "session": dock.session,
            "weights": {k: v.detach().clone() for k, v in model.state_dict().items()},
            "project_weights": dock.document.project.weights,
            "history": len(dock.document.project.history),
            "undo": dock.document.undo_stack.count(),
            "run_name": dock.run_name,
        }
        check_buttons(dock, where, self.acts)
        for gui in seq.after:
            if gui == "start":
                following = self._next_of(seq)
                if following is None:
                    continue
                self.coverage["start right after Finished"] += 1
                self.begin(following)
                assert dock.running and dock.session is not seq.at_end["session"], where
                self.started_early = following
                return
            before = dock.state
            self.press(gui)
            assert dock.state == before, where

    def _next_of(self, seq: Sequence) -> Sequence | None:
        i = self.sequences.index(seq)
        return self.sequences[i + 1] if i + 1 < len(self.sequences) else None

    # --- one run -------------------------------------------------------------------------------------
    def begin(self, seq: Sequence) -> None:
        """Press Train for ``seq`` (its settings in the project, its trainer hooked)."""
        doc = self.dock.document
        doc.project.training.epochs = seq.epochs
        doc.project.training.checkpoint_every = 1 if seq.checkpoint else 0
        seq.history_before = len(doc.project.history)
        seq.undo_before = doc.undo_stack.count()
        self.seq = seq
        _local.current = seq
        self.press("start")

    def run(self, seq: Sequence) -> None:
        qtbot = self.qtbot
        if self.started_early is not seq:
            self.begin(seq)
        self.started_early = None
        while seq.end is None:
            qtbot.waitUntil(lambda: seq.halt is not None or seq.end is not None or self._pending_pause(seq) > 0,
                            timeout=TIMEOUT_MS)
            if seq.end is not None:
                break
            if seq.halt is not None:
                self.at_phase(seq)
                continue
            number = self._pending_pause(seq)
            seq.handled += 1
            if number in seq.answered_pauses:
                continue  # Stop was pressed before this pause reached the GUI
            self.at_pause(seq, number)
        self.check(seq)

    @staticmethod
    def _pending_pause(seq: Sequence) -> int:
        """The number (1-based) of a Paused event the GUI has and the test has not handled, or 0."""
        seen = sum(isinstance(e, Paused) for e in seq.received)
        return seq.handled + 1 if seen > seq.handled else 0

    def check(self, seq: Sequence) -> None:
        dock, qtbot = self.dock, self.qtbot
        where = seq.describe()
        assert not seq.errors, f"{seq.errors}; {where}"
        end, at_end = seq.end, seq.at_end
        assert isinstance(end, Finished), f"{end}; {where}"
        assert seq.received and seq.received[-1] is end, where
        got = observed(seq.received)
        assert got == expected_events(seq), f"{where}\n got      {got}\n expected {expected_events(seq)}"
        # States: the dock's final state was set before run_ended, the session's follows at once.
        assert at_end["state"] == "finished", f"dock state {at_end['state']} at run_ended; {where}"
        session = at_end["session"]
        if self.started_early is None:
            qtbot.waitUntil(lambda: session.state == "finished" and not session.worker.is_running,
                            timeout=TIMEOUT_MS)
            assert dock.state == "finished" and not dock.running, where
            check_buttons(dock, where, self.acts)
        for states, allowed, first in ((seq.dock_states, DOCK_TRANSITIONS, None),
                                       (seq.session_states, SESSION_TRANSITIONS, "idle")):
            chain = ([first] if first else []) + states
            bad = [(a, b) for a, b in zip(chain, chain[1:]) if (a, b) not in allowed]
            assert not bad, f"transitions {bad} in {chain}; {where}"
        assert seq.session_states[-1] == "finished", f"{seq.session_states}; {where}"
        # Weights: finite, those of the last optimizer step (the initial ones if none ran), or with keep-best (on
        # by default) those of the best epoch once one was validated (as its end-of-epoch snapshot holds them).
        assert end.step == seq.training_forwards, where
        weights = at_end["weights"]
        last = seq.last_stepped if seq.training_forwards else seq.initial
        reference = last
        if end.kept_epoch is not None:
            reference = next(e.state for e in seq.received if isinstance(e, WeightsSnapshot)
                             and e.epoch == end.kept_epoch and e.step == end.kept_epoch * STEPS_PER_EPOCH)
        else:
            assert end.epochs_completed == 0, where
        assert all(torch.isfinite(v).all() for v in weights.values()), where
        assert all(torch.equal(weights[k], reference[k]) for k in weights), where
        # The project: one record (and one undo step) per run with a finished epoch, with its weights.
        recorded = end.epochs_completed >= 1
        assert at_end["history"] == seq.history_before + recorded, where
        assert at_end["undo"] == seq.undo_before + recorded, where
        if recorded:
            self.coverage["recorded"] += 1
            record = dock.document.project.history[seq.history_before]
            assert record.name == at_end["run_name"], where
            assert len(record.series["val_loss"].y) == end.epochs_completed, where
            stored = at_end["project_weights"]
            assert stored is not None and stored.keys() == weights.keys(), where
            assert all(torch.equal(stored[k], weights[k]) for k in weights), where
        else:
            self.coverage["stopped before any epoch (not recorded)"] += 1
        ckpt = seq.folder / "last.ckpt"
        if seq.checkpoint and end.epochs_completed:
            state = load_checkpoint(ckpt)
            assert state["epoch"] == end.epochs_completed, where
            if end.step == state["step"]:  # the checkpoint holds the last weights, to resume from
                assert all(torch.equal(state["model"][k], last[k]) for k in weights), where
        else:
            assert not ckpt.exists(), where


def test_random_control_sequences_in_the_dock(qtbot, hooks, tmp_path):
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0, val_fraction=0.2, seed=5)
    doc = Document(Project.new(graph=tiny_graph(), name="stress", dataset=DATA, training=config))
    dock = TrainingDock(doc)
    qtbot.addWidget(dock)
    sequences = [make_sequence(seed, tmp_path) for seed in range(SEQUENCES)]
    driver = Driver(qtbot, dock, sequences)
    t0 = time.perf_counter()
    try:
        for seq in sequences:
            driver.run(seq)
    finally:
        dock.shutdown()
    seconds = time.perf_counter() - t0
    assert len(doc.project.history) == driver.coverage["recorded"]
    assert doc.project.weights is not None and all(torch.isfinite(v).all() for v in doc.project.weights.values())
    assert weights_from_module(dock.trained_model).keys() == doc.project.weights.keys()
    missing = {k: (driver.coverage[k], n) for k, n in COVERAGE.items() if driver.coverage[k] < n}
    assert not missing, f"states not hit often enough (got, wanted): {missing}"
    print(f"\n{SEQUENCES} sequences in {seconds:.1f} s; {dict(driver.coverage)}")


WINDOW_SEQUENCES = 40
WINDOW_COVERAGE = ("before the first step", "at a training step", "during evaluation", "paused",
                   "stop pressed before Paused arrived", "start right after Finished", "start while stopping",
                   "recorded", "stopped before any epoch (not recorded)")


def test_random_control_sequences_through_the_window_actions(qtbot, hooks, tmp_path, monkeypatch):
    """The same, pressing the main window's Train / Pause / Stop actions (disabled ones do nothing), with the
    Curves, Results and model source listening: the actions follow the state, the curves show each record."""
    from PySide6.QtWidgets import QMessageBox

    from cnnplayground.ui.shell.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    errors: list = []
    monkeypatch.setattr(window.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    monkeypatch.setattr(window.files, "show_error", lambda title, text: errors.append((title, text)))
    window.show()
    qtbot.waitExposed(window)
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0, val_fraction=0.2, seed=5)
    sequences = [make_sequence(1000 + i, tmp_path) for i in range(WINDOW_SEQUENCES)]
    driver = Driver(qtbot, window.training, sequences, acts=window.acts)
    t0 = time.perf_counter()
    try:
        for seq in sequences:
            # A new project now and then: the window redraws every recorded run at each start and end.
            if driver.started_early is not seq and (seq is sequences[0] or len(window.document.project.history) >= 5):
                window.document.new(Project.new(graph=tiny_graph(), name="stress", dataset=DATA, training=config))
            driver.run(seq)
    finally:
        window.training.shutdown()
    history = window.document.project.history
    assert errors == []
    qtbot.waitUntil(lambda: window.curves.plots.run_count == len(history), timeout=TIMEOUT_MS)
    assert [window.curves.plots.run_name(i) for i in range(len(history))] == [r.name for r in history]
    missing = [k for k in WINDOW_COVERAGE if not driver.coverage[k]]
    assert not missing, f"never hit: {missing}; {dict(driver.coverage)}"
    print(f"\n{WINDOW_SEQUENCES} sequences in {time.perf_counter() - t0:.1f} s; {dict(driver.coverage)}")
