"""How an image folder is split and at what size its images are read: from the folder itself.

Two layouts are understood (torchvision's ``ImageFolder``, Keras' ``image_dataset_from_directory``
and fastai keep data like this)::

    root/                               root/
      train/ cat/ dog/                    cat/ 001.jpg ...
      val/   cat/ dog/   (or valid/,      dog/ ...
             validation/; optional)
      test/  cat/ dog/   (optional)

With a ``train/`` sub-folder, the split folders are the splits: class names are the union of their
class folders, sorted, the same list for every split; a class may be missing from ``val/`` or
``test/`` (said in the notes), not from ``train/``. A split the layout does not give (validation,
test) is drawn from ``train/`` by its share. Without ``train/``, every sub-folder is a class and the
validation and test shares are drawn from it. Shares are drawn **per class** (stratified,
:func:`draw_per_class`): each class gives its share up to less than one image, chosen by a permutation
from the seed; test first, then validation from what is left; each class keeps a training image.

The size and channels the images are read at come from their headers: :mod:`.image_size`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..core.errors import one_line
from .base import DatasetError, SkippedFiles, Split
from .folder import MAX_IMAGES, images_in, read_splits, scan_folder
from .image_size import AUTO, ImageChannels, ImageSize, choose_size, image_channels, image_size, read_headers

if TYPE_CHECKING:
    from .stream import Progress

#: The names a split folder may have, per split (the first is how the split is named in messages).
SPLIT_FOLDERS: dict[str, tuple[str, ...]] = {
    "train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",),
}


@dataclass(frozen=True)
class FolderLayout:
    """What a folder holds, from its listing alone.

    ``folders``: split → the sub-folder that gives it (``{}``: one folder of class sub-folders).
    ``files``: split → the files of each class (``files[split][label]``); one folder: ``{"all": …}``.
    ``notes``: what a user should know (a class missing from ``test/``, a folder left out).
    """

    root: Path
    classes: tuple[str, ...]
    folders: dict[str, str]
    files: dict[str, list[list[Path]]]
    notes: tuple[str, ...] = ()

    @property
    def from_layout(self) -> bool:
        return bool(self.folders)

    def all_files(self) -> list[Path]:
        return [p for per_class in self.files.values() for paths in per_class for p in paths]


def scan_layout(root: Path) -> FolderLayout:
    """The layout of ``root`` (see the module's text); :class:`DatasetError` when it cannot be used."""
    try:
        if not root.is_dir():
            raise DatasetError(f"image folder {root} does not exist: choose a folder with one sub-folder per class")
        subs = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"cannot read image folder {root} ({exc.strerror or one_line(exc)}): "
                           "check that you may open it") from None
    if "train" not in subs:
        classes, files = scan_folder(root)
        return FolderLayout(root, classes, {}, {"all": files})
    folders: dict[str, str] = {}
    for split, names in SPLIT_FOLDERS.items():
        present = [n for n in names if n in subs]
        if len(present) > 1:
            raise DatasetError(f"image folder {root} has {' and '.join(f'{n}/' for n in present)}: keep one "
                               "validation folder (merge or rename the others)")
        if present:
            folders[split] = present[0]
    notes: list[str] = []
    others = [n for n in subs if n not in folders.values()]
    if others:
        notes.append(f"left out: {', '.join(f'{n}/' for n in others)} (not train/, val/ or test/)")
    found: dict[str, dict[str, list[Path]]] = {}
    for split, name in folders.items():
        found[split] = {c: images_in(root / name / c) for c in _class_folders(root / name)}
    train = {c: f for c, f in found["train"].items() if f}
    if len(train) < 2:
        raise DatasetError(f"image folder {root / 'train'} has {len(train)} class sub-folder"
                           f"{'' if len(train) == 1 else 's'} with images: at least 2 classes are needed "
                           "(train/ holds one sub-folder of images per class)")
    classes = tuple(sorted(set().union(*found.values())))
    for c in classes:
        if not train.get(c):
            where = ", ".join(f"{folders[s]}/" for s in found if found[s].get(c))
            raise DatasetError(f"class '{c}' has images in {where} but none in train/: add its training images "
                               f"to {root / 'train' / c}, or remove it from {where}")
    for split in ("val", "test"):
        if split not in found:
            continue
        if not any(found[split].values()):
            notes.append(f"{folders[split]}/ has no images: left out")
            del folders[split]
            continue
        missing = [c for c in classes if not found[split].get(c)]
        if missing:
            notes.append(f"{folders[split]}/ has no images of {_names(missing)}")
    per_split = {split: [found[split].get(c, []) for c in classes] for split in folders}
    return FolderLayout(root, classes, folders, per_split, tuple(notes))


def _class_folders(folder: Path) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"cannot read image folder {folder} ({exc.strerror or one_line(exc)}): "
                           "check that you may open it") from None


def _names(classes: list[str], shown: int = 3) -> str:
    quoted = [f"'{c}'" for c in classes[:shown]]
    more = f" and {len(classes) - shown} more" if len(classes) > shown else ""
    return ", ".join(quoted) + more


# --- splits ----------------------------------------------------------------------------------------

