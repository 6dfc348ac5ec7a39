"""Mutated image files for fuzzing the image-folder loader (``tests/data/test_folder_fuzz.py`` and
``benchmarks/fuzz_images.py`` run the same cases).

A case is a valid small image (:data:`SEEDS`: PNG, JPEG, GIF, TIFF and BMP in several modes and
encodings) changed by a few operations (:func:`mutate`): blind ones (flip a bit, set a byte, cut the
file, splice in another file's bytes, repeat a slice) and ones that know the format's integer fields
(chunk and segment lengths, TIFF tag types, counts and offsets, widths and heights, bit depths), which
reach the decoders' deeper paths far more often than blind changes do. :func:`run_case` loads a
folder holding the mutated file and measures it.
"""

from __future__ import annotations

import io
import resource
import struct
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from cnnplayground.data import folder

EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "TIFF": ".tif", "BMP": ".bmp"}


def _seed(fmt: str, mode: str, size: tuple[int, int] = (13, 9), **save) -> tuple[str, bytes]:
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    img = img.quantize(8) if mode == "P" else img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt, **save)
    return EXTENSIONS[fmt], buf.getvalue()


#: Small valid images of each format in several modes and encodings (what mutations start from).
SEEDS: list[tuple[str, bytes]] = [
    _seed("PNG", "RGB"), _seed("PNG", "P"), _seed("PNG", "RGBA"), _seed("PNG", "L", interlace=1),
    _seed("JPEG", "RGB"), _seed("JPEG", "L", progressive=True), _seed("JPEG", "RGB", exif=b"Exif\0\0II*\0"),
    _seed("GIF", "P"), _seed("TIFF", "RGB"), _seed("TIFF", "L", compression="tiff_lzw"),
    _seed("TIFF", "RGB", compression="tiff_adobe_deflate"), _seed("TIFF", "P", compression="packbits"),
    _seed("BMP", "RGB"), _seed("BMP", "P"),
]

#: Values that integer fields are often set to (edges, signs, sizes near the pixel budget).
INTERESTING = (0, 1, 2, 3, 4, 7, 8, 11, 12, 16, 255, 256, 1024, 0x7FFF, 0xFFFF, 20_000, 0x7FFFFFFF, 0xFFFFFFFF)


def fields(data: bytes) -> list[tuple[int, int, str]]:
    """``(offset, width in bytes, "<" or ">")`` of the integer fields of ``data``'s format."""
    found: list[tuple[int, int, str]] = []
    try:
        if data.startswith(b"\x89PNG"):
            at = 8
            while at + 8 <= len(data):
                found += [(at, 4, ">"), (at + 4, 1, ">")]  # chunk length, first letter of its type
                if data[at + 4:at + 8] == b"IHDR":
                    found += [(at + 8, 4, ">"), (at + 12, 4, ">")] + [(at + 16 + i, 1, ">") for i in range(5)]
                at += 12 + struct.unpack(">I", data[at:at + 4])[0]
        elif data[:2] in (b"II", b"MM"):
            end = "<" if data[:2] == b"II" else ">"
            ifd = struct.unpack(end + "I", data[4:8])[0]
            found.append((4, 4, end))
            count = struct.unpack(end + "H", data[ifd:ifd + 2])[0]
            for k in range(count):
                entry = ifd + 2 + 12 * k
                found += [(entry, 2, end), (entry + 2, 2, end), (entry + 4, 4, end), (entry + 8, 4, end),
                          (entry + 8, 2, end)]
            found.append((ifd + 2 + 12 * count, 4, end))
        elif data[:2] == b"\xff\xd8":
            at = 2
            while at + 4 <= len(data) and data[at] == 0xFF and data[at + 1] != 0xDA:
                found.append((at + 2, 2, ">"))
                if data[at + 1] in (0xC0, 0xC1, 0xC2):  # frame header: precision, height, width, components
                    found += [(at + 4, 1, ">"), (at + 5, 2, ">"), (at + 7, 2, ">"), (at + 9, 1, ">")]
                at += 2 + struct.unpack(">H", data[at + 2:at + 4])[0]
        elif data[:3] == b"GIF":
            found += [(6, 2, "<"), (8, 2, "<"), (10, 1, "<")]
            at = data.find(b"\x2c", 13)
            if at > 0:
                found += [(at + 1, 2, "<"), (at + 3, 2, "<"), (at + 5, 2, "<"), (at + 7, 2, "<"), (at + 9, 1, "<"),
                          (at + 10, 1, "<"), (at + 11, 1, "<")]
        elif data[:2] == b"BM":
            found += [(2, 4, "<"), (10, 4, "<"), (14, 4, "<"), (18, 4, "<"), (22, 4, "<"), (26, 2, "<"),
                      (28, 2, "<"), (30, 4, "<"), (34, 4, "<"), (46, 4, "<")]
    except (struct.error, IndexError):
        pass
    return [(at, width, end) for at, width, end in found if at + width <= len(data)]


