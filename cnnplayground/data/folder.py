"""A user's own images: one sub-folder per class, like torchvision's ``ImageFolder``.

::

    root/
      cat/  001.jpg  002.png ...
      dog/  a.jpg ...

Class names are the sub-folder names, sorted. Hidden entries (names starting
with ``.``) and files without an image extension are ignored. Every image is
read with PIL, turned upright by its EXIF orientation, converted to grey
(``L``) or colour (``RGB``), and fitted to ``size × size``: the shorter side is
scaled to ``size`` (bilinear) and the longer side is center-cropped, so the
aspect ratio is kept (``PIL.ImageOps.fit``).

Hostile or damaged files never stop the load with a traceback: every image either
loads or is skipped and counted (:class:`~.base.SkippedFiles`, "skipped 3 unreadable
files: first cat/x.png (broken PNG file)"), whatever the decoder raises. Only the
formats the extensions name are decoded (a ``.png`` that is really EPS is not handed
to Ghostscript), and an image whose header claims more than :data:`MAX_IMAGE_PIXELS`
is skipped before its pixels are read (a 1.8 KB TIFF can ask for 1.5 GB). The whole
set is checked against the memory there is before it is allocated; a set that does not fit
is streamed from a cache of its decoded images on disk instead (:mod:`.stream`), and refused
(:class:`~.base.DatasetMemoryError`) only when the disk lacks room as well. A class folder that cannot be listed is a
:class:`~.base.DatasetError` (a set without one of its classes would train another task).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from ..core import memory
from ..core.errors import one_line
from .base import DatasetError, DatasetMemoryError, SkippedFiles, Split

if TYPE_CHECKING:
    from .stream import LoadProgress, Progress

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: Refuse folders with more images than this (a guard against pointing at a whole photo library).
MAX_IMAGES = 200_000
#: Pillow's names of the formats the extensions stand for (JPEG includes MPO, which many cameras write).
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
#: Largest image (width × height) that is decoded: 50 megapixels, more than most cameras write. Decoding
#: takes up to ~12 bytes per pixel (4 for the pixels, 4 more for the colour conversion, 4 for a rotation).
MAX_IMAGE_PIXELS = 50_000_000
#: The loaded set is held about twice while it is split into training, validation and test images.
LOAD_COPIES = 2
#: How many skipped files a :class:`SkippedFiles` names.
SKIPPED_LISTED = 5
#: Used where the system does not say how much memory is available (the synthetic set's limit).
FALLBACK_MEMORY = 4 * 2**30


class FolderImages(NamedTuple):
    """What :func:`load_folder` read: the images, the class names and what was skipped (None: nothing)."""

    split: Split
    classes: tuple[str, ...]
    skipped: SkippedFiles | None


def scan_folder(root: Path) -> tuple[tuple[str, ...], list[list[Path]]]:
    """Class names (sorted sub-folder names) and each class's image files (sorted by name).

    Raises :class:`DatasetError` when the folder is missing, cannot be read, has no class
    sub-folders, fewer than two, or a class that cannot be listed or has no images.
    """
    try:
        if not root.is_dir():
            raise DatasetError(f"image folder {root} does not exist: choose a folder with one sub-folder per class")
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"cannot read image folder {root} ({exc.strerror or one_line(exc)}): "
                           "check that you may open it") from None
    if not classes:
        raise DatasetError(
            f"image folder {root} has no class sub-folders: put the images of each class in its own sub-folder"
        )
    if len(classes) < 2:
        raise DatasetError(
            f"image folder {root} has only one class sub-folder ({classes[0]}): at least 2 classes are needed"
        )
    files: list[list[Path]] = []
    for name in classes:
        found = images_in(root / name)
        if not found:
            raise DatasetError(
                f"class folder {root / name} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))}): "
                "add images or remove the folder"
            )
        files.append(found)
    return tuple(classes), files


def images_in(folder: Path) -> list[Path]:
    """The image files of one class folder, sorted by name (:class:`DatasetError` when it cannot be listed)."""
    try:
        # is_file() follows links and is False for FIFOs and devices, which would block or never end.
        return sorted(
            p for p in folder.iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
        )
    except OSError as exc:
        raise DatasetError(f"cannot read class folder {folder} ({exc.strerror or one_line(exc)}): "
                           "check that you may open it, or remove it") from None


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(height, width)`` of a size given as one side (a square) or as ``(height, width)``."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def folder_bytes(count: int, size: int | tuple[int, int], channels: int) -> int:
    """Memory (bytes) that loading ``count`` images at ``size × size × channels`` (or ``(height, width)``)
    takes at its peak: uint8 pixels and int64 labels, :data:`LOAD_COPIES` times."""
    h, w = _hw(size)
    return LOAD_COPIES * count * (h * w * channels + 8)


def check_memory(root: Path, count: int, size: int | tuple[int, int], channels: int, available: int | None) -> None:
    """Refuse (:class:`DatasetMemoryError`) a set that needs more than ``available`` bytes
    (``None``: the system does not say; :data:`FALLBACK_MEMORY` then)."""
    needed = folder_bytes(count, size, channels)
    limit = FALLBACK_MEMORY if available is None else available
    h, w = _hw(size)
    if needed > limit:
        raise DatasetMemoryError(
            f"image folder {root} needs {_gb(needed)} of memory ({count:,} images at {h}×{w}×{channels}); "
            f"{_gb(limit)} {'is' if available is not None else 'is the limit where the system does not say'} "
            "available: choose a smaller image size or fewer images", needed, limit)


def _gb(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GB"
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def load_folder(
    root: Path, *, size: int | tuple[int, int] = 64, channels: int = 3, max_images: int = MAX_IMAGES,
    max_pixels: int = MAX_IMAGE_PIXELS, available_memory: int | None = None,
    cache_dir: Path | None = None, workers: int | None = None, progress: Progress | None = None,
) -> FolderImages:
    """Read every image below ``root`` into one split; return it with the class names and what was skipped.

    Images: ``(N, channels, size, size)`` uint8 (``size``: one side, or ``(height, width)``); labels:
    ``(N,)`` int64, the index of the class sub-folder in sorted order; images ordered by class, then name.
    A file that cannot be decoded, or whose header claims more than ``max_pixels``
    pixels, is left out and counted. ``available_memory``: bytes the set may take
    (``None``: ask the system, :func:`..core.memory.available_memory`).

    A set that needs more memory than that is streamed from disk instead (:mod:`.stream`: a
    :class:`~.stream.StreamedSplit` read from a cache of the decoded images in ``cache_dir``, decoded by
    ``workers`` processes, ``progress`` told how far it is); refused when the disk lacks room as well.
    """
    classes, files = scan_folder(root)
    splits, skipped = read_splits(root, classes, {"all": files}, size=size, channels=channels,
                                  max_images=max_images, max_pixels=max_pixels, available_memory=available_memory,
                                  cache_dir=cache_dir, workers=workers, progress=progress)
    return FolderImages(splits["all"], classes, skipped)


def read_splits(
    root: Path, classes: tuple[str, ...], splits: dict[str, list[list[Path]]], *, size: int | tuple[int, int],
    channels: int = 3, max_images: int = MAX_IMAGES, max_pixels: int = MAX_IMAGE_PIXELS,
    available_memory: int | None = None, every_class: tuple[str, ...] = ("all", "train"),
    cache_dir: Path | None = None, workers: int | None = None, progress: Progress | None = None,
) -> tuple[dict[str, Split], SkippedFiles | None]:
    """Read the image files of each split (``splits[name][label]``: the files of class ``label``).

    Each split comes back as a :class:`Split` (images ordered by class, then as given; ``files``
    relative to ``root``), with the files that could not be read counted once for all splits. The
    count and the memory of all splits together are checked before any pixel is read. A class left
    with no readable image in a split named in ``every_class`` is a :class:`DatasetError` (a set
    without one of its classes would train another task); in other splits (validation, test) it is not.

    Splits that need more memory together than there is are streamed from disk instead (:mod:`.stream`:
    each split a :class:`~.stream.StreamedSplit` read from its own cache of the decoded images in
    ``cache_dir``, decoded by ``workers`` processes, ``progress`` told how far it is); refused when the
    disk lacks room as well.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    total = sum(len(f) for per_class in splits.values() for f in per_class)
    if total > max_images:
        raise DatasetError(
            f"image folder {root} holds {total:,} images; at most {max_images:,} can be loaded: choose a smaller folder"
        )
    available = memory.available_memory() if available_memory is None else available_memory
    try:
        check_memory(root, total, size, channels, available)
    except DatasetMemoryError as refused:
        return _stream_splits(root, classes, splits, size=_hw(size), channels=channels, max_pixels=max_pixels,
                              refused=refused, every_class=every_class, cache_dir=cache_dir, workers=workers,
                              progress=progress)
    skipped: list[tuple[str, str]] = []
    counted = [0]
    out: dict[str, Split] = {}
    # PIL warns about things it handles anyway (palette transparency, large images); the
    # pixels are what matter here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, files in splits.items():
            out[name] = _read_split(root, classes, files, _hw(size), channels, max_pixels, skipped, counted,
                                    name in every_class)
    # Named in file order whichever split each file went to (``cat/broken0.png`` before ``cat/broken1.png``).
    return out, (SkippedFiles(counted[0], tuple(sorted(skipped)[:SKIPPED_LISTED])) if counted[0] else None)


