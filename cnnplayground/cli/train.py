"""``cnnplayground train`` and ``cnnplayground evaluate``."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from ..core.errors import one_line
from ..core.text import printable
from ..io.project_schema import describe_validation_error
from .common import CliError, load_target, positive_int, say
from .setting_flags import add_setting_flags, apply_setting_flags

#: Images per batch when ``evaluate`` runs the network.
EVALUATE_BATCH = 512


def _check_memory(graph, use, batch_size: int) -> None:
    """CliError unless ``graph`` fits in memory for ``use`` (checked before any data is loaded or built)."""
    from ..core.inference import infer
    from ..core.memory import NotEnoughMemoryError, check_memory

    if not infer(graph).ok:
        return  # the builder says what is wrong
    try:
        check_memory(graph, use, batch_size)
    except NotEnoughMemoryError as exc:
        raise CliError(str(exc)) from None


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a preset or project on a dataset (headless)")
    p.add_argument("project", nargs="?", metavar="PROJECT.cnnp", help="train this project (else --preset)")
    p.add_argument("--preset", default=None, help="network preset (default lenet5 when no project is given)")
    groups = add_setting_flags(p)
    groups["data"].add_argument("--download", action="store_true", help="download a missing torchvision dataset")
    out = p.add_argument_group("output")
    out.add_argument("--checkpoint-dir", type=Path, help="write last.ckpt here after each epoch")
    out.add_argument("--resume", type=Path, metavar="CKPT", help="continue from a checkpoint")
    out.add_argument("--save", type=Path, metavar="OUT.cnnp", help="save the trained project here")
    out.add_argument("--no-save", action="store_true", help="do not write the trained project back")
    out.add_argument("--json", action="store_true", help="print every event as one JSON line (for scripts)")
    p.set_defaults(func=cmd_train)


def add_evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="test a trained project: accuracy, per class, confusion, mistakes")
    p.add_argument("project", metavar="PROJECT.cnnp")
    p.add_argument("--split", choices=["test", "val", "train"], default="test")
    p.add_argument("--data-root", default=None)
    p.add_argument("--top", type=positive_int, default=5,
                   help="show the N most confident mistakes (by file for an image folder, else by position #i)")
    p.add_argument("--csv", type=Path, metavar="FILE", default=None,
                   help="write one row per image: index, file (image folders), true, predicted, confidence")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default="auto")
    p.add_argument("--tta-flip", action=argparse.BooleanOptionalAction, default=None,
                   help="average the outputs for each image and its mirror image (default: the project's setting)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)


def _prepare(args: argparse.Namespace):
    """(project, graph, data, config, out path) for a train command.

    A preset with recommended settings (``Preset.recommended``, e.g. ``speedrun_cifar``) starts
    from those instead of the defaults; options given on the command line still win.
    """
    from ..data.base import DatasetError
    from ..data.registry import load_dataset
    from ..project import DatasetChoice, Project, TrainingConfig
    from ..train.setup import adapt_input

    if args.project and args.preset:
        raise CliError("give a project file or --preset, not both")
    target = args.project or args.preset or "lenet5"
    graph, title, project = load_target(target)
    recommended = {} if project else _recommended(target)
    try:
        if project:
            config = project.training.model_copy(deep=True)
            choice = project.dataset.model_copy(deep=True)
        else:
            config = (TrainingConfig.model_validate(recommended["training"]) if "training" in recommended
                      else _default_config())
            choice = DatasetChoice.model_validate(recommended.get("dataset", {}))
    except ValidationError as exc:  # pragma: no cover - presets' settings are tested to validate
        raise CliError(describe_validation_error(exc.errors(include_url=False))) from None
    config = apply_setting_flags(args, config, choice)
    if project is not None:  # a project's network is final: refuse one too big before loading any data
        _check_training_memory(graph, config)
    try:
        if project is not None:
            _fit_folder_channels(choice, graph, config)
        summary = _show_folder(choice, config, args.json)
        data = load_dataset(choice, val_fraction=config.val_fraction, seed=config.seed, download=args.download,
                            progress=_LoadProgressPrinter(sys.stderr))
    except DatasetError as exc:
        raise CliError(str(exc)) from None
    _warn_skipped(data)
    if project is None:
        from ..core.presets import get_preset

        preset = get_preset(target)
        graph = adapt_input(preset.factory(num_classes=data.num_classes, in_channels=data.input_shape[0]), data)
        if preset.input_shape != data.input_shape and not args.json:
            from ..core.shapes import format_shape

            say(f"note: {preset.title} takes {format_shape(preset.input_shape)} images; its input was changed to "
                f"{format_shape(data.input_shape)}, the images of {data.name}")
        project = Project.new(graph=graph, name=title, dataset=choice, training=config)
    elif summary is not None:
        _check_folder_input(graph, data, choice)
    out = args.save or (None if args.no_save or not args.project else Path(args.project))
    return project, graph, data, config, choice, out


def _show_folder(choice, config, as_json: bool):
    """For an image folder: print how its splits are chosen, their sizes per class, the image size and
    channels (as ``Note`` events with ``--json``); the :class:`~..data.folder_layout.FolderSummary`, else None."""
    from ..data.registry import folder_summary

    if choice.name != "folder":
        return None
    summary = folder_summary(choice, config.val_fraction, config.seed)
    lines = [summary.plan.describe(), *(f"note: {n}" for n in summary.plan.notes),
             f"{summary.size.describe()}; {summary.colour.describe()}"]
    for line in lines:
        say(json.dumps({"event": "Note", "message": line}) if as_json else line)
    if not as_json:
        for row in summary.plan.table():
            say(f"  {row}")
    return summary


def _check_folder_input(graph, data, choice) -> None:
    """A project's network that takes another size than its folder's images at their own size: say how to
    read them at the network's size (projects from before issue 22 read folders at 64×64)."""
    from ..core.inference import infer
    from ..core.shapes import format_shape
    from ..data.registry import DATASETS, resolve_options

    takes = infer(graph).input_shape
    if takes is None or takes == data.input_shape:
        return
    if resolve_options(DATASETS["folder"], choice.options)["size"] == "auto" and takes[1] == takes[2]:
        raise CliError(f"the network takes {format_shape(takes)} images but the folder's images are "
                       f"{format_shape(data.input_shape)} at their own size: pass --image-size {takes[1]} to read "
                       f"them at {takes[1]}×{takes[2]}, or change the Input layer")


