"""Fault injection: damaged and hostile files of every kind the app reads, and saves that fail.

Readers: ``.cnnp`` archives and plain JSON projects (:func:`load_project`), the
weights inside an archive, standalone safetensors imports
(:func:`import_safetensors`), torchvision ``.pth`` imports
(:func:`import_torchvision`) and training checkpoints (``Trainer(resume_from=...)``,
:func:`load_checkpoint`). Each gets truncations at many offsets, random bit
flips, hypothesis-generated content, and files of the wrong kind (empty, PNG, a
folder, a named pipe, a sparse file over the size limit, the other readers'
files). The property is always the same: the file loads into a valid object, or
the reader's own error type comes out with a non-empty one-line message; never
another exception, never a hang, never a large allocation for a file that only
*declares* something large.

Writers: saving over a good project while the disk fills up, permission is
denied, serialization fails or the process is killed (``SIGKILL`` from outside,
in a subprocess) must leave the previous file byte-identical and loadable, and
at most a temporary file that :func:`cleanup_stale_temporaries` recognizes.

The numbers of cases are listed in ``docs/RELIABILITY.md``.
"""

from __future__ import annotations

import copy
import errno
import functools
import io
import json
import os
import pickle
import random
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import safetensors.torch
import torch
from helpers import synthetic_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.data.base import ImageData
from cnnplayground.io import atomic, weights_import
from cnnplayground.io.atomic import AtomicWriteError, cleanup_stale_temporaries
from cnnplayground.io.project import (
    ProjectError,
    check_weights,
    load_project,
    project_from_bytes,
    project_to_json,
    save_project,
    weights_from_module,
)
from cnnplayground.io.weights_import import WeightsImportError, import_safetensors, import_torchvision
from cnnplayground.project import Project, RunHistory, Series, TrainingConfig
from cnnplayground.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cnnplayground.train.events import Failed, Finished, RunStarted
from cnnplayground.train.trainer import Trainer, TrainingSetupError

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]

REPO = Path(__file__).resolve().parents[2]
POSIX = os.name == "posix"
#: Generous per-case bound: a case that takes longer is treated as a hang (they take milliseconds).
CASE_SECONDS = 10.0

_SETTINGS: dict[str, Any] = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}

# --- the good files ------------------------------------------------------------------------


def small_graph() -> Graph:
    """Input 1×8×8 → Conv2d 4 k3 → BatchNorm → ReLU → Flatten → Linear 10 (float and int64 state)."""
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 8, "width": 8}, id="inp")
    g.add_node("Conv2d", {"out_channels": 4, "kernel_size": 3}, id="conv1")
    g.add_node("BatchNorm2d", id="bn1")
    g.add_node("ReLU", id="relu1")
    g.add_node("Flatten", id="flat")
    g.add_node("Linear", {"out_features": 10}, id="fc1")
    g.chain("inp", "conv1", "bn1", "relu1", "flat", "fc1")
    return g


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _synthetic_data() -> ImageData:
    return synthetic_data(64, 32, size=8)


def _resume_config() -> TrainingConfig:
    return TrainingConfig(epochs=2, batch_size=32, device="cpu", checkpoint_every=0, mixed_precision=False)


def _checkpoint_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build(small_graph())


