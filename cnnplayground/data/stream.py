"""Image folders larger than memory: decoded once into a cache on disk, then read through a memory map.

:func:`~.folder.read_splits` hands a folder's splits here when their decoded images would not fit in
the memory there is (:func:`~.folder.check_memory`). Then, for each split (its files):

1. every file is listed with its size and modification time (``scanning``); together with the
   image size and channels they make the folder's *fingerprint*;
2. a cache made from the same fingerprint is used after its checksum is read back
   (``checking``); a cache that is missing, stale (a file was added, removed or changed),
   truncated or damaged is rebuilt, never trusted;
3. to build it, the images are decoded in worker processes (the same
   :func:`~.folder.read_image`: same pixels, same skipped files) and written, in class-then-name
   order, to one ``uint8`` file of ``(N, C, height, width)`` rows (``decoding``).

The split is a :class:`StreamedSplit`: a :class:`~.base.Split` whose ``images`` tensor is
backed by the memory-mapped file (``torch.from_numpy(np.memmap(...))``), so slicing a batch
reads only its rows and the trainer's loader needs no other path. Its :meth:`~StreamedSplit.subset`
(the validation and test hold-outs) copies the rows, in chunks, into an unnamed temporary file
beside the cache instead of into memory; the file goes with the process.

The cache lives in ``$CNNPLAYGROUND_CACHE`` (else ``$XDG_CACHE_HOME/cnnplayground``, else
``~/.cache/cnnplayground``), ``folders/<key>/`` with ``key`` from the folder's path, the split
(``train``, ``val``, ``test`` or ``all``: each split of a folder has a cache of its own), the image size
``(height, width)`` and channels: a changed folder replaces its cache instead of adding one. Progress is reported
as :class:`LoadProgress` to a callback, at most every :data:`PROGRESS_INTERVAL` seconds per stage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
import warnings
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import DatasetError, DatasetMemoryError, SkippedFiles, Split

log = logging.getLogger(__name__)

#: Bumped when the cache's layout or the decoding changes: older caches are then rebuilt.
CACHE_VERSION = 2
#: Decoded bytes handed back by one worker task (a few hundred small images, fewer large ones).
CHUNK_BYTES = 4 * 2**20
#: Bytes read at a time when a cache is checked or rows are copied.
COPY_BYTES = 16 * 2**20
#: Free disk a new cache asks for, in multiples of its size: the cache, plus the copies its
#: training, validation and test splits are made of.
DISK_COPIES = 2
#: Most worker processes that decode at once.
MAX_WORKERS = 8
#: Fewer files than this are decoded in this process unless workers are asked for: starting the workers
#: (a fork server that imports torch) takes 1-3 s, more than decoding 2,000 small images.
MIN_POOL_FILES = 2000
#: Decoding tasks queued or waiting to be written per worker.
IN_FLIGHT = 3
#: Seconds after which a partial cache file nobody writes to is removed.
ABANDONED_AFTER = 3600
#: Seconds between two progress reports of one stage (its first and last are always reported).
PROGRESS_INTERVAL = 0.2

STAGES = {
    "scanning": "scanning the image folder",
    "checking": "checking the cached images",
    "decoding": "decoding images into the cache",
    "copying": "copying images for a split",
}


@dataclass(frozen=True)
class LoadProgress:
    """Where loading a streamed folder stands: ``stage`` (a key of :data:`STAGES`), ``done`` of ``total``
    (files for scanning and decoding, images for checking and copying); ``split``: which split's cache, where
    several are streamed (``""``: not said)."""

    stage: str
    done: int
    total: int
    split: str = ""

    def message(self) -> str:
        """One line, e.g. ``decoding images into the cache (test): 1,200 of 20,000 (6 %)``."""
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        which = f" ({self.split})" if self.split else ""
        return f"{STAGES.get(self.stage, self.stage)}{which}: {self.done:,} of {self.total:,}{share}"


Progress = Callable[[LoadProgress], None]


@dataclass(frozen=True)
class StreamedSplit(Split):
    """A :class:`~.base.Split` whose images live in a file on disk (a memory map), not in memory.

    ``scratch``: the folder where :meth:`subset` writes its copies (the cache's folder).
    """

    scratch: Path = Path(".")

    def subset(self, index: torch.Tensor) -> StreamedSplit:
        """The images at ``index`` (in that order), copied in chunks into a temporary file in ``scratch``:
        at most :data:`COPY_BYTES` of them in memory at once."""
        return copy_rows(self, index)


def default_cache_dir() -> Path:
    """Where streamed folders keep their decoded images: ``$CNNPLAYGROUND_CACHE``, else
    ``$XDG_CACHE_HOME/cnnplayground``, else ``~/.cache/cnnplayground``. Read at each call."""
    env = os.environ.get("CNNPLAYGROUND_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).expanduser().is_absolute() else Path.home() / ".cache"
    return base / "cnnplayground"


def load_streamed(
    root: Path, classes: Sequence[str], files: Sequence[Sequence[Path]], *, size: int | tuple[int, int],
    channels: int, max_pixels: int, refused: DatasetMemoryError, split: str = "all", every_class: bool = True,
    cache_dir: Path | None = None, workers: int | None = None, progress: Progress | None = None,
) -> tuple[StreamedSplit, SkippedFiles | None]:
    """The images of one split of the folder as a :class:`StreamedSplit`, from its cache (built now if
    needed), and what was skipped (the first in file order); images in class-then-name order, like
    :func:`~.folder.read_splits`'.

    ``files``: each class's image files of the split ``split`` (which names its cache); ``size``: one side
    or ``(height, width)``; ``every_class``: a class left with no readable image is a :class:`DatasetError`
    (else, for validation and test, it is not). ``refused``: why the images do not fit in memory, extended
    and raised when the disk lacks room as well. ``cache_dir``: the cache's
    top folder (``None``: :func:`default_cache_dir`). ``workers``: decoding processes (``None``: one
    per core, at most :data:`MAX_WORKERS`; 0 or 1: in this process).
    """
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    top = (cache_dir if cache_dir is not None else default_cache_dir()) / "folders"
    where = top / _key(root, split, hw, channels)
    fingerprint = _fingerprint(root, classes, files, hw, channels, max_pixels, every_class, progress)
    row = channels * hw[0] * hw[1]
    cached = _open_cache(where, fingerprint, row, len(classes), progress)
    if cached is not None:
        return cached
    count = sum(len(f) for f in files)
    _check_disk(top, DISK_COPIES * count * row, refused)
    return _build_cache(where, fingerprint, root, classes, files, size=hw, channels=channels,
                        max_pixels=max_pixels, every_class=every_class, workers=workers, progress=progress)


def copy_rows(split: StreamedSplit, index: torch.Tensor, progress: Progress | None = None) -> StreamedSplit:
    """``split``'s images at ``index`` in a new temporary file beside its cache (see :meth:`StreamedSplit.subset`)."""
    labels = split.labels[index]
    files = None if split.files is None else tuple(split.files[int(i)] for i in index.tolist())
    shape = (int(index.shape[0]), *split.images.shape[1:])
    if shape[0] == 0:
        return StreamedSplit(torch.empty(shape, dtype=torch.uint8), labels, files, split.scratch)
    row = int(np.prod(shape[1:]))
    _check_disk(split.scratch, shape[0] * row, None)
    source = split.images.numpy()
    try:
        with tempfile.TemporaryFile(dir=split.scratch) as handle:  # unnamed: gone with the last reference
            _allocate(handle.fileno(), shape[0] * row)
            out = np.memmap(handle, dtype=np.uint8, mode="r+", shape=shape)
    except OSError as exc:
        raise DatasetError(f"cannot copy images for a split into {split.scratch} ({exc.strerror or exc}): free "
                           "disk space or set CNNPLAYGROUND_CACHE to another folder") from None
    step = max(1, COPY_BYTES // row)
    order = index.numpy()
    report = _Reporter(progress, "copying", shape[0])
    for start in range(0, shape[0], step):
        out[start : start + step] = source[order[start : start + step]]
        report(min(start + step, shape[0]))
    return StreamedSplit(torch.from_numpy(out), labels, files, split.scratch)


# --- the cache -------------------------------------------------------------------------------------


def _key(root: Path, split: str, size: tuple[int, int], channels: int) -> str:
    where = str(root.expanduser().resolve())
    return hashlib.sha256(f"{where}\0{split}\0{size[0]}x{size[1]}\0{channels}".encode()).hexdigest()[:24]


def _fingerprint(root: Path, classes: Sequence[str], files: Sequence[Sequence[Path]], size: tuple[int, int],
                 channels: int, max_pixels: int, every_class: bool, progress: Progress | None) -> str:
    """A digest of everything the cached images depend on: each file's name, class, size and modification
    time, the image size, channels, pixel limit, whether every class must read and :data:`CACHE_VERSION`."""
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, list(size), channels, max_pixels, every_class,
                                        list(classes)]).encode())
    total = sum(len(f) for f in files)
    report = _Reporter(progress, "scanning", total)
    done = 0
    for label, paths in enumerate(files):
        for path in paths:
            try:
                st = path.stat()
                stamp = f"{st.st_size}\0{st.st_mtime_ns}"
            except OSError as exc:  # such a file is skipped when decoded; its state is part of the fingerprint
                stamp = f"unreadable {exc.errno}"
            digest.update(f"{label}\0{_relative(path, root)}\0{stamp}\n".encode("utf-8", "surrogateescape"))
            done += 1
            report(done)
    return digest.hexdigest()