def _check_training_memory(graph, config) -> None:
    from ..core.inference import infer
    from ..train.setup import check_training_memory
    from ..train.trainer import TrainingSetupError

    if not infer(graph).ok:
        return  # said with the dataset's shapes in mind once it is loaded (build_for_data)
    try:
        check_training_memory(graph, config)
    except TrainingSetupError as exc:
        raise CliError(str(exc)) from None


class _LoadProgressPrinter:
    """How far a folder larger than memory is in being cached on disk, on stderr: a live line on a terminal,
    else each stage's last report (``decoding images into the cache: 20,000 of 20,000 (100%)``)."""

    def __init__(self, err: TextIO) -> None:
        self.err, self.live, self.started = err, err.isatty(), False

    def __call__(self, progress) -> None:
        if not self.started:
            self.started = True
            say("note: the images do not fit in memory; they are streamed from a cache on disk", self.err)
        if self.live:
            say(f"\r\033[K  {progress.message()}", self.err, end="\n" if progress.done >= progress.total else "",
                escape=False)
        elif progress.done >= progress.total:
            say(f"  {progress.message()}", self.err)


def _warn_skipped(data) -> None:
    """Say on stderr which files the dataset left out ("warning: skipped 3 unreadable files: first …")."""
    if data.skipped is not None:
        say(f"warning: {data.skipped.message()}", file=sys.stderr)  # file names escaped


