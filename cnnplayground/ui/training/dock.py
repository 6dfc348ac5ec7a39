"""The Training dock: settings, Train / Pause / Stop, progress, and the run's results.

Pressing Train checks the network, loads the dataset off the GUI thread, builds
a private copy of the network (editing the canvas during a run never touches
it), and starts a :class:`~.worker.TrainingSession`. Events arrive batched at
most ~30 times a second and update the progress line, the live plots and the
after-epoch views. When the run ends, its weights and metric history go into
the project as one undoable step (only if the network was not edited since).
"""

from __future__ import annotations

import time
import traceback
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

import torch
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.graph import Graph
from ...core.inference import infer
from ...data.base import DatasetError, ImageData
from ...data.registry import load_dataset
from ...io.project import weights_from_module
from ...project import run_record
from ...project.epochs import MB, EpochCollector
from ...train.events import (
    Compiled,
    EpochFinished,
    Failed,
    Finished,
    Paused,
    Resumed,
    RunStarted,
    StepFinished,
    WeightsSnapshot,
)
from ...train.run_state import RunState
from ...train.setup import TrainingMemoryError, build_for_data, check_training_memory
from ...train.steplog import StepLog
from ...train.trainer import Trainer, TrainingSetupError
from ..document.commands import RecordRun
from ..document.document import Document
from ..jobs import FunctionJob
from .folder_summary import FolderSummaryView
from .preview import SamplePreview
from .settings_form import TrainingSettingsForm
from .worker import TrainingSession

#: The progress bar and step line change at most this often (seconds).
TEXT_INTERVAL_S = 0.2
#: Datasets read only when the user asks for the data (Train, "Load samples"): a user's folder can hold
#: any number of files of any content, so opening a project or showing a panel never starts reading it.
LOADED_ON_REQUEST = frozenset({"folder"})


def data_key(project) -> str:
    """What decides the loaded dataset: the choice, the validation share and the seed."""
    return f"{project.dataset.model_dump_json()}|{project.training.val_fraction}|{project.training.seed}"


def _load_dataset(choice, val_fraction: float, seed: int, progress=None) -> ImageData:
    return load_dataset(choice, val_fraction=val_fraction, seed=seed, progress=progress)


def _describe_load_error(exc: BaseException) -> str:
    """A dataset's own error as it is; anything else with its type (and its traceback on stderr)."""
    if isinstance(exc, DatasetError):
        return str(exc)
    traceback.print_exc()
    return f"could not load the dataset: {type(exc).__name__}: {exc}"


class _Said:
    """The ``(data key, message)`` reports of a loading thread, oldest first (``deque.append`` and ``popleft``
    are thread-safe), taken by the GUI thread's timer."""

    def __init__(self) -> None:
        self.reports: deque[tuple[str, str]] = deque()


