"""Standard image sets through torchvision's own dataset classes and on-disk layout.

The arrays the torchvision classes read (``.data`` with ``.targets`` or
``.labels``) are taken whole and turned into ``(N, C, H, W)`` uint8 and int64
tensors; no per-sample ``__getitem__`` runs. With ``download=False`` (the
default) only the local files are read: torchvision's classes check the files
and raise before any network access. Missing files give a one-line
:class:`~.base.DatasetError` naming the folder looked in and what to do.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.errors import one_line
from .base import DatasetError, Split


@dataclass(frozen=True)
class TorchvisionSet:
    """How to read one torchvision dataset.

    ``folder``: where torchvision keeps the files, relative to the root;
    ``files``: what the user can copy there by hand.
    """

    title: str
    class_name: str
    folder: str
    files: str
    shape: tuple[int, int, int]
    num_classes: int


SETS: dict[str, TorchvisionSet] = {
    "mnist": TorchvisionSet(
        "MNIST", "MNIST", "MNIST/raw",
        "the four MNIST files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte)", (1, 28, 28), 10,
    ),
    "fashion-mnist": TorchvisionSet(
        "Fashion-MNIST", "FashionMNIST", "FashionMNIST/raw",
        "the four Fashion-MNIST files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)", (1, 28, 28), 10,
    ),
    "kmnist": TorchvisionSet(
        "KMNIST", "KMNIST", "KMNIST/raw",
        "the four KMNIST files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte)", (1, 28, 28), 10,
    ),
    "cifar10": TorchvisionSet(
        "CIFAR-10", "CIFAR10", "cifar-10-batches-py",
        "the contents of cifar-10-python.tar.gz (data_batch_1..5, test_batch, batches.meta)", (3, 32, 32), 10,
    ),
    "cifar100": TorchvisionSet(
        "CIFAR-100", "CIFAR100", "cifar-100-python",
        "the contents of cifar-100-python.tar.gz (train, test, meta)", (3, 32, 32), 100,
    ),
    "svhn": TorchvisionSet(
        "SVHN", "SVHN", ".", "train_32x32.mat and test_32x32.mat", (3, 32, 32), 10,
    ),
}


def load_torchvision(name: str, root: Path, *, download: bool = False) -> tuple[Split, Split, tuple[str, ...]]:
    """Read dataset ``name`` (a key of :data:`SETS`) from ``root`` in torchvision's layout.

    Returns ``(train, test, class_names)``; images ``(N, C, H, W)`` uint8, labels int64.
    With ``download=True`` torchvision may fetch missing files; any failure
    becomes a :class:`DatasetError`.
    """
    spec = SETS[name]
    train = _read(spec, root, train=True, download=download)
    test = _read(spec, root, train=False, download=download)
    classes = getattr(train, "classes", None) or [str(i) for i in range(spec.num_classes)]
    return _to_split(train), _to_split(test), tuple(str(c) for c in classes)


def _read(spec: TorchvisionSet, root: Path, *, train: bool, download: bool) -> Any:
    import torchvision.datasets as tvd

    cls = getattr(tvd, spec.class_name)
    folder = Path(os.path.abspath(root / spec.folder))
    split_args: dict[str, Any] = {"split": "train" if train else "test"} if spec.class_name == "SVHN" else {
        "train": train}
    try:  # the files already there first: a download is tried only for files that are missing
        return cls(str(root), download=False, **split_args)
    except Exception as exc:  # noqa: BLE001 - torchvision raises RuntimeError, OSError, URLError, pickle errors
        missing = isinstance(exc, RuntimeError) and "not found" in str(exc).lower()
        if missing and not download:
            raise DatasetError(
                f"{spec.title} files not found in {folder}: connect to the internet and allow the download, "
                f"or copy {spec.files} there (torchvision layout)"
            ) from None
        if not missing:
            reason = one_line(exc)
            raise DatasetError(
                f"{spec.title} files in {folder} cannot be read ({type(exc).__name__}: {reason}): "
                f"replace them with fresh copies of {spec.files}"
            ) from None
    _check_writable(spec, folder)
    try:
        return cls(str(root), download=True, **split_args)
    except Exception as exc:  # noqa: BLE001 - as above
        if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE:
            raise _not_writable(spec, folder, exc.strerror or one_line(exc)) from None
        raise DatasetError(
            f"{spec.title} could not be downloaded to {folder} ({one_line(exc)}): check the internet connection, "
            f"or copy {spec.files} there (torchvision layout)"
        ) from None


#: ``OSError.errno`` values that mean a folder cannot be written, whatever the network does.
_NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def _check_writable(spec: TorchvisionSet, folder: Path) -> None:
    """Refuse a download into ``folder`` when it (or the folder it would be created in) cannot be
    written, before any network access: the connection is not what failed."""
    for path in (folder, *folder.parents):
        if path.exists():
            if not os.access(path, os.W_OK):
                raise _not_writable(spec, folder, f"{path} is not writable")
            return


def _not_writable(spec: TorchvisionSet, folder: Path, reason: str) -> DatasetError:
    return DatasetError(
        f"{spec.title} cannot be downloaded to {folder}: the folder is not writable ({reason}): choose a data "
        f"folder you can write to, or copy {spec.files} there (torchvision layout)"
    )


def _to_split(ds: Any) -> Split:
    """torchvision's arrays → :class:`Split` (``(N, C, H, W)`` uint8, ``(N,)`` int64)."""
    data = ds.data
    images = data if isinstance(data, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(data))
    if images.dim() == 3:  # MNIST family: (N, H, W)
        images = images.unsqueeze(1)
    elif images.shape[-1] == 3:  # CIFAR: (N, H, W, C)
        images = images.permute(0, 3, 1, 2)
    targets = getattr(ds, "targets", None)
    if targets is None:
        targets = ds.labels  # SVHN
    labels = torch.as_tensor(np.asarray(targets), dtype=torch.int64)
    return Split(images.to(torch.uint8).contiguous(), labels.contiguous())