def _stream_splits(root: Path, classes: tuple[str, ...], splits: dict[str, list[list[Path]]], *,
                   size: tuple[int, int], channels: int, max_pixels: int, refused: DatasetMemoryError,
                   every_class: tuple[str, ...], cache_dir: Path | None, workers: int | None,
                   progress: Progress | None) -> tuple[dict[str, Split], SkippedFiles | None]:
    """:func:`read_splits` from disk: each split that has files streamed from a cache of its own."""
    from .stream import load_streamed

    out: dict[str, Split] = {}
    count = 0
    listed: list[tuple[str, str]] = []
    streamed = [name for name, files in splits.items() if any(files)]
    for name, files in splits.items():
        if name not in streamed:  # nothing to cache (a split the layout does not give)
            out[name] = _read_split(root, classes, files, size, channels, max_pixels, [], [0], False)
            continue
        told = progress
        if progress is not None and len(streamed) > 1:  # say which split's cache it is
            told = functools.partial(_tell_split, progress, name)
        out[name], skipped = load_streamed(root, classes, files, size=size, channels=channels, max_pixels=max_pixels,
                                           refused=refused, split=name, every_class=name in every_class,
                                           cache_dir=cache_dir, workers=workers, progress=told)
        if skipped is not None:
            count += skipped.count
            listed += skipped.first
    # Each split names its first files in file order, so the first of all of them are among these.
    return out, (SkippedFiles(count, tuple(sorted(listed)[:SKIPPED_LISTED])) if count else None)