SPLITS = ("train", "val", "test")
SPLIT_TITLES = {"train": "train", "val": "validation", "test": "test"}


@dataclass(frozen=True)
class SplitPlan:
    """Which files make each split, and where each split comes from (printable: :meth:`describe`).

    ``files[split][label]``: the files of class ``label`` in ``split`` (``"train"``, ``"val"``,
    ``"test"``; every split is there, maybe empty). ``sources[split]``: ``"test/"`` (a folder of the
    layout), ``"10 % of train/"``, ``"20 % of the images"`` or ``"10 % of the rest"`` (drawn per class,
    the validation share after the test share), ``"the rest"`` (training), or ``""`` (none).
    """

    root: Path
    classes: tuple[str, ...]
    from_layout: bool
    files: dict[str, list[list[Path]]]
    sources: dict[str, str]
    notes: tuple[str, ...] = ()
    #: The files the shares are drawn from (train/, or every class folder), the shares and the seed.
    pool: list[list[Path]] = field(default_factory=list)
    shares: dict[str, float] = field(default_factory=lambda: {"val": 0.0, "test": 0.0})
    seed: int = 0
    #: split → the layout's folder that gives it (``{"train": "train", "test": "test"}``; ``{}``: none).
    folders: dict[str, str] = field(default_factory=dict)

    def counts(self, split: str) -> list[int]:
        """Images of each class in ``split``."""
        return [len(paths) for paths in self.files[split]]

    def size(self, split: str) -> int:
        return sum(self.counts(split))

    def describe(self) -> str:
        """One line: ``splits from the folder's layout: train 3,600 (train/) · validation 400 (10 % of train/,
        stratified by class) · test 1,000 (test/)``."""
        parts = []
        for split in SPLITS:
            source = self.sources[split]
            if not source:
                parts.append(f"{SPLIT_TITLES[split]} none")
                continue
            per_class = ", stratified by class" if "%" in source else ""
            parts.append(f"{SPLIT_TITLES[split]} {self.size(split):,} ({source}{per_class})")
        how = "splits from the folder's layout" if self.from_layout else "splits drawn from the class folders"
        return f"{how}: {' · '.join(parts)}"

    def table(self, limit: int = 20) -> list[str]:
        """The images per class and split, one line per class (at most ``limit``, then how many more)."""
        width = max(5, *(len(c) for c in self.classes[:limit]))
        heads = [SPLIT_TITLES[s] for s in SPLITS]
        lines = [f"{'class':<{width}}  " + "  ".join(f"{h:>10}" for h in heads)]
        columns = [self.counts(s) for s in SPLITS]
        for i, name in enumerate(self.classes[:limit]):
            lines.append(f"{name:<{width}}  " + "  ".join(f"{col[i]:>10,}" for col in columns))
        if len(self.classes) > limit:
            lines.append(f"… and {len(self.classes) - limit:,} more classes")
        return lines


def plan_splits(layout: FolderLayout, *, val_share: float, test_share: float, seed: int) -> SplitPlan:
    """Assign every file of ``layout`` to a split: the layout's folders, else shares drawn per class
    (:func:`draw_per_class`). Each split keeps its files in name order."""
    notes = list(layout.notes)
    pool = layout.files["train" if layout.from_layout else "all"]
    pool_name = "train/" if layout.from_layout else "the images"
    files: dict[str, list[list[Path]]] = {s: [[] for _ in layout.classes] for s in SPLITS}
    sources = {s: "" for s in SPLITS}
    shares = {"test": test_share, "val": val_share}
    for split, flag in (("val", "--val-share"), ("test", "--test-share")):
        if split in layout.folders:
            files[split] = layout.files[split]
            sources[split] = f"{layout.folders[split]}/"
            if shares[split] > 0:
                notes.append(f"{flag} is not applied: the folder has {layout.folders[split]}/")
            shares[split] = 0.0
    drawn = draw_per_class([len(paths) for paths in pool], shares, seed)
    for label, (paths, picked) in enumerate(zip(pool, drawn, strict=True)):
        for split, index in picked.items():
            if split == "train" or split not in layout.folders:
                files[split][label] = [paths[i] for i in index]
    drawn_from = pool_name
    for split in ("test", "val"):
        if not sources[split] and shares[split] > 0:
            sources[split] = f"{shares[split]:.0%} of {drawn_from}".replace("%", " %")
            drawn_from = "the rest"
    sources["train"] = "the rest" if drawn_from == "the rest" else pool_name
    if layout.from_layout and drawn_from == "the rest":
        sources["train"] = "the rest of train/"
    return SplitPlan(layout.root, layout.classes, layout.from_layout, files, sources, tuple(notes), pool, shares,
                     seed, dict(layout.folders))