@functools.cache
def good() -> SimpleNamespace:
    """Bytes of a good file of every kind, made once."""
    torch.manual_seed(0)
    graph = small_graph()
    project = Project.new(graph, name="good")
    project.history = [RunHistory(name="run 1", settings={"lr": 0.01},
                                  series={"loss": Series(x=[0, 1, 2], y=[2.3, None, 0.7])})]
    project.weights = weights_from_module(build(graph))
    weights = safetensors.torch.save(project.weights, metadata={"format": "pt"})
    torchvision_like = {k.removeprefix("layers."): v for k, v in project.weights.items()}
    pth = io.BytesIO()
    torch.save(torchvision_like, pth)
    data = _synthetic_data()
    with tempfile.TemporaryDirectory() as folder:
        save_project(project, Path(folder) / "good.cnnp")
        cnnp = (Path(folder) / "good.cnnp").read_bytes()
        config = TrainingConfig(epochs=1, batch_size=32, device="cpu", checkpoint_every=1, mixed_precision=False)
        list(Trainer(_checkpoint_model(), data, config, checkpoint_dir=Path(folder)).run())
        checkpoint = (Path(folder) / "last.ckpt").read_bytes()
    header_len = struct.unpack("<Q", weights[:8])[0]
    return SimpleNamespace(
        project=project,
        cnnp=cnnp,
        json=project_to_json(project).encode(),
        weights=weights,
        weights_header=json.loads(weights[8:8 + header_len]),
        weights_body=weights[8 + header_len:],
        pth=pth.getvalue(),
        torchvision_shapes={k: tuple(v.shape) for k, v in torchvision_like.items()},
        checkpoint=checkpoint,
        data=data,
    )


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder for hypothesis tests (module-scoped: hypothesis runs many examples per test call)."""
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def tiny_torchvision():
    """Make ``import_torchvision(graph, "tiny", path)`` expect the small graph's weights under
    torchvision-style keys (``conv1.weight``...), so a .pth of a few KB exercises the whole import."""
    patch = pytest.MonkeyPatch()
    real = weights_import._torchvision_shapes
    patch.setattr(weights_import, "_torchvision_shapes",
                  lambda name: dict(good().torchvision_shapes) if name == "tiny" else real(name))
    yield
    patch.undo()


# --- the property --------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message.strip(), f"{type(exc).__name__} with an empty message"
    assert "\n" not in message and "\r" not in message, message
    return message


@contextmanager
def _timed(limit: float = CASE_SECONDS) -> Iterator[None]:
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < limit, f"took {elapsed:.1f} s"


def _valid_project(project: Project) -> None:
    """What loads is usable: the graph round-trips, the project saves again, its weights run."""
    d = project.graph.to_dict()
    assert Graph.from_dict(d).to_dict() == d
    again = project_from_bytes(project_to_json(project).encode())
    assert again.graph.to_dict() == d and again.history == project.history
    if project.weights is not None:
        check_weights(project.graph, project.weights)
        module = build(project.graph)
        module.load_state_dict(project.weights)
        if project.graph.to_dict() == small_graph().to_dict():
            module.eval()(torch.zeros(1, 1, 8, 8))


def check_project_bytes(data: bytes) -> Project | None:
    """``data`` as a project: a valid one, or ``None`` after a one-line :class:`ProjectError`."""
    with _timed():
        try:
            project = project_from_bytes(data)
        except ProjectError as exc:
            _one_line(exc)
            return None
    _valid_project(project)
    return project


def check_project_file(path: Path) -> Project | None:
    with _timed():
        try:
            project = load_project(path)
        except ProjectError as exc:
            _one_line(exc)
            return None
    _valid_project(project)
    return project


def check_safetensors_import(path: Path) -> dict[str, torch.Tensor] | None:
    with _timed():
        try:
            weights = import_safetensors(small_graph(), path)
        except WeightsImportError as exc:
            _one_line(exc)
            return None
    reference = build(small_graph()).state_dict()
    assert list(weights) == list(reference)
    assert all(weights[k].dtype == v.dtype and weights[k].shape == v.shape for k, v in reference.items())
    build(small_graph()).load_state_dict(weights)
    return weights


def check_torchvision_import(path: Path) -> object | None:
    with _timed():
        try:
            transfer = import_torchvision(small_graph(), "tiny", path)
        except WeightsImportError as exc:
            _one_line(exc)
            return None
    transfer.load_into(build(small_graph()))
    _one_line(transfer.summary())
    return transfer


def check_resume(path: Path) -> str:
    """Resume a run from ``path``: refused at once, failed as the run starts, or trained to the end.

    Returns ``"refused"``, ``"failed"`` or ``"finished"``.
    """
    with _timed():
        try:
            trainer = Trainer(_checkpoint_model(), good().data, _resume_config(), resume_from=path)
        except TrainingSetupError as exc:
            _one_line(exc)
            return "refused"
        events = list(trainer.run())
    assert isinstance(events[0], RunStarted | Failed), events[0]
    last = events[-1]
    assert isinstance(last, Finished | Failed), last
    if isinstance(last, Failed):
        _one_line(last.message)
        return "failed"
    return "finished"


def check_load_checkpoint(path: Path) -> dict[str, Any] | None:
    with _timed():
        try:
            return load_checkpoint(path)
        except CheckpointError as exc:
            _one_line(exc)
            return None


def _offsets(n: int, spread: int = 64, head: int = 32) -> list[int]:
    """Truncation points: every byte of the first ``head``, then ``spread`` evenly over the rest."""
    return sorted(({n * i // spread for i in range(spread)} | set(range(min(head, n))) | {n - 1}) - {n})


def _flip(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    buf = bytearray(data)
    for at, bit in flips:
        buf[at % len(buf)] ^= 1 << bit
    return bytes(buf)


def bit_flips(size: int = 1 << 30) -> st.SearchStrategy[list[tuple[int, int]]]:
    return st.lists(st.tuples(st.integers(0, size), st.integers(0, 7)), min_size=1, max_size=4)


@contextmanager
def _bounded_memory(seconds: float = 1.0, python_bytes: int = 16 * 2**20, process_bytes: int = 256 * 2**20):
    """Fail unless the block is fast and allocates little: Python objects (``tracemalloc``) and the
    process's peak resident memory (``ru_maxrss``, which would grow if gigabytes were touched)."""
    rss_before = _max_rss()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < seconds, f"took {elapsed:.2f} s"
    assert peak < python_bytes, f"Python allocated {peak / 2**20:.0f} MB"
    if rss_before is not None:
        grown = _max_rss() - rss_before
        assert grown < process_bytes, f"resident memory grew by {grown / 2**20:.0f} MB"


def _max_rss() -> int | None:
    if resource is None:
        return None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _sparse(path: Path, size: int) -> Path:
    try:
        with open(path, "wb") as f:
            f.truncate(size)
    except OSError as exc:
        pytest.skip(f"cannot make a sparse file of {size} bytes here: {exc}")
    return path


# --- wrong kinds of file, for every reader -------------------------------------------------

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
#: Each reader, what it raises, the file kinds that are its own, and its size limit.
READERS: dict[str, tuple[type[Exception], tuple[str, ...], int]] = {
    "project": (ProjectError, ("cnnp", "json"), 2 * 2**30),
    "safetensors": (WeightsImportError, ("safetensors",), 2 * 2**30),
    "torchvision": (WeightsImportError, ("pth",), 2 * 2**30),
    "checkpoint": (TrainingSetupError, ("checkpoint",), 8 * 2**30),
}
KINDS = ["empty", "png", "folder", "fifo", "over the limit", "cnnp", "json", "safetensors", "pth", "checkpoint"]


