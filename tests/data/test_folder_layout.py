"""An image folder's splits come from its layout (train/, val/, test/) or are drawn per class; its
images are read at their own size by default (issue 22)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnplayground.data import image_size
from cnnplayground.data.base import DatasetError
from cnnplayground.data.folder_layout import _quotas, plan_folder
from cnnplayground.data.image_size import choose_size
from cnnplayground.data.registry import folder_summary, input_shape_of, load_dataset
from cnnplayground.project import DatasetChoice

COLOURS = {"ant": (200, 10, 30), "bee": (10, 220, 40), "cow": (30, 60, 250)}


def write_images(folder: Path, counts: dict[str, int], size: tuple[int, int] = (8, 8)) -> None:
    """``counts[class]`` solid-colour PNGs of ``size`` (w, h) in ``folder/class/``."""
    for cls, n in counts.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            Image.new("RGB", size, COLOURS[cls]).save(folder / cls / f"{i:03d}.png")


def per_class(split) -> list[int]:
    return torch.bincount(split.labels, minlength=3).tolist()


def folder(root: Path, **options) -> DatasetChoice:
    return DatasetChoice(name="folder", root=str(root), options=options)


def test_train_and_test_folders_are_the_splits_and_validation_is_a_share_of_train_per_class(tmp_path):
    write_images(tmp_path / "train", {"ant": 100, "bee": 60, "cow": 40})
    write_images(tmp_path / "test", {"ant": 20, "bee": 20, "cow": 10})
    data = load_dataset(folder(tmp_path, test_fraction=0.3), val_fraction=0.1, seed=4)
    assert data.class_names == ("ant", "bee", "cow")
    assert per_class(data.train) == [90, 54, 36]
    assert per_class(data.val) == [10, 6, 4]  # 10 % of each class of train/
    assert per_class(data.test) == [20, 20, 10]  # test/ whole: --test-share is not applied
    assert all(f.startswith("test/") for f in data.test.files)
    assert all(f.startswith("train/") for f in data.train.files + data.val.files)
    assert not set(data.train.files) & set(data.val.files)
    for split in (data.train, data.val, data.test):  # every file is in its own class's folder
        assert all(f.split("/")[1] == data.class_names[y] for f, y in zip(split.files, split.labels.tolist()))
    plan = plan_folder(tmp_path, val_share=0.1, test_share=0.3, seed=4)
    assert plan.describe() == ("splits from the folder's layout: train 180 (the rest of train/) · validation 20 "
                               "(10 % of train/, stratified by class) · test 50 (test/)")
    assert plan.notes == ("--test-share is not applied: the folder has test/",)
    assert plan.table() == ["class       train  validation        test",
                            "ant            90          10          20",
                            "bee            54           6          20",
                            "cow            36           4          10"]


def test_train_val_test_folders_are_the_three_splits(tmp_path):
    write_images(tmp_path / "train", {"ant": 30, "bee": 20, "cow": 10})
    write_images(tmp_path / "valid", {"ant": 5, "bee": 4})  # no cow: fine for validation, and said
    write_images(tmp_path / "test", {"ant": 6, "bee": 7, "cow": 8})
    data = load_dataset(folder(tmp_path), val_fraction=0.2, seed=0)
    assert (per_class(data.train), per_class(data.val), per_class(data.test)) == (
        [30, 20, 10], [5, 4, 0], [6, 7, 8])
    assert data.val.files[0] == "valid/ant/000.png"
    plan = plan_folder(tmp_path, val_share=0.2, test_share=0.0, seed=0)
    assert plan.sources == {"train": "train/", "val": "valid/", "test": "test/"}
    assert plan.notes == ("valid/ has no images of 'cow'", "--val-share is not applied: the folder has valid/")


def test_one_folder_draws_test_then_validation_per_class(tmp_path):
    write_images(tmp_path, {"ant": 100, "bee": 60, "cow": 40})
    data = load_dataset(folder(tmp_path, test_fraction=0.25), val_fraction=0.2, seed=7)
    assert per_class(data.test) == [25, 15, 10]  # 25 % of each class
    assert per_class(data.val) == [15, 9, 6]  # then 20 % of what is left of each class
    assert per_class(data.train) == [60, 36, 24]
    assert sorted(data.train.files + data.val.files + data.test.files) == sorted(
        f"{c}/{i:03d}.png" for c, n in (("ant", 100), ("bee", 60), ("cow", 40)) for i in range(n))
    again = load_dataset(folder(tmp_path, test_fraction=0.25), val_fraction=0.2, seed=7)
    assert again.test.files == data.test.files  # seeded
    other = load_dataset(folder(tmp_path, test_fraction=0.25), val_fraction=0.2, seed=8)
    assert other.test.files != data.test.files and per_class(other.test) == [25, 15, 10]
    plan = plan_folder(tmp_path, val_share=0.2, test_share=0.0, seed=7)
    assert plan.describe() == ("splits drawn from the class folders: train 160 (the rest) · validation 40 "
                               "(20 % of the images, stratified by class) · test none")
    both = plan_folder(tmp_path, val_share=0.2, test_share=0.25, seed=7)
    assert both.describe() == ("splits drawn from the class folders: train 120 (the rest) · validation 30 (20 % of "
                               "the rest, stratified by class) · test 50 (25 % of the images, stratified by class)")
    assert [both.counts(s) for s in ("train", "val", "test")] == [[60, 36, 24], [15, 9, 6], [25, 15, 10]]


def test_layout_mistakes_are_said(tmp_path):
    write_images(tmp_path / "train", {"ant": 3, "bee": 3})
    write_images(tmp_path / "test", {"ant": 2, "cow": 2})
    with pytest.raises(DatasetError, match="class 'cow' has images in test/ but none in train/"):
        load_dataset(folder(tmp_path))
    (tmp_path / "test" / "cow" / "000.png").unlink()
    (tmp_path / "test" / "cow" / "001.png").unlink()
    write_images(tmp_path / "val", {"ant": 1})
    write_images(tmp_path / "validation", {"bee": 1})
    with pytest.raises(DatasetError, match=r"has val/ and validation/: keep one validation folder"):
        load_dataset(folder(tmp_path))


@pytest.mark.parametrize("sizes, expected, said", [
    ({(16, 12): 40}, (12, 16), "image size 12×16, the size of all 40 images"),
    ({(16, 16): 30, (20, 12): 10}, (16, 16),
     "image size 16×16: the most common size (30 of 40 images; the other 10 are scaled and center-cropped)"),
])
def test_images_are_read_at_their_own_or_most_common_size(tmp_path, sizes, expected, said):
    for i, (size, n) in enumerate(sizes.items()):
        for cls in ("ant", "bee"):
            (tmp_path / cls).mkdir(exist_ok=True)
            for j in range(n // 2):
                Image.new("RGB", size, COLOURS[cls]).save(tmp_path / cls / f"{i}_{j:02d}.png")
    choice = folder(tmp_path)
    assert input_shape_of(choice) == (3, *expected)
    assert folder_summary(choice, 0.1, 0).size.describe() == said
    data = load_dataset(choice, val_fraction=0.1)
    assert data.input_shape == (3, *expected)
    assert load_dataset(folder(tmp_path, size=24), val_fraction=0.1).input_shape == (3, 24, 24)  # --image-size


def test_header_sizes_are_read_once_per_folder_state(tmp_path, monkeypatch):
    write_images(tmp_path, {"ant": 3, "bee": 3}, size=(12, 9))
    opened = []
    read = image_size._header_size
    monkeypatch.setattr(image_size, "_header_size", lambda p: opened.append(p) or read(p))
    assert input_shape_of(folder(tmp_path)) == (3, 9, 12)
    assert input_shape_of(folder(tmp_path)) == (3, 9, 12) and len(opened) == 6  # remembered
    Image.new("RGB", (12, 9)).save(tmp_path / "ant" / "new.png")
    assert input_shape_of(folder(tmp_path)) == (3, 9, 12) and len(opened) == 6 + 7  # the folder changed


def test_exif_orientation_is_read_from_a_jpeg_header(tmp_path):
    write_images(tmp_path, {"ant": 1, "bee": 1}, size=(20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90°: shown 10 wide, 20 high
    for cls in ("ant", "bee"):
        for i in range(2):
            Image.new("RGB", (20, 10), COLOURS[cls]).save(tmp_path / cls / f"r{i}.jpg", exif=exif)
    assert input_shape_of(folder(tmp_path)) == (3, 20, 10)


def test_the_automatic_size_fits_the_size_options_range():
    assert choose_size(Counter({(3024, 4032): 5, (32, 32): 2})).hw == (384, 512)
    assert "most common size 3024×4032 (5 of 7 images) scaled to fit 512" in \
        choose_size(Counter({(3024, 4032): 5, (32, 32): 2})).describe()
    assert choose_size(Counter({(4, 6): 1})).hw == (8, 12)
    assert choose_size(Counter({(10, 10): 2, (12, 12): 2})).hw == (12, 12)  # a tie: the larger
    with pytest.raises(DatasetError, match="no image of the folder could be read"):
        choose_size(Counter())


def test_the_size_option_takes_auto_or_a_side():
    from cnnplayground.data.registry import DATASETS, resolve_options

    info = DATASETS["folder"]
    assert resolve_options(info, {})["size"] == "auto"
    assert resolve_options(info, {"size": 32.0})["size"] == 32
    with pytest.raises(DatasetError, match="must be 'auto' or a whole number, got 'big'"):
        resolve_options(info, {"size": "big"})
    with pytest.raises(DatasetError, match="must be from 8 to 512, got 600"):
        resolve_options(info, {"size": 600})


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=12), st.floats(0, 0.9))
def test_each_class_gives_its_share_up_to_less_than_one_image(counts, share):
    quotas = _quotas(counts, share)
    assert sum(quotas) == round(share * sum(counts))
    assert all(abs(q - share * n) < 1 for q, n in zip(quotas, counts, strict=True))


def test_small_classes_still_give_the_whole_share_and_unreadable_files_do_not_shrink_it(tmp_path):
    assert _quotas([4, 4], 0.1) == [1, 0] and _quotas([100, 60, 40], 0.1) == [10, 6, 4]
    write_images(tmp_path, {"ant": 10, "bee": 10})
    for i in range(5):  # drawn from the files, half of the validation share would be these
        (tmp_path / "ant" / f"broken{i}.png").write_bytes(b"not an image")
    data = load_dataset(folder(tmp_path), val_fraction=0.2, seed=0)
    assert per_class(data.val)[:2] == [2, 2] and per_class(data.train)[:2] == [8, 8]
    assert data.skipped.count == 5 and data.skipped.first[0][0] == "ant/broken0.png"