def _describe_data(data, config, lines: bool) -> None:
    """Say (when ``lines``: not with ``--json``, whose first event stays ``RunStarted``) what the images are
    normalized with and how many there are per class in the training split; warn on stderr when the classes
    are unbalanced (``data/balance.py``: the largest at least 3 × the smallest) and the loss is not weighted."""
    from ..data.balance import class_counts, normalization_text

    counts = class_counts(data)
    if lines:
        say(f"normalization (from the {len(data.train):,} training images): {normalization_text(data)}")
        say(f"classes (training images): {counts.listing()}")
    if counts.unbalanced and config.class_weights == "none":
        say(f"warning: classes are unbalanced: {counts.extremes()}; consider --class-weights balanced",
            file=sys.stderr)
    elif counts.unbalanced and lines:
        say(f"classes are unbalanced: {counts.extremes()}; the training loss is weighted by class "
            f"(--class-weights {config.class_weights})")


def _default_config():
    from ..project import TrainingConfig

    return TrainingConfig(epochs=3)


def _recommended(preset_name: str) -> dict:
    """The preset's recommended ``{"training": ..., "dataset": ...}`` settings (a copy; ``{}`` if none)."""
    from ..core.presets import get_preset

    return get_preset(preset_name).recommended_settings()


def cmd_train(args: argparse.Namespace) -> int:
    """Train, then save to ``--save`` (or back to the project file).

    The destination is checked before training (:func:`~cnnplayground.io.destination.check_destination`).
    A run stopped by Ctrl-C (the first stops after the current step, a second at once) saves the
    epochs that finished, with the weights of the last of them, never those of a half epoch; if no
    epoch finished, nothing is saved, and the message says which. When the save fails, the project
    is written to the recovery folder (:mod:`cnnplayground.io.recovery`) and the message names it.
    """
    import torch

    from ..io.atomic import AtomicWriteError
    from ..io.destination import check_destination
    from ..io.project import estimate_saved_bytes, weights_from_module
    from ..project import run_record
    from ..project.epochs import MB, EpochCollector
    from ..train.events import EpochFinished, Failed, Finished, StepFinished, WeightsSnapshot
    from ..train.setup import build_for_data, describe_tensors, non_finite_weights
    from ..train.steplog import StepLog
    from ..train.trainer import Trainer, TrainingSetupError

    project, graph, data, config, choice, out = _prepare(args)
    if out is not None:
        try:
            check_destination(out, estimate_saved_bytes(project))
        except AtomicWriteError as exc:
            raise CliError(f"{exc}; nothing was trained (choose another --save file, or pass --no-save)") from None
    try:
        with torch.random.fork_rng(devices=[]):  # the run's seed decides its initial weights, as in the window
            torch.manual_seed(config.seed)
            model = build_for_data(graph, data, config)
        if project.weights is not None and args.resume is None:
            model.load_state_dict(project.weights)
            broken = non_finite_weights(model.state_dict())  # in the order of the layers
            if broken:  # they would fail as "diverged: lower the learning rate", which is not the cause
                raise CliError(
                    f"the starting weights are not finite (NaN or infinite values in {describe_tensors(broken)}): "
                    "training cannot start from them; train the network from fresh weights "
                    "(cnnplayground train --preset …, or a project without weights) or from a good checkpoint "
                    "(--resume)")
        trainer = Trainer(model, data, config, checkpoint_dir=args.checkpoint_dir, resume_from=args.resume,
                          snapshot_every_epoch=out is not None)
    except TrainingSetupError as exc:
        raise CliError(str(exc)) from None
    # Headless, torch keeps its default thread count (every core); only the GUI leaves one free
    # (ui/training/worker.py: reserve_gui_core).

    printer = _JsonPrinter(sys.stdout) if args.json else _HumanPrinter(sys.stdout, sys.stderr, project.name, data,
                                                                       _adversarial_text(config))
    _describe_data(data, config, lines=not args.json)
    steps = StepLog()  # bounded however long the run (run_record keeps 20,000 points per curve anyway)
    # The run keeps its epochs in the project: the weights at its start (a fresh run's epoch 0, before the
    # trainer's first step) and after each epoch (the trainer's snapshots: references, no further copy).
    collector = EpochCollector(graph, config.epochs, config.snapshot_budget_mb * MB) if out is not None else None
    if collector is not None and args.resume is None:
        collector.start(weights_from_module(model))
    epoch_weights: WeightsSnapshot | None = None  # the weights at the end of the last finished epoch
    started = datetime.now(UTC)
    end = None
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame):  # first Ctrl-C stops cleanly after the current step
        trainer.stop()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_interrupt)
    crashed: BaseException | None = None
    interrupted = False
    try:
        for event in trainer.run():
            if isinstance(event, StepFinished):
                steps.append(event)
            elif isinstance(event, WeightsSnapshot):
                epoch_weights = event
                if collector is not None:
                    collector.snapshot(event)
            elif isinstance(event, EpochFinished) and collector is not None:
                collector.epoch_finished(event)
            elif isinstance(event, Finished | Failed):
                end = event
            printer.show(event)
    except KeyboardInterrupt:  # a second Ctrl-C: at once
        interrupted = True
    except Exception as exc:  # noqa: BLE001 - report, then still save what was trained
        crashed = exc
    finally:
        signal.signal(signal.SIGINT, previous)
    epochs = [e for e in trainer.history if isinstance(e, EpochFinished)]
    cut_short = interrupted or crashed is not None or (isinstance(end, Finished) and end.reason == "stopped")
    if cut_short and epoch_weights is not None:  # the last finished epoch, not the steps after it
        epochs = [e for e in epochs if e.epoch <= epoch_weights.epoch]
    during = f" during epoch {steps.last.epoch}" if cut_short and steps.last is not None else ""
    halted = "stopped by an error" if crashed is not None else "interrupted"
    if out is not None and epochs and (not cut_short or epoch_weights is not None):
        project.graph = graph
        project.training = config
        project.dataset = choice
        # A run the trainer ended (also when stopped) holds the weights it keeps: the best epoch's with
        # keep-best on. One ended otherwise (a second Ctrl-C, an error) holds half an epoch: the last
        # finished epoch's snapshot is saved instead.
        finished = isinstance(end, Finished)
        kept_by_trainer = finished and getattr(end, "kept_epoch", None) is not None
        use_snapshot = cut_short and epoch_weights is not None and not kept_by_trainer
        project.weights = dict(epoch_weights.state) if use_snapshot else weights_from_module(model)
        record = run_record(f"run {len(project.history) + 1}", config, epochs, steps, dataset=data.name,
                            started=started, network=graph, end=end)
        if collector is not None:  # the epochs of the record (a run cut short keeps none after its last)
            record.keep_epochs(collector.result(record.kept_epoch if kept_by_trainer else None, epochs[-1].epoch))
        project.history.append(record)
        what = "training finished" if not cut_short else f"training was {halted}{during}"
        _save_or_recover(project, out, what)
        if cut_short:
            kept = end.kept_epoch if kept_by_trainer else epochs[-1].epoch
            printer.note(f"{halted}{during}: saved {printable(out)} with the {len(epochs)} finished epoch"
                         f"{'s' * (len(epochs) != 1)} and the weights of epoch {kept} "
                         "(the steps after it are not kept)")
        else:
            printer.note(f"saved {printable(out)}")
    elif out is not None and cut_short:
        printer.note(f"{halted}{during}: nothing was saved (no epoch had finished)")
    elif out is None and not args.json:
        printer.note((f"{halted}: " if cut_short else "") + "not saved (pass --save OUT.cnnp to keep the trained "
                     "network)")
    if interrupted:
        return 130
    if crashed is not None:
        raise CliError(f"training stopped by an unexpected error: {type(crashed).__name__}: "
                       f"{one_line(crashed, lines=3)}")
    return 1 if isinstance(end, Failed) else 0


