"""Image folders in memory against streamed from disk: images per second of each way in.

A folder of ``--images`` small JPEGs (``--size``², colour, 10 classes) is written to a temporary
directory first (not timed). Then, in ``--rounds`` interleaved rounds, each case once per round:

- **in memory, load**: ``load_folder`` with memory to spare: every image decoded in this process;
- **streamed, first pass**: ``load_folder`` with a tiny memory budget and an empty cache: the files
  are listed and fingerprinted, decoded in ``--workers`` processes and written to the cache file (the
  worker processes' fork server starts in the first round only, as in a session of the app); and the
  same decoded in this process (``workers=0``), which isolates the cost of the cache;
- **streamed, later load**: the same with the cache in place: list, fingerprint, read the cache back
  to its checksum (the file is in the page cache here: a folder larger than memory reads from the disk);
- **epoch, in memory / memmap**: one shuffled pass of the trainer's ``DeviceLoader`` (batch 256, CPU:
  gather the batch, convert and normalize) over the in-memory split and over the memory-mapped one.

Medians of the rounds. Run: ``python benchmarks/bench_folder_stream.py [--images 20000] [--rounds 3]``
(``--json``: one ``RESULT {...}`` line for ``benchmarks/run_all.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cnnplayground.data.folder import load_folder  # noqa: E402
from cnnplayground.data.loader import DeviceLoader  # noqa: E402
from cnnplayground.data.stream import MIN_POOL_FILES, StreamedSplit, worker_count  # noqa: E402

CLASSES = 10
PLENTY = 2**40
TINY = 1


def write_folder(root: Path, count: int, size: int, seed: int = 0) -> None:
    """``count`` JPEGs of ``size``² in ``CLASSES`` class folders: noise on a class colour (quality 90)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(CLASSES):
        (root / f"class{c}").mkdir(parents=True)
    for i in range(count):
        c = i % CLASSES
        pixels = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
        pixels[..., c % 3] += np.uint8(60 + 12 * c)
        Image.fromarray(pixels).save(root / f"class{c}" / f"{i:06}.jpg", quality=90)


def epoch_seconds(split, batch: int) -> float:
    loader = DeviceLoader(split, mean=(0.5,) * 3, std=(0.25,) * 3, batch_size=batch, shuffle=True, seed=0)
    t = time.perf_counter()
    for x, _y in loader:
        x.sum()  # touch the batch
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="decoding processes (default: one per core)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # the epoch figures are one core's, as a training run's data side would be
    tmp = Path(tempfile.mkdtemp(prefix="bench-folder-"))
    try:
        root, cache = tmp / "images", tmp / "cache"
        t = time.perf_counter()
        write_folder(root, args.images, args.size)
        written = time.perf_counter() - t
        few = args.workers is None and args.images < MIN_POOL_FILES  # decoded in this process then
        workers = 0 if few else worker_count(args.workers, args.images)
        times: dict[str, list[float]] = {k: [] for k in ("memory_load", "stream_first", "stream_first_here",
                                                          "stream_later", "epoch_memory", "epoch_memmap")}
        count = 0
        for _ in range(args.rounds):
            t = time.perf_counter()
            in_memory = load_folder(root, size=args.size, available_memory=PLENTY)
            times["memory_load"].append(time.perf_counter() - t)
            shutil.rmtree(cache, ignore_errors=True)
            t = time.perf_counter()
            first = load_folder(root, size=args.size, available_memory=TINY, cache_dir=cache, workers=args.workers)
            times["stream_first"].append(time.perf_counter() - t)
            del first
            shutil.rmtree(cache, ignore_errors=True)
            t = time.perf_counter()
            load_folder(root, size=args.size, available_memory=TINY, cache_dir=cache, workers=0)
            times["stream_first_here"].append(time.perf_counter() - t)
            t = time.perf_counter()
            later = load_folder(root, size=args.size, available_memory=TINY, cache_dir=cache, workers=args.workers)
            times["stream_later"].append(time.perf_counter() - t)
            assert isinstance(later.split, StreamedSplit) and torch.equal(later.split.images, in_memory.split.images)
            count = len(later.split)
            times["epoch_memory"].append(epoch_seconds(in_memory.split, args.batch_size))
            times["epoch_memmap"].append(epoch_seconds(later.split, args.batch_size))
            del in_memory, later
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ips = {k: count / statistics.median(v) for k, v in times.items()}
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{count:,} JPEGs of {args.size}×{args.size} (written in {written:.1f} s, not timed), median of "
          f"{args.rounds} rounds, {os.cpu_count()} cores, load {load:.1f}, {workers} decoding workers")
    labels = {"memory_load": "in memory, load (decode here)",
              "stream_first": f"streamed, first pass (decode in {workers} workers + write cache)",
              "stream_first_here": "streamed, first pass (decode here + write cache)",
              "stream_later": "streamed, later load (scan + checksum of the cache)",
              "epoch_memory": "epoch from memory (DeviceLoader, CPU)",
              "epoch_memmap": "epoch from the memmap (DeviceLoader, CPU)"}
    for key, text in labels.items():
        rounds = ", ".join(f"{s:.2f}" for s in times[key])
        print(f"  {text:62s} {ips[key]:>10,.0f} images/s   (median {statistics.median(times[key]):.2f} s of "
              f"{rounds})")
    if args.json:
        print("RESULT " + json.dumps({"bench": "folder_stream", "images": count, "size": args.size,
                                      "rounds": args.rounds, "workers": workers, "load": load,
                                      "ips": ips, "seconds": {k: statistics.median(v) for k, v in times.items()}}))
    return 0


if __name__ == "__main__":  # the decoding workers import this file again: nothing may run then
    raise SystemExit(main())
