"""Hostile and damaged image folders (issue 21): every image loads or is skipped and counted, no image
decodes beyond the pixel budget, and a set too large for memory is refused before it is allocated."""

from __future__ import annotations

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnplayground.core import memory
from cnnplayground.data import folder
from cnnplayground.data.base import DatasetError, DatasetMemoryError, SkippedFiles
from cnnplayground.data.registry import load_dataset
from cnnplayground.project import DatasetChoice


def image_bytes(fmt: str, size: tuple[int, int] = (8, 6), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", size, (10, 200, 30))
    img = img.quantize(4) if mode == "P" else img.convert(mode)
    img.save(buf, fmt)
    return buf.getvalue()


def png_with_broken_chunk() -> bytes:
    """The fuzzer's case: IDAT's length cut from 20 to 11, so the next "chunk" starts inside the
    compressed data and Pillow raises ``SyntaxError: broken PNG file``."""
    data = bytearray(image_bytes("PNG"))
    at = data.index(b"IDAT") - 4
    data[at:at + 4] = (11).to_bytes(4, "big")
    return bytes(data)


def tiff_with_text_strip_offsets() -> bytes:
    """StripOffsets (tag 273) turned from LONG into ASCII: Pillow raises ``TypeError`` while decoding."""
    data = bytearray(image_bytes("TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    for k in range(struct.unpack("<H", data[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * k
        if struct.unpack("<H", data[entry:entry + 2])[0] == 273:
            data[entry + 2:entry + 4] = struct.pack("<H", 2)
            return bytes(data)
    raise AssertionError("no StripOffsets tag")


def png_claiming(width: int, height: int) -> bytes:
    """A 70-byte PNG whose header (with a valid CRC) claims ``width × height`` pixels."""
    data = bytearray(image_bytes("PNG"))
    at = data.index(b"IHDR")
    data[at + 4:at + 12] = struct.pack(">II", width, height)
    data[at + 17:at + 21] = struct.pack(">I", zlib.crc32(bytes(data[at:at + 17])))
    return bytes(data)


def tiff_claiming(width: int, height: int) -> bytes:
    """A small TIFF whose ImageWidth / ImageLength tags (as LONG) claim ``width × height`` pixels."""
    data = bytearray(image_bytes("TIFF"))
    ifd = struct.unpack("<I", data[4:8])[0]
    for k in range(struct.unpack("<H", data[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * k
        tag = struct.unpack("<H", data[entry:entry + 2])[0]
        if tag in (256, 257):
            data[entry + 2:entry + 12] = struct.pack("<HII", 4, 1, width if tag == 256 else height)
    return bytes(data)


@pytest.fixture
def two_classes(tmp_path: Path) -> Path:
    """``root/cat`` and ``root/dog`` with two good 8×6 PNGs each."""
    root = tmp_path / "pets"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for name in ("a.png", "b.png"):
            (root / cls / name).write_bytes(image_bytes("PNG"))
    return root


def test_decoder_errors_of_any_kind_skip_the_file_and_are_counted(two_classes):
    """Was: the SyntaxError and TypeError escaped as tracebacks, and any other bad file stopped the load."""
    bad = {
        "cat/broken_chunk.png": png_with_broken_chunk(),
        "cat/text_offsets.tif": tiff_with_text_strip_offsets(),
        "dog/not_a.jpg": b"this is not a jpeg",
        "dog/truncated.gif": image_bytes("GIF", mode="P")[:30],
    }
    for name, data in bad.items():
        (two_classes / name).write_bytes(data)
    split, classes, skipped = folder.load_folder(two_classes, size=8)
    assert classes == ("cat", "dog") and len(split) == 4 and split.labels.tolist() == [0, 0, 1, 1]
    assert split.images.shape == (4, 3, 8, 8)
    assert skipped is not None and skipped.count == 4
    assert [name for name, _ in skipped.first] == ["cat/broken_chunk.png", "cat/text_offsets.tif",
                                                   "dog/not_a.jpg", "dog/truncated.gif"]
    reasons = dict(skipped.first)
    assert reasons["cat/broken_chunk.png"].startswith("broken PNG file")
    assert reasons["cat/text_offsets.tif"].startswith("TypeError: ")
    message = skipped.message()
    assert message.startswith("skipped 4 unreadable files: first cat/broken_chunk.png (broken PNG file")
    assert "\n" not in message


def test_the_skipped_files_reach_the_loaded_dataset(two_classes):
    (two_classes / "dog" / "zero.png").write_bytes(b"")
    data = load_dataset(DatasetChoice(name="folder", root=str(two_classes), options={"size": 8}), val_fraction=0.25)
    assert len(data.train) + len(data.val) == 4
    assert data.skipped == SkippedFiles(1, (("dog/zero.png", data.skipped.first[0][1]),))
    assert data.skipped.message().startswith("skipped 1 unreadable file: first dog/zero.png (")
    assert load_dataset(DatasetChoice(name="synthetic", options={"train_size": 20, "test_size": 0})).skipped is None


def test_skipped_files_name_at_most_five_but_count_all(two_classes):
    for i in range(12):
        (two_classes / "cat" / f"bad{i:02}.png").write_bytes(b"\x89PNG broken")
    _, _, skipped = folder.load_folder(two_classes, size=8)
    assert skipped.count == 12 and len(skipped.first) == folder.SKIPPED_LISTED == 5
    assert skipped.message().startswith("skipped 12 unreadable files: first cat/bad00.png (")


def test_a_class_with_no_readable_image_is_one_line(two_classes):
    for i in range(6):  # more than are named: the dog folder's own first reason is given
        (two_classes / "cat" / f"bad{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    for name in ("a.png", "b.png"):
        (two_classes / "dog" / name).write_bytes(b"garbage")
    with pytest.raises(DatasetError) as info:
        folder.load_folder(two_classes, size=8)
    message = str(info.value)
    assert message.startswith(f"class folder {two_classes / 'dog'} has no readable images (2 skipped: first a.png "
                              "(not a readable PNG, JPEG, BMP, GIF, WebP or TIFF image)): ")
    assert message.endswith("replace the files or remove the folder") and "\n" not in message


def test_an_image_beyond_the_pixel_budget_is_skipped_before_its_pixels_are_decoded(two_classes, monkeypatch):
    """Was: a tiny file claiming 64 megapixels (under Pillow's own bomb limit) was decoded: 256 MB of
    pixels for 70 bytes, and a 1.8 KB TIFF reached 1.5 GB."""
    (two_classes / "cat" / "huge.png").write_bytes(png_claiming(8000, 8000))  # 64 MP: Pillow only warns
    (two_classes / "cat" / "huge.tif").write_bytes(tiff_claiming(9000, 7000))  # 63 MP
    (two_classes / "dog" / "bomb.png").write_bytes(png_claiming(20000, 20000))  # 400 MP: Pillow's bomb error
    decoded: list[tuple[int, int]] = []
    new = Image.core.new

    def spy(mode, size, *args):
        decoded.append(tuple(size))
        return new(mode, size, *args)

    monkeypatch.setattr(Image.core, "new", spy)
    split, _, skipped = folder.load_folder(two_classes, size=8)
    assert len(split) == 4 and skipped.count == 3
    assert max(w * h for w, h in decoded) <= 8 * 6  # only the good images' pixels were ever allocated
    reasons = dict(skipped.first)
    assert reasons["cat/huge.png"] == "8,000×8,000 pixels, more than the 50 megapixels an image may have"
    assert reasons["cat/huge.tif"] == "9,000×7,000 pixels, more than the 50 megapixels an image may have"
    assert reasons["dog/bomb.png"] == "more than the 50 megapixels an image may have"
    # The budget is a parameter: 6 × 8 = 48 pixels pass 48 and are refused at 47.
    assert folder.load_folder(two_classes, size=8, max_pixels=48).skipped.count == 3
    with pytest.raises(DatasetError, match="has no readable images"):
        folder.load_folder(two_classes, size=8, max_pixels=47)


def test_only_the_formats_the_extensions_name_are_decoded(two_classes):
    """A file named .png is decoded only as one of the folder formats: not as EPS (which Pillow hands
    to Ghostscript), ICO, PPM or any of Pillow's other 40 formats."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 6)).save(buf, "PPM")
    (two_classes / "cat" / "really_a.png").write_bytes(buf.getvalue())
    (two_classes / "cat" / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 6\n")
    split, _, skipped = folder.load_folder(two_classes, size=8)
    assert len(split) == 4 and skipped.count == 2
    assert [reason for _, reason in skipped.first] == ["not a readable PNG, JPEG, BMP, GIF, WebP or TIFF image"] * 2


def test_a_class_folder_that_cannot_be_read_is_one_line(two_classes, monkeypatch):
    """Was: PermissionError from iterdir, a traceback. Tests run as root, where permissions are not
    enforced, so the refusal is simulated by making iterdir raise for the dog folder."""
    iterdir = Path.iterdir

    def refusing(self):
        if self.name == "dog":
            raise PermissionError(13, "Permission denied", str(self))
        return iterdir(self)

    monkeypatch.setattr(Path, "iterdir", refusing)
    with pytest.raises(DatasetError) as info:
        folder.load_folder(two_classes, size=8)
    assert str(info.value) == (f"cannot read class folder {two_classes / 'dog'} (Permission denied): check that you "
                               "may open it, or remove it")


def test_a_folder_that_cannot_be_read_is_one_line(two_classes, monkeypatch):
    def refusing(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refusing)
    with pytest.raises(DatasetError, match=r"^cannot read image folder .*pets \(Permission denied\): check that"):
        folder.load_folder(two_classes, size=8)


def _disk_free(monkeypatch, free: int) -> None:
    """Inject the free disk space the cache of a streamed folder sees."""
    from cnnplayground.data import stream

    monkeypatch.setattr(stream.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2**40, 2**40 - free, free))


def test_a_set_larger_than_the_memory_and_the_disk_there_is_is_refused_before_allocating(two_classes, monkeypatch,
                                                                                         tmp_path):
    """Was: 12,000 images at 512 px went to np.empty (9 GB, MemoryError). Available memory and disk are injected;
    a set that does not fit in memory streams from disk (tests/data/test_folder_stream.py), unless the disk is
    short too."""
    allocated: list[tuple] = []
    empty = np.empty

    def spy(shape, *args, **kwargs):
        allocated.append(shape)
        return empty(shape, *args, **kwargs)

    monkeypatch.setattr(folder.np, "empty", spy)
    _disk_free(monkeypatch, 5 * 2**30)
    files = [[two_classes / "cat" / f"{i}.png" for i in range(6000)], [two_classes / "dog" / "a.png"] * 6000]
    monkeypatch.setattr(folder, "scan_folder", lambda root: (("cat", "dog"), files))
    with pytest.raises(DatasetMemoryError) as info:
        folder.load_folder(two_classes, size=512, available_memory=8 * 2**30, cache_dir=tmp_path / "cache")
    assert str(info.value) == (f"image folder {two_classes} needs 17.6 GB of memory (12,000 images at 512×512×3); "
                               "8.0 GB is available, and streaming it from disk fails: its cache needs 17.6 GB of "
                               f"disk in {tmp_path / 'cache' / 'folders'}, where 5.0 GB is free: free disk space, set "
                               "CNNPLAYGROUND_CACHE to a larger disk, or choose a smaller image size or fewer images")
    assert info.value.needed == 2 * 12_000 * (512 * 512 * 3 + 8) and info.value.available == 8 * 2**30
    assert allocated == [] and not (tmp_path / "cache").exists()


def test_the_memory_check_asks_the_system_and_goes_through_load_dataset(two_classes, monkeypatch):
    """The four 8×6 images at 512 px need 6 MB; with 5 MB available (injected) they stream from disk, and
    without room there either the load is refused."""
    from cnnplayground.data.stream import StreamedSplit

    choice = DatasetChoice(name="folder", root=str(two_classes), options={"size": 512})
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 5 * 2**20)
    assert isinstance(load_dataset(choice, val_fraction=0.0).train, StreamedSplit)
    _disk_free(monkeypatch, 2**20)
    with pytest.raises(DatasetMemoryError, match=r"needs 6 MB of memory \(4 images at 500×500×3\); 5 MB is available, "
                       "and streaming it from disk fails"):
        load_dataset(choice.model_copy(update={"options": {"size": 500}}))
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 7 * 2**20)
    data = load_dataset(choice, val_fraction=0.0)
    assert len(data.train) == 4 and not isinstance(data.train, StreamedSplit)
    # Where the system does not say, the synthetic set's 4 GB limit applies.
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": None)
    with pytest.raises(DatasetMemoryError, match="4.0 GB is the limit where the system does not say"):
        folder.check_memory(two_classes, 3000, 512, 3, None)


def test_available_memory_is_a_positive_number_here():
    found = memory.available_memory()
    assert found is None or 0 < found < 2**50