def _read_with(reader: str, path: Path) -> object:
    """Run ``reader`` on ``path``; any exception propagates."""
    if reader == "project":
        project = load_project(path)
        _valid_project(project)
        return project
    if reader == "safetensors":
        return import_safetensors(small_graph(), path)
    if reader == "torchvision":
        return import_torchvision(small_graph(), "tiny", path)
    trainer = Trainer(_checkpoint_model(), good().data, _resume_config(), resume_from=path)
    events = list(trainer.run())
    assert isinstance(events[-1], Finished), events[-1]
    return trainer


def _make(kind: str, path: Path, limit: int) -> Path:
    g = good()
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("named pipes are POSIX")
        os.mkfifo(path)
    elif kind == "over the limit":
        _sparse(path, limit + 1)
    else:
        path.write_bytes({"empty": b"", "png": PNG, "cnnp": g.cnnp, "json": g.json, "safetensors": g.weights,
                          "pth": g.pth, "checkpoint": g.checkpoint}[kind])
    return path


@contextmanager
def _unblocking(path: Path, kind: str) -> Iterator[None]:
    """For a named pipe: a separate process opens its writing end after ``CASE_SECONDS``, so that a
    reader blocked on it returns (and the test fails on its time) even if it holds the GIL."""
    if kind != "fifo":
        yield
        return
    # Opening the writing end waits for a reader; each open-and-close lets one blocked open return.
    script = 'sleep "$1"; while :; do : >"$2"; done'
    helper = subprocess.Popen(["sh", "-c", script, "sh", str(int(CASE_SECONDS)), str(path)], start_new_session=True)
    try:
        yield
    finally:
        os.killpg(helper.pid, signal.SIGKILL)  # its own group: the shell and its sleep
        helper.wait()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reader", list(READERS))
def test_every_reader_refuses_every_wrong_kind_of_file(reader, kind, tmp_path, tiny_torchvision):
    error, own, limit = READERS[reader]
    path = _make(kind, tmp_path / f"file.{kind.replace(' ', '_')}", limit)
    outcome: dict[str, object] = {}
    start = time.perf_counter()
    with _unblocking(path, kind):
        try:
            outcome["value"] = _read_with(reader, path)
        except Exception as exc:  # noqa: BLE001 - checked below
            outcome["error"] = exc
    elapsed = time.perf_counter() - start
    assert elapsed < CASE_SECONDS, f"the {reader} reader hung on a {kind}"
    if kind in own:
        assert "error" not in outcome, outcome.get("error")
        return
    exc = outcome.get("error")
    assert isinstance(exc, error), f"expected {error.__name__}, got {exc!r}"
    message = _one_line(exc)
    if kind == "over the limit":
        assert "GB" in message and elapsed < 1.0, (message, elapsed)  # refused from its size, unread
    if kind in ("folder", "fifo"):
        said = message.replace(str(path), "")
        assert ("it is a folder" if kind == "folder" else "not a regular file") in said, message


# --- .cnnp and plain JSON projects ---------------------------------------------------------


def test_truncated_projects_are_refused_at_every_offset(tmp_path):
    """A torn file is never taken for a project: ZIP needs its end record, JSON its closing brace."""
    path = tmp_path / "torn.cnnp"
    for data in (good().cnnp, good().json):
        for end in _offsets(len(data)):
            assert check_project_bytes(data[:end]) is None
            path.write_bytes(data[:end])
            assert check_project_file(path) is None


@settings(max_examples=150, **_SETTINGS)
@given(container=st.sampled_from(["cnnp", "json"]), flips=bit_flips())
def test_bit_flipped_projects_load_or_fail_with_one_line_error(container, flips):
    check_project_bytes(_flip(getattr(good(), container), flips))


_SCHEMA_KEYS = ["schema_version", "app_version", "name", "created", "modified", "graph", "dataset", "training",
                "history", "nodes", "edges", "id", "kind", "params", "position", "source", "target", "port",
                "series", "x", "y", "settings", "started", "options", "root", "epochs", "batch_size"]
json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10) | st.sampled_from([1, 0, -1, 10**400, "Conv2d", "Input", "inp", "conv1", "2024-05-01"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(_SCHEMA_KEYS) | st.text(max_size=6), children, max_size=5),
    max_leaves=24,
)


@st.composite
def project_documents(draw) -> Any:
    """Any JSON, or the good project's top-level keys with some values replaced by any JSON."""
    if draw(st.booleans()):
        return draw(json_values)
    doc = json.loads(good().json)
    for key in draw(st.lists(st.sampled_from(sorted(doc)), min_size=1, max_size=4, unique=True)):
        doc[key] = draw(json_values)
    return doc


@settings(max_examples=150, **_SETTINGS)
@given(doc=project_documents(), archive=st.booleans())
def test_generated_json_loads_or_fails_with_one_line_error(doc, archive):
    text = json.dumps(doc).encode()
    check_project_bytes(_zip({"project.json": text, "weights.safetensors": good().weights}) if archive else text)


# --- the weights inside a project, and standalone safetensors files ------------------------

SAFETENSORS_DTYPES = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "F8_E8M0", "I16", "U16", "F16", "BF16", "I32",
                      "U32", "F32", "F64", "I64", "U64", "C64", "F4", "F6_E2M3", "F6_E3M2", "E8M0", "X9", ""]
_dims = st.integers(0, 12) | st.sampled_from([16, 36, 360, 2**31, 2**40, 2**62, 2**63, 2**64, -1])


