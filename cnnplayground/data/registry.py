"""The dataset registry: what can be trained on, its options, and one way to load it.

Every dataset is described once by a :class:`DatasetInfo` (title, a sentence
for users, input shape, class count, options with defaults and help) in
:data:`DATASETS`; :func:`load_dataset` turns a
:class:`~cnnplayground.project.settings.DatasetChoice` into an :class:`ImageData`:

1. read the source (generated, torchvision files, or the user's folder);
2. hold out ``val_fraction`` of the training images (a seeded permutation; a user's folder
   gives its splits by its layout, or draws its shares per class: :mod:`.folder_layout`);
3. corrupt the remaining training images if asked (``random_labels``,
   ``random_pixels``; validation and test stay clean);
4. compute per-channel mean/std from that training part only.

Options valid for every dataset: ``random_labels`` and ``random_pixels``, the
share (0..1) of training images given a random label or replaced by noise
(see :mod:`.corruption`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import torch

from .base import DatasetError, ImageData, SkippedFiles, Split, channel_stats
from .corruption import randomize_labels, randomize_pixels
from .synthetic import CLASS_NAMES as SYNTHETIC_CLASSES
from .synthetic import make_synthetic
from .torchvision_sets import SETS, load_torchvision

if TYPE_CHECKING:
    from ..project import DatasetChoice
    from .folder_layout import FolderSummary
    from .stream import Progress

OptionValue = int | float | bool | str
#: Images generated per call of :func:`make_synthetic` at most (element count), to bound float memory.
SYNTHETIC_CHUNK_ELEMENTS = 2**22
#: Largest dataset :func:`load_dataset` builds in memory (uint8 bytes of all splits).
MAX_DATASET_BYTES = 4 * 2**30
#: Offsets that give the corruption its own random stream, independent of the split's.
CORRUPTION_SEED_OFFSET = 0xC0FFEE


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset kind: what the user sees and which options it takes.

    ``input_shape`` is ``(C, H, W)``, or ``None`` when the options decide it (use
    :func:`input_shape_of`); ``num_classes`` is ``None`` when the data decides it.
    ``options`` maps each option to ``(default, help)``; ``limits`` gives numeric
    options their inclusive ``(low, high)`` range and ``choices`` the allowed values.
    ``offline``: usable without a download.
    """

    name: str
    title: str
    description: str
    input_shape: tuple[int, int, int] | None
    num_classes: int | None
    offline: bool
    options: Mapping[str, tuple[OptionValue, str]]
    limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    choices: Mapping[str, tuple[OptionValue, ...]] = field(default_factory=dict)


_CORRUPTION_OPTIONS: dict[str, tuple[OptionValue, str, tuple[float, float]]] = {
    "random_labels": (0.0, "Share of training images (0..1) given a uniformly random label.", (0.0, 1.0)),
    "random_pixels": (0.0, "Share of training images (0..1) replaced by random noise images.", (0.0, 1.0)),
}


def _info(
    name: str, title: str, description: str, shape: tuple[int, int, int] | None, num_classes: int | None,
    offline: bool, options: dict[str, tuple[OptionValue, str, Any]] | None = None,
) -> DatasetInfo:
    """Build a :class:`DatasetInfo`; each option is ``(default, help, (low, high) or a set of choices)``."""
    specs = {**(options or {}), **_CORRUPTION_OPTIONS}
    limits = {k: v[2] for k, v in specs.items() if isinstance(v[2], tuple)}
    choices = {k: tuple(sorted(v[2])) for k, v in specs.items() if isinstance(v[2], frozenset)}
    return DatasetInfo(
        name, title, description, shape, num_classes, offline,
        MappingProxyType({k: (v[0], v[1]) for k, v in specs.items()}),
        MappingProxyType(limits), MappingProxyType(choices),
    )


def _synthetic_options(size: int, channels: bool) -> dict[str, tuple[OptionValue, str, Any]]:
    options: dict[str, tuple[OptionValue, str, Any]] = {
        "train_size": (20_000, "Training images generated (before the validation hold-out).", (1, 1_000_000)),
        "test_size": (4_000, "Test images generated.", (0, 1_000_000)),
        "size": (size, "Image width and height in pixels.", (8, 256)),
    }
    if channels:
        options["channels"] = (1, "1 for grey, 3 for colour images.", frozenset({1, 3}))
    options["noise"] = (0.08, "Std of the Gaussian pixel noise (pixel values are 0..1).", (0.0, 1.0))
    return options


