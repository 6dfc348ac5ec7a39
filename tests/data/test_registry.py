"""The dataset registry and load_dataset (synthetic set; no files, no network)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from cnnplayground.data.base import DatasetError, channel_stats
from cnnplayground.data.registry import (
    DATASETS,
    default_data_root,
    input_shape_of,
    list_datasets,
    load_dataset,
    resolve_options,
)
from cnnplayground.data.synthetic import CLASS_NAMES
from cnnplayground.project import DatasetChoice

SMALL = {"train_size": 1000, "test_size": 300}


def synthetic(**options) -> DatasetChoice:
    return DatasetChoice(name="synthetic", options={**SMALL, **options})


def test_registry_lists_every_dataset_with_user_facing_text():
    names = [info.name for info in list_datasets()]
    assert names == ["synthetic", "synthetic-rgb", "mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100",
                     "svhn", "folder"]
    for info in list_datasets():
        assert DATASETS[info.name] is info
        assert info.title and info.description.endswith(".")
        assert {"random_labels", "random_pixels"} <= set(info.options)
        for default, help_text in info.options.values():
            assert isinstance(default, int | float | bool | str) and help_text
    assert DATASETS["mnist"].input_shape == (1, 28, 28) and DATASETS["mnist"].num_classes == 10
    assert DATASETS["cifar100"].input_shape == (3, 32, 32) and DATASETS["cifar100"].num_classes == 100
    assert DATASETS["folder"].num_classes is None and DATASETS["folder"].input_shape is None
    assert DATASETS["synthetic"].offline and not DATASETS["cifar10"].offline
    assert DATASETS["synthetic"].options["train_size"][0] == 20_000
    assert DATASETS["synthetic"].options["noise"][0] == 0.08
    assert DATASETS["folder"].options["size"][0] == "auto"  # the images' own size (issue 22)


def test_synthetic_split_sizes_shapes_and_stats():
    data = load_dataset(synthetic(), val_fraction=0.2, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (800, 200, 300)
    assert data.name == "synthetic" and data.class_names == CLASS_NAMES and data.num_classes == 10
    assert data.input_shape == (1, 28, 28)
    for split in (data.train, data.val, data.test):
        assert split.images.dtype == torch.uint8 and split.images.shape[1:] == (1, 28, 28)
    assert (data.mean, data.std) == channel_stats(data.train.images)
    assert (data.mean, data.std) != channel_stats(data.val.images)
    # Every class is present in the training part.
    assert (torch.bincount(data.train.labels, minlength=10) > 50).all()


def test_synthetic_pixels_are_the_generator_output_in_uint8():
    from cnnplayground.data.synthetic import make_synthetic

    data = load_dataset(synthetic(train_size=40, test_size=10), val_fraction=0.0)
    x, y = make_synthetic(40, seed=0)
    assert torch.equal(data.train.images, (x * 255).round().to(torch.uint8))
    assert torch.equal(data.train.labels, y)


def test_synthetic_options_change_the_images():
    data = load_dataset(synthetic(size=16, channels=3, noise=0.0), val_fraction=0.1)
    assert data.input_shape == (3, 16, 16) and len(data.mean) == 3
    rgb = load_dataset(DatasetChoice(name="synthetic-rgb", options={"train_size": 100, "test_size": 20}))
    assert rgb.input_shape == (3, 32, 32) and (len(rgb.train), len(rgb.val), len(rgb.test)) == (90, 10, 20)
    assert input_shape_of(DatasetChoice(name="synthetic-rgb")) == (3, 32, 32)
    assert input_shape_of(synthetic(size=20, channels=3)) == (3, 20, 20)
    assert input_shape_of(DatasetChoice(name="mnist")) == (1, 28, 28)
    assert input_shape_of(DatasetChoice(name="folder", options={"size": 48, "channels": 1})) == (1, 48, 48)


def test_split_is_determined_by_the_seed():
    a = load_dataset(synthetic(), val_fraction=0.2, seed=7)
    b = load_dataset(synthetic(), val_fraction=0.2, seed=7)
    for sa, sb in ((a.train, b.train), (a.val, b.val), (a.test, b.test)):
        assert torch.equal(sa.images, sb.images) and torch.equal(sa.labels, sb.labels)
    c = load_dataset(synthetic(), val_fraction=0.2, seed=8)
    assert not torch.equal(a.val.images, c.val.images)
    # The images themselves do not depend on the seed: only which ones are held out.
    assert torch.equal(a.test.images, c.test.images)
    whole_a = torch.cat([a.train.images, a.val.images]).flatten(1)
    whole_c = torch.cat([c.train.images, c.val.images]).flatten(1)
    assert torch.equal(whole_a.unique(dim=0), whole_c.unique(dim=0))


def test_val_fraction_zero_gives_an_empty_val_split():
    data = load_dataset(synthetic(), val_fraction=0.0)
    assert len(data.train) == 1000 and len(data.val) == 0
    assert data.val.images.shape == (0, 1, 28, 28) and data.val.labels.shape == (0,)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_bad_val_fraction_is_refused(fraction):
    with pytest.raises(DatasetError, match="val_fraction must be at least 0 and below 1"):
        load_dataset(synthetic(), val_fraction=fraction)


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(DatasetError) as info:
        load_dataset(DatasetChoice(name="imagenet"))
    message = str(info.value)
    assert message.startswith("unknown dataset 'imagenet'; available: synthetic, synthetic-rgb, mnist")
    assert "folder" in message and "\n" not in message


def test_unknown_options_are_named_with_the_allowed_ones():
    with pytest.raises(DatasetError) as info:
        load_dataset(synthetic(sise=32))
    assert str(info.value) == (
        "unknown option 'sise' for dataset 'synthetic'; allowed: train_size, test_size, size, channels, noise, "
        "random_labels, random_pixels"
    )
    with pytest.raises(DatasetError, match="unknown options 'a', 'b' for dataset 'mnist'; allowed: random_labels"):
        load_dataset(DatasetChoice(name="mnist", options={"b": 1, "a": 2}))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"size": 4}, "option 'size' of dataset 'synthetic' must be from 8 to 256, got 4"),
        ({"channels": 2}, "option 'channels' of dataset 'synthetic' must be one of 1, 3, got 2"),
        ({"train_size": "many"}, "option 'train_size' of dataset 'synthetic' must be a whole number, got 'many'"),
        ({"train_size": 10.5}, "must be a whole number, got 10.5"),
        ({"noise": True}, "option 'noise' of dataset 'synthetic' must be a number, got True"),
        ({"random_labels": 1.5}, "option 'random_labels' of dataset 'synthetic' must be from 0 to 1, got 1.5"),
        ({"train_size": 1_000_000, "size": 256, "channels": 3},
         "the synthetic set asked for needs 183.2 GB; at most 4 GB"),
    ],
)
def test_invalid_options_are_refused_in_one_line(options, message):
    with pytest.raises(DatasetError, match=re.escape(message)) as info:
        load_dataset(synthetic(**options))
    assert "\n" not in str(info.value)


def test_option_values_are_normalized():
    info = DATASETS["synthetic"]
    opts = resolve_options(info, {"size": 16.0, "noise": 0, "random_labels": 1})
    assert opts["size"] == 16 and isinstance(opts["size"], int)
    assert opts["noise"] == 0.0 and isinstance(opts["noise"], float)
    assert opts["train_size"] == 20_000 and opts["random_pixels"] == 0.0


def test_default_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNPLAYGROUND_DATA", str(tmp_path / "mine"))
    assert default_data_root() == tmp_path / "mine"
    monkeypatch.delenv("CNNPLAYGROUND_DATA")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_root() == tmp_path / "xdg" / "cnnplayground" / "datasets"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_root() == tmp_path / "home" / ".local" / "share" / "cnnplayground" / "datasets"


def test_torchvision_sets_use_the_default_root_unless_a_root_is_given(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNPLAYGROUND_DATA", str(tmp_path / "default"))
    with pytest.raises(DatasetError, match=f"CIFAR-10 files not found in {tmp_path / 'default'}"):
        load_dataset(DatasetChoice(name="cifar10"))
    with pytest.raises(DatasetError, match=f"MNIST files not found in {tmp_path / 'given' / 'MNIST' / 'raw'}"):
        load_dataset(DatasetChoice(name="mnist", root=str(tmp_path / "given")))


def test_folder_needs_a_root():
    with pytest.raises(DatasetError, match="the image-folder dataset needs a folder"):
        load_dataset(DatasetChoice(name="folder"))


def test_default_synthetic_choice_loads_the_documented_sizes():
    data = load_dataset(DatasetChoice(), val_fraction=0.1, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (18_000, 2_000, 4_000)
    assert data.input_shape == (1, 28, 28)
    assert torch.bincount(torch.cat([data.train.labels, data.val.labels]), minlength=10).tolist() == [2000] * 10


def test_root_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(DatasetError, match=str(Path(tmp_path) / "KMNIST" / "raw")):
        load_dataset(DatasetChoice(name="kmnist", root="~"))