@st.composite
def safetensors_blobs(draw) -> bytes:
    """The good weights with a damaged header: dtypes, shapes, offsets, entries, metadata, length prefix."""
    header = copy.deepcopy(good().weights_header)
    body = good().weights_body
    keys = sorted(k for k in header if k != "__metadata__")
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["dtype", "shape", "offsets", "drop", "add", "metadata", "any"]))
        key = draw(st.sampled_from(keys))
        entry = header.get(key) if isinstance(header.get(key), dict) else None
        if op == "dtype" and entry is not None:
            entry["dtype"] = draw(st.sampled_from(SAFETENSORS_DTYPES))
        elif op == "shape" and entry is not None:
            entry["shape"] = draw(st.lists(_dims, max_size=4))
        elif op == "offsets" and entry is not None:
            entry["data_offsets"] = draw(st.lists(st.integers(0, len(body) + 8) | _dims, max_size=3))
        elif op == "drop":
            header.pop(key, None)
        elif op == "add":
            header[draw(st.sampled_from(keys) | st.text(max_size=20))] = draw(json_values)
        elif op == "metadata":
            header["__metadata__"] = draw(json_values)
        elif op == "any" and entry is not None:
            entry[draw(st.sampled_from(["dtype", "shape", "data_offsets", "extra"]))] = draw(json_values)
    text = json.dumps(header).encode()
    length = draw(st.sampled_from([len(text)] * 4 + [0, 1, len(text) - 1, len(text) + 1, 2**31, 2**63, 2**64 - 1]))
    body = body[: draw(st.sampled_from([len(body)] * 3 + [0, len(body) // 2, len(body) - 1]))]
    return struct.pack("<Q", max(length, 0) % 2**64) + text + body


@settings(max_examples=150, **_SETTINGS)
@given(blob=safetensors_blobs())
def test_damaged_weights_inside_a_project_load_or_fail_with_one_line_error(blob):
    check_project_bytes(_zip({"project.json": good().json, "weights.safetensors": blob}))


@settings(max_examples=150, **_SETTINGS)
@given(blob=safetensors_blobs())
def test_damaged_safetensors_import_or_fail_with_one_line_error(blob, scratch):
    path = scratch / "generated.safetensors"
    path.write_bytes(blob)
    check_safetensors_import(path)


def test_truncated_weights_are_refused_at_every_offset(tmp_path):
    path = tmp_path / "torn.safetensors"
    weights = good().weights
    for end in _offsets(len(weights)):
        assert check_project_bytes(_zip({"project.json": good().json, "weights.safetensors": weights[:end]})) is None
        path.write_bytes(weights[:end])
        assert check_safetensors_import(path) is None


@settings(max_examples=150, **_SETTINGS)
@given(flips=bit_flips(), inside=st.booleans())
def test_bit_flipped_weights_load_or_fail_with_one_line_error(flips, inside, scratch):
    blob = _flip(good().weights, flips)
    if inside:  # re-zipped, so the archive's checksum is right and only safetensors can notice
        check_project_bytes(_zip({"project.json": good().json, "weights.safetensors": blob}))
    else:
        path = scratch / "flipped.safetensors"
        path.write_bytes(blob)
        check_safetensors_import(path)


@pytest.mark.parametrize("dtype", ["F4", "F6_E2M3", "F8_E8M0", "F8_E4M3", "F8_E5M2", "BF16", "F16", "F64", "C64",
                                   "BOOL", "U16", "I64", "U8"])
def test_weights_of_every_dtype_convert_or_are_refused(dtype, tmp_path):
    """Exotic dtypes with the right shapes: converted to the network's dtype, or one line saying why."""
    bits = {"F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "BOOL": 8, "U8": 8, "F8_E8M0": 8, "F8_E4M3": 8, "F8_E5M2": 8,
            "BF16": 16, "F16": 16, "U16": 16, "F64": 64, "C64": 64, "I64": 64}[dtype]
    header: dict[str, Any] = {}
    offset = 0
    for key, tensor in build(small_graph()).state_dict().items():
        shape = list(tensor.shape)
        if dtype == "F4":  # torch packs two 4-bit values per element (float4_e2m1fn_x2): declare twice as many
            if not shape:
                continue  # the BatchNorm counter: a missing one counts as 0
            shape[-1] *= 2
        elements = tensor.numel() * (2 if dtype == "F4" else 1)
        nbytes = (elements * bits + 7) // 8
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    text = json.dumps(header).encode()
    blob = struct.pack("<Q", len(text)) + text + bytes([0x11]) * offset
    path = tmp_path / "w.safetensors"
    path.write_bytes(blob)
    check_safetensors_import(path)
    check_project_bytes(_zip({"project.json": good().json, "weights.safetensors": blob}))


# --- memory guards: files that declare something enormous ----------------------------------


def _patch_zip_size(data: bytes, name: str, size: int) -> bytes:
    """Make ``name``'s uncompressed size ``size`` in the local header and the central directory."""
    buf = bytearray(data)
    encoded = name.encode()
    for signature, size_at, name_len_at, name_at in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
        at = buf.find(signature)
        while at >= 0:
            length = struct.unpack_from("<H", buf, at + name_len_at)[0]
            if bytes(buf[at + name_at: at + name_at + length]) == encoded:
                struct.pack_into("<I", buf, at + size_at, size)
            at = buf.find(signature, at + 4)
    return bytes(buf)


def _enormous_tensor_header() -> bytes:
    """A valid-looking safetensors file declaring a 2^20 × 2^20 float tensor (4 TB) in 16 bytes."""
    text = json.dumps({"layers.fc1.weight": {"dtype": "F32", "shape": [2**20, 2**20],
                                             "data_offsets": [0, 4 * 2**40]}}).encode()
    return struct.pack("<Q", len(text)) + text + bytes(16)


MEMORY_CASES = {
    "project.json declared 4 GB": lambda: _patch_zip_size(
        _zip({"project.json": good().json}), "project.json", 0xFFFFFFF0),
    "weights.safetensors declared 4 GB": lambda: _patch_zip_size(
        _zip({"project.json": good().json, "weights.safetensors": good().weights}), "weights.safetensors",
        0xFFFFFFF0),
    "weights.safetensors header length 2^63": lambda: _zip(
        {"project.json": good().json, "weights.safetensors": struct.pack("<Q", 2**63) + b"{}"}),
    "weights.safetensors tensor of 4 TB": lambda: _zip(
        {"project.json": good().json, "weights.safetensors": _enormous_tensor_header()}),
    "deflated entry whose header says 10 bytes": lambda: _patch_zip_size(
        _zip({"project.json": good().json + b" " * (32 * 2**20)}), "project.json", 10),
}


@pytest.mark.parametrize("case", list(MEMORY_CASES))
def test_projects_declaring_something_enormous_are_refused_without_allocating_it(case):
    data = MEMORY_CASES[case]()
    with _bounded_memory(), pytest.raises(ProjectError) as info:
        project_from_bytes(data)
    _one_line(info.value)


@pytest.mark.parametrize("blob", [struct.pack("<Q", 2**63) + b"{}", struct.pack("<Q", 2**40) + b"{}",
                                  _enormous_tensor_header()], ids=["header 2^63", "header 2^40", "tensor 4 TB"])
def test_safetensors_declaring_something_enormous_is_refused_without_allocating_it(blob, tmp_path):
    path = tmp_path / "huge.safetensors"
    path.write_bytes(blob)
    with _bounded_memory(), pytest.raises(WeightsImportError) as info:
        import_safetensors(small_graph(), path)
    _one_line(info.value)


def _checkpoint_claiming(numel: int) -> bytes:
    """A torch.save archive (stored, valid checksums) whose pickle claims a storage of ``numel`` floats."""
    buf = io.BytesIO()
    torch.save({"format": "cnnplayground-checkpoint", "version": 1, "w": torch.zeros(4)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    entries = {}
    for info in src.infolist():
        content = src.read(info.filename)
        if info.filename.endswith("data.pkl"):
            marker = b"K\x04t"  # BININT1 4, TUPLE: the storage's element count ends its persistent id
            assert content.count(marker) == 1, content
            content = content.replace(marker, b"J" + struct.pack("<i", numel) + b"t")
        entries[info.filename] = content
    return _zip(entries, zipfile.ZIP_STORED)


@pytest.mark.parametrize("numel", [2**31 - 1, 2**30])
def test_checkpoint_claiming_an_enormous_storage_is_refused_without_allocating_it(numel, tmp_path):
    path = tmp_path / "huge.ckpt"
    path.write_bytes(_checkpoint_claiming(numel))
    with _bounded_memory(), pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    _one_line(info.value)


def test_checkpoint_with_a_compressed_entry_is_refused(tmp_path):
    """torch never compresses; a deflated entry could be a bomb that checking would have to expand."""
    archive = zipfile.ZipFile(io.BytesIO(good().checkpoint))
    entries = {i.filename: archive.read(i.filename) for i in archive.infolist()}
    path = tmp_path / "deflated.ckpt"
    path.write_bytes(_zip(entries, zipfile.ZIP_DEFLATED))
    with pytest.raises(CheckpointError, match="compressed entry"):
        load_checkpoint(path)


# --- torchvision .pth files ----------------------------------------------------------------


class _RunsCode:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("layout", ["torch.save", "raw pickle"])
def test_a_pth_file_that_runs_code_is_refused_and_runs_nothing(layout, tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    payload = {"conv1.weight": torch.zeros(1), "evil": _RunsCode(marker)}
    if layout == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))  # starts with \x80: read as a legacy torch file
    with pytest.raises(WeightsImportError) as info:
        import_torchvision(small_graph(), "resnet18", path)  # the real torchvision reference
    if layout == "torch.save":
        assert _one_line(info.value) == ("evil.pth is not a weights file that can be read safely (it holds Python "
                                         f"objects ({os.mkdir.__module__}.mkdir), and loading them could run code)")
    with pytest.raises(TrainingSetupError) as info:
        Trainer(_checkpoint_model(), good().data, _resume_config(), resume_from=path)
    _one_line(info.value)
    assert not marker.exists(), "unpickling ran code"
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


def test_good_pth_imports_fully(tmp_path, tiny_torchvision):
    path = tmp_path / "tiny.pth"
    path.write_bytes(good().pth)
    transfer = check_torchvision_import(path)
    assert transfer is not None and transfer.skipped == []


def test_truncated_pth_is_refused_at_every_offset(tmp_path, tiny_torchvision):
    path = tmp_path / "torn.pth"
    for end in _offsets(len(good().pth)):
        path.write_bytes(good().pth[:end])
        assert check_torchvision_import(path) is None


@settings(max_examples=150, **_SETTINGS)
@given(flips=bit_flips())
def test_bit_flipped_pth_imports_or_fails_with_one_line_error(flips, scratch, tiny_torchvision):
    path = scratch / "flipped.pth"
    path.write_bytes(_flip(good().pth, flips))
    check_torchvision_import(path)


TENSOR_DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int8, torch.uint8,
                 torch.bool, torch.complex64, torch.float8_e4m3fn, "float4"]


@st.composite
def tensors(draw, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    dtype = draw(st.sampled_from(TENSOR_DTYPES))
    if shape is None or draw(st.integers(0, 4)) == 0:
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=4)))
    if dtype == "float4":  # two 4-bit values per byte
        return torch.zeros(shape, dtype=torch.uint8).view(torch.float4_e2m1fn_x2)
    return torch.ones(shape).to(dtype)


@st.composite
def state_dicts(draw) -> dict[str, Any]:
    """torchvision-style state dicts: every tensor of some dtype, some shapes wrong, keys dropped or added."""
    shapes = good().torchvision_shapes
    state: dict[str, Any] = {k: draw(tensors(shape)) for k, shape in shapes.items()}
    for key in draw(st.lists(st.sampled_from(sorted(shapes)), max_size=3)):
        state.pop(key, None)
    if draw(st.booleans()):
        state[draw(st.text(max_size=12))] = draw(tensors() | json_scalars)
    return {"state_dict": state} if draw(st.integers(0, 4)) == 0 else state


@settings(max_examples=100, **_SETTINGS)
@given(state=state_dicts())
def test_generated_pth_contents_import_or_fail_with_one_line_error(state, scratch, tiny_torchvision):
    path = scratch / "generated.pth"
    torch.save(state, path)
    check_torchvision_import(path)


# --- training checkpoints ------------------------------------------------------------------


def test_good_checkpoint_resumes(tmp_path):
    path = tmp_path / "last.ckpt"
    path.write_bytes(good().checkpoint)
    assert check_resume(path) == "finished"


def test_truncated_checkpoints_are_refused_at_every_offset(tmp_path):
    path = tmp_path / "torn.ckpt"
    for end in _offsets(len(good().checkpoint)):
        path.write_bytes(good().checkpoint[:end])
        assert check_resume(path) == "refused"
        assert check_load_checkpoint(path) is None


@settings(max_examples=150, **_SETTINGS)
@given(flips=bit_flips())
def test_bit_flipped_checkpoints_are_refused_or_resume(flips, scratch):
    """Every stored byte is under a CRC-32 that load_checkpoint checks (torch's reader does not): a flip
    in the data is refused; one in ZIP bookkeeping that no reader uses may resume the intact run."""
    path = scratch / "flipped.ckpt"
    path.write_bytes(_flip(good().checkpoint, flips))
    outcome = check_resume(path)
    if outcome == "finished":
        state, reference = load_checkpoint(path), load_checkpoint(_written(scratch / "ref.ckpt", good().checkpoint))
        assert all(torch.equal(state["model"][k], v) for k, v in reference["model"].items()), "resumed from damage"


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path inside nested dicts and lists (not into tensors)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    out: list[tuple] = []
    for key, child in items:
        out.append((*prefix, key))
        out += _paths(child, (*prefix, key))
    return out


@functools.cache
def _good_state() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        return load_checkpoint(_written(Path(folder) / "c.ckpt", good().checkpoint))


@st.composite
def checkpoint_states(draw) -> dict[str, Any]:
    """The good checkpoint's content with values replaced, keys deleted or added (as a hostile file could)."""
    state = copy.deepcopy(_good_state())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(state)
        path = draw(st.sampled_from(paths))
        parent = state
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            parent[path[-1]] = draw(json_values | tensors())
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values | tensors())
    return state


@settings(max_examples=60, **_SETTINGS)
@given(state=checkpoint_states())
def test_generated_checkpoint_contents_are_refused_or_resume(state, scratch):
    path = scratch / "generated.ckpt"
    torch.save(state, path)
    check_resume(path)


# --- saves that fail -----------------------------------------------------------------------


class _FullDisk:
    """A file whose disk fills up after ``budget`` bytes: writes past it raise ENOSPC."""

    def __init__(self, f, budget: int) -> None:
        self._f, self._left = f, budget

    def write(self, data) -> int:
        data = bytes(data)
        if len(data) > self._left:
            if self._left:
                self._f.write(data[: self._left])
            self._left = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._left -= len(data)
        return self._f.write(data)

    def __getattr__(self, name: str):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return self._f.__exit__(*exc_info)


def _others(folder: Path, keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


def _changed_project() -> Project:
    project = good().project
    changed = Project(graph=Graph.from_dict(project.graph.to_dict()), name="changed", history=project.history,
                      weights={k: v + 1 if v.is_floating_point() else v for k, v in project.weights.items()},
                      created=project.created, modified=project.modified)
    return changed


def _assert_refused_and_kept(target: Path, old: bytes, project: Project, info, reason: str) -> None:
    message = _one_line(info.value)
    assert str(target.resolve()) in message, message
    assert reason in message, message
    assert "the previous file is untouched" in message, message
    assert target.read_bytes() == old
    assert _others(target.parent, target.name) == []
    assert project.modified == good().project.modified, "a failed save must not mark the project saved"
    assert load_project(target).name == "good"


@pytest.mark.parametrize("suffix", [".cnnp", ".json"])
def test_disk_full_at_any_point_of_a_save_keeps_the_old_file(suffix, tmp_path, monkeypatch):
    target = tmp_path / f"project{suffix}"
    original = good().project
    if suffix == ".json":
        kept = Project(graph=original.graph, name="good", history=original.history, created=original.created,
                       modified=original.modified)
        save_project(kept, target)
        kept.modified = original.modified
    else:
        target.write_bytes(good().cnnp)
    old = target.read_bytes()
    real_fdopen = os.fdopen

    def changed() -> Project:
        project = _changed_project()
        if suffix == ".json":
            project.weights = None
        return project

    save_project(changed(), tmp_path / f"size{suffix}")  # what a complete save writes: fail before its end
    size = (tmp_path / f"size{suffix}").stat().st_size
    (tmp_path / f"size{suffix}").unlink()
    for budget in sorted({size * i // 24 for i in range(24)} | {1, size - 1}):
        project = changed()
        monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *a, b=budget, **k: _FullDisk(real_fdopen(fd, *a, **k), b))
        with pytest.raises(ProjectError) as info:
            save_project(project, target)
        monkeypatch.setattr(atomic.os, "fdopen", real_fdopen)
        _assert_refused_and_kept(target, old, project, info, "No space left on device")


@pytest.mark.parametrize("where", ["fsync", "mkstemp", "replace"])
def test_disk_full_or_permission_denied_outside_writes_keeps_the_old_file(where, tmp_path, monkeypatch):
    """ENOSPC reported late (at fsync, as delayed allocation does), EACCES creating the temporary file
    (a read-only folder) or renaming it (a read-only target folder or a locked file)."""
    target = tmp_path / "project.cnnp"
    target.write_bytes(good().cnnp)
    code = errno.ENOSPC if where == "fsync" else errno.EACCES

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    module = atomic.tempfile if where == "mkstemp" else atomic.os
    monkeypatch.setattr(module, where, fail)
    project = _changed_project()
    with pytest.raises(ProjectError) as info:
        save_project(project, target)
    monkeypatch.undo()
    _assert_refused_and_kept(target, good().cnnp, project, info, os.strerror(code))


@pytest.mark.skipif(not POSIX or os.geteuid() == 0, reason="root ignores folder permissions (simulated above)")
def test_read_only_folder_keeps_the_old_file(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    target = folder / "project.cnnp"
    target.write_bytes(good().cnnp)
    folder.chmod(0o500)
    try:
        project = _changed_project()
        with pytest.raises(ProjectError) as info:
            save_project(project, target)
        _assert_refused_and_kept(target, good().cnnp, project, info, "Permission denied")
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("failure", [RuntimeError("zlib: stream error"), MemoryError(), ValueError("bad size")])
def test_serialization_failing_mid_archive_keeps_the_old_file(failure, tmp_path, monkeypatch):
    """project.json is already in the temporary archive when writing the weights entry fails."""
    target = tmp_path / "project.cnnp"
    target.write_bytes(good().cnnp)
    real_writestr = zipfile.ZipFile.writestr

    def writestr(self, name, data, *args, **kwargs):
        if name == "weights.safetensors":
            raise failure
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)
    project = _changed_project()
    with pytest.raises(ProjectError) as info:
        save_project(project, target)
    reason = "not enough memory" if isinstance(failure, MemoryError) else str(failure)
    _assert_refused_and_kept(target, good().cnnp, project, info, reason)


def test_weights_that_fail_to_encode_keep_the_old_file(tmp_path):
    target = tmp_path / "project.cnnp"
    target.write_bytes(good().cnnp)
    project = _changed_project()
    project.weights = {k: v.to("meta") for k, v in project.weights.items()}  # right shapes, no data
    with pytest.raises(ProjectError, match="^cannot save the weights") as info:
        save_project(project, target)
    _one_line(info.value)
    assert target.read_bytes() == good().cnnp and _others(tmp_path, target.name) == []


def test_interrupt_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    """Ctrl+C (KeyboardInterrupt) passes through unchanged, but the temporary file is removed."""
    target = tmp_path / "project.cnnp"
    target.write_bytes(good().cnnp)
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        save_project(_changed_project(), target)
    monkeypatch.undo()
    assert target.read_bytes() == good().cnnp and _others(tmp_path, target.name) == []


def test_disk_full_on_a_new_file_leaves_nothing(tmp_path, monkeypatch):
    real_fdopen = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k), 100))
    with pytest.raises(ProjectError, match="No space left on device; no file was written"):
        save_project(_changed_project(), tmp_path / "new.cnnp")
    assert list(tmp_path.iterdir()) == []


