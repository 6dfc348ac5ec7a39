"""The size an image folder is read at, from the headers of its files (no pixel is decoded).

The folder's ``size`` option is ``"auto"`` by default (:data:`AUTO`): the ``(height, width)`` most
images have (:func:`choose_size`). Non-square sizes are kept as they are (64×48 frames train at
64×48): a square would crop a quarter of every such frame. Images of another size are scaled to cover
it and center-cropped. A number (``--image-size``) fits every image to that square instead. The
sizes are remembered per folder (:func:`header_sizes`), so asking again (``input_shape_of``, the
window's summary, the load) reads no file twice.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .base import DatasetError
from .folder import IMAGE_FORMATS, MAX_IMAGE_PIXELS

#: The ``size`` option's value that reads the images at their own (most common) size.
AUTO = "auto"
#: Smallest and largest side the automatic size gives (the ``size`` option's range).
AUTO_LIMITS = (8, 512)
#: Folders whose image sizes are remembered (by their listing's modification times).
SIZE_CACHE_ENTRIES = 16


@dataclass(frozen=True)
class ImageSize:
    """The size images are read at: ``(height, width)``, and why (:meth:`describe`).

    ``count``: images that have that size; ``total``: images whose size was read (``0`` when the
    size was set, not read); ``largest``: the size most images have, when it was scaled to fit
    :data:`AUTO_LIMITS`.
    """

    height: int
    width: int
    count: int = 0
    total: int = 0
    largest: tuple[int, int] | None = None

    @property
    def hw(self) -> tuple[int, int]:
        return self.height, self.width

    def describe(self) -> str:
        """``image size 32×32 (the size of all 1,000 images)``, ``… most common size 32×32 (812 of 1,000 images)``."""
        shown = f"{self.height}×{self.width}"
        if not self.total:
            return f"image size {shown} (set; each image is scaled and center-cropped to it)"
        if self.largest is not None:
            h, w = self.largest
            return (f"image size {shown}: the most common size {h}×{w} ({self.count:,} of {self.total:,} images) "
                    f"scaled to fit {AUTO_LIMITS[1]} pixels")
        if self.count == self.total:
            return f"image size {shown}, the size of all {self.total:,} images"
        return (f"image size {shown}: the most common size ({self.count:,} of {self.total:,} images; the other "
                f"{self.total - self.count:,} are scaled and center-cropped)")


Sizes = Counter[tuple[int, int]]  # (height, width) → images
_cache: dict[tuple[object, ...], Sizes] = {}
_cache_lock = threading.Lock()


def header_sizes(root: Path, files: list[Path]) -> Sizes:
    """How many of the images ``files`` (of the folder ``root``) have each ``(height, width)`` (upright,
    after the EXIF orientation of JPEG and TIFF files), read from the headers alone; unreadable files
    are not counted.

    Remembered per folder by the modification times of the folders listed (adding, removing or
    renaming a file changes them; a file rewritten in place under the same name does not).
    """
    key = _cache_key(root, files)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    sizes: Sizes = Counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            hw = _header_size(path)
            if hw is not None:
                sizes[hw] += 1
    with _cache_lock:
        while len(_cache) >= SIZE_CACHE_ENTRIES:
            _cache.pop(next(iter(_cache)))
        _cache[key] = sizes
    return sizes


def _cache_key(root: Path, files: list[Path]) -> tuple[object, ...]:
    folders = {root} | {p.parent for p in files}
    stamps = []
    for folder in sorted(folders):
        try:
            stamps.append((str(folder), os.stat(folder).st_mtime_ns))
        except OSError:
            stamps.append((str(folder), -1))
    return (str(root.resolve()), tuple(stamps), len(files))


def _header_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    Image.init()
    try:
        with Image.open(path, formats=IMAGE_FORMATS) as opened:
            width, height = opened.size
            if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
                return None
            # JPEG and TIFF keep the EXIF block in the header; other formats would decode to find it.
            if opened.format in ("JPEG", "MPO", "TIFF") and opened.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                width, height = height, width
            return height, width
    except Exception:  # noqa: BLE001 - a file that cannot be read is skipped (and said) when it is loaded
        return None


def choose_size(sizes: Sizes) -> ImageSize:
    """The automatic size: the ``(height, width)`` most images have (ties: the larger), scaled down to fit
    :data:`AUTO_LIMITS` (keeping its aspect) when a side is larger, and up to 8 pixels when smaller."""
    if not sizes:
        raise DatasetError("no image of the folder could be read: add PNG, JPEG, BMP, GIF, WebP or TIFF images")
    (h, w), count = max(sizes.items(), key=lambda item: (item[1], item[0][0] * item[0][1], item[0]))
    total = sum(sizes.values())
    low, high = AUTO_LIMITS
    if max(h, w) <= high and min(h, w) >= low:
        return ImageSize(h, w, count, total)
    scale = high / max(h, w) if max(h, w) > high else low / min(h, w)
    fitted = (min(max(round(h * scale), low), high), min(max(round(w * scale), low), high))
    return ImageSize(*fitted, count, total, largest=(h, w))


def image_size(root: Path, files: list[Path], size: object) -> ImageSize:
    """The size the images ``files`` of the folder ``root`` are read at: ``size`` (the option: :data:`AUTO`
    or one side)."""
    if size == AUTO:
        return choose_size(header_sizes(root, files))
    side = int(size)  # type: ignore[call-overload]
    return ImageSize(side, side)
