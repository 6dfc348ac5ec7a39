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

An image that cannot be read stops loading with a :class:`~.base.DatasetError`
naming the file (rather than silently skipping it), so the user can remove or
replace it and the set is always complete.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from ..core.errors import one_line
from .base import DatasetError, Split

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: Refuse folders with more images than this (a guard against pointing at a whole photo library).
MAX_IMAGES = 200_000


def scan_folder(root: Path) -> tuple[tuple[str, ...], list[list[Path]]]:
    """Class names (sorted sub-folder names) and each class's image files (sorted by name).

    Raises :class:`DatasetError` when the folder is missing, has no class
    sub-folders, fewer than two, or a class without images.
    """
    if not root.is_dir():
        raise DatasetError(f"image folder {root} does not exist: choose a folder with one sub-folder per class")
    try:
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError as exc:
        raise DatasetError(f"cannot read image folder {root}: {exc.strerror or exc}") from None
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
        found = sorted(
            p for p in (root / name).iterdir()
            if p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith(".") and p.is_file()
        )
        if not found:
            raise DatasetError(
                f"class folder {root / name} has no images ({', '.join(sorted(IMAGE_EXTENSIONS))}): "
                "add images or remove the folder"
            )
        files.append(found)
    return tuple(classes), files


def load_folder(
    root: Path, *, size: int = 64, channels: int = 3, max_images: int = MAX_IMAGES
) -> tuple[Split, tuple[str, ...]]:
    """Read every image below ``root`` into one split and return it with the class names.

    Images: ``(N, channels, size, size)`` uint8; labels: ``(N,)`` int64, the index
    of the class sub-folder in sorted order; images ordered by class, then name.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    classes, files = scan_folder(root)
    total = sum(len(f) for f in files)
    if total > max_images:
        raise DatasetError(
            f"image folder {root} holds {total:,} images; at most {max_images:,} can be loaded: choose a smaller folder"
        )
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((total, size, size, channels), dtype=np.uint8)
    labels = np.empty(total, dtype=np.int64)
    i = 0
    # PIL warns about things it handles anyway (palette transparency, large images); the
    # pixels are what matter here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, paths in enumerate(files):
            for path in paths:
                try:
                    with Image.open(path) as opened:
                        img = ImageOps.exif_transpose(opened).convert(mode)
                        img = ImageOps.fit(img, (size, size), method=Image.Resampling.BILINEAR)
                        pixels = np.asarray(img, dtype=np.uint8)
                except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
                    reason = one_line(exc)
                    raise DatasetError(f"cannot read image {path} ({reason}): remove or replace the file") from None
                out[i] = pixels.reshape(size, size, channels)
                labels[i] = label
                i += 1
    images = torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()
    return Split(images, torch.from_numpy(labels)), classes
