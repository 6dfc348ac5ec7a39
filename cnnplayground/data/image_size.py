"""The size and channels an image folder is read at, from the headers of its files (no pixel is decoded).

The folder's ``size`` option is ``"auto"`` by default (:data:`AUTO`): the ``(height, width)`` most
images have (:func:`choose_size`). Non-square sizes are kept as they are (64×48 frames train at
64×48): a square would crop a quarter of every such frame. Images of another size are scaled to cover
it and center-cropped. A number (``--image-size``) fits every image to that square instead. The
sizes are remembered per folder (:func:`header_sizes`), so asking again (``input_shape_of``, the
window's summary, the load) reads no file twice.

The ``channels`` option is ``"auto"`` by default too (:func:`choose_channels`): 1 when every image that
can be read is grey, else 3. An image is grey when its mode is ``1``, ``L``, ``LA``, ``I`` (``I;16``…) or
``F``, or ``P``/``PA`` with a palette of greys only (a palette is in the header of PNG, GIF, BMP and TIFF
files). An RGB file whose pixels happen to be grey counts as colour: telling would mean decoding it.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .base import DatasetError
from .folder import IMAGE_FORMATS, MAX_IMAGE_PIXELS

if TYPE_CHECKING:
    from PIL import Image

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


@dataclass(frozen=True)
class ImageChannels:
    """The channels images are read with: ``channels`` (1 or 3), and why (:meth:`describe`).

    ``grey``: images whose header says they are grey, of ``total`` read (``total == 0``: the number was set).
    """

    channels: int
    grey: int = 0
    total: int = 0

    def describe(self) -> str:
        """``1 channel (all images are grey)``, ``3 channels (12 of 70 images are colour)``, ``3 channels (set)``."""
        shown = "1 channel" if self.channels == 1 else f"{self.channels} channels"
        return f"{shown} ({self.reason})"

    @property
    def reason(self) -> str:
        """Why: ``all images are grey``, ``12 of 70 images are colour``, ``the images are colour``, ``set``."""
        if not self.total:
            return "set"
        if self.grey == self.total:
            return "all images are grey"
        colour = self.total - self.grey
        if colour == self.total:
            return "the images are colour"
        return f"{colour:,} of {self.total:,} images {'is' if colour == 1 else 'are'} colour"


Sizes = Counter[tuple[int, int]]  # (height, width) → images


@dataclass(frozen=True)
class Headers:
    """What the headers of a folder's images say: ``sizes`` (``(height, width)`` → images) and how many are grey."""

    sizes: Sizes
    grey: int

    @property
    def total(self) -> int:
        return sum(self.sizes.values())


_cache: dict[tuple[object, ...], Headers] = {}
_cache_lock = threading.Lock()


def header_sizes(root: Path, files: list[Path]) -> Sizes:
    """How many of the images ``files`` (of the folder ``root``) have each ``(height, width)``: :func:`read_headers`."""
    return read_headers(root, files).sizes


def read_headers(root: Path, files: list[Path]) -> Headers:
    """How many of the images ``files`` (of the folder ``root``) have each ``(height, width)`` (upright,
    after the EXIF orientation of JPEG and TIFF files) and how many are grey, read from the headers alone;
    unreadable files are not counted.

    Remembered per folder by the modification times of the folders listed (adding, removing or
    renaming a file changes them; a file rewritten in place under the same name does not).
    """
    key = _cache_key(root, files)
    with _cache_lock:
        if key in _cache:
            return _cache[key]
    sizes: Sizes = Counter()
    grey = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            read = _header_size(path)
            if read is not None:
                sizes[read[0]] += 1
                grey += read[1]
    headers = Headers(sizes, grey)
    with _cache_lock:
        while len(_cache) >= SIZE_CACHE_ENTRIES:
            _cache.pop(next(iter(_cache)))
        _cache[key] = headers
    return headers


def _cache_key(root: Path, files: list[Path]) -> tuple[object, ...]:
    folders = {root} | {p.parent for p in files}
    stamps = []
    for folder in sorted(folders):
        try:
            stamps.append((str(folder), os.stat(folder).st_mtime_ns))
        except OSError:
            stamps.append((str(folder), -1))
    return (str(root.resolve()), tuple(stamps), len(files))


def _header_size(path: Path) -> tuple[tuple[int, int], bool] | None:
    """``((height, width), grey)`` from the header of ``path``; ``None`` when it cannot be read."""
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
            return (height, width), _is_grey(opened)
    except Exception:  # noqa: BLE001 - a file that cannot be read is skipped (and said) when it is loaded
        return None


#: Modes whose pixels are grey (``I;16``, ``I;16B``… start with ``I``).
GREY_MODES = ("1", "L", "LA", "La", "I", "F")


def _is_grey(opened: Image.Image) -> bool:
    """Whether the opened (not decoded) image is grey: by its mode, or by its palette for ``P``/``PA``
    (a palette that cannot be read counts as colour)."""
    mode = opened.mode
    if mode in GREY_MODES or mode.startswith("I;"):
        return True
    palette = opened.palette
    if mode not in ("P", "PA") or palette is None:
        return False
    try:
        return _palette_is_grey(bytes(palette.palette), getattr(palette, "rawmode", None))
    except Exception:  # noqa: BLE001 - a palette the header does not give whole: colour, the safe reading
        return False


def _palette_is_grey(raw: bytes, rawmode: str | None) -> bool:
    """Whether every entry of a header's palette (``raw`` bytes laid out as ``rawmode``) has R = G = B.
    A layout not known here counts as colour."""
    if rawmode in (None, "RGB", "BGR"):
        stride = 3
    elif rawmode in ("RGBX", "RGBA", "BGRX", "BGRA"):
        stride = 4
    elif rawmode == "RGB;L":  # TIFF: all reds, then all greens, then all blues
        third = len(raw) // 3
        return raw[:third] == raw[third:2 * third] == raw[2 * third:3 * third]
    else:
        return False
    end = len(raw) // stride * stride
    return raw[0:end:stride] == raw[1:end:stride] == raw[2:end:stride]


def choose_channels(headers: Headers) -> ImageChannels:
    """The automatic channels: 1 when every image read is grey, else 3 (3 when none could be read)."""
    total = headers.total
    return ImageChannels(1 if total and headers.grey == total else 3, headers.grey, total)


def image_channels(root: Path, files: list[Path], channels: object) -> ImageChannels:
    """The channels the images ``files`` of the folder ``root`` are read with: ``channels`` (the option:
    :data:`AUTO` or 1 or 3)."""
    if channels == AUTO:
        return choose_channels(read_headers(root, files))
    return ImageChannels(int(channels))  # type: ignore[call-overload]


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
