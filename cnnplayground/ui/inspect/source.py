"""Which network the Inspect panels look at, and with which weights.

:class:`ModelSource` keeps one snapshot (a CPU copy in eval mode, never the module
being trained): after each epoch of a run, the weights the trainer sends
(``WeightsSnapshot``); otherwise the project's stored weights when they fit the
network on the canvas; otherwise the network with fresh random weights (seed 0), so
the panels always have something to show and say which it is.

Those are the *latest* weights. The epoch slider (:mod:`.epoch_bar`) may instead choose a stored
epoch of a run (:meth:`ModelSource.select_epoch`): the panels then see that run's network with the
weights it kept of that epoch (``RunHistory.epochs``), until "latest" is chosen again. The latest
weights go on following the project and a live run meanwhile, out of sight.
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from PySide6.QtCore import QObject, QTimer, Signal

from ...core.builder import BuildError, GraphModule, build
from ...core.errors import UserError
from ...core.graph import Graph
from ...core.inference import infer
from ...core.memory import NotEnoughMemoryError, check_memory
from ...data.base import ImageData
from ...project.epochs import RunEpochs
from ...train.events import WeightsSnapshot
from ...train.trainer import resolve_device
from ..document.document import Document
from ..training.dock import TrainingDock
from .epoch_player import EpochPlayer

#: Images the memory check counts on when the panels' model is built (the panels' analyses of many
#: images at once run as jobs whose failures are reported in the panel).
INSPECT_BATCH = 1
#: Models built from stored epochs kept for going back and forth with the slider: their tensors are the stored
#: ones (shared, not copied), so each costs only its modules (~100 KB for ResNet-18).
EPOCH_MODELS_CACHED = 16


class ModelSource(QObject):
    """The model the panels inspect. Signal ``changed()`` when the model or the data changed.

    Signal ``replaced()`` (just before the ``changed()`` that follows it) when what the panels showed
    belongs to another project or other weights: New, Open, New from Preset, Revert, recovery, a run
    undone or redone, weights imported. Panels drop their results then (an attack, an optimized image,
    a sweep kept for comparison). A run's own record at its end is no such change: its snapshots were
    on show already.
    """

    changed = Signal()
    replaced = Signal()
    #: The epoch looked at changed (:attr:`selected_epoch`), or the runs' stored epochs did (:meth:`stored_runs`).
    epoch_changed = Signal()

    def __init__(self, document: Document, training: TrainingDock, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.document, self.training = document, training
        self._model: GraphModule | None = None
        #: A live run's latest weights snapshot, built into a model only when a panel asks (``model``):
        #: in Train mode no panel looks, and building it at each epoch's end cost the GUI ~10 ms.
        self._snapshot: tuple[Graph, WeightsSnapshot] | None = None
        self.graph: Graph | None = None
        #: What the weights are, for the panels' captions ("untrained (random weights)", ...).
        self.description = ""
        #: Why there is no model (the network is not valid), or "".
        self.problem = ""
        self._live = False  # the model follows a run's snapshots
        self._signature: tuple | None = None  # what the current model was built from
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._on_device: tuple[torch.device, object] | None = None
        #: What the latest weights are (``_set``'s arguments): shown again when "latest" is chosen.
        self._latest: tuple[GraphModule | None, Graph | None, str, str, WeightsSnapshot | None] = (
            None, None, "", "", None)
        #: The stored epoch looked at: (run index, epoch, that run's RunEpochs); None: the latest weights.
        self._epoch: tuple[int, int, RunEpochs] | None = None
        self._epoch_models: OrderedDict[tuple[int, int], GraphModule] = OrderedDict()
        #: Per run's RunEpochs: its network built on the meta device, copied for each epoch.
        self._templates: dict[int, tuple[RunEpochs, GraphModule]] = {}
        self._chosen_run: int | None = None  # the run whose epochs the slider offers (None: the newest)
        #: Play: steps through the stored epochs (one control for all the panels' epoch bars).
        self.player = EpochPlayer(self)
        self._rebuild_timer = QTimer(self)
        self._rebuild_timer.setSingleShot(True)
        self._rebuild_timer.setInterval(300)  # typing a kernel size rebuilds once
        self._rebuild_timer.timeout.connect(self.rebuild)
        document.graph_replaced.connect(self._on_project_replaced)
        document.history_changed.connect(self._on_history_changed)
        document.inference_updated.connect(lambda _r: self._rebuild_timer.start())
        training.events_arrived.connect(self._on_events)
        training.run_ended.connect(self._on_run_ended)
        training.data_ready.connect(lambda _d: self.changed.emit())
        training.data_failed.connect(lambda _m: self.changed.emit())
        document.settings_changed.connect(self.changed.emit)  # another dataset, or its options
        self.rebuild()

    @property
    def data(self) -> ImageData | None:
        """The project's dataset as loaded for its current settings, if it fits the network (else None)."""
        data = self.training.cached_data
        if data is None or self.graph is None:
            return None
        return data if data.input_shape == self.input_shape else None

    @property
    def input_shape(self) -> tuple[int, int, int] | None:
        """``(C, H, W)`` of the network's Input layer."""
        if self.graph is None or not self.graph.input_nodes():
            return None
        params = self.graph.input_nodes()[0].params
        return int(params["channels"]), int(params["height"]), int(params["width"])

    @property
    def data_problem(self) -> str:
        """Why there are no images to show: the dataset failed to load or does not fit the network ("" if none)."""
        error = self.training.data_error
        if error:
            return f"The dataset cannot be loaded: {error}"
        if self.training.waits_for_request:
            return ("The images of the folder are read when you ask: press Load samples in the Training dock, "
                    "or Train")
        data = self.training.cached_data
        if data is not None and self.graph is not None and data.input_shape != self.input_shape:
            fmt = "×".join
            return (f"The network takes {fmt(map(str, self.input_shape))} images but {data.name} has "
                    f"{fmt(map(str, data.input_shape))}: change the Input layer or the dataset")
        return ""

    def ensure_data(self) -> None:
        """Start loading the project's dataset unless it is loaded, loading, or known to fail."""
        self.training.ensure_data()

    def split(self):
        """The images the panels use: the validation split, or the training split when there is none."""
        data = self.data
        if data is None:
            return None
        return data.val if len(data.val) else data.train

    def rebuild(self, after_run: bool = False) -> None:
        """Build the canvas's network with the project's weights (or random ones).

        Not while a run trains: its snapshots decide, and the random initialization here must not
        touch the global random generator the run's dropout draws from.
        """
        if self.training.running and not after_run:
            return  # rebuilt when the run ends (its generator is done by then: no random draws left)
        graph = self.document.graph
        signature = (graph.structure_key(), id(self.document.project.weights), id(self.document.project))
        if signature == self._signature and not self._live:
            return  # nothing the panels show has changed (a move on the canvas, a second signal)
        self._signature = signature
        self._live = False
        result = infer(graph)
        if not result.ok:
            self._set(None, graph, "", f"The network is not ready: {result.first_error()}")
            return
        try:
            # Refused before anything is allocated: a small file can describe a network of many gigabytes.
            check_memory(graph, "inspection", INSPECT_BATCH, result=result)
            with torch.random.fork_rng(devices=[]):  # the same random weights each time, global state kept
                torch.manual_seed(0)
                model = build(graph, result=result)
        except NotEnoughMemoryError as exc:
            self._set(None, graph, "", f"The network cannot be inspected here: {exc}")
            return
        except BuildError as exc:  # pragma: no cover - infer().ok already checked
            self._set(None, graph, "", str(exc))
            return
        weights = self.document.project.weights
        description = "untrained (random weights)"
        if weights is not None:
            try:
                model.load_state_dict(weights)
                description = "trained weights stored in the project"
            except (RuntimeError, KeyError):
                description = "untrained (the stored weights do not fit this network)"
        # The model was built here and nobody else holds it: it becomes the snapshot itself (no copy).
        model.eval()
        model.requires_grad_(False)
        self._set(model, graph, description, "")

    def _on_project_replaced(self, _graph=None) -> None:
        self._forget_epochs()
        self.replaced.emit()
        self.rebuild()

    def _on_history_changed(self) -> None:
        if self._epoch is not None and not self._epoch_still_stored():
            self._forget_epochs()
        else:
            self._epoch_models.clear()
            self._templates.clear()
            self.epoch_changed.emit()  # a run recorded or undone: other runs to choose from
        if not self.training.running:  # a run's record arrives while it still counts as running
            self.replaced.emit()
        self.rebuild()

    def _on_events(self, events: list) -> None:
        snapshots = [e for e in events if isinstance(e, WeightsSnapshot)]
        if not snapshots:
            return
        last = snapshots[-1]
        graph = self.training.training_graph
        if graph is None:
            return
        self._live = True
        # Kept, not built: the model is made from it when a panel asks for it (see ``model``).
        self._set(None, graph, f"training: weights after epoch {last.epoch}", "", snapshot=last)

    def latest_weights(self) -> dict | None:
        """The latest weights (a live run's latest snapshot), without building a model; never a stored
        epoch's that the slider shows."""
        model, _graph, _description, _problem, snapshot = self._latest
        if snapshot is not None:
            return dict(snapshot.state)
        if model is None:
            return None
        return {k: v.detach() for k, v in model.state_dict().items()}

    @property
    def has_model(self) -> bool:
        """There is a network to look at (without building a pending snapshot)."""
        return self._model is not None or self._snapshot is not None

    @property
    def model(self) -> GraphModule | None:
        """The network the panels look at (its weights a snapshot: nobody else holds it); None when there is
        none (``problem`` says why)."""
        if self._snapshot is not None:
            graph, snapshot = self._snapshot
            self._snapshot = None
            try:
                # Built on the meta device and filled from the snapshot: no random initialization, so
                # nothing here draws from the global generator the run's dropout uses meanwhile.
                with torch.device("meta"):
                    model = build(graph)
                model = model.to_empty(device="cpu")
                model.load_state_dict(snapshot.state)
            except (BuildError, RuntimeError, KeyError):
                return self._model  # the previous snapshot stays
            # Built here from a copy of the weights, nobody else's: a snapshot as it is (no second copy).
            model.eval()
            model.requires_grad_(False)
            self._model = model
            self._latest = (model, graph, self.description, self.problem, None)
        return self._model

    def _on_run_ended(self, _end) -> None:
        self._live = False
        self.rebuild(after_run=True)

    def _set(self, model, graph, description: str, problem: str, snapshot: WeightsSnapshot | None = None) -> None:
        self._latest = (model, graph, description, problem, snapshot)
        if self._epoch is None:
            self._show(model, graph, description, problem, snapshot)
        # else: a stored epoch is on show; these weights are shown when "latest" is chosen again

    def _show(self, model, graph, description: str, problem: str, snapshot: WeightsSnapshot | None = None) -> None:
        # The next epoch's snapshot of a run: the same network, the same shapes (not inferred again).
        usable = model is not None or snapshot is not None
        had = self._model is not None or self._snapshot is not None
        same_network = usable and had and graph is not None and graph is self.graph
        self._model, self.graph, self.description, self.problem = model, graph, description, problem
        self._snapshot = (graph, snapshot) if snapshot is not None and graph is not None else None
        if not same_network:
            self._shapes = {} if graph is None or not usable else {
                nid: tuple(info.shape) for nid, info in infer(graph).infos.items() if info.shape is not None}
        self._on_device = None
        self.changed.emit()

    # --- the epoch looked at ------------------------------------------------------------------
    def stored_runs(self) -> list[tuple[int, str, list[int]]]:
        """``(run index, run name, stored epochs)`` of each run of the project's history that keeps epochs."""
        return [(i, run.name, run.epochs.epochs()) for i, run in enumerate(self.document.project.history)
                if run.epochs is not None and run.epochs.weights]

    @property
    def chosen_run(self) -> int | None:
        """The run (index into the history) whose epochs the slider offers: the one on show, else the one
        chosen, else the newest that keeps epochs; None when no run keeps any."""
        if self._epoch is not None:
            return self._epoch[0]
        runs = [i for i, _name, _epochs in self.stored_runs()]
        if not runs:
            return None
        return self._chosen_run if self._chosen_run in runs else runs[-1]

    def choose_run(self, run: int) -> None:
        """Offer run ``run``'s epochs; on show: its same epoch if it keeps it, else its latest stored one."""
        runs = dict((i, e) for i, _name, e in self.stored_runs())
        if run not in runs or run == self.chosen_run:
            return
        self._chosen_run = run
        if self._epoch is None:
            self.epoch_changed.emit()
            return
        epoch = self._epoch[1]
        self.select_epoch(run, epoch if epoch in runs[run] else runs[run][-1])

    @property
    def selected_epoch(self) -> tuple[int, int] | None:
        """``(run index, epoch)`` of the stored weights on show; None: the latest weights."""
        return None if self._epoch is None else self._epoch[:2]

    def select_epoch(self, run: int | None, epoch: int | None = None) -> None:
        """Show run ``run``'s weights of ``epoch`` (a stored one) in every panel; ``run=None``: the latest.

        The run's network is built on the ``meta`` device and given the stored tensors (~10 ms for
        ResNet-18, so on the GUI thread); the last few are cached for going back and forth.
        """
        if run is None or epoch is None:
            if self._epoch is None:
                return
            self.player.stop()
            self._epoch = None
            self._show(*self._latest)
            self.epoch_changed.emit()
            return
        history = self.document.project.history
        epochs = history[run].epochs if 0 <= run < len(history) else None
        if epochs is None or epoch not in epochs.weights:
            raise ValueError(f"run index {run} keeps no epoch {epoch}")
        if self._epoch is not None and self._epoch[:2] == (run, epoch) and self._epoch[2] is epochs:
            return
        self._epoch = (run, epoch, epochs)
        self._chosen_run = run
        model = self._epoch_model(run, epoch, epochs)
        name = history[run].name
        what = "its initial weights (epoch 0)" if epoch == 0 else f"weights after epoch {epoch}"
        self._show(model, epochs.graph, f"{name}: {what}", "")
        self.epoch_changed.emit()

    def _epoch_model(self, run: int, epoch: int, epochs: RunEpochs) -> GraphModule:
        key = (run, epoch)
        model = self._epoch_models.get(key)
        if model is None:
            template = self._templates.get(id(epochs))
            if template is None or template[0] is not epochs:
                with torch.device("meta"):  # no random initialization: the stored tensors replace it
                    blank = build(epochs.graph)
                blank.eval()
                blank.requires_grad_(False)
                template = self._templates[id(epochs)] = (epochs, blank)
            model = copy.deepcopy(template[1])  # of meta tensors: half the time of building it again
            # assign: the model's tensors are the stored ones (nobody changes them in place), no copy
            model.load_state_dict(epochs.weights[epoch], assign=True)
            self._epoch_models[key] = model
            while len(self._epoch_models) > EPOCH_MODELS_CACHED:
                self._epoch_models.popitem(last=False)
        else:
            self._epoch_models.move_to_end(key)
        return model

    def compared_model(self, run: int, epoch: int) -> tuple[GraphModule, Graph]:
        """Run ``run``'s network with its stored weights of ``epoch`` and that network's graph (for "Compare
        with": built as for the epoch slider, from the same cache, without changing what the panels show).

        ``ValueError`` when the run keeps no such epoch.
        """
        history = self.document.project.history
        epochs = history[run].epochs if 0 <= run < len(history) else None
        if epochs is None or epoch not in epochs.weights:
            raise ValueError(f"run index {run} keeps no epoch {epoch}")
        return self._epoch_model(run, epoch, epochs), epochs.graph

    def _epoch_still_stored(self) -> bool:
        assert self._epoch is not None
        run, epoch, epochs = self._epoch
        history = self.document.project.history
        return 0 <= run < len(history) and history[run].epochs is epochs and epoch in epochs.weights

    def _forget_epochs(self) -> None:
        """Another project, or the run looked at is gone: back to the latest weights (shown by the caller)."""
        self.player.stop()
        self._epoch_models.clear()
        self._templates.clear()
        self._chosen_run = None
        if self._epoch is not None:
            self._epoch = None
            self._show(*self._latest)
        self.epoch_changed.emit()

    # --- what the panels ask of the model ---------------------------------------------------
    @property
    def weights_label(self) -> str:
        """A short name for the weights, to tell results of two models apart ("run 2, FGSM-trained ε 0.1")."""
        if self._epoch is not None:
            index, epoch, _epochs = self._epoch
            return f"{self.document.project.history[index].name}, epoch {epoch}"
        if self._live:
            return f"{self.training.run_name or 'this run'} ({self.description.split(': ')[-1]})"
        history = self.document.project.history
        if not self.description.startswith("trained") or not history:
            return self.description.split(" (")[0]
        run = history[-1]
        method = str(run.settings.get("adversarial", "none"))
        if method != "none":
            return f"{run.name}, {method.upper()}-trained ε {run.settings.get('adversarial_epsilon', '?')}"
        return run.name

    def layer_shape(self, node_id: str) -> tuple[int, ...] | None:
        """A layer's output shape without the batch (``(C, H, W)`` or ``(F,)``), None if unknown."""
        return self._shapes.get(node_id)

    def map_layers(self) -> list[str]:
        """The layers whose output is a stack of maps ``(C, H, W)``, in the network's order (input excluded)."""
        if self.model is None:
            return []
        return [nid for nid in self.model.layer_ids if len(self._shapes.get(nid, ())) == 3]

    @property
    def device(self) -> torch.device:
        """The project's training device ("auto": CUDA when there is one), where long analyses run."""
        try:
            return resolve_device(self.document.project.training.device)
        except (UserError, RuntimeError):  # "cuda" chosen on a machine without it; torch refusing a name
            return torch.device("cpu")

    def model_on(self, device: torch.device):
        """The snapshot on ``device`` (the snapshot itself on the CPU; one cached copy per snapshot otherwise)."""
        if self.model is None or device.type == "cpu":
            return self.model
        if self._on_device is None or self._on_device[0] != device:
            self._on_device = (device, copy.deepcopy(self.model).to(device))
        return self._on_device[1]
