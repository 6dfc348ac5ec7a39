"""torchvision datasets: the real MNIST / Fashion-MNIST files, and missing files (never a download)."""

from __future__ import annotations

import socket

import pytest
import torch

from cnnplayground.data.base import DatasetError
from cnnplayground.data.registry import load_dataset
from cnnplayground.data.torchvision_sets import SETS, load_torchvision
from cnnplayground.project import DatasetChoice


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.data
def test_mnist_loads_with_torchvisions_arrays(shared_datasets):
    import torchvision

    data = load_dataset(DatasetChoice(name="mnist", root=str(shared_datasets)), val_fraction=0.1, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (54_000, 6_000, 10_000)
    assert data.input_shape == (1, 28, 28) and data.train.images.dtype == torch.uint8
    assert data.test.labels.dtype == torch.int64
    assert data.class_names[0] == "0 - zero" and len(data.class_names) == 10
    reference_test = torchvision.datasets.MNIST(str(shared_datasets), train=False, download=False)
    assert torch.bincount(data.test.labels, minlength=10).tolist() == torch.bincount(
        reference_test.targets, minlength=10).tolist()
    assert torch.equal(data.test.images[:, 0], reference_test.data)
    train_labels = torch.cat([data.train.labels, data.val.labels])
    assert torch.bincount(train_labels, minlength=10).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                                                    5851, 5949]
    assert abs(data.mean[0] - 0.1307) < 0.002 and abs(data.std[0] - 0.3081) < 0.002


@pytest.mark.data
def test_fashion_mnist_loads_with_its_class_names(shared_datasets):
    train, test, classes = load_torchvision("fashion-mnist", shared_datasets)
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert classes[0] == "T-shirt/top" and classes[-1] == "Ankle boot" and len(classes) == 10
    assert torch.bincount(test.labels, minlength=10).tolist() == [1000] * 10
    assert torch.bincount(train.labels, minlength=10).tolist() == [6000] * 10
    data = load_dataset(DatasetChoice(name="fashion-mnist", root=str(shared_datasets)), val_fraction=0.0)
    assert torch.equal(data.train.images, train.images) and data.class_names == classes


@pytest.mark.data
def test_corruption_of_a_real_set_leaves_test_alone(shared_datasets):
    choice = DatasetChoice(name="mnist", root=str(shared_datasets), options={"random_labels": 1.0})
    data = load_dataset(choice, val_fraction=0.1, seed=3)
    clean = load_dataset(DatasetChoice(name="mnist", root=str(shared_datasets)), val_fraction=0.1, seed=3)
    assert torch.equal(data.test.labels, clean.test.labels) and torch.equal(data.val.labels, clean.val.labels)
    changed = (data.train.labels != clean.train.labels).float().mean().item()
    assert abs(changed - 0.9) < 0.01


@pytest.mark.parametrize(
    ("name", "folder"),
    [("cifar10", "cifar-10-batches-py"), ("cifar100", "cifar-100-python"), ("mnist", "MNIST/raw"),
     ("kmnist", "KMNIST/raw"), ("svhn", "")],
)
def test_missing_files_give_one_line_naming_the_folder(tmp_path, no_network, name, folder):
    with pytest.raises(DatasetError) as info:
        load_dataset(DatasetChoice(name=name, root=str(tmp_path)), download=False)
    message = str(info.value)
    where = tmp_path / folder if folder else tmp_path
    assert message.startswith(f"{SETS[name].title} files not found in {where}: ")
    assert "allow the download" in message and "(torchvision layout)" in message and "\n" not in message


def test_mnist_message_lists_the_files(tmp_path, no_network):
    with pytest.raises(DatasetError) as info:
        load_torchvision("mnist", tmp_path)
    assert str(info.value) == (
        f"MNIST files not found in {tmp_path / 'MNIST' / 'raw'}: connect to the internet and allow the download, "
        "or copy the four MNIST files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte) there (torchvision layout)"
    )


def test_a_failed_download_becomes_a_dataset_error(tmp_path, monkeypatch):
    import torchvision

    def offline(self):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.CIFAR10, "download", offline)
    with pytest.raises(DatasetError) as info:
        load_dataset(DatasetChoice(name="cifar10", root=str(tmp_path)), download=True)
    assert str(info.value).startswith(
        f"CIFAR-10 could not be downloaded to {tmp_path / 'cifar-10-batches-py'} "
        "([Errno -3] Temporary failure in name resolution): check the internet connection"
    )


def test_damaged_files_are_reported(tmp_path, no_network):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DatasetError, match=f"MNIST files in {raw} cannot be read") as info:
        load_torchvision("mnist", tmp_path)
    assert "\n" not in str(info.value)


def test_svhn_reads_its_mat_files_with_the_installed_scipy(tmp_path, no_network, monkeypatch):
    """SVHN is offered, so reading it works after the install (scipy is a dependency): two tiny .mat
    files in SVHN's layout (X: H×W×C×N, labels 1..10 with 10 for the digit 0) load with their pixels
    and labels. torchvision checks the real files' MD5 sums; the tiny ones pass that check by fiat."""
    import numpy as np
    import scipy.io
    import torchvision

    rng = np.random.default_rng(0)
    images = {}
    for split, n in (("train", 6), ("test", 4)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        y = np.arange(1, n + 1).reshape(n, 1)
        y[-1] = 10
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": y})
        images[split] = (x, y)
    monkeypatch.setattr(torchvision.datasets.SVHN, "_check_integrity", lambda self: True)
    train, test, classes = load_torchvision("svhn", tmp_path)
    assert train.images.shape == (6, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert train.labels.tolist() == [1, 2, 3, 4, 5, 0] and test.labels.tolist() == [1, 2, 3, 0]
    x, _ = images["train"]
    assert torch.equal(train.images[2], torch.from_numpy(x[:, :, :, 2]).permute(2, 0, 1))
    assert len(classes) == 10
