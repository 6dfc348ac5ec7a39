"""Fuzz the image-folder loader for minutes: mutated PNG, JPEG, GIF, TIFF and BMP files, one per case.

Runs the cases of ``tests/data/test_folder_fuzz.py`` (``tests/image_fuzzing.py``: a small valid image
changed by 1 to 4 blind or format-aware operations, loaded from a folder with one good image per
class) from a seeded random generator until the time is up, and records how many cases it tried,
how many files loaded and how many were skipped (by reason and by format), the largest image any
case decoded, and the slowest case and the largest growth of peak memory. A case that breaks the
promise (anything raised, a wrong count, an image over the pixel budget) is recorded with the bytes
that made it (hex) and the run goes on; the exit status is 1 if there was one.

Run: ``python benchmarks/fuzz_images.py --minutes 3 --out fuzz_images.json`` (``--seconds`` for a
smoke run; ``--seed`` picks another sequence of cases).
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import random
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from image_fuzzing import SEEDS, mutate, peak_memory, run_case  # noqa: E402

from cnnplayground.data.folder import MAX_IMAGE_PIXELS  # noqa: E402

#: Pixel budget of the cases (as in the test: an image within it takes 12 MB at most).
BUDGET = 2**20
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".gif": "GIF", ".tif": "TIFF", ".bmp": "BMP"}


def reason_kind(reason: str) -> str:
    """A short class of a skip reason, for counting (the text without file-specific details)."""
    if "megapixels" in reason:
        return "over the pixel budget"
    head = reason.split(":")[0] if reason[:1].isupper() and ":" in reason[:30] else reason
    for marker in (" (", " <", " '", " b'", "; "):
        head = head.split(marker)[0]
    return head[:60]


def fuzz(seconds: float, seed: int, workdir: Path) -> dict:
    rng = random.Random(seed)
    counts = {"cases": 0, "loaded": 0, "skipped": 0, "broken_promises": 0}
    by_format = {name: collections.Counter() for name in FORMATS.values()}
    reasons: collections.Counter[str] = collections.Counter()
    slowest = {"seconds": 0.0}
    most_memory = {"grown_bytes": 0}
    largest = 0
    failures: list[dict] = []
    start = time.perf_counter()
    rss_start = peak_memory()
    while time.perf_counter() - start < seconds:
        i = counts["cases"]
        counts["cases"] += 1
        s, o = rng.randrange(len(SEEDS)), rng.randrange(len(SEEDS))
        ops = [(rng.randrange(10), rng.randrange(2**16), rng.randrange(2**32)) for _ in range(rng.randint(1, 4))]
        ext, data = SEEDS[s]
        mutated = mutate(data, ops, SEEDS[o][1])
        root = workdir / f"case{i}"
        try:
            case = run_case(root, "x" + ext, mutated, max_pixels=BUDGET)
            assert case.largest <= BUDGET, f"decoded {case.largest:,} pixels"
        except BaseException as exc:  # noqa: BLE001 - a broken promise is what this looks for
            if isinstance(exc, KeyboardInterrupt):
                raise
            counts["broken_promises"] += 1
            if len(failures) < 20:
                failures.append({"case": i, "seed": s, "other": o, "ops": ops, "bytes_hex": mutated.hex(),
                                 "error": "".join(traceback.format_exception_only(exc)).strip()})
            continue
        finally:
            shutil.rmtree(root, ignore_errors=True)
        fmt = FORMATS[ext]
        if case.loaded:
            counts["loaded"] += 1
            by_format[fmt]["loaded"] += 1
        else:
            counts["skipped"] += 1
            by_format[fmt]["skipped"] += 1
            reasons[reason_kind(case.reason)] += 1
        largest = max(largest, case.largest)
        if case.seconds > slowest["seconds"]:
            slowest = {"seconds": round(case.seconds, 4), "case": i, "format": fmt, "loaded": case.loaded}
        if case.grown > most_memory["grown_bytes"]:
            most_memory = {"grown_bytes": case.grown, "case": i, "format": fmt}
    elapsed = time.perf_counter() - start
    return {
        "benchmark": "fuzz_images",
        "seconds": round(elapsed, 1),
        "seed": seed,
        "cases_per_second": round(counts["cases"] / max(elapsed, 1e-9), 1),
        **counts,
        "by_format": {k: dict(v) for k, v in by_format.items()},
        "skip_reasons": dict(reasons.most_common(25)),
        "pixel_budget": BUDGET,
        "app_pixel_budget": MAX_IMAGE_PIXELS,
        "largest_decoded_pixels": largest,
        "slowest_case": slowest,
        "largest_peak_memory_growth": most_memory,
        "peak_memory_growth_whole_run_bytes": peak_memory() - rss_start,
        "failures": failures,
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long to fuzz (default 3)")
    parser.add_argument("--seconds", type=float, help="how long to fuzz, in seconds (overrides --minutes)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random cases (default 0)")
    parser.add_argument("--out", type=Path, default=Path("fuzz_images.json"), help="where to write the JSON")
    args = parser.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    warnings.simplefilter("ignore")  # Pillow's warnings about odd files are expected here
    with tempfile.TemporaryDirectory(prefix="fuzz_images_") as tmp:
        result = fuzz(seconds, args.seed, Path(tmp))
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['cases']:,} cases in {result['seconds']} s: {result['loaded']:,} loaded, "
          f"{result['skipped']:,} skipped, {result['broken_promises']} broken promises; slowest case "
          f"{result['slowest_case']['seconds']} s, peak memory grew by at most "
          f"{result['largest_peak_memory_growth']['grown_bytes'] / 2**20:.1f} MB in one case; wrote {args.out}")
    return 1 if result["broken_promises"] else 0


if __name__ == "__main__":
    sys.exit(main())