def _tell_split(progress: Progress, split: str, report: LoadProgress) -> None:
    progress(dataclasses.replace(report, split=split))


def _read_split(root: Path, classes: tuple[str, ...], files: list[list[Path]], size: tuple[int, int],
                channels: int, max_pixels: int, skipped: list[tuple[str, str]], counted: list[int],
                every_class: bool) -> Split:
    total = sum(len(f) for f in files)
    out = np.empty((total, channels, *size), dtype=np.uint8)
    labels = np.empty(total, dtype=np.int64)
    i = 0
    names: list[str] = []
    for label, paths in enumerate(files):
        first_reason = ""  # of this class, for a class left with no image
        loaded = 0
        for path in paths:
            pixels, reason = read_image(path, size=size, channels=channels, max_pixels=max_pixels)
            if pixels is None:
                counted[0] += 1
                first_reason = first_reason or reason
                skipped.append((_shown(path, root), reason))  # at most MAX_IMAGES
                continue
            out[i] = pixels
            labels[i] = label
            names.append(_shown(path, root))
            i += 1
            loaded += 1
        if not loaded and paths and every_class:
            raise DatasetError(
                f"class folder {paths[0].parent} has no readable images ({len(paths):,} skipped: first "
                f"{paths[0].name} ({first_reason})): replace the files or remove the folder"
            )
    images = torch.from_numpy(out[:i] if i < total else out)
    return Split(images, torch.from_numpy(labels[:i] if i < total else labels), tuple(names))


def _shown(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def read_image(path: Path, *, size: int | tuple[int, int], channels: int,
               max_pixels: int = MAX_IMAGE_PIXELS) -> tuple[np.ndarray | None, str]:
    """``((channels, height, width) uint8, "")`` for a readable image; ``(None, reason)`` otherwise.

    ``size``: one side (a square) or ``(height, width)``; the image is scaled to cover it and
    center-cropped (``PIL.ImageOps.fit``).

    Never raises for a file's content: decoders raise far more than ``OSError`` on hostile
    bytes (``SyntaxError`` from a PNG chunk, ``TypeError`` from a TIFF tag, ``struct.error``,
    ``IndexError``, …), and every such file is one reason to skip it. The size in the
    header is checked before any pixel is decoded.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    mode = "L" if channels == 1 else "RGB"
    out_h, out_w = _hw(size)
    Image.init()  # registers every plugin (once): preinit() leaves out WEBP and TIFF, which are named below
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                return None, (f"{width:,}×{height:,} pixels, more than the {max_pixels / 1e6:g} megapixels "
                              "an image may have")
            if width < 1 or height < 1:
                return None, f"{width}×{height} pixels"
            img = ImageOps.exif_transpose(opened).convert(mode)
            img = ImageOps.fit(img, (out_w, out_h), method=Image.Resampling.BILINEAR)
            pixels = np.asarray(img, dtype=np.uint8)
    except UnidentifiedImageError:  # its message repeats the whole path
        return None, "not a readable PNG, JPEG, BMP, GIF, WebP or TIFF image"
    except Image.DecompressionBombError:
        return None, f"more than the {max_pixels / 1e6:g} megapixels an image may have"
    except MemoryError:
        return None, "not enough memory to decode it"
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a file to skip (see above)
        return None, one_line(exc, 120, with_type=not isinstance(exc, OSError | SyntaxError | ValueError))
    if pixels.shape != ((out_h, out_w) if channels == 1 else (out_h, out_w, 3)):
        return None, f"decoded to an unexpected shape {pixels.shape}"
    return (pixels[None] if channels == 1 else pixels.transpose(2, 0, 1)), ""