class TrainingDock(QWidget):
    """Settings, controls and progress of training in the app.

    Signals: ``run_started(session)``, ``events_arrived(list)`` (batched, ≤ 30/s),
    ``run_ended(object)`` (the Finished or Failed event, or None), ``message(str)``.
    """

    #: Train was pressed and the run will start once its data is there (the window lays itself out now).
    starting = Signal()
    run_started = Signal(object)
    #: The dock's :class:`RunState` (as its text: "idle", "loading", "running", "paused", "stopping", …).
    state_changed = Signal(str)
    events_arrived = Signal(list)
    run_ended = Signal(object)
    #: A dataset was loaded (for the preview or a run): ``ImageData``.
    data_ready = Signal(object)
    #: The project's dataset could not be loaded: the message.
    data_failed = Signal(str)
    #: How far a load is (an image folder larger than memory, cached on disk): data key, one line. Emitted
    #: from the loading thread, delivered queued.
    dataset_progressed = Signal(str, str)
    message = Signal(str)

    def __init__(self, document: Document, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.document = document
        self.session: TrainingSession | None = None
        self._ended = True  # the current session's end was handled
        self._last_shown = 0.0
        self._shown_step: int | None = None  # the step the progress line shows
        self.state = RunState.IDLE
        self.data: ImageData | None = None
        self._graph_at_start: dict | None = None
        #: The weights of the run's epochs as they come (kept with its record; autosaved with a live run).
        self.epochs: EpochCollector | None = None
        self._model = None
        self._steps = StepLog()  # the run's step events, bounded (merged in equal groups on long runs)
        self._started: datetime | None = None
        #: Name and settings of the current (or last) run, as its record will have them.
        self.run_name = ""
        self.run_settings: dict = {}
        #: Asked when Train is pressed: a message refuses the run (the window checks that its
        #: autosave folder can hold the run); None lets it start.
        self.start_check: Callable[[], str | None] = lambda: None
        self.form = TrainingSettingsForm(document, self)
        self.preview = SamplePreview(self)
        self.form.layout().insertWidget(1, self.preview)  # under the Data section
        self.folder_summary = FolderSummaryView(document, self)  # an image folder's splits and image size
        self.form.layout().insertWidget(1, self.folder_summary)
        self.folder_summary.updated.connect(lambda: self.form.show_folder_summary(self.folder_summary.summary))
        self._cache: tuple[str, ImageData] | None = None  # the last dataset loaded, by data_key
        self._loading_key: str | None = None
        self._failed: tuple[str, str] | None = None  # (data key, message) of the last failed load
        self._run_project = None  # the project a run started in: its record goes there only
        self._train_when_loaded = False
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(250)  # settle typing in the form before loading
        self._preview_timer.timeout.connect(self.refresh_preview)
        self.preview.shown.connect(self._preview_timer.start)
        self.preview.load_requested.connect(self.request_data)
        self.dataset_progressed.connect(self._on_dataset_progressed)
        # What the loading thread says, as plain Python: the worker touches no Qt object and holds no reference
        # to this dock (it emitted the dock's signal before, racing a dock deleted meanwhile).
        self._load_said = _Said()
        self._load_poll = QTimer(self)
        self._load_poll.setInterval(100)
        self._load_poll.timeout.connect(self._show_load_progress)
        self._requested_for = None  # the project whose on-request dataset the user asked to load
        self.form.settings_changed.connect(self._on_settings_changed)
        document.settings_changed.connect(self._on_settings_changed)
        document.graph_replaced.connect(self._on_project_replaced)
        document.history_changed.connect(self._on_history_changed)
        self._recorded = None  # the record of this dock's last run, while the project has it

        # The shortcuts belong to the window's Train menu actions (a button's setText would drop
        # its shortcut when "Pause" becomes "Resume"); the tool tips name them.
        self.train_button = QPushButton("Train", self)
        self.train_button.setToolTip("Train the network on the chosen dataset (Ctrl+Return)")
        self.pause_button = QPushButton("Pause", self)
        self.pause_button.setToolTip("Pause or resume between two steps (Ctrl+P)")
        self.stop_button = QPushButton("Stop", self)
        self.stop_button.setToolTip("Stop after the current step; the weights are kept (Ctrl+.)")
        self.train_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        buttons = QHBoxLayout()
        for b in (self.train_button, self.pause_button, self.stop_button):
            buttons.addWidget(b)

        self.progress = QProgressBar(self)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("")
        self.status = QLabel("Ready", self)
        self.status.setWordWrap(True)
        self.accuracy_label = QLabel("", self)
        self.speed_label = QLabel("", self)

        # Controls and progress first: Pause and Stop must never be below the fold.
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.speed_label)
        layout.addWidget(self.accuracy_label)
        layout.addWidget(self.form)
        layout.addStretch(1)
        self._update_buttons(RunState.IDLE)

    # --- controls ------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:  # Train is refused while a run is on (also while it is stopping)
            return
        result = infer(self.document.graph)
        if not result.ok:
            self._report(f"The network is not ready: {result.first_error()}", failed=True)
            return
        try:  # before any data is loaded or any weight allocated
            check_training_memory(self.document.graph, self.document.project.training, result)
        except TrainingMemoryError as exc:
            self._report(f"Not started: {exc}", failed=True)
            return
        except TrainingSetupError:
            pass  # a missing device: said by _begin, as before
        problem = self.start_check()
        if problem:
            self._report(problem, failed=True)
            return
        self._graph_at_start = self.document.graph.to_dict()
        self._run_project = self.document.project
        self._failed = None  # pressing Train tries a failed dataset again
        self._requested_for = self.document.project
        self._update_buttons(RunState.LOADING)
        self.starting.emit()
        key = data_key(self.document.project)
        if self._cache is not None and self._cache[0] == key:
            self._begin(self._cache[1])
            return
        self._set_status("Loading the dataset…")
        self._train_when_loaded = True
        self._load()

    def _load(self) -> None:
        """Load the project's dataset in the thread pool (once per key at a time)."""
        key = data_key(self.document.project)
        if self._loading_key == key:
            return
        self._loading_key = key
        project = self.document.project

        def progress(p, key=key, said=self._load_said) -> None:  # in the loading thread
            said.reports.append((key, p.message()))

        self._load_poll.start()
        job = FunctionJob(_load_dataset, project.dataset.model_copy(deep=True), project.training.val_fraction,
                          project.training.seed, progress, describe=_describe_load_error, parent=self)
        job.returned.connect(lambda data, key=key: self._on_dataset_loaded(key, data))
        job.failed.connect(lambda message, key=key: self._on_dataset_failed(key, message))
        job.start()

    def ensure_data(self) -> ImageData | None:
        """The project's dataset if loaded; otherwise start loading it (``data_ready`` or ``data_failed``
        follows). A load that failed for the current settings is not tried again until they change."""
        data = self.cached_data
        if data is None and self.data_error is None and not self.waits_for_request:
            self._load()
        return data

    @property
    def waits_for_request(self) -> bool:
        """The project's dataset is read only when the user asks (:data:`LOADED_ON_REQUEST`) and has
        not been asked for in this project yet: nothing loads it until Train or "Load samples"."""
        return (self.document.project.dataset.name in LOADED_ON_REQUEST and self.cached_data is None
                and self._requested_for is not self.document.project)

    def request_data(self) -> None:
        """The user asked for the data ("Load samples"): load it (a failed load is tried again)."""
        self._requested_for = self.document.project
        self._failed = None
        if self.cached_data is None:
            self.preview.set_message("Loading samples…")
            self._load()
        else:
            self.refresh_preview()

    @property
    def data_error(self) -> str | None:
        """Why the project's dataset (with the current settings) could not be loaded, or None."""
        if self._failed is not None and self._failed[0] == data_key(self.document.project):
            return self._failed[1]
        return None

    def _on_project_replaced(self, _graph) -> None:
        """New or opened project: a Train waiting for its dataset is called off (it was for the old one)."""
        if self._train_when_loaded:
            self._train_when_loaded = False
            self._update_buttons(RunState.IDLE)
            self._set_status("Training was called off: another project was opened")
        elif not self.running:
            self._reset_status()  # the last run's status belongs to the project that was closed
        self._on_settings_changed()

    def _on_history_changed(self) -> None:
        """The run this dock's status tells of was undone: the status goes with it."""
        if self._recorded is not None and not self.running and \
                not any(run is self._recorded for run in self.document.project.history):
            self._reset_status()

    def _reset_status(self) -> None:
        self._recorded = None
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setToolTip("")
        self.speed_label.setText("")
        self.accuracy_label.setText("")
        self._set_status("Ready")

    # --- the sample preview ------------------------------------------------------------------
    def _on_settings_changed(self) -> None:
        self.preview.set_augment(self.document.project.training.augment)
        self.preview.set_class_weights(self.document.project.training.class_weights)
        if self._cache is None or self._cache[0] != data_key(self.document.project):
            if self._train_when_loaded:
                self._load()  # Train was pressed: it goes on with the new settings
            self._preview_timer.start()

    def refresh_preview(self) -> None:
        """Show samples of the project's dataset, loading it first if needed (only while visible)."""
        if not self.preview.isVisible():
            return
        self.preview.set_augment(self.document.project.training.augment)
        self.preview.set_class_weights(self.document.project.training.class_weights)
        key = data_key(self.document.project)
        if self._cache is not None and self._cache[0] == key:
            if self.preview.data is not self._cache[1]:
                self.preview.set_data(self._cache[1])
            return
        error = self.data_error
        if error is not None:  # failed for these settings: not tried again until they change
            self.preview.set_message(error, error=True)
            return
        if self.waits_for_request:
            self.preview.set_message("The images of the folder are read when you ask: press Load samples, or Train",
                                     load_button=True)
            return
        self.preview.set_message("Loading samples…")
        self._load()

    def toggle_pause(self) -> None:
        if not self.running:
            return
        if self.session.state.can_resume:
            self.session.resume()
        elif self.session.state.can_pause:
            self.session.pause()

    def stop(self) -> None:
        if self.running and self.session.state.can_stop:
            self._set_status("Stopping after the current step…")
            self.session.stop()

    def shutdown(self) -> None:
        """Stop a running session and wait for its thread (window closing)."""
        if self.session is not None:
            self.session.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self.shutdown()
        super().closeEvent(event)

    @property
    def cached_data(self) -> ImageData | None:
        """The dataset last loaded for the project's current settings, if any."""
        if self._cache is not None and self._cache[0] == data_key(self.document.project):
            return self._cache[1]
        return None

    @property
    def training_graph(self) -> Graph | None:
        """The network as it was when the current (or last) run started."""
        return Graph.from_dict(self._graph_at_start) if self._graph_at_start is not None else None

    @property
    def trained_model(self):
        """The network of the last run (its own copy), or None."""
        return self._model

    @property
    def running(self) -> bool:
        """A run is on: from its start until its end event was handled (``run_ended``)."""
        return (self.session is not None and not self._ended
                and self.session.state.busy)

    # --- run lifecycle -------------------------------------------------------------------
    def _on_dataset_progressed(self, key: str, text: str) -> None:
        """A folder is being cached on disk: how far, on the status line while a Train waits and in the preview."""
        if key != self._loading_key:
            return
        if self._train_when_loaded:
            self._set_status(f"Loading the dataset: {text}")
        if self.preview.isVisible():
            self.preview.set_message(f"Loading samples: {text}")

    def _show_load_progress(self) -> None:
        """What the loading thread said since the last look, in order (every 100 ms while a load runs, and when
        it ends)."""
        reports = self._load_said.reports
        while reports:
            self.dataset_progressed.emit(*reports.popleft())
        if self._loading_key is None:
            self._load_poll.stop()

    def _on_dataset_failed(self, key: str, message: str) -> None:
        self._show_load_progress()
        if key == self._loading_key:
            self._loading_key = None
        if key != data_key(self.document.project):
            return  # the settings changed meanwhile: a newer load is coming
        self._failed = (key, message)
        self.data_failed.emit(message)
        self.preview.set_message(message, error=True)
        if self._train_when_loaded:
            self._train_when_loaded = False
            self._update_buttons(RunState.IDLE)
            self._report(message, failed=True)

    def _on_dataset_loaded(self, key: str, data: ImageData) -> None:
        self._show_load_progress()
        if key == self._loading_key:
            self._loading_key = None
        if key != data_key(self.document.project):
            return
        self._cache = (key, data)
        self.data_ready.emit(data)
        if self.preview.isVisible():
            self.preview.set_data(data)
        if self._train_when_loaded:
            self._train_when_loaded = False
            self._begin(data)

    def _begin(self, data: ImageData) -> None:
        project = self.document.project
        graph = Graph.from_dict(self._graph_at_start)  # a private copy: canvas edits cannot reach it
        try:
            with torch.random.fork_rng(devices=[]):  # the run's seed decides its initial weights too
                torch.manual_seed(project.training.seed)
                model = build_for_data(graph, data, project.training)
            # A weights snapshot after each epoch lets the Inspect panels follow the run.
            trainer = Trainer(model, data, project.training, snapshot_every_epoch=True)
        except TrainingSetupError as exc:
            self._update_buttons(RunState.IDLE)
            self._report(str(exc), failed=True)
            return
        self.data, self._model, self._steps = data, model, StepLog()
        # Epoch 0: the weights before the first step (one copy, as the run starts; the trainer's own
        # snapshots after each epoch are kept by reference).
        self.epochs = EpochCollector(graph, project.training.epochs, project.training.snapshot_budget_mb * MB)
        self.epochs.start(weights_from_module(model))
        self._started = datetime.now(UTC)
        self.run_name = f"run {len(project.history) + 1}"
        self.run_settings = run_record(self.run_name, project.training, [], dataset=data.name,
                                       network=graph).settings
        if self.session is not None:
            # The previous run may still be inside its last event (Train pressed from a run_ended
            # handler): nothing more from it may reach this dock, its late "finished" included.
            self.session.updated.disconnect(self._on_session_updated)
            self.session.state_changed.disconnect(self._on_session_state)
            self.session.shutdown()
            self.session.deleteLater()
        self._ended = False
        self._shown_step = None
        self.accuracy_label.setText("Waiting for the first epoch to end…")  # not the previous run's last epoch
        self._set_status(f"Starting {self.run_name}…")  # the data is loaded (not "Loading the dataset…" still)
        self.session = TrainingSession(trainer, self)
        self.session.updated.connect(self._on_session_updated)
        self.session.state_changed.connect(self._on_session_state)
        self.run_started.emit(self.session)
        self.session.start()

    def _on_session_updated(self, events: list) -> None:
        end = None
        last_step: StepFinished | None = None
        paused: Paused | None = None
        for event in events:
            if isinstance(event, StepFinished):
                self._steps.append(event)
                last_step = event
            elif isinstance(event, RunStarted):
                skipped = self.data.skipped if self.data is not None else None
                self._set_status(f"Training on {event.device.upper()} ({event.train_images:,} images, "
                                 f"{event.parameters:,} parameters"
                                 f"{'; ' + skipped.message() if skipped is not None else ''})…")
                if getattr(event, "compiling", False):
                    self._set_status(f"Compiling the network for {event.device.upper()} (torch.compile)…")
            elif isinstance(event, Compiled):
                self._set_status(f"Compiled in {event.compile_seconds:.1f} s; training…" if event.compiled
                                 else f"Not compiled ({event.message}); training without it…")
            elif isinstance(event, WeightsSnapshot):
                if self.epochs is not None:
                    self.epochs.snapshot(event)
            elif isinstance(event, EpochFinished):
                if self.epochs is not None:
                    self.epochs.epoch_finished(event)
                val = "—" if event.val_accuracy is None else f"{event.val_accuracy:.1%}"
                self.accuracy_label.setText(
                    f"Epoch {event.epoch}: train accuracy {event.train_accuracy:.1%}, validation {val}")
            elif isinstance(event, Paused | Resumed) and self.session.state is RunState.STOPPING:
                pass  # a pause or resume that crossed Stop on its way: "Stopping…" stays
            elif isinstance(event, Paused):
                paused = event  # said after the steps are shown (below): both say the same step
            elif isinstance(event, Resumed):
                paused = None
                self._set_status("Training…")
            elif isinstance(event, Finished | Failed):
                end = event
        if last_step is not None:  # a frame's batch holds many steps: the newest is news
            self._show_step(last_step, now=paused is not None)
        if paused is not None:
            # One source for both texts: the step the progress line shows (shown now, not left to the
            # 5 Hz throttle, so a pause never reads "Paused at step 665" beside "Step 663").
            latest = self._steps.last
            if latest is not None and latest.step != self._shown_step:
                self._show_step(latest, now=True)
            self._set_status(f"Paused at step {self._shown_step if self._shown_step is not None else paused.step:,}")
        # Listeners see the batch (its last steps too) before the run ends: run_ended's handlers replace
        # the live curves by the run's record, and a batch handled after that would add its steps twice.
        self.events_arrived.emit(events)
        if end is not None:
            self._finish(end)

    def _show_step(self, e: StepFinished, now: bool = False) -> None:
        """The progress bar and step line for step ``e`` (at most 5 times a second unless ``now``)."""
        # Text nobody can read at 30 Hz costs a relayout and repaint of the dock each time: 5 Hz.
        clock = time.monotonic()
        if not now and clock - self._last_shown < TEXT_INTERVAL_S and e.epoch_step != e.steps_per_epoch:
            return
        self._last_shown = clock
        self._shown_step = e.step
        total = self.document.project.training.epochs * e.steps_per_epoch
        done = (e.epoch - 1) * e.steps_per_epoch + e.epoch_step
        frac = done / max(total, 1)
        self.progress.setValue(int(frac * 1000))
        eta = e.elapsed / max(frac, 1e-9) * (1 - frac)
        epochs = self.document.project.training.epochs
        self.progress.setFormat(f"epoch {e.epoch}/{epochs} · {int(eta) // 60}:{int(eta) % 60:02d} left")
        self.progress.setToolTip(f"Step {e.step} of {total}, {frac:.0%} done")
        self.speed_label.setText(f"Step {e.step:,} of {total:,} · {e.images_per_second:,.0f} images/s")

    def _finish(self, end: Finished | Failed) -> None:
        trainer = self.session.trainer if self.session else None
        epochs = list(trainer.history) if trainer else []
        seconds = int((datetime.now(UTC) - self._started).total_seconds()) if self._started else 0
        took = f"{seconds // 60}:{seconds % 60:02d}"
        if isinstance(end, Failed):
            self.progress.setFormat(f"failed after {took}")
            self._report(end.message, failed=True)
        else:
            if end.reason == "completed":
                self.progress.setValue(1000)
            done = {"completed": "finished", "stopped": "stopped", "early_stopping": "stopped early"}[end.reason]
            self.progress.setFormat(f"{done} after {end.epochs_completed} epoch"
                                    f"{'s' if end.epochs_completed != 1 else ''} in {took}")
            self._set_status(end.message[:1].upper() + end.message[1:])
        if not epochs:  # "Waiting for the first epoch to end…" would wait forever
            ended = "failed" if isinstance(end, Failed) else "stopped"
            self.accuracy_label.setText(f"No epoch finished: the run {ended} before the end of its first epoch")
        steps = self._steps.entries()
        if steps:
            rate = sum(e.images_per_second for e in steps) / len(steps)
            self.speed_label.setText(f"{self._steps.last.step:,} steps · {rate:,.0f} images/s on average")
        if epochs and self._model is not None and self.document.project is not self._run_project:
            self.message.emit("Another project was opened during training: the run was not recorded")
        elif epochs and self._model is not None:
            network = Graph.from_dict(self._graph_at_start)
            same = network.structure_key() == self.document.graph.structure_key()
            record = run_record(self.run_name, self.document.project.training,
                                epochs, steps, dataset=self.data.name if self.data else "",
                                started=self._started, network=network,
                                end=end)
            if self.epochs is not None:
                record.keep_epochs(self.epochs.result(record.kept_epoch))
            weights = weights_from_module(self._model) if same else self.document.project.weights
            self._recorded = record
            self.document.push(RecordRun(self.document, weights, record))
            if not same:
                self.message.emit("The network was edited during training: the curves were kept, the weights "
                                  "were not stored (they belong to the network as it was)")
        self.epochs = None  # the record holds the epochs it keeps; the others go
        if self.session is not None:
            self.session.shutdown()  # the run is over: let its thread finish before anything else
        self._ended = True
        # The controls say so before run_ended's listeners run (one of them may press Train again).
        self._update_buttons(RunState.FAILED if isinstance(end, Failed) else RunState.FINISHED)
        self.run_ended.emit(end)

    # --- display -------------------------------------------------------------------------
    def _on_session_state(self, state: str) -> None:
        # The session's own "finished" follows run_ended, whose handling set the state already.
        if state != self.state:
            self._update_buttons(state)

    def _update_buttons(self, state: RunState | str) -> None:
        state = RunState(state)  # a signal hands the state on as its text
        self.train_button.setEnabled(state.can_start)
        self.form.setEnabled(not state.busy)
        self.pause_button.setEnabled(state.can_pause or state.can_resume)
        self.pause_button.setText("Resume" if state.can_resume else "Pause")
        self.stop_button.setEnabled(state.can_stop)
        self.state = state
        self.state_changed.emit(state)

    def _set_status(self, text: str) -> None:
        self.status.setStyleSheet("")
        self.status.setText(text)
        self.message.emit(text)

    def _report(self, text: str, failed: bool = False) -> None:
        self.status.setStyleSheet("color: #d64545;" if failed else "")
        self.status.setText(text)
        self.message.emit(text)