_TV_DESCRIPTIONS = {
    "mnist": "70,000 handwritten digits 0–9, grey 28×28 (60,000 train, 10,000 test): the classic first "
    "CNN dataset.",
    "fashion-mnist": "70,000 grey 28×28 photos of clothes and shoes in 10 classes (T-shirt/top to ankle boot): "
    "a harder drop-in for MNIST.",
    "kmnist": "Kuzushiji-MNIST: 70,000 grey 28×28 images of 10 cursive Japanese hiragana characters.",
    "cifar10": "60,000 colour 32×32 photos in 10 classes (airplane, automobile, bird, cat, ...; 50,000 train, "
    "10,000 test).",
    "cifar100": "60,000 colour 32×32 photos in 100 classes; like CIFAR-10 with far fewer images per class.",
    "svhn": "Street View House Numbers: 99,289 colour 32×32 crops of house-number digits (73,257 train, "
    "26,032 test).",
}

DATASETS: dict[str, DatasetInfo] = {
    "synthetic": _info(
        "synthetic", "Synthetic shapes",
        "Ten classes of shapes, strokes and textures drawn in code (grey, 28×28 by default). "
        "Always available offline.",
        None, len(SYNTHETIC_CLASSES), True, _synthetic_options(28, channels=True),
    ),
    "synthetic-rgb": _info(
        "synthetic-rgb", "Synthetic shapes (colour)",
        "The synthetic shapes in random colours on coloured backgrounds, 3×32×32 like CIFAR-10. "
        "Always available offline.",
        None, len(SYNTHETIC_CLASSES), True, _synthetic_options(32, channels=False),
    ),
    **{
        key: _info(key, spec.title, _TV_DESCRIPTIONS[key], spec.shape, spec.num_classes, False)
        for key, spec in SETS.items()
    },
    "folder": _info(
        "folder", "Image folder",
        "Your own images: a folder with one sub-folder per class, or with train/ (val/, test/) folders "
        "that each hold one sub-folder per class. Images are read at the size most of them have, in grey when "
        "all of them are grey.",
        None, None, True,
        {
            "size": ("auto", "Image size: 'auto' (the size most images have, read from the files) or the width "
                     "and height of a square in pixels (8..512).", (8, 512)),
            "channels": ("auto", "Channels: 'auto' (1 when every image is grey, else 3, read from the files), "
                         "1 for grey or 3 for colour images.", frozenset({1, 3})),
            "test_fraction": (0.0, "Share of the images (0..0.9) held out as a test split.", (0.0, 0.9)),
        },
    ),
}


def list_datasets() -> list[DatasetInfo]:
    """All dataset kinds, in the order shown to users."""
    return list(DATASETS.values())