def draw_per_class(counts: list[int], shares: dict[str, float], seed: int) -> list[dict[str, list[int]]]:
    """For each class of ``counts[label]`` images: the positions (sorted) of its test, validation and
    training images, drawn by a permutation seeded with ``seed``.

    Test first: ``shares["test"]`` of the images of all classes, shared out so that each class gives its
    share up to less than one image (largest remainders: 10 % of classes of 100 and 60 images is exactly
    10 and 6; of 4 and 4 it is 1 and 0, as 10 % of 8 is 1); then validation, ``shares["val"]`` of what is
    left, the same way. Each class keeps at least one training image.
    """
    generator = torch.Generator().manual_seed(seed)
    n_test = [min(q, max(n - 1, 0)) for q, n in zip(_quotas(counts, shares["test"]), counts, strict=True)]
    rest = [n - t for n, t in zip(counts, n_test, strict=True)]
    n_val = [min(q, max(n - 1, 0)) for q, n in zip(_quotas(rest, shares["val"]), rest, strict=True)]
    out = []
    for n, t, v in zip(counts, n_test, n_val, strict=True):
        order = torch.randperm(n, generator=generator).tolist()
        out.append({"test": sorted(order[:t]), "val": sorted(order[t:t + v]), "train": sorted(order[t + v:])})
    return out


def _quotas(counts: list[int], share: float) -> list[int]:
    """``share`` of each count, whole numbers that add up to ``round(share · total)`` (largest remainders;
    ties go to the class first in order)."""
    exact = [share * n for n in counts]
    quotas = [int(x) for x in exact]
    left = round(share * sum(counts)) - sum(quotas)
    by_remainder = sorted(range(len(counts)), key=lambda i: (-(exact[i] - quotas[i]), i))
    for i in by_remainder[:max(left, 0)]:
        quotas[i] += 1
    return quotas


def plan_folder(root: Path, *, val_share: float, test_share: float, seed: int) -> SplitPlan:
    """:func:`plan_splits` of :func:`scan_layout` of ``root``: what :func:`load_splits` will read."""
    return plan_splits(scan_layout(root), val_share=val_share, test_share=test_share, seed=seed)


def load_splits(plan: SplitPlan, *, size: tuple[int, int], channels: int, available_memory: int | None = None,
                progress: Progress | None = None) -> tuple[Split, Split, Split | None, SkippedFiles | None]:
    """``(train, val, test or None, skipped)``: the images of ``plan`` at ``size`` ``(height, width)``.

    The shares are drawn again from the images that could be read (:func:`draw_per_class`, the same seed:
    the same split as the plan when every file reads), so that a file that cannot be read never leaves
    a drawn split short. Splits larger than memory are streamed from disk (:func:`~.folder.read_splits`,
    ``progress`` told how far caching them is); the shares drawn from such a split are copies on disk.
    """
    groups = {"train": plan.pool, **{s: plan.files[s] for s in ("val", "test") if plan.shares[s] == 0}}
    read, skipped = read_splits(plan.root, plan.classes, groups, size=size, channels=channels,
                                available_memory=available_memory, progress=progress)
    pool = read["train"]
    starts = torch.searchsorted(pool.labels, torch.arange(len(plan.classes) + 1)).tolist()  # ordered by class
    drawn = draw_per_class([b - a for a, b in itertools.pairwise(starts)], plan.shares, plan.seed)
    picked: dict[str, list[int]] = {s: [] for s in SPLITS}
    for start, per_class in zip(starts, drawn, strict=False):
        for split, index in per_class.items():
            picked[split] += [start + i for i in index]
    splits = {s: pool.subset(torch.tensor(picked[s], dtype=torch.int64)) for s in SPLITS}
    splits.update({s: read[s] for s in ("val", "test") if s in read})
    test = splits["test"] if plan.sources["test"] else None
    return splits["train"], splits["val"], test, skipped


@dataclass(frozen=True)
class FolderSummary:
    """What a folder gives before anything is decoded: the split plan, the image size and channels.

    ``auto_size``: the size ``"auto"`` gives, when the headers were read (``size`` or ``channels`` is
    ``"auto"``), else ``None``.
    """

    plan: SplitPlan
    size: ImageSize
    colour: ImageChannels = ImageChannels(3)
    auto_size: ImageSize | None = None

    @property
    def channels(self) -> int:
        return self.colour.channels

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.channels, self.size.height, self.size.width


def summarize_folder(root: Path, options: Mapping[str, int | float | bool | str], *, val_share: float,
                     seed: int) -> FolderSummary:
    """The split plan, image size and channels of the image folder ``root`` with the folder dataset's
    ``options`` (resolved: ``size``, ``channels``, ``test_fraction``), listing files and reading headers
    only (when ``size`` or ``channels`` is ``"auto"``)."""
    layout = scan_layout(root)
    total = len(layout.all_files())
    if total > MAX_IMAGES:  # refused before any header is read, as the load refuses it
        raise DatasetError(
            f"image folder {root} holds {total:,} images; at most {MAX_IMAGES:,} can be loaded: choose a smaller folder"
        )
    plan = plan_splits(layout, val_share=val_share, test_share=float(options["test_fraction"]), seed=seed)
    files = layout.all_files()
    auto_size = choose_size(read_headers(root, files).sizes) if AUTO in (options["size"], options["channels"]) \
        else None
    return FolderSummary(plan, image_size(root, files, options["size"]),
                         image_channels(root, files, options["channels"]), auto_size)
