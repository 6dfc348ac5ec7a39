"""A user's image folder: one sub-folder per class."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from cnnplayground.data.base import DatasetError
from cnnplayground.data.folder import load_folder, scan_folder
from cnnplayground.data.registry import load_dataset
from cnnplayground.project import DatasetChoice

#: (file name, PIL mode, size (w, h)) of the five images of every class: different sizes, modes and formats.
IMAGES = [
    ("a.png", "RGB", (40, 30)),
    ("b.jpg", "L", (20, 50)),
    ("c.PNG", "RGBA", (64, 64)),
    ("d.gif", "P", (17, 17)),
    ("e.bmp", "RGB", (9, 33)),
]
COLOURS = {"cat": (200, 10, 30), "dog": (10, 220, 40), "emu": (30, 60, 250)}


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    root = tmp_path / "pets"
    for cls, colour in COLOURS.items():
        (root / cls).mkdir(parents=True)
        for name, mode, size in IMAGES:
            img = Image.new("RGB", size, colour)
            img = img.convert(mode) if mode != "P" else img.quantize(4)
            img.save(root / cls / name)
        (root / cls / "notes.txt").write_text("not an image")
        Image.new("RGB", (8, 8)).save(root / cls / ".hidden.png")
    (root / ".thumbnails").mkdir()
    Image.new("RGB", (8, 8)).save(root / ".thumbnails" / "x.png")
    (root / "README.txt").write_text("a file beside the class folders is ignored")
    return root


def test_scan_finds_sorted_classes_and_images_only(image_folder):
    classes, files = scan_folder(image_folder)
    assert classes == ("cat", "dog", "emu")
    assert [[p.name for p in f] for f in files] == [["a.png", "b.jpg", "c.PNG", "d.gif", "e.bmp"]] * 3


@pytest.mark.parametrize("channels", [1, 3])
def test_load_gives_square_uint8_images_and_class_labels(image_folder, channels):
    split, classes, skipped = load_folder(image_folder, size=16, channels=channels)
    assert skipped is None
    assert classes == ("cat", "dog", "emu")
    assert split.images.shape == (15, channels, 16, 16) and split.images.dtype == torch.uint8
    assert split.labels.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    if channels == 3:
        # The lossless RGB png of each class is its solid colour, exactly.
        for label, colour in enumerate(COLOURS.values()):
            first = split.images[label * 5]
            assert first.flatten(1).unique(dim=1).T.tolist() == [list(colour)]


def test_images_are_scaled_then_center_cropped(tmp_path):
    root = tmp_path / "crop"
    for cls in ("wide", "tall"):
        (root / cls).mkdir(parents=True)
    # Shorter side already 10 pixels: no resampling, only the centre crop (exact values).
    wide = Image.new("L", (30, 10), 0)
    wide.paste(255, (10, 0, 20, 10))  # the centre 10×10 square is white, the sides black
    wide.save(root / "wide" / "x.png")
    tall = Image.new("L", (10, 30), 0)
    tall.paste(255, (0, 10, 10, 20))  # the middle third white: top and bottom are cropped away
    tall.save(root / "tall" / "x.png")
    big = Image.new("L", (40, 20), 0)
    big.paste(255, (10, 0, 30, 20))  # scaled by 1/2 to 20×10, then the centre 10×10 kept
    big.save(root / "tall" / "y.png")
    split, _, _ = load_folder(root, size=10, channels=1)
    assert split.images.shape == (3, 1, 10, 10)
    # Classes sort as tall (x.png, y.png), wide (x.png).
    assert (split.images[[0, 2]] == 255).all()
    big_out = split.images[1, 0]
    assert (big_out[:, 2:8] == 255).all() and big_out.float().mean() > 240


def test_load_dataset_splits_test_then_val(image_folder):
    choice = DatasetChoice(name="folder", root=str(image_folder), options={"size": 16, "test_fraction": 0.2})
    data = load_dataset(choice, val_fraction=0.25, seed=1)
    assert (len(data.train), len(data.val), len(data.test)) == (9, 3, 3)
    assert data.class_names == ("cat", "dog", "emu") and data.input_shape == (3, 16, 16)
    all_labels = torch.cat([data.train.labels, data.val.labels, data.test.labels])
    assert torch.bincount(all_labels).tolist() == [5, 5, 5]
    no_test = load_dataset(DatasetChoice(name="folder", root=str(image_folder), options={"size": 8, "channels": 1}),
                           val_fraction=0.2)
    assert no_test.test is None and (len(no_test.train), len(no_test.val)) == (12, 3)
    assert no_test.input_shape == (1, 8, 8)


def test_every_split_names_the_file_of_each_image(image_folder):
    data = load_dataset(DatasetChoice(name="folder", root=str(image_folder), options={"size": 8, "test_fraction": 0.2}),
                        val_fraction=0.25, seed=3)
    seen = []
    for split in (data.train, data.val, data.test):
        assert split.files is not None and len(split.files) == len(split)
        for i, (name, label) in enumerate(zip(split.files, split.labels.tolist(), strict=True)):
            assert name.split("/")[0] == data.class_names[label]  # the class folder of the image's own label
            assert split.file_of(i) == name
        seen += split.files
    assert sorted(seen) == sorted(f"{c}/{n}" for c in COLOURS for n, _, _ in IMAGES)


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match=f"image folder {tmp_path / 'nope'} does not exist"):
        load_folder(tmp_path / "nope")


def test_folder_without_class_folders(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "loose.png")
    with pytest.raises(DatasetError, match=f"image folder {tmp_path} has no class sub-folders: put the images"):
        load_folder(tmp_path)


def test_a_single_class_is_not_enough(tmp_path):
    (tmp_path / "only").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "only" / "x.png")
    with pytest.raises(DatasetError, match=r"has only one class sub-folder \(only\): at least 2 classes are needed"):
        load_folder(tmp_path)


def test_a_class_without_images(image_folder):
    (image_folder / "fox").mkdir()
    (image_folder / "fox" / "readme.txt").write_text("no images here")
    with pytest.raises(DatasetError, match=f"class folder {image_folder / 'fox'} has no images"):
        load_folder(image_folder)


def test_too_many_images_are_refused_before_reading(image_folder):
    with pytest.raises(DatasetError, match="holds 15 images; at most 10 can be loaded"):
        load_folder(image_folder, max_images=10)


def test_folder_options_are_checked(image_folder):
    with pytest.raises(DatasetError, match="option 'channels' of dataset 'folder' must be one of 1, 3, got 4"):
        load_dataset(DatasetChoice(name="folder", root=str(image_folder), options={"channels": 4}))
    with pytest.raises(DatasetError, match="option 'test_fraction' of dataset 'folder' must be from 0 to 0.9"):
        load_dataset(DatasetChoice(name="folder", root=str(image_folder), options={"test_fraction": 0.95}))