def _save_or_recover(project, out: Path, what: str) -> None:
    """Save ``project`` to ``out``; if that fails, to the recovery folder, and say where (a :class:`CliError`)."""
    from ..io.project import ProjectError, save_project
    from ..io.recovery import save_recovery_copy

    try:
        save_project(project, out)
        return
    except ProjectError as exc:
        failure = exc
    try:
        copy = save_recovery_copy(project, original=out)
    except (ProjectError, OSError) as exc:
        raise CliError(f"{what} but the project could not be saved: {failure}; nor could a recovery copy "
                       f"({exc}): the trained network is lost") from None
    raise CliError(f"{what} but the project could not be saved: {failure}; the trained project was saved "
                   f"to {copy} instead (the window offers it back at its next start)")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..data.base import DatasetError
    from ..data.loader import DeviceLoader
    from ..data.registry import load_dataset
    from ..io.atomic import AtomicWriteError, atomic_write_text, check_target
    from ..train.evaluate import evaluate, per_image_csv
    from ..train.setup import build_for_data, describe_tensors, non_finite_weights
    from ..train.trainer import TrainingSetupError, resolve_device

    graph, _, project = load_target(args.project)
    if project is None:
        raise CliError(f"{args.project} is not a project file")
    if project.weights is None:
        raise CliError(f"{args.project} has no trained weights: train it first (cnnplayground train {args.project})")
    choice = project.dataset.model_copy(deep=True)
    if args.data_root:
        choice.root = args.data_root
    if args.csv is not None:
        try:  # a folder, a device or a read-only file as --csv: refused before any work
            check_target(args.csv)
        except AtomicWriteError as exc:
            raise CliError(f"{exc}; choose another --csv file") from None
    _check_memory(graph, "inference", EVALUATE_BATCH)
    try:
        _fit_folder_channels(choice, graph, project.training)
        _fit_folder_to_network(choice, graph, project.training)
        data = load_dataset(choice, val_fraction=project.training.val_fraction, seed=project.training.seed,
                            progress=_LoadProgressPrinter(sys.stderr))
        _warn_skipped(data)
        model = build_for_data(graph, data)
        device = resolve_device(args.device)
    except (DatasetError, TrainingSetupError) as exc:
        raise CliError(str(exc)) from None
    model.load_state_dict(project.weights)
    broken = non_finite_weights(model.state_dict())  # in the order of the layers
    if broken:
        say(f"warning: the weights are not finite (NaN or infinite values in {describe_tensors(broken)}): "
            "the outputs, accuracy and loss below are meaningless; train the network again", sys.stderr)
    model.to(device)
    split = {"test": data.test, "val": data.val, "train": data.train}[args.split]
    if split is None or len(split) == 0:
        raise CliError(f"{data.name} has no {args.split} split")
    loader = DeviceLoader(split, mean=data.mean, std=data.std, batch_size=EVALUATE_BATCH, device=device, shuffle=False)
    t0 = time.perf_counter()
    tta_flip = project.training.tta_flip if args.tta_flip is None else args.tta_flip
    result = evaluate(model, loader, data.num_classes, top_mistakes=args.top, tta_flip=tta_flip,
                      per_image=args.csv is not None)
    seconds = time.perf_counter() - t0
    names = data.class_names
    if args.csv is not None:
        try:
            atomic_write_text(args.csv, per_image_csv(result, split.labels, names, split.files))
        except AtomicWriteError as exc:
            raise CliError(f"{exc}; choose another --csv file") from None
    if args.json:
        say(json.dumps({
            "split": args.split, "images": result.count, "loss": result.loss, "accuracy": result.accuracy,
            "per_class_accuracy": dict(zip(names, result.per_class_accuracy)),
            "confusion": result.confusion.tolist(),
            "mistakes": [{**m.__dict__, "file": None if split.files is None else split.files[m.index]}
                         for m in result.mistakes],
            "seconds": seconds, "tta_flip": tta_flip,
        }))
        return 0
    tta = ", flip test-time augmentation" if tta_flip else ""
    say(f"{printable(project.name)} on {data.name} ({args.split}, {result.count:,} images{tta}, {seconds:.1f} s)")
    say(f"accuracy {result.accuracy:.2%}   loss {result.loss:.4f}")
    names = [printable(n) for n in names]  # class-folder names are the user's (data/folder.py)
    width = max(len(n) for n in names)
    say("\nper class:")
    for name, acc in zip(names, result.per_class_accuracy):
        say(f"  {name:<{width}}  {'—' if acc is None else f'{acc:6.1%}'}")
    say("\nconfusion (rows: true class, columns: predicted):")
    cells = result.confusion.tolist()
    cw = max(5, len(str(max(max(r) for r in cells))) + 1)
    say(" " * (width + 2) + "".join(f"{i:>{cw}}" for i in range(len(names))))
    for i, (name, row) in enumerate(zip(names, cells)):
        say(f"  {name:<{width}}" + "".join(f"{v:>{cw}}" for v in row) + f"   ({i})")
    if result.mistakes:
        say("\nmost confident mistakes:")
        for line in _mistake_lines(result.mistakes, names, split):
            say(line)
    if args.csv is not None:
        say(f"\nper-image results ({result.count:,} rows) written to {printable(str(args.csv))}")
    return 0