def default_data_root() -> Path:
    """Where datasets are kept unless a choice names a folder.

    ``$CNNPLAYGROUND_DATA`` if set, else ``$XDG_DATA_HOME/cnnplayground/datasets``
    (``~/.local/share/cnnplayground/datasets`` by default). Read at each call.
    """
    env = os.environ.get("CNNPLAYGROUND_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).expanduser().is_absolute() else Path.home() / ".local/share"
    return base / "cnnplayground" / "datasets"


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; :class:`DatasetError` listing the known names otherwise."""
    info = DATASETS.get(name)
    if info is None:
        raise DatasetError(f"unknown dataset '{name}'; available: {', '.join(DATASETS)}")
    return info


def resolve_options(info: DatasetInfo, options: Mapping[str, OptionValue]) -> dict[str, OptionValue]:
    """Defaults overlaid with ``options``, each checked for name, type and range.

    Whole numbers are accepted for float options and whole floats (``64.0``) for
    integer options; true/false only for true/false options.
    """
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        raise DatasetError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(repr(k) for k in unknown)} for dataset "
            f"'{info.name}'; allowed: {', '.join(info.options)}"
        )
    values = {k: default for k, (default, _) in info.options.items()}
    for key, value in options.items():
        values[key] = _check_option(info, key, value)
    return values


def _check_option(info: DatasetInfo, key: str, value: OptionValue) -> OptionValue:
    default = info.options[key][0]
    where = f"option '{key}' of dataset '{info.name}'"
    if default == "auto":  # 'auto' or a whole number (the folder's image size and channels)
        if value == "auto":
            return value
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise DatasetError(f"{where} must be 'auto' or a whole number, got {value!r}")
        default = 0
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise DatasetError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise DatasetError(f"{where} must be a whole number, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise DatasetError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif not isinstance(value, str):
        raise DatasetError(f"{where} must be text, got {value!r}")
    if key in info.choices and value not in info.choices[key]:
        raise DatasetError(f"{where} must be one of {', '.join(map(str, info.choices[key]))}, got {value!r}")
    if key in info.limits:
        lo, hi = info.limits[key]
        if not lo <= value <= hi:  # type: ignore[operator]
            raise DatasetError(f"{where} must be from {lo:g} to {hi:g}, got {value!r}")
    return value


def input_shape_of(choice: DatasetChoice) -> tuple[int, int, int]:
    """``(C, H, W)`` of the images ``choice`` gives, from its options alone (nothing is loaded; an image
    folder at its own size, the default, has the headers of its files read)."""
    info = dataset_info(choice.name)
    if info.input_shape is not None:
        resolve_options(info, choice.options)
        return info.input_shape
    opts = resolve_options(info, choice.options)
    if opts["size"] == "auto" or (opts.get("channels") == "auto" and choice.root):
        return folder_summary(choice, 0.0, 0).input_shape  # the images decide: headers read, remembered per folder
    size = int(opts["size"])
    return _channels(info, opts), size, size


def folder_summary(choice: DatasetChoice, val_fraction: float, seed: int) -> FolderSummary:
    """How the image folder of ``choice`` is split and at what size it is read (files listed, headers read,
    no pixel decoded; the sizes are remembered per folder): :class:`~.folder_layout.FolderSummary`."""
    from .folder_layout import summarize_folder

    opts = resolve_options(dataset_info("folder"), choice.options)
    return summarize_folder(_folder_root(choice), opts, val_share=val_fraction, seed=seed)


def _folder_root(choice: DatasetChoice) -> Path:
    if not choice.root:
        raise DatasetError("the image-folder dataset needs a folder: choose the folder that holds one "
                           "sub-folder per class")
    root = Path(choice.root).expanduser()
    _check_not_a_file(root, "image folder", "choose a folder with one sub-folder per class")
    return root


def _channels(info: DatasetInfo, opts: dict[str, OptionValue]) -> int:
    """The channels of a dataset whose options say them (an image folder not yet named: 3 for ``"auto"``)."""
    channels = opts.get("channels", 3 if info.name == "synthetic-rgb" else 1)
    return 3 if channels == "auto" else int(channels)


def load_dataset(
    choice: DatasetChoice, *, val_fraction: float = 0.1, seed: int = 0, download: bool = False,
    progress: Progress | None = None,
) -> ImageData:
    """Load ``choice`` as an :class:`ImageData` (images ``(N, C, H, W)`` uint8 on the CPU).

    ``val_fraction`` (0 ≤ f < 1) of the training images, chosen by a permutation
    from ``seed``, become the validation split (``0``: an empty one). The same
    seed always gives the same split and corruption. ``download`` lets torchvision
    fetch missing files. Every problem is a one-line :class:`DatasetError`. ``progress`` hears how far
    an image folder larger than memory is in being cached on disk (:mod:`.stream`).
    """
    info = dataset_info(choice.name)
    opts = resolve_options(info, choice.options)
    if not 0.0 <= val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be at least 0 and below 1, got {val_fraction}")
    root = Path(choice.root).expanduser() if choice.root else None
    split_gen = torch.Generator().manual_seed(seed)
    if info.name == "folder":  # its splits may come from its layout; shares are drawn per class
        train, val, test, classes, skipped = _load_folder(choice, val_fraction, seed, progress)
    else:
        full, test, classes, skipped = _LOADERS[info.name](info, opts, root, download, split_gen)
        val, train = _split_off(full, val_fraction, split_gen)
    corrupt_gen = torch.Generator().manual_seed(seed + CORRUPTION_SEED_OFFSET)
    if opts["random_labels"]:
        labels = randomize_labels(train.labels, float(opts["random_labels"]), len(classes), corrupt_gen)
        train = replace(train, labels=labels)  # keeps a streamed split streamed
    if opts["random_pixels"]:
        train = train.subset(torch.arange(len(train)))  # a copy (on disk for a streamed folder), changed in place
        train = replace(train, images=randomize_pixels(train.images, float(opts["random_pixels"]), corrupt_gen,
                                                       in_place=True))
    mean, std = channel_stats(train.images)
    return ImageData(name=info.name, class_names=classes, train=train, val=val, test=test, mean=mean, std=std,
                     skipped=skipped)


def _split_off(split: Split, fraction: float, generator: torch.Generator) -> tuple[Split, Split]:
    """``(held_out, rest)``: ``round(fraction · N)`` images chosen by a seeded permutation
    (at least one image stays in ``rest``); both keep the original order."""
    n = len(split)
    k = min(round(fraction * n), max(n - 1, 0))
    perm = torch.randperm(n, generator=generator)
    held, rest = perm[:k].sort().values, perm[k:].sort().values
    return split.subset(held), split.subset(rest)


# --- sources: each returns (train, test or None, class names, skipped files or None) ----------

Source = tuple[Split, Split | None, tuple[str, ...], SkippedFiles | None]


def _load_synthetic(info: DatasetInfo, opts: dict[str, OptionValue], root: Path | None, download: bool,
                    generator: torch.Generator) -> Source:
    size, noise = int(opts["size"]), float(opts["noise"])
    channels = _channels(info, opts)
    n_train, n_test = int(opts["train_size"]), int(opts["test_size"])
    nbytes = (n_train + n_test) * channels * size * size
    if nbytes > MAX_DATASET_BYTES:
        raise DatasetError(
            f"the synthetic set asked for needs {nbytes / 2**30:.1f} GB; at most {MAX_DATASET_BYTES / 2**30:.0f} "
            "GB: choose fewer or smaller images"
        )
    # The images do not depend on the run's seed: like a real dataset, the set is fixed
    # and the seed only changes the validation split and the corruption.
    train = synthetic_split(n_train, size=size, channels=channels, noise=noise, stream=0)
    test = synthetic_split(n_test, size=size, channels=channels, noise=noise, stream=1)
    return train, test, SYNTHETIC_CLASSES, None


def synthetic_split(n: int, *, size: int, channels: int, noise: float, stream: int) -> Split:
    """``n`` synthetic images as uint8 (``round(x · 255)``), generated in chunks of about
    :data:`SYNTHETIC_CHUNK_ELEMENTS` floats; chunk ``i`` uses seed ``2·i + stream``."""
    # Chunks of a multiple of 10 images keep the classes exactly balanced, as in one call.
    chunk = max(10, SYNTHETIC_CHUNK_ELEMENTS // (channels * size * size) // 10 * 10)
    images = torch.empty((n, channels, size, size), dtype=torch.uint8)
    labels = torch.empty(n, dtype=torch.int64)
    for i, start in enumerate(range(0, n, chunk)):
        stop = min(start + chunk, n)
        x, y = make_synthetic(stop - start, size=size, channels=channels, noise=noise, seed=2 * i + stream)
        images[start:stop] = x.mul_(255).round_().to(torch.uint8)
        labels[start:stop] = y
    return Split(images, labels)


def _load_torchvision(info: DatasetInfo, opts: dict[str, OptionValue], root: Path | None, download: bool,
                      generator: torch.Generator) -> Source:
    root = root if root is not None else default_data_root()
    _check_not_a_file(root, "the data root", "choose a folder for the datasets")
    return (*load_torchvision(info.name, root, download=download), None)


def _load_folder(choice: DatasetChoice, val_fraction: float, seed: int,
                 progress: Progress | None) -> tuple[Split, Split, Split | None, tuple[str, ...], SkippedFiles | None]:
    from .folder_layout import load_splits

    summary = folder_summary(choice, val_fraction, seed)
    train, val, test, skipped = load_splits(summary.plan, size=summary.size.hw, channels=summary.channels,
                                            progress=progress)
    return train, val, test, summary.plan.classes, skipped


def _check_not_a_file(root: Path, what: str, hint: str) -> None:
    """Refuse a folder that is a file, or lies inside one, before a reader calls it missing."""
    for path in (root, *root.parents):
        if path.exists():
            if not path.is_dir():
                where = "" if path == root else f" is inside {path}, which"
                raise DatasetError(f"{what} {root}{where} is a file, not a folder: {hint}")
            return


_LOADERS: dict[str, Callable[..., Source]] = {
    "synthetic": _load_synthetic,
    "synthetic-rgb": _load_synthetic,
    **{key: _load_torchvision for key in SETS},
}