def test_checkpoint_write_failing_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    path.write_bytes(good().checkpoint)
    real_fdopen = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, *a, **k: _FullDisk(real_fdopen(fd, *a, **k), 1000))
    with pytest.raises(AtomicWriteError, match="No space left on device; the previous file is untouched"):
        save_checkpoint(dict(_good_state()), path)
    monkeypatch.undo()
    assert path.read_bytes() == good().checkpoint and _others(tmp_path, path.name) == []
    assert check_resume(path) == "finished"


# --- stale temporary files -----------------------------------------------------------------


def test_cleanup_removes_only_old_temporaries_of_the_atomic_writer(tmp_path):
    old = time.time() - 2 * atomic.STALE_TEMPORARY_AGE
    names = {
        ".project.cnnp.ab_cd123.tmp": True,  # a killed save of project.cnnp
        ".other.json.zz9_0000.tmp": True,  # of another file in the folder
        ".project.cnnp.tooshort.tmp.bak": False,
        ".project.cnnp.abc.tmp": False,  # not mkstemp's 8 characters
        "project.cnnp.ab_cd123.tmp": False,  # not hidden
        ".project.cnnp.ABCDEFGH.tmp": False,  # mkstemp uses lower case
        "project.cnnp": False,
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / ".fresh.cnnp.abcdefgh.tmp").write_bytes(b"a save in progress elsewhere")
    (tmp_path / ".dir.cnnp.abcdefgh.tmp").mkdir()
    os.utime(tmp_path / ".dir.cnnp.abcdefgh.tmp", (old, old))
    assert cleanup_stale_temporaries(tmp_path, name="other.json") == [tmp_path / ".other.json.zz9_0000.tmp"]
    assert cleanup_stale_temporaries(tmp_path) == [tmp_path / ".project.cnnp.ab_cd123.tmp"]
    left = {p.name for p in tmp_path.iterdir()}
    assert left == {n for n, gone in names.items() if not gone} | {".fresh.cnnp.abcdefgh.tmp",
                                                                   ".dir.cnnp.abcdefgh.tmp"}
    assert cleanup_stale_temporaries(tmp_path, older_than=0) == [tmp_path / ".fresh.cnnp.abcdefgh.tmp"]
    assert cleanup_stale_temporaries(tmp_path / "missing") == []