def _mistake_lines(mistakes, names: list[str], split) -> list[str]:
    """``  cat/0042.png  true cat  → predicted dog  (93.0%)``, one per mistake, in aligned columns; an
    image is named by its file (relative to the image folder) where the split has files, else ``#63``."""
    where = [printable(split.file_of(m.index)) for m in mistakes]
    true = [names[m.true] for m in mistakes]
    predicted = [names[m.predicted] for m in mistakes]
    ww, tw, pw = (max(len(s) for s in column) for column in (where, true, predicted))
    return [f"  {w:<{ww}}  true {t:<{tw}}  → predicted {p:<{pw}}  ({m.confidence:.1%})"
            for w, t, p, m in zip(where, true, predicted, mistakes)]


def _fit_folder_to_network(choice, graph, config) -> None:
    """An image folder read at its own size for a network that takes another square size (a project from
    before issue 22, when folders were read at 64×64 by default): read it at the network's size, and say so."""
    from ..core.inference import infer
    from ..data.registry import DATASETS, folder_summary, resolve_options

    if choice.name != "folder" or resolve_options(DATASETS["folder"], choice.options)["size"] != "auto":
        return
    takes = infer(graph).input_shape
    if takes is None or takes[1] != takes[2] or folder_summary(choice, config.val_fraction, config.seed).size.hw \
            == takes[1:]:
        return
    choice.options = {**choice.options, "size": takes[1]}
    say(f"note: the images are read at {takes[1]}×{takes[2]}, the network's input size", sys.stderr)