def _open_cache(where: Path, fingerprint: str, row: int, num_classes: int,
                progress: Progress | None) -> tuple[StreamedSplit, SkippedFiles | None] | None:
    """The cache in ``where`` if it was made from ``fingerprint`` and its images read back to their
    checksum; ``None`` (and the reason logged) otherwise."""
    try:
        manifest = json.loads((where / "manifest.json").read_text(encoding="utf-8"))
        count, labels, names = manifest["count"], manifest["labels"], manifest["files"]
        if manifest.get("version") != CACHE_VERSION or manifest.get("fingerprint") != fingerprint:
            log.info("rebuilding the image cache in %s: the folder changed", where)
            return None
        if not (isinstance(count, int) and count >= 0 and len(labels) == count and len(names) == count
                and all(isinstance(x, int) and 0 <= x < num_classes for x in labels)):
            raise ValueError("manifest does not describe the images")
        with open(where / "images.u8", "rb") as handle:
            if os.fstat(handle.fileno()).st_size != count * row:
                raise ValueError("images file has the wrong size")
            if _checksum(handle, count * row, row, progress) != manifest["crc32"]:
                raise ValueError("images do not match their checksum")
            # Copy-on-write: a write to the tensor never reaches the file (an empty file cannot be mapped).
            images: np.ndarray = (np.memmap(handle, dtype=np.uint8, mode="c", shape=(count, row)) if count
                                  else np.empty((0, row), dtype=np.uint8))
        skipped = manifest["skipped"]
        skipped_files = (SkippedFiles(int(skipped["count"]), tuple((str(a), str(b)) for a, b in skipped["first"]))
                         if skipped else None)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # damaged: rebuilt, whatever is wrong with it
        log.warning("rebuilding the image cache in %s: %s", where, exc)
        return None
    shape = (count, *_image_shape(manifest))
    split = StreamedSplit(torch.from_numpy(images.reshape(shape)), torch.tensor(labels, dtype=torch.int64),
                          tuple(names), where)
    return split, skipped_files


