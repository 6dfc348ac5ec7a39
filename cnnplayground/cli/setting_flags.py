"""The settings flags of ``cnnplayground train`` and ``cnnplayground new``: one flag per setting.

Every training setting (``TrainingConfig``, its ``AugmentConfig``) and every dataset option of the
registry (``data/registry.py``) has a flag, declared once in :data:`FLAGS` with its group in ``--help``;
booleans come as ``--x/--no-x``. :func:`add_setting_flags` puts them on a parser and
:func:`apply_setting_flags` writes the given ones into a project's settings, so they are saved with it.
The table is written out (not generated from the models) so that ``--help`` starts without torch;
``tests/cli/test_setting_flags.py`` fails when a setting has no flag.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .common import CliError, positive_int

if TYPE_CHECKING:  # pragma: no cover
    from ..project import DatasetChoice, TrainingConfig

#: Options that survive a change of dataset (valid for every dataset), as in the window's settings form.
CORRUPTION_OPTIONS = ("random_labels", "random_pixels")

SPLITS_HELP = (
    "How the splits are chosen: the torchvision sets and the synthetic sets have their own test split; "
    "--val-share of their training images (drawn at random with --seed) is held out for validation. An image "
    "folder with train/ (and val/, valid/ or validation/, and test/) sub-folders, each holding one sub-folder "
    "per class, uses them as those splits: --val-share then only applies without a validation folder, "
    "--test-share only without test/, and both are drawn from train/. A folder of class sub-folders alone "
    "holds out --test-share, then --val-share of the rest, from each class (stratified, with --seed). "
    "train prints the splits and their sizes per class."
)

#: Group title → description shown in ``--help`` (in this order).
GROUPS: dict[str, str | None] = {
    "data": "What to train on (default: the project's dataset, else the synthetic set that fits the preset's "
            "input). The image folder holds one sub-folder of images per class, or train/ (val/, test/) "
            "folders of them.",
    "splits": SPLITS_HELP,
    "optimization": None,
    "regularization": None,
    "augmentation": "Random changes to each training batch, on the device (all off by default).",
    "adversarial training": None,
    "corruption experiments": "Damage part of the training data on purpose (validation and test stay clean).",
    "hardware": None,
}


def size_or_auto(text: str) -> int | str:
    """argparse type of ``--image-size`` and ``--channels``: ``auto`` or a whole number of at least 1."""
    return "auto" if text.strip().lower() == "auto" else positive_int(text)


@dataclass(frozen=True)
class Flag:
    """One setting's flag. ``target``: ``("training", field)``, ``("augment", field)``, ``("option", key)``
    (a dataset option) or ``("dataset", "name" | "root")``. ``kind``: an argparse type, ``bool`` for
    ``--x/--no-x``, or ``None`` with ``choices``."""

    flag: str
    target: tuple[str, str]
    group: str
    help: str
    kind: Callable[[str], Any] | type[bool] | None = float
    choices: tuple[str, ...] | None = None
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag[2:].replace("-", "_") if self.flag != "--lr" else "learning_rate"


FLAGS: tuple[Flag, ...] = (
    # data
    Flag("--dataset", ("dataset", "name"), "data", "synthetic, synthetic-rgb, mnist, fashion-mnist, kmnist, "
         "cifar10, cifar100, svhn, folder", kind=str, metavar="DATASET"),
    Flag("--data-root", ("dataset", "root"), "data", "folder holding the datasets (or the image folder)",
         kind=str, metavar="DIR"),
    Flag("--image-size", ("option", "size"), "data", "image width and height in pixels: the synthetic sets "
         "(8-256) and the image folder (8-512; default 'auto': the size most of its images have)",
         kind=size_or_auto, metavar="PX"),
    Flag("--channels", ("option", "channels"), "data", "1 for grey, 3 for colour images (synthetic, folder); "
         "the image folder's default 'auto' is 1 when every image is grey, else 3", kind=size_or_auto,
         choices=("auto", "1", "3")),
    Flag("--train-size", ("option", "train_size"), "data", "synthetic sets: training images generated "
         "(before the validation hold-out; default 20,000)", kind=positive_int, metavar="N"),
    Flag("--test-size", ("option", "test_size"), "data", "synthetic sets: test images generated (default 4,000)",
         kind=int, metavar="N"),
    Flag("--synthetic-noise", ("option", "noise"), "data", "synthetic sets: std of the pixel noise, 0-1 "
         "(default 0.08)", metavar="STD"),
    # splits
    Flag("--val-share", ("training", "val_fraction"), "splits", "share of the training images held out for "
         "validation, 0-0.5 (default 0.1)", metavar="F"),
    Flag("--test-share", ("option", "test_fraction"), "splits", "image folder without test/: share of each "
         "class held out as the test split, 0-0.9 (default 0: no test split)", metavar="F"),
    # optimization
    Flag("--epochs", ("training", "epochs"), "optimization", "passes over the training set", kind=positive_int),
    Flag("--batch-size", ("training", "batch_size"), "optimization", "images per optimizer step",
         kind=positive_int),
    Flag("--optimizer", ("training", "optimizer"), "optimization", "update rule", kind=None,
         choices=("sgd", "adam", "adamw", "rmsprop")),
    Flag("--lr", ("training", "learning_rate"), "optimization", "learning rate (the peak of the schedule)"),
    Flag("--momentum", ("training", "momentum"), "optimization", "SGD/RMSprop momentum, 0-0.999 (default 0.9)"),
    Flag("--nesterov", ("training", "nesterov"), "optimization", "Nesterov momentum (SGD only)", kind=bool),
    Flag("--schedule", ("training", "schedule"), "optimization", "how the learning rate changes over the run",
         kind=None, choices=("constant", "step", "cosine", "onecycle", "plateau")),
    Flag("--warmup-epochs", ("training", "warmup_epochs"), "optimization", "linear warm-up from 0 over this "
         "many epochs (not with onecycle)", metavar="EPOCHS"),
    Flag("--step-size", ("training", "step_size"), "optimization", "'step' schedule: epochs between decays",
         kind=positive_int, metavar="EPOCHS"),
    Flag("--step-gamma", ("training", "step_gamma"), "optimization", "'step' schedule: factor at each decay",
         metavar="F"),
    Flag("--plateau-patience", ("training", "plateau_patience"), "optimization", "'plateau' schedule: epochs "
         "without progress before a decay", kind=positive_int, metavar="EPOCHS"),
    Flag("--plateau-factor", ("training", "plateau_factor"), "optimization", "'plateau' schedule: factor at "
         "each decay", metavar="F"),
    # regularization
    Flag("--weight-decay", ("training", "weight_decay"), "regularization", "L2 penalty (decoupled for AdamW)"),
    Flag("--l1", ("training", "l1"), "regularization", "L1 penalty on the weights, added to the loss"),
    Flag("--label-smoothing", ("training", "label_smoothing"), "regularization", "cross-entropy label "
         "smoothing, 0-0.99"),
    Flag("--class-weights", ("training", "class_weights"), "regularization", "weight the training loss by "
         "class: 'balanced' gives each class n / (classes × its images), as scikit-learn's, for unbalanced data; "
         "the validation loss stays unweighted (default: none)", kind=None, choices=("none", "balanced")),
    Flag("--grad-clip", ("training", "grad_clip"), "regularization", "clip the gradient norm to this value "
         "(0: off)", metavar="NORM"),
    Flag("--early-stopping", ("training", "early_stopping_patience"), "regularization", "stop after this many "
         "epochs without a better epoch (0: off)", kind=int, metavar="EPOCHS"),
    Flag("--best-metric", ("training", "early_stopping_metric"), "regularization", "what makes an epoch the "
         "best, for --keep-best and --early-stopping (default val_loss)", kind=None,
         choices=("val_loss", "val_accuracy")),
    Flag("--keep-best", ("training", "restore_best"), "regularization", "end the run with the weights of its "
         "best validation epoch, not the last one's (default: on)", kind=bool),
    Flag("--tta-flip", ("training", "tta_flip"), "regularization", "evaluate on each image and its mirror "
         "image, averaging the outputs", kind=bool),
    # augmentation
    Flag("--hflip", ("augment", "hflip"), "augmentation", "mirror left-right with probability 1/2", kind=bool),
    Flag("--vflip", ("augment", "vflip"), "augmentation", "mirror top-bottom with probability 1/2", kind=bool),
    Flag("--crop-padding", ("augment", "crop_padding"), "augmentation", "random crop after zero padding by this "
         "many pixels, 0-16", kind=int, metavar="PX"),
    Flag("--rotate", ("augment", "rotate_degrees"), "augmentation", "random rotation up to ± this angle, 0-45",
         metavar="DEGREES"),
    Flag("--translate", ("augment", "translate"), "augmentation", "random shift up to ± this share of the "
         "size, 0-0.5", metavar="F"),
    Flag("--color-jitter", ("augment", "color_jitter"), "augmentation", "brightness/contrast/saturation change "
         "up to ± this share, 0-1", metavar="F"),
    Flag("--erasing", ("augment", "erasing"), "augmentation", "probability of erasing a random rectangle, 0-1",
         metavar="P"),
    Flag("--noise-std", ("augment", "noise_std"), "augmentation", "std of Gaussian noise added after "
         "normalization, 0-2", metavar="STD"),
    # adversarial training
    Flag("--adversarial", ("training", "adversarial"), "adversarial training", "replace part of each batch by "
         "FGSM or PGD examples", kind=None, choices=("none", "fgsm", "pgd")),
    Flag("--adversarial-epsilon", ("training", "adversarial_epsilon"), "adversarial training", "largest pixel "
         "change, in pixel units 0..1 (default: the project's, else 0.1)", metavar="EPS"),
    Flag("--adversarial-steps", ("training", "adversarial_steps"), "adversarial training", "PGD steps "
         "(default: the project's, else 7)", kind=int, metavar="N"),
    Flag("--adversarial-fraction", ("training", "adversarial_fraction"), "adversarial training", "share of each "
         "batch made adversarial (default: the project's, else 0.5)", metavar="F"),
    # corruption experiments
    Flag("--random-labels", ("option", "random_labels"), "corruption experiments", "share of the training "
         "images given a random label, 0-1", metavar="F"),
    Flag("--random-pixels", ("option", "random_pixels"), "corruption experiments", "share of the training "
         "images replaced by random noise, 0-1", metavar="F"),
    # hardware
    Flag("--device", ("training", "device"), "hardware", "where to train ('auto': CUDA, then MPS, then the CPU)",
         kind=None, choices=("auto", "cpu", "cuda", "mps")),
    Flag("--mixed-precision", ("training", "mixed_precision"), "hardware", "autocast to bf16/fp16 on CUDA "
         "(default: on)", kind=bool),
    Flag("--compile", ("training", "compile"), "hardware", "torch.compile the network first (faster steps on a "
         "GPU after a one-time compilation, reported separately; falls back to uncompiled with a warning)",
         kind=bool),
    Flag("--seed", ("training", "seed"), "hardware", "seed of every random generator of the run (and of the "
         "splits)", kind=int),
    Flag("--checkpoint-every", ("training", "checkpoint_every"), "hardware", "with --checkpoint-dir: write "
         "last.ckpt every N epochs (0: never)", kind=int, metavar="N"),
    Flag("--snapshot-budget", ("training", "snapshot_budget_mb"), "hardware", "room in the project file for "
         "the weights of each run's epochs, all runs together (default 200 MB; 0: keep none)", kind=int,
         metavar="MB"),
)


def add_setting_flags(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Add every :data:`FLAGS` row to ``parser``, in its ``--help`` group; the groups by title."""
    groups = {title: parser.add_argument_group(title, description) for title, description in GROUPS.items()}
    for f in FLAGS:
        kwargs: dict[str, Any] = {"dest": f.dest, "default": None, "help": f.help}
        if f.kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            if f.kind is not None:
                kwargs["type"] = f.kind
            if f.choices is not None:
                kwargs["choices"] = [f.kind(c) for c in f.choices] if f.kind is not None else list(f.choices)
            if f.choices is None:
                kwargs["metavar"] = f.metavar or ("X" if f.kind is float else "N")
            elif f.metavar is not None:
                kwargs["metavar"] = f.metavar
        groups[f.group].add_argument(f.flag, **kwargs)
    return groups