def mutate(data: bytes, ops: list[tuple[int, int, int]], other: bytes) -> bytes:
    """Apply ``(kind, at, value)`` operations in turn.

    Kinds: 0 flip a bit, 1 set a byte, 2 set 4 bytes (either byte order), 3 cut the file at ``at``,
    4 put ``other``'s bytes from ``value`` on at ``at``, 5 repeat a slice of up to 63 bytes,
    6-9 set one of the format's integer fields (:func:`fields`) to ``value`` or an interesting value.
    """
    buf = bytearray(data)
    for kind, at, value in ops:
        if not buf:
            break
        if kind >= 6:
            known = fields(bytes(buf))
            if known:
                where, width, end = known[at % len(known)]
                number = INTERESTING[value % len(INTERESTING)] if value & 0x100 else value
                order = "little" if end == "<" else "big"
                buf[where:where + width] = (number % 2 ** (8 * width)).to_bytes(width, order)
                _fix_png_checksums(buf)
                continue
            kind = value % 6
        at %= len(buf)
        if kind == 0:
            buf[at] ^= 1 << (value % 8)
        elif kind == 1:
            buf[at] = value % 256
        elif kind == 2:
            buf[at:at + 4] = (value % 2**32).to_bytes(4, "little" if value & 1 else "big")
        elif kind == 3:
            del buf[at:]
        elif kind == 4:
            buf[at:] = other[value % max(len(other), 1):]
        else:
            buf[at:at] = buf[at:at + value % 64]
    return bytes(buf)


def _fix_png_checksums(buf: bytearray) -> None:
    """Recompute the CRC of every whole chunk of a PNG, so that a changed field reaches the decoder
    (blind changes keep their broken CRCs: those paths are fuzzed too)."""
    if not buf.startswith(b"\x89PNG"):
        return
    at = 8
    while at + 12 <= len(buf):
        length = struct.unpack(">I", buf[at:at + 4])[0]
        end = at + 8 + length
        if end + 4 > len(buf):
            return
        buf[end:end + 4] = struct.pack(">I", zlib.crc32(bytes(buf[at + 4:end])))
        at = end + 4


@dataclass
class Case:
    """What one case did: loaded (else skipped, with ``reason``), the largest image decoded (pixels),
    seconds, and how much the process's peak memory grew (bytes; 0 unless it set a new peak)."""

    loaded: bool
    reason: str
    largest: int
    seconds: float
    grown: int


def peak_memory() -> int:
    """The process's peak resident memory so far, bytes."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def run_case(root: Path, name: str, data: bytes, *, size: int = 16, max_pixels: int = 2**20) -> Case:
    """Load a folder of two good images (classes ``a`` and ``b``) plus ``data`` as ``a/name`` and check
    the promise: 3 images and nothing skipped, or 2 images and exactly ``a/name`` skipped with a
    one-line reason (``AssertionError`` otherwise; any other exception escapes as it is)."""
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        (root / cls / "good.png").write_bytes(SEEDS[0][1])
    (root / "a" / name).write_bytes(data)
    largest = [0]
    new = Image.core.new

    def watched(mode, size, *args):  # every decoded image's pixels are allocated here
        largest[0] = max(largest[0], size[0] * size[1])
        return new(mode, size, *args)

    before = peak_memory()
    Image.core.new = watched
    start = time.perf_counter()
    try:
        split, classes, skipped = folder.load_folder(root, size=size, max_pixels=max_pixels)
    finally:
        Image.core.new = new
    seconds = time.perf_counter() - start
    grown = peak_memory() - before
    assert classes == ("a", "b")
    if skipped is None:
        assert len(split) == 3 and split.labels.tolist() == [0, 0, 1]
        return Case(True, "", largest[0], seconds, grown)
    assert skipped.count == 1 and skipped.first[0][0] == f"a/{name}", skipped
    assert len(split) == 2 and split.labels.tolist() == [0, 1]
    reason = skipped.first[0][1]
    assert reason and "\n" not in reason and len(reason) <= 200, reason
    return Case(False, reason, largest[0], seconds, grown)