def _fit_folder_channels(choice, graph, config) -> None:
    """A project's network that takes 3 channels and its image folder of grey images read with "auto"
    channels (a project from before the channels were read from the images, when folders were read as
    colour): read the images as 3 channels, the network's, and say so."""
    from ..core.inference import infer
    from ..data.registry import DATASETS, folder_summary, resolve_options

    if choice.name != "folder" or resolve_options(DATASETS["folder"], choice.options)["channels"] != "auto":
        return
    takes = infer(graph).input_shape
    if takes is None or takes[0] != 3 or folder_summary(choice, config.val_fraction, config.seed).channels == 3:
        return
    choice.options = {**choice.options, "channels": 3}
    say("note: the images are all grey; they are read as 3 channels, the network's input", sys.stderr)


def _adversarial_text(config) -> str:
    """``", adversarial PGD-7 ε 0.1 on 50 % of each batch"``, or nothing when adversarial training is off."""
    if config.adversarial == "none":
        return ""
    attack = f"PGD-{config.adversarial_steps}" if config.adversarial == "pgd" else "FGSM"
    return (f", adversarial {attack} ε {config.adversarial_epsilon:g} on {config.adversarial_fraction:.0%} "
            "of each batch")




class _JsonPrinter:
    def __init__(self, out: TextIO) -> None:
        self.out = out

    def show(self, event) -> None:
        from ..train.events import WeightsSnapshot, to_dict

        if isinstance(event, WeightsSnapshot):
            return
        say(json.dumps(_jsonable(to_dict(event)), allow_nan=False), self.out)

    def note(self, text: str) -> None:
        say(json.dumps({"event": "Note", "message": text}), self.out)