def given(args: argparse.Namespace) -> list[tuple[Flag, Any]]:
    """The :data:`FLAGS` given on the command line, with their values."""
    return [(f, getattr(args, f.dest)) for f in FLAGS if getattr(args, f.dest, None) is not None]


def apply_setting_flags(args: argparse.Namespace, config: TrainingConfig, choice: DatasetChoice) -> TrainingConfig:
    """Write the given flags into ``choice`` (changed in place) and a validated copy of ``config`` (returned).

    Choosing another dataset keeps only the options every dataset takes (the corruption shares), as the
    window does. A flag out of range, or a dataset option the chosen dataset does not take, is a
    :class:`CliError` naming the flag.
    """
    from pydantic import ValidationError

    from ..io.project_schema import describe_validation_error
    from ..project import TrainingConfig

    flags = given(args)
    training: dict[str, Any] = {}
    augment: dict[str, Any] = {}
    options: list[tuple[Flag, Any]] = []
    for f, value in flags:
        where, key = f.target
        if where == "dataset" and key == "name":
            if value != choice.name:
                choice.name = value
                choice.options = {k: v for k, v in choice.options.items() if k in CORRUPTION_OPTIONS}
        elif where == "dataset":
            choice.root = value
        elif where == "option":
            options.append((f, value))
        elif where == "augment":
            augment[key] = value
        else:
            training[key] = value
    if training or augment:
        doc = config.model_dump()
        doc.update(training)
        doc["augment"] = {**doc["augment"], **augment}
        try:
            config = TrainingConfig.model_validate(doc)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            loc = tuple(str(part) for part in errors[0].get("loc", ()))
            text = describe_validation_error(errors)
            flag = next((f.flag for f, _ in flags if loc and f.target[1] == loc[-1]
                         and (f.target[0] == "augment") == (loc[0] == "augment")), None)
            if flag is not None:
                text = flag + text[len(".".join(loc)):]
            raise CliError(_flag_names(text)) from None
    if options:
        _apply_options(choice, options)
    return config


def _apply_options(choice: DatasetChoice, options: list[tuple[Flag, Any]]) -> None:
    from ..data.base import DatasetError
    from ..data.registry import DATASETS, dataset_info, resolve_options

    try:
        info = dataset_info(choice.name)
    except DatasetError as exc:
        raise CliError(str(exc)) from None
    for f, value in options:
        key = f.target[1]
        if key not in info.options:
            takers = ", ".join(name for name, other in DATASETS.items() if key in other.options)
            raise CliError(f"{f.flag} does not apply to the {choice.name} dataset; it applies to: {takers}")
        try:
            resolve_options(info, {key: value})
        except DatasetError as exc:
            raise CliError(f"{f.flag}: {exc}") from None
        choice.options = {**choice.options, key: value}


def _flag_names(text: str) -> str:
    """A settings error with the fields it names written as their flags (``val_fraction`` → ``--val-share``)."""
    import re

    for f in sorted(FLAGS, key=lambda f: -len(f.target[1])):
        if f.target[0] == "training":
            text = re.sub(rf"(?<![\w-]){f.target[1]}(?!\w)", f.flag, text)
    return text
