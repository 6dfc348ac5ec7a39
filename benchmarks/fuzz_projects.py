"""Fuzz the project reader for minutes: mutated ``.cnnp`` and JSON projects, counted.

Seeds are good project files (a ``.cnnp`` with weights, BatchNorm counters and run
history; the same without weights; the plain JSON). Each case mutates one seed:
byte flips, overwritten bytes and ZIP/safetensors integer fields, truncations,
inserted, deleted and duplicated chunks of the whole file; or, for archives, the
same mutations applied to one entry (``project.json`` or ``weights.safetensors``),
entries dropped, duplicated or added, megabytes of zeros after the weights (a
small zip bomb), and the archive written again so that every CRC-32 is valid and
only the reader's own checks can notice. The property:
every case loads into a valid project or raises a one-line ``ProjectError``,
within a time and memory bound per case (``time.monotonic`` and the
``tracemalloc`` peak). ``tests/io/test_project_reader_fuzz.py`` runs the same
mutations under hypothesis; this script runs them for as long as asked.

Usage::

    python benchmarks/fuzz_projects.py --minutes 3 --out fuzz.json   # writes the counts as JSON

The JSON has the cases tried, refused and loaded, crashes (any other exception:
the case's bytes are saved beside the JSON), cases over the time or memory bound,
the maximum time and memory of one case, counts per mutation and the most common
refusals. Exit code 1 when a case crashed or broke a bound.
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import platform
import random
import re
import sys
import time
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnplayground.core.builder import build  # noqa: E402
from cnnplayground.core.graph import Graph  # noqa: E402
from cnnplayground.io.project import (  # noqa: E402
    ProjectError,
    check_weights,
    project_from_bytes,
    project_to_json,
    weights_from_module,
)
from cnnplayground.project import Project, RunHistory, Series  # noqa: E402

#: ``choose(lo, hi)``: a whole number in ``lo..hi`` (both included): ``random.Random.randint`` or a
#: hypothesis draw, so the same mutations serve this script and the property test.
Choose = Callable[[int, int], int]

#: Per-case bounds: a slower case is taken for a hang, a larger peak for an allocation a file only declared.
CASE_SECONDS = 2.0
CASE_PYTHON_BYTES = 16 * 2**20

_INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 2**31, 2**32, 2**40, 2**63, 2**64 - 1]
_TOKENS = [b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07", b"{", b"}", b"[", b"]",
           b'"', b",", b":", b"null", b"1e999", b"-0", b"\xff\xfe", b"\x00", b'"shape"', b'"F32"', b'"dtype"',
           b'"data_offsets"', b"99999999999999999999", b'"Conv2d"', b'"Input"', b'"schema_version"']


# --- seeds ---------------------------------------------------------------------------------


def seed_graph() -> Graph:
    """Input 1×8×8 → Conv2d 4 k3 → BatchNorm → ReLU → MaxPool → Flatten → Linear 10."""
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 8, "width": 8}, id="inp")
    g.add_node("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}, id="conv1")
    g.add_node("BatchNorm2d", id="bn1")
    g.add_node("ReLU", id="relu1")
    g.add_node("MaxPool2d", id="pool1")
    g.add_node("Flatten", id="flat")
    g.add_node("Linear", {"out_features": 10}, id="fc1")
    g.chain("inp", "conv1", "bn1", "relu1", "pool1", "flat", "fc1")
    return g


def _zip(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def seeds() -> dict[str, bytes]:
    """Good project files: ``.cnnp`` with and without weights, and plain JSON."""
    import torch

    torch.manual_seed(0)
    graph = seed_graph()
    project = Project.new(graph, name="fuzz seed")
    project.history = [RunHistory(name="run 1", settings={"lr": 0.01},
                                  series={"loss": Series(x=[0, 1, 2], y=[2.3, None, 0.7])})]
    project.weights = weights_from_module(build(graph))
    import safetensors.torch

    text = project_to_json(project).encode()
    weights = safetensors.torch.save(project.weights, metadata={"format": "pt"})
    return {
        "cnnp+weights": _zip([("project.json", text), ("weights.safetensors", weights)]),
        "cnnp": _zip([("project.json", text)]),
        "json": text,
    }


# --- mutations -----------------------------------------------------------------------------

BYTE_MUTATIONS = ("flip", "overwrite", "integer", "token", "truncate", "insert", "delete", "duplicate")
ENTRY_MUTATIONS = ("entry bytes", "drop entry", "duplicate entry", "add entry", "stored", "weights bomb")


def mutate_bytes(data: bytes, choose: Choose) -> tuple[bytes, list[str]]:
    """1–4 byte-level mutations of ``data``; returns the result and the mutations' names."""
    buf = bytearray(data)
    done = []
    for _ in range(choose(1, 4)):
        op = BYTE_MUTATIONS[choose(0, len(BYTE_MUTATIONS) - 1)]
        done.append(op)
        n = len(buf)
        at = choose(0, n) if n else 0
        if op == "flip" and n:
            at = min(at, n - 1)
            buf[at] ^= choose(1, 255)
        elif op == "overwrite" and n:
            at = min(at, n - 1)
            buf[at] = _INTERESTING[choose(0, 4)]
        elif op == "integer":
            width = (1, 2, 4, 8)[choose(0, 3)]
            value = _INTERESTING[choose(0, len(_INTERESTING) - 1)] % 2 ** (8 * width)
            buf[at:at + width] = value.to_bytes(width, "little")
        elif op == "token":
            token = _TOKENS[choose(0, len(_TOKENS) - 1)]
            if choose(0, 1):
                buf[at:at] = token
            else:
                buf[at:at + len(token)] = token
        elif op == "truncate":
            del buf[at:]
        elif op == "insert":
            length = (1, 8, 64, 4096)[choose(0, 3)]
            if choose(0, 1) and n:  # a chunk of the file itself, elsewhere
                start = choose(0, n - 1)
                chunk = bytes(buf[start:start + length])
            else:
                chunk = bytes(choose(0, 255) for _ in range(min(length, 64))) * max(1, length // 64)
            buf[at:at] = chunk
        elif op == "delete":
            del buf[at:at + (1, 4, 64, 1024)[choose(0, 3)]]
        elif op == "duplicate" and n:
            length = (1, 16, 256, 4096)[choose(0, 3)]
            buf[at:at] = buf[at:at + length]
    return bytes(buf), done


def mutate_archive(data: bytes, choose: Choose) -> tuple[bytes, list[str]]:
    """An entry-level mutation of a ``.cnnp``, written again with valid CRCs."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = [(info.filename, zf.read(info)) for info in zf.infolist()]
    op = ENTRY_MUTATIONS[choose(0, len(ENTRY_MUTATIONS) - 1)]
    done = [op]
    i = choose(0, len(entries) - 1)
    name, content = entries[i]
    compression = zipfile.ZIP_DEFLATED
    if op == "entry bytes":
        content, ops = mutate_bytes(content, choose)
        entries[i] = (name, content)
        done = [f"{name}: {o}" for o in ops]
    elif op == "drop entry":
        del entries[i]
    elif op == "duplicate entry":
        entries.append((name, content))
    elif op == "add entry":
        extra = ("weights.safetensors", "project.json", "notes.txt", "../evil", "folder/")[choose(0, 4)]
        entries.insert(choose(0, len(entries)), (extra, content[: choose(0, len(content))]))
    elif op == "weights bomb":  # 1–32 MB of zeros after the weights (they deflate to 1–32 KB)
        zeros = bytes(choose(1, 32) * 2**20)
        at = next((j for j, (n, _) in enumerate(entries) if n == "weights.safetensors"), None)
        if at is None:
            entries.append(("weights.safetensors", zeros))
        else:
            entries[at] = ("weights.safetensors", entries[at][1] + zeros)
    elif op == "stored":
        compression = zipfile.ZIP_STORED
        content, ops = mutate_bytes(content, choose)
        entries[i] = (name, content)
        done = [f"{name} (stored): {o}" for o in ops]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names, which are the point here
        return _zip(entries, compression), done


def mutate(seed: bytes, choose: Choose) -> tuple[bytes, list[str]]:
    """One case from ``seed``: entry-level for archives half the time, else byte-level on the whole file."""
    if seed[:2] == b"PK" and choose(0, 1):
        data, done = mutate_archive(seed, choose)
        if choose(0, 3) == 0:  # and sometimes the whole file as well
            data, more = mutate_bytes(data, choose)
            done += more
        return data, done
    return mutate_bytes(seed, choose)


# --- the property --------------------------------------------------------------------------


def read_case(data: bytes) -> tuple[str, str]:
    """``("loaded", "")`` for a valid project, ``("refused", message)`` for a one-line ProjectError.

    Anything else raises: another exception, an empty or multi-line message, a
    loaded project that does not round-trip or whose weights do not fit.
    """
    try:
        project = project_from_bytes(data)
    except ProjectError as exc:
        message = str(exc)
        if not message.strip() or "\n" in message or "\r" in message:
            raise AssertionError(f"not a one-line message: {message!r}") from exc
        return "refused", message
    d = project.graph.to_dict()
    if Graph.from_dict(d).to_dict() != d:
        raise AssertionError("the graph does not round-trip")
    again = project_from_bytes(project_to_json(project).encode())
    if again.graph.to_dict() != d or again.history != project.history:
        raise AssertionError("the project does not save and load again")
    if project.weights is not None:
        check_weights(project.graph, project.weights)
        build(project.graph).load_state_dict(project.weights)
    return "loaded", ""


def measured(data: bytes) -> tuple[str, str, float, int]:
    """:func:`read_case` with its time (s) and ``tracemalloc`` peak (bytes)."""
    tracemalloc.start()
    start = time.monotonic()
    try:
        outcome, message = read_case(data)
        seconds = time.monotonic() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return outcome, message, seconds, peak


def _kind(message: str) -> str:
    """A refusal without its numbers and quoted names, to count refusals by kind."""
    message = re.sub(r"'[^']*'|\"[^\"]*\"", "…", message)
    return re.sub(r"\d[\d,.×]*", "N", message)[:90]


def fuzz(minutes: float, seed: int, out: Path) -> dict:
    rng = random.Random(seed)
    good = seeds()
    names = sorted(good)
    counts: collections.Counter[str] = collections.Counter()
    per_seed: collections.Counter[str] = collections.Counter()
    per_mutation: collections.Counter[str] = collections.Counter()
    refusals: collections.Counter[str] = collections.Counter()
    slowest = largest = 0.0
    crashes: list[dict] = []
    over: list[dict] = []
    end = time.monotonic() + minutes * 60
    while time.monotonic() < end:
        name = names[rng.randint(0, len(names) - 1)]
        data, done = mutate(good[name], rng.randint)
        counts["cases"] += 1
        per_seed[name] += 1
        for op in done:
            per_mutation[op if ": " in op or op in ENTRY_MUTATIONS else f"file: {op}"] += 1
        try:
            outcome, message, seconds, peak = measured(data)
        except Exception as exc:  # noqa: BLE001 - the finding
            path = out.with_name(f"{out.stem}-crash-{len(crashes)}.bin")
            path.write_bytes(data)
            crashes.append({"seed": name, "mutations": done, "error": f"{type(exc).__name__}: {exc}"[:300],
                            "file": str(path)})
            counts["crashed"] += 1
            continue
        counts[outcome] += 1
        if outcome == "refused":
            refusals[_kind(message)] += 1
        slowest, largest = max(slowest, seconds), max(largest, peak)
        if seconds > CASE_SECONDS or peak > CASE_PYTHON_BYTES:
            over.append({"seed": name, "mutations": done, "seconds": round(seconds, 3), "peak_mb": peak / 2**20})
    return {
        "minutes": minutes,
        "seed": seed,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cases": counts["cases"],
        "refused": counts["refused"],
        "loaded": counts["loaded"],
        "crashed": counts["crashed"],
        "over_bounds": len(over),
        "bounds": {"seconds": CASE_SECONDS, "python_mb": CASE_PYTHON_BYTES / 2**20},
        "max_case_seconds": round(slowest, 4),
        "max_case_python_mb": round(largest / 2**20, 2),
        "per_seed": dict(per_seed),
        "per_mutation": dict(per_mutation.most_common()),
        "top_refusals": dict(refusals.most_common(25)),
        "crashes": crashes[:20],
        "over": over[:20],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long to fuzz (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (the same seed tries the same cases)")
    parser.add_argument("--out", type=Path, default=Path("fuzz_projects.json"), help="where to write the JSON")
    args = parser.parse_args(argv)
    result = fuzz(args.minutes, args.seed, args.out)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{result['cases']} cases in {args.minutes:g} min: {result['refused']} refused, {result['loaded']} loaded, "
          f"{result['crashed']} crashed, {result['over_bounds']} over the bounds; slowest case "
          f"{result['max_case_seconds']:.3f} s, largest {result['max_case_python_mb']:.1f} MB (Python) -> {args.out}")
    return 1 if result["crashed"] or result["over_bounds"] else 0


if __name__ == "__main__":
    sys.exit(main())