def test_a_successful_save_removes_its_own_stale_temporaries(tmp_path):
    old = time.time() - 2 * atomic.STALE_TEMPORARY_AGE
    for name in (".project.cnnp.killed01.tmp", ".keep.cnnp.killed02.tmp"):
        (tmp_path / name).write_bytes(b"half a save")
        os.utime(tmp_path / name, (old, old))
    (tmp_path / ".project.cnnp.recent1_.tmp").write_bytes(b"maybe in progress")
    save_project(good().project, tmp_path / "project.cnnp")
    assert _others(tmp_path, "project.cnnp") == [".keep.cnnp.killed02.tmp", ".project.cnnp.recent1_.tmp"]


# --- SIGKILL during saves ------------------------------------------------------------------

#: Loads two projects, then for every "go" line forks a child that saves them alternately over the
#: target, forever, writing "ready <pid>" after its first save; reports "dead <pid> <signal>".
_ZYGOTE = r"""
import os, sys
from cnnplayground.io.project import load_project, save_project
target, first, second = sys.argv[1:4]
projects = [load_project(first), load_project(second)]
print("zygote ready", flush=True)
for line in sys.stdin:
    if line.strip() != "go":
        break
    pid = os.fork()
    if pid == 0:
        try:
            i = 0
            while True:
                save_project(projects[i % 2], target)
                if i == 0:
                    os.write(1, f"ready {os.getpid()}\n".encode())
                i += 1
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    print(f"dead {pid} {os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1}", flush=True)
"""


