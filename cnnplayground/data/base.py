"""Image datasets as plain tensors: the form every dataset is turned into.

Small image sets (MNIST, CIFAR-10 size) fit in memory and on a GPU as one
``uint8`` tensor, so the trainer batches by index slicing with no per-sample
Python. Every source (the synthetic set, torchvision sets, a user's folder)
is loaded into :class:`ImageData`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.errors import UserError

#: Images :func:`channel_stats` reads at a time (bytes).
STATS_CHUNK_BYTES = 64 * 2**20


class DatasetError(UserError, RuntimeError):
    """A dataset cannot be loaded; the message says why and what to do (one line)."""


class DatasetMemoryError(DatasetError):
    """A dataset needs more memory than there is; refused before anything is allocated.

    ``needed`` and ``available`` are bytes.
    """

    def __init__(self, message: str, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed, self.available = needed, available


@dataclass(frozen=True)
class SkippedFiles:
    """Files a dataset left out because they could not be read.

    ``count``: how many; ``first``: ``(file, reason)`` of the first few (file as the user
    named it, relative to the dataset's folder).
    """

    count: int
    first: tuple[tuple[str, str], ...]

    def message(self) -> str:
        """One line, e.g. ``skipped 3 unreadable files: first cat/x.png (broken PNG file)``."""
        name, reason = self.first[0]
        files = "file" if self.count == 1 else "files"
        return f"skipped {self.count:,} unreadable {files}: first {name} ({reason})"


@dataclass(frozen=True)
class Split:
    """One split of a dataset.

    ``images``: ``(N, C, H, W)`` ``uint8`` on the CPU (0..255); ``labels``: ``(N,)`` ``int64``.
    ``files``: where each image came from, for sources read from files (an image folder: the path
    relative to the folder the user chose, with ``/``, e.g. ``train/cat/001.jpg``); ``None`` for
    sources without files of their own (the synthetic and torchvision sets), which name images by
    their position in the split.
    """

    images: torch.Tensor
    labels: torch.Tensor
    files: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"images must be (N, C, H, W) uint8, got {tuple(self.images.shape)} {self.images.dtype}")
        if self.labels.dtype != torch.int64 or self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"labels must be ({self.images.shape[0]},) int64, got {tuple(self.labels.shape)}")
        if self.files is not None and len(self.files) != self.images.shape[0]:
            raise ValueError(f"files must name {self.images.shape[0]} images, got {len(self.files)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> Split:
        files = None if self.files is None else tuple(self.files[int(i)] for i in index.tolist())
        return Split(self.images[index], self.labels[index], files)

    def file_of(self, i: int) -> str:
        """How a user finds image ``i``: its file (relative path) where the source has files, else ``#i``."""
        return self.files[i] if self.files is not None else f"#{i}"


@dataclass(frozen=True)
class ImageData:
    """A dataset ready for training: splits, class names and normalization.

    ``mean`` and ``std`` are per channel, in units of ``[0, 1]`` pixel values,
    computed from the training split only (so validation/test stay unseen).
    ``test`` is ``None`` when a source has no test split. ``skipped``: files of the source
    that could not be read and were left out (``None``: none).
    """

    name: str
    class_names: tuple[str, ...]
    train: Split
    val: Split
    test: Split | None
    mean: tuple[float, ...]
    std: tuple[float, ...]
    skipped: SkippedFiles | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        _, c, h, w = self.train.images.shape
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``(N, C, H, W)`` uint8 images, in ``[0, 1]`` units.

    Exact and fast: a 256-bin histogram per channel (no float copy of the set),
    then mean and variance from the histogram in float64. The images are read
    :data:`STATS_CHUNK_BYTES` at a time, so a set streamed from disk is never
    copied into memory whole.
    """
    n, c = images.shape[0], images.shape[1]
    if n == 0:
        return tuple([0.0] * c), tuple([1.0] * c)
    values = torch.arange(256, dtype=torch.float64) / 255.0
    hists = torch.zeros((c, 256), dtype=torch.int64)
    step = max(1, STATS_CHUNK_BYTES // max(images[0].nelement(), 1))
    for start in range(0, n, step):
        chunk = images[start : start + step]
        for ch in range(c):
            hists[ch] += torch.bincount(chunk[:, ch].reshape(-1), minlength=256)
    means, stds = [], []
    for ch in range(c):
        hist = hists[ch].to(torch.float64)
        count = hist.sum()
        mean = (hist * values).sum() / count
        var = (hist * (values - mean) ** 2).sum() / count
        means.append(float(mean))
        stds.append(max(float(var.sqrt()), 1e-3))
    return tuple(means), tuple(stds)