def _jsonable(value):
    """Plain JSON data: tuples become lists, NaN/inf become null; anything else is a bug."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    raise TypeError(f"cannot write {type(value).__name__} as JSON: {value!r}")


class _HumanPrinter:
    """Per-epoch lines on stdout, a live progress bar on stderr when it is a terminal."""

    def __init__(self, out: TextIO, err: TextIO, name: str, data, extra: str = "") -> None:
        self.out, self.err, self.name, self.data, self.extra = out, err, printable(name), data, extra
        self.live = err.isatty()
        self.epochs = 0
        self.steps_per_epoch = 1
        self.start_epoch = 0

    def show(self, event) -> None:
        from ..train import events as ev

        if isinstance(event, ev.RunStarted):
            self.epochs, self.steps_per_epoch, self.start_epoch = event.epochs, event.steps_per_epoch, event.start_epoch
            resumed = f", resuming after epoch {event.start_epoch}" if event.start_epoch else ""
            self._line(
                f"Training {self.name} ({event.parameters:,} parameters) on {self.data.name} "
                f"({event.train_images:,} train / {event.val_images:,} validation images, "
                f"{'×'.join(map(str, self.data.input_shape))}) on {event.device.upper()} [{event.precision}]"
                f"{self.extra}{resumed}"
            )
        elif isinstance(event, ev.StepFinished) and self.live:
            done = (event.epoch - 1 - self.start_epoch) * self.steps_per_epoch + event.epoch_step
            total = (self.epochs - self.start_epoch) * self.steps_per_epoch
            frac = done / max(total, 1)
            eta = event.elapsed / max(frac, 1e-9) * (1 - frac)
            bar = "█" * int(frac * 24) + "░" * (24 - int(frac * 24))
            say(f"\r  epoch {event.epoch}/{self.epochs} {bar} {frac:4.0%}  loss {event.loss:.3f}  "
                f"acc {event.accuracy:5.1%}  {event.images_per_second:,.0f} img/s  ETA {_clock(eta)} ",
                self.err, end="", escape=False)
        elif isinstance(event, ev.EpochFinished):
            val = (f"val loss {event.val_loss:.3f}  val acc {event.val_accuracy:6.1%}"
                   if event.val_accuracy is not None else "no validation split")
            self._line(
                f"epoch {event.epoch}/{self.epochs}  loss {event.train_loss:.3f}  train acc "
                f"{event.train_accuracy:6.1%}  {val}  ({event.seconds:.1f} s, {event.images_per_second:,.0f} img/s)"
                + ("  *" if event.best else "")
            )
        elif isinstance(event, ev.Compiled):
            self._line(event.message if event.compiled else f"warning: {event.message}", err=not event.compiled)
        elif isinstance(event, ev.CheckpointSaved):
            pass
        elif isinstance(event, ev.CheckpointFailed):
            self._line(f"warning: {event.message}", err=True)
        elif isinstance(event, ev.Finished):
            self._line(event.message)
        elif isinstance(event, ev.Failed):
            self._line(f"FAILED: {event.message}", err=True)

    def note(self, text: str) -> None:
        self._line(text)

    def _line(self, text: str, err: bool = False) -> None:
        if self.live:
            say("\r\033[K", self.err, end="", escape=False)
        say(text, self.err if err else self.out)


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}:{seconds % 60:02d}"
