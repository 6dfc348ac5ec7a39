"""An image folder's channels come from its images by default: 1 when every image is grey (by the mode or
palette in its header), else 3; a number given keeps its value (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cnnplayground.data import image_size
from cnnplayground.data.registry import DATASETS, folder_summary, input_shape_of, load_dataset, resolve_options
from cnnplayground.project import DatasetChoice


def grey_palette_image(size: tuple[int, int]) -> Image.Image:
    img = Image.new("P", size, 7)
    img.putpalette([v for i in range(256) for v in (i, i, i)])
    return img


def write_grey(root: Path, n: int = 6, size: tuple[int, int] = (12, 10)) -> Path:
    """Two classes of grey images in the grey modes a folder may hold: L and LA PNGs, 16-bit grey PNGs,
    1-bit BMPs, grey-palette PNGs and GIFs (GIF stores every grey image with a palette), grey JPEGs."""
    makers = [
        (lambda: Image.new("L", size, 90), "png"),
        (lambda: Image.new("LA", size, (90, 255)), "png"),
        (lambda: Image.new("I;16", size, 900), "png"),
        (lambda: Image.new("1", size, 1), "bmp"),
        (lambda: grey_palette_image(size), "png"),
        (lambda: Image.new("L", size, 40), "gif"),
        (lambda: Image.new("L", size, 200), "jpg"),
    ]
    for cls in ("shirt", "shoe"):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            make, ext = makers[i % len(makers)]
            make().save(root / cls / f"{i:02d}.{ext}")
    return root


def folder(root: Path, **options) -> DatasetChoice:
    return DatasetChoice(name="folder", root=str(root), options=options)


def test_a_grey_folder_gives_one_channel_and_is_read_in_grey(tmp_path):
    root = write_grey(tmp_path / "grey", n=7)
    choice = folder(root)
    assert resolve_options(DATASETS["folder"], {})["channels"] == "auto"
    assert input_shape_of(choice) == (1, 10, 12)
    summary = folder_summary(choice, 0.1, 0)
    assert summary.colour.describe() == "1 channel (all images are grey)" and summary.colour.total == 14
    data = load_dataset(choice, val_fraction=0.1)
    assert data.input_shape == (1, 10, 12) and len(data.train) + len(data.val) == 14


def test_one_colour_image_makes_the_folder_colour(tmp_path):
    root = write_grey(tmp_path / "mixed")
    Image.new("RGB", (12, 10), (200, 10, 10)).save(root / "shoe" / "red.png")
    colour_palette = Image.new("RGB", (12, 10), (10, 200, 10)).convert("P")
    colour_palette.save(root / "shirt" / "green.gif")
    summary = folder_summary(folder(root), 0.1, 0)
    assert summary.input_shape == (3, 10, 12)
    assert summary.colour.describe() == "3 channels (2 of 14 images are colour)"
    assert load_dataset(folder(root), val_fraction=0.1).input_shape == (3, 10, 12)


def test_a_channels_number_given_keeps_its_value(tmp_path):
    root = write_grey(tmp_path / "grey")
    assert input_shape_of(folder(root, channels=3)) == (3, 10, 12)  # --channels 3 on a grey folder
    assert input_shape_of(folder(root, channels=3, size=16)) == (3, 16, 16)
    assert folder_summary(folder(root, channels=3), 0.1, 0).colour.describe() == "3 channels (set)"
    assert load_dataset(folder(root, channels=3), val_fraction=0.1).input_shape == (3, 10, 12)
    assert input_shape_of(folder(root, size=16)) == (1, 16, 16)  # a size given, the channels still 'auto'


def test_an_old_project_with_explicit_channels_keeps_them(tmp_path):
    from cnnplayground.core.presets import get_preset
    from cnnplayground.io.project import load_project, save_project
    from cnnplayground.project import Project

    root = write_grey(tmp_path / "grey")
    path = tmp_path / "old.cnnp"
    project = Project.new(graph=get_preset("lenet5").factory(num_classes=2), name="old",
                          dataset=folder(root, channels=3))
    save_project(project, path)
    loaded = load_project(path)
    assert loaded.dataset.options == {"channels": 3}
    assert input_shape_of(loaded.dataset) == (3, 10, 12)


def test_headers_are_read_once_for_size_and_channels(tmp_path, monkeypatch):
    root = write_grey(tmp_path / "grey", n=3)
    opened = []
    read = image_size._header_size
    monkeypatch.setattr(image_size, "_header_size", lambda p: opened.append(p) or read(p))
    assert input_shape_of(folder(root)) == (1, 10, 12) and len(opened) == 6
    assert input_shape_of(folder(root, size=16)) == (1, 16, 16) and len(opened) == 6  # remembered
    assert input_shape_of(folder(root, channels=1, size=16)) == (1, 16, 16) and len(opened) == 6  # not needed


@pytest.mark.parametrize("raw, rawmode, grey", [
    (bytes([5, 5, 5, 9, 9, 9]), None, True),
    (bytes([5, 5, 5, 9, 9, 8]), "RGB", False),
    (bytes([5, 5, 5, 0, 9, 9, 9, 0]), "BGRX", True),
    (bytes([5, 5, 6, 0]), "BGRX", False),
    (bytes([1, 2, 1, 2, 1, 2]), "RGB;L", True),  # TIFF: the reds, then the greens, then the blues
    (bytes([1, 2, 1, 2, 1, 3]), "RGB;L", False),
    (bytes([5, 5, 5]), "CMYK", False),  # a layout not known here counts as colour
])
def test_a_palette_is_grey_when_every_entry_is(raw, rawmode, grey):
    from cnnplayground.data.image_size import _palette_is_grey

    assert _palette_is_grey(raw, rawmode) is grey


def test_no_readable_image_counts_as_colour():
    from collections import Counter

    from cnnplayground.data.image_size import Headers, choose_channels

    assert choose_channels(Headers(Counter(), 0)).channels == 3
    assert choose_channels(Headers(Counter({(8, 8): 2}), 2)).channels == 1