class _Lines:
    """Lines from a pipe, with a timeout (a child that never answers fails the test, not hangs it)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, b""

    def next(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, "no answer from the saving process"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 4096)
                assert chunk, "the saving process ended"
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()


def _versions(folder: Path) -> dict[str, Project]:
    """Two different versions of a project with about 1 MB of weights (a save takes a few ms)."""
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 32, "width": 32}, id="inp")
    g.add_node("Flatten", id="flat")
    g.add_node("Linear", {"out_features": 256}, id="fc1")
    g.add_node("ReLU", id="relu1")
    g.add_node("Linear", {"out_features": 10}, id="fc2")
    g.chain("inp", "flat", "fc1", "relu1", "fc2")
    versions = {}
    for seed, name in enumerate(("A", "B")):
        torch.manual_seed(seed)
        project = Project.new(Graph.from_dict(g.to_dict()), name=name)
        project.weights = weights_from_module(build(project.graph))
        save_project(project, folder / f"{name}.cnnp")
        versions[name] = project
    return versions


@pytest.mark.skipif(not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"), reason="POSIX fork and SIGKILL")
def test_sigkill_during_saves_leaves_the_old_or_the_new_file_never_a_torn_one(tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    versions = _versions(sources)
    folder = tmp_path / "work"
    folder.mkdir()
    target = folder / "project.cnnp"
    target.write_bytes((sources / "A.cnnp").read_bytes())
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE, str(target), str(sources / "A.cnnp"),
                             str(sources / "B.cnnp")], cwd=REPO, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, bufsize=0)
    lines = _Lines(proc.stdout.fileno())
    rng = random.Random(20240501)
    leftovers = 0
    try:
        assert lines.next(timeout=120) == "zygote ready"
        for _ in range(15):
            proc.stdin.write(b"go\n")
            tag, pid = lines.next().split()
            assert tag == "ready", tag
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(int(pid), signal.SIGKILL)
            assert lines.next() == f"dead {pid} {int(signal.SIGKILL)}"
            loaded = load_project(target)  # never torn: the old or the new version, whole
            assert loaded.name in versions
            reference = versions[loaded.name].weights
            assert all(torch.equal(loaded.weights[k], v) for k, v in reference.items())
            stray = _others(folder, target.name)
            assert all(atomic._TEMPORARY.fullmatch(name) for name in stray), stray
            leftovers += len(stray)
            assert [p.name for p in cleanup_stale_temporaries(folder, older_than=0)] == stray
            assert _others(folder, target.name) == []
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()
    assert proc.returncode == 0