def _image_shape(manifest: dict[str, Any]) -> tuple[int, int, int]:
    c, h, w = manifest["shape"]
    return int(c), int(h), int(w)


def _checksum(handle: Any, nbytes: int, row: int, progress: Progress | None) -> int:
    crc = 0
    block = bytearray(max(row, COPY_BYTES // row * row))
    view = memoryview(block)
    report = _Reporter(progress, "checking", nbytes // row)
    done = 0
    while done < nbytes:
        n = handle.readinto(view[: min(len(block), nbytes - done)])
        if not n:
            raise ValueError("images file ends early")
        crc = zlib.crc32(view[:n], crc)
        done += n
        report(done // row)
    return crc


def _build_cache(where: Path, fingerprint: str, root: Path, classes: Sequence[str],
                 files: Sequence[Sequence[Path]], *, size: tuple[int, int], channels: int, max_pixels: int,
                 every_class: bool, workers: int | None,
                 progress: Progress | None) -> tuple[StreamedSplit, SkippedFiles | None]:
    """Decode every file into ``where/images.u8`` (written under a temporary name, renamed when complete) and
    describe it in ``manifest.json``; the split read from it."""
    from .folder import SKIPPED_LISTED

    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot make the image cache folder {where} ({exc.strerror or exc}): set "
                           "CNNPLAYGROUND_CACHE to a folder you may write") from None
    _remove_abandoned(where)
    row = channels * size[0] * size[1]
    total = sum(len(f) for f in files)
    labels: list[int] = []
    names: list[str] = []
    skipped: list[tuple[str, str]] = []
    skipped_count = 0
    loaded = [0] * len(classes)
    first_reason = [""] * len(classes)
    crc = 0
    report = _Reporter(progress, "decoding", total)
    done = 0
    with tempfile.NamedTemporaryFile(dir=where, prefix="images.", suffix=".part", delete=False) as handle:
        part = Path(handle.name)  # a name of its own: two loads of one folder at once do not mix their rows
    try:
        with open(part, "r+b") as handle:
            _allocate(handle.fileno(), total * row)
        out = np.memmap(part, dtype=np.uint8, mode="r+", shape=(total, row))
        tasks = list(_chunks(files, root, row))
        decoded = contextlib.closing(_decoded(tasks, root, size, channels, max_pixels, workers))
        with decoded as results:
            for (paths, chunk_labels), (pixels, reasons) in zip(tasks, results, strict=True):
                good = [i for i, reason in enumerate(reasons) if not reason]
                rows = pixels.reshape(len(paths), row) if len(good) == len(paths) else pixels[good].reshape(-1, row)
                out[len(labels) : len(labels) + len(good)] = rows
                crc = zlib.crc32(np.ascontiguousarray(rows).data, crc)
                for i, reason in enumerate(reasons):
                    label = chunk_labels[i]
                    if reason:
                        skipped_count += 1
                        first_reason[label] = first_reason[label] or reason
                        skipped.append((paths[i], reason))  # at most MAX_IMAGES
                    else:
                        labels.append(label)
                        names.append(paths[i])
                        loaded[label] += 1
                done += len(paths)
                report(done)
        out.flush()
        del out
        for label, n in enumerate(loaded):
            if not n and files[label] and every_class:
                first = files[label][0]
                raise DatasetError(
                    f"class folder {first.parent} has no readable images ({len(files[label]):,} skipped: "
                    f"first {first.name} ({first_reason[label]})): replace the files or remove the folder")
        os.truncate(part, len(labels) * row)
        manifest = {
            "version": CACHE_VERSION, "fingerprint": fingerprint, "root": str(root), "count": len(labels),
            "shape": [channels, *size], "crc32": crc, "labels": labels, "files": names,
            # The first in file order, as read_splits names them (sorted by name, whichever class).
            "skipped": {"count": skipped_count, "first": sorted(skipped)[:SKIPPED_LISTED]} if skipped_count else None,
        }
        # The images first, then the manifest that names their checksum: a cache interrupted between
        # the two fails its check and is rebuilt.
        os.replace(part, where / "images.u8")
        _write_text(where / "manifest.json", json.dumps(manifest))
    except OSError as exc:
        raise DatasetError(f"cannot write the image cache in {where} ({exc.strerror or exc}): free disk space "
                           "or set CNNPLAYGROUND_CACHE to another folder") from None
    finally:
        with contextlib.suppress(OSError):
            part.unlink()
    shape = (len(labels), channels, *size)
    images: np.ndarray
    if labels:
        with open(where / "images.u8", "rb") as images_file:
            images = np.memmap(images_file, dtype=np.uint8, mode="c", shape=shape)
    else:  # every file of a validation or test split skipped: an empty file cannot be mapped
        images = np.empty(shape, dtype=np.uint8)
    split = StreamedSplit(torch.from_numpy(images), torch.tensor(labels, dtype=torch.int64), tuple(names), where)
    listed = tuple((a, b) for a, b in sorted(skipped)[:SKIPPED_LISTED])
    return split, SkippedFiles(skipped_count, listed) if skipped_count else None


def _allocate(fd: int, nbytes: int) -> None:
    """Give the file ``nbytes`` of disk now (``OSError`` when there is no room): a write through a memory map
    into a sparse file on a full disk is not an error but a SIGBUS that ends the process."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, nbytes)
    else:  # macOS, Windows: sparse, but the disk was checked for room just before
        os.ftruncate(fd, nbytes)


def _remove_abandoned(where: Path) -> None:
    """Remove the partial files of builds that ended without cleaning up (a killed process): those untouched
    for :data:`ABANDONED_AFTER` seconds (a build in progress writes to its own all the time)."""
    now = time.time()
    for part in where.glob("*.part"):
        with contextlib.suppress(OSError):
            if now - part.stat().st_mtime > ABANDONED_AFTER:
                part.unlink()


def _write_text(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name, suffix=".part", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(text)
    os.replace(handle.name, path)


def _check_disk(folder: Path, needed: int, refused: DatasetMemoryError | None) -> None:
    """Refuse (:class:`DatasetMemoryError`) when the disk under ``folder`` has less than ``needed`` bytes free."""
    from .folder import _gb

    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # the write itself says what is wrong
    if free >= needed:
        return
    where = f"its cache needs {_gb(needed)} of disk in {folder}, where {_gb(free)} is free"
    if refused is None:
        raise DatasetMemoryError(f"copying images for a split: {where}: free disk space or set "
                                 "CNNPLAYGROUND_CACHE to a larger disk", needed, free)
    raise DatasetMemoryError(f"{str(refused).split(': choose', 1)[0]}, and streaming it from disk fails: {where}: "
                             "free disk space, set CNNPLAYGROUND_CACHE to a larger disk, or choose a smaller image "
                             "size or fewer images", refused.needed, refused.available)


# --- decoding ----------------------------------------------------------------------------------------

Task = tuple[list[str], list[int], str, tuple[int, int], int, int]


def _chunks(files: Sequence[Sequence[Path]], root: Path, row: int) -> Iterator[tuple[list[str], list[int]]]:
    """``(relative paths, labels)`` of up to :data:`CHUNK_BYTES` of decoded images each, in order."""
    step = max(1, min(512, CHUNK_BYTES // row))
    flat = [(_relative(p, root), label) for label, paths in enumerate(files) for p in paths]
    for start in range(0, len(flat), step):
        part = flat[start : start + step]
        yield [p for p, _ in part], [label for _, label in part]


def _decoded(tasks: list[tuple[list[str], list[int]]], root: Path, size: tuple[int, int], channels: int,
             max_pixels: int,
             workers: int | None) -> Generator[tuple[np.ndarray, list[str]], None, None]:
    """Each task decoded (:func:`decode_chunk`), in order: in worker processes, or in this one for ``workers``
    of 0 or 1, a single core or a single task."""
    jobs = [(paths, labels, str(root), size, channels, max_pixels) for paths, labels in tasks]
    few = workers is None and sum(len(paths) for paths, _ in tasks) < MIN_POOL_FILES
    count = 0 if few else worker_count(workers, len(jobs))
    done = 0
    if count > 1:
        pool = ProcessPoolExecutor(count, mp_context=_context())
        try:
            # At most IN_FLIGHT tasks per worker are queued or held: the decoded images waiting to be
            # written stay a few chunks, even when one slow file holds up the order.
            pending: deque[Future[tuple[np.ndarray, list[str]]]] = deque(
                pool.submit(decode_chunk, job) for job in jobs[: IN_FLIGHT * count])
            while pending:
                result = pending.popleft().result()
                if done + len(pending) + 1 < len(jobs):
                    pending.append(pool.submit(decode_chunk, jobs[done + len(pending) + 1]))
                done += 1
                yield result
        except BrokenProcessPool:
            # A worker ended without a word: it could not start (a script without an ``if __name__ ==
            # "__main__":`` guard runs again in each worker) or its decoder crashed. The rest is decoded
            # here, as the in-memory path decodes every image.
            log.warning("image decoding workers failed; decoding the remaining %d chunks in this process",
                        len(jobs) - done)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
    yield from map(decode_chunk, jobs[done:])


def worker_count(workers: int | None, tasks: int) -> int:
    """Decoding processes for ``tasks`` tasks: ``workers``, or one per core (at most :data:`MAX_WORKERS`)."""
    if workers is None:
        try:
            workers = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            workers = os.cpu_count() or 1
        workers = min(workers, MAX_WORKERS)
    return max(0, min(workers, tasks))


def _context() -> Any:
    """Worker processes that do not inherit this one's threads (the window's, torch's): a fork server, which
    imports the decoder once and forks each worker from a single-threaded process; spawn where there is none."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # Only effective before the server starts; replaces its default, re-running the main script.
    context.set_forkserver_preload([__name__, "cnnplayground.data.folder", "PIL.Image", "PIL.ImageOps"])
    return context


def decode_chunk(task: Task) -> tuple[np.ndarray, list[str]]:
    """``((n, C, height, width) uint8, reasons)`` for the task's files; ``reasons[i]`` is ``""`` for a decoded file
    (its row is then the image) and says why a skipped one was skipped. Runs in a worker process."""
    from .folder import read_image

    paths, _labels, root, size, channels, max_pixels = task
    out = np.zeros((len(paths), channels, *size), dtype=np.uint8)
    reasons = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL warns about what it handles anyway (see folder.py)
        for i, name in enumerate(paths):
            pixels, reason = read_image(Path(root) / name, size=size, channels=channels, max_pixels=max_pixels)
            if pixels is not None:
                out[i] = pixels
            reasons.append(reason or ("" if pixels is not None else "not readable"))
    return out, reasons


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


class _Reporter:
    """Calls ``progress`` with a stage's progress: at its start, at most every :data:`PROGRESS_INTERVAL` s,
    and when ``done`` reaches ``total``."""

    def __init__(self, progress: Progress | None, stage: str, total: int) -> None:
        self.progress, self.stage, self.total = progress, stage, total
        self.last = -1.0
        if progress is not None:
            progress(LoadProgress(stage, 0, total))
            self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if done >= self.total or now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self.progress(LoadProgress(self.stage, done, self.total))
