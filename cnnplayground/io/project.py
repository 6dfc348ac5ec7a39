"""Project files: the network, dataset choice, training settings, run history and weights.

A project is saved as a ``.cnnp`` file — a ZIP archive holding ``project.json``
and, when the network has been trained, ``weights.safetensors`` — or as a plain
``project.json`` text file (structure only). Files are recognized by content,
not by name. Weights are read and written with safetensors only: a project file
can never run code when opened (no pickle, no ``torch.load``).

Every problem with a file — damaged, foreign, too large, from a newer version,
describing a network that cannot exist — raises :class:`ProjectError`, whose
message is a single line meant for the user. The format is documented in
``docs/PROJECT_FORMAT.md``.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import safetensors.torch
import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from torch import nn

from .. import __version__
from ..core.builder import MAX_BUILD_PARAMS, BuildError, build
from ..core.errors import one_line
from ..core.graph import Graph, GraphError
from ..core.inference import infer
from ..project import DatasetChoice, Project, RunHistory
from ..project.epochs import MAX_SNAPSHOTS, MB
from ..project.history import MAX_SAVED_POINTS, MAX_STEP_POINTS, bounded_history
from ..project.project import now_iso
from .atomic import AtomicWriteError, atomic_writer
from .project_archive import check_central_directory, read_weights
from .project_epochs import epoch_entries, is_epoch_entry, read_epochs
from .project_schema import (
    SCHEMA_VERSION,
    ProjectError,
    ProjectFile,
    check_history_size,
    check_version,
    describe_validation_error,
    parse_json,
)

__all__ = [
    "ProjectError",
    "check_dataset",
    "check_weights",
    "estimate_saved_bytes",
    "load_project",
    "project_from_bytes",
    "project_to_json",
    "save_project",
    "weights_from_module",
]

PROJECT_ENTRY = "project.json"
WEIGHTS_ENTRY = "weights.safetensors"
#: Limits that keep a damaged or hostile file from exhausting memory (bytes unless noted).
MAX_FILE_BYTES = 2 * 2**30
MAX_JSON_BYTES = 64 * 2**20
MAX_WEIGHTS_BYTES = 2 * 2**30
#: ``project.json``, ``weights.safetensors`` and room to spare, plus each run's network and stored epochs.
MAX_ENTRIES = 16 + 2 * MAX_SNAPSHOTS
#: Parameters a project's network may describe (counted by shape inference).
MAX_PARAMS = MAX_BUILD_PARAMS
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


# --- writing -------------------------------------------------------------------------------


def project_to_json(project: Project) -> str:
    """``project.json`` for ``project`` (compact UTF-8 JSON; weights are not included; the history
    bounded as :func:`save_project` saves it)."""
    return _encode(project, project.modified, bounded_history(project.history))


def save_project(project: Project, path: str | os.PathLike[str], *, replace_read_only: bool = False) -> None:
    """Write ``project`` to ``path`` atomically and set ``project.modified`` to now.

    A ``.cnnp`` path, or a project with weights, gets a ZIP archive; any other
    path gets plain JSON. Weights must fit the network exactly
    (:func:`check_weights`): drop them when the structure changes. The run
    history is saved within bounds (:func:`~cnnplayground.project.history.bounded_history`:
    at most 20,000 points a series, 1,000,000 in all, fewer if the JSON would still be
    over its limit), however long it is in memory; the project in memory keeps it whole.
    Only a regular file or a new path is written, and a read-only file only with
    ``replace_read_only`` (:func:`~cnnplayground.io.atomic.check_target`). On failure
    the previous file is untouched and :class:`ProjectError` is raised.
    """
    path = Path(path)
    modified = now_iso()
    data = _encode_bounded(project, modified)
    blob = None
    if project.weights is not None:
        check_weights(project.graph, project.weights)
        blob = _encode_weights(project.weights)
    # Each run's epochs within the project's budget (checked here, encoded one at a time while writing).
    epochs = list(epoch_entries(project, _check_fits(_expected_weights)))
    existed = path.exists()
    try:
        with atomic_writer(path, replace_read_only=replace_read_only) as f:
            if blob is not None or epochs or path.suffix.lower() == ".cnnp":
                with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                    zf.writestr(PROJECT_ENTRY, data)
                    if blob is not None:
                        zf.writestr(WEIGHTS_ENTRY, blob, compresslevel=1)
                    for name, make in epochs:  # stored: deflate saves ~8 % of float weights at ~10 MB/s
                        zf.writestr(name, make(), compress_type=zipfile.ZIP_STORED)
            else:
                f.write(data)
    except AtomicWriteError as exc:
        raise ProjectError(str(exc)) from exc
    except Exception as exc:  # zipfile, zlib, memory: atomic_writer has removed the temporary file
        reason = "there is not enough memory" if isinstance(exc, MemoryError) else one_line(exc, with_type=True)
        after = "the previous file is untouched" if existed else "no file was written"
        raise ProjectError(f"could not write {os.path.realpath(path)}: {reason}; {after}") from exc
    project.modified = modified


def estimate_saved_bytes(project: Project, *, new_run: bool = True) -> int:
    """About how many bytes :func:`save_project` writes for ``project`` with trained weights.

    The weights of the network built from ``project.graph`` (on the ``meta`` device: nothing
    allocated), its JSON, and with ``new_run`` the largest record a run adds (two per-step curves
    of :data:`~cnnplayground.project.history.MAX_STEP_POINTS` points); an upper estimate, since
    the archive compresses.
    """
    try:
        with torch.device("meta"):
            module = build(project.graph)
        weights = sum(v.numel() * v.element_size() for v in module.state_dict().values())
    except (BuildError, ValueError, RuntimeError):
        weights = infer(project.graph).total_params * 4
    # The JSON from its parts, without encoding the history (Train asks this on the GUI thread): at most
    # 48 bytes a point (an x and a y of 17 digits with their separators), the saved bound on points.
    points = sum(len(curve.x) for run in project.history for curve in run.series.values())
    text = len(json.dumps(project.graph.to_dict())) + 48 * min(points, MAX_SAVED_POINTS) + 1024 * len(project.history)
    run = 2 * MAX_STEP_POINTS * 48 + 64 * 1024 if new_run else 0
    # The runs' epochs, within the budget: those stored, and a new run's start and every epoch.
    stored = sum(r.epochs.nbytes() for r in project.history if r.epochs is not None)
    epochs = min(project.training.snapshot_budget_mb * MB,
                 stored + (weights * (project.training.epochs + 1) if new_run else 0))
    return weights + text + run + epochs + 64 * 1024


def _encode_bounded(project: Project, modified: str) -> bytes:
    """``project.json`` as UTF-8 with the history bounded; its points halved until it fits the limit."""
    total = MAX_SAVED_POINTS
    while True:
        data = _encode(project, modified, bounded_history(project.history, total=total)).encode("utf-8")
        if len(data) <= MAX_JSON_BYTES:
            return data
        if total <= 1000:  # not the curves: names, settings, a huge graph
            raise ProjectError(
                f"project.json would be {_size(len(data))}; at most {_size(MAX_JSON_BYTES)} is allowed "
                "(delete some run history)"
            )
        total //= 2


def _encode(project: Project, modified: str, history: list[RunHistory] | None = None) -> str:
    history = project.history if history is None else history
    doc = {
        "schema_version": SCHEMA_VERSION,
        "app_version": __version__,
        "name": project.name,
        "created": project.created,
        "modified": modified,
        "graph": project.graph.to_dict(),
        "dataset": project.dataset.model_dump(mode="json"),
        "training": project.training.model_dump(mode="json"),
        "history": [run.model_dump(mode="json") for run in history],
    }
    # Refuse to write what could not be read back.
    try:
        ProjectFile.model_validate(doc, strict=True)
        check_history_size(doc["history"])
        check_dataset(project.dataset)
    except ValidationError as exc:
        raise ProjectError(
            "cannot save: " + describe_validation_error(exc.errors(include_url=False))
        ) from None
    except ProjectError as exc:
        raise ProjectError(f"cannot save: {exc}") from None
    return json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _encode_weights(weights: dict[str, torch.Tensor]) -> bytes:
    try:
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in weights.items()}
        blob = safetensors.torch.save(tensors, metadata={"format": "pt"})
    except (SafetensorError, ValueError, TypeError, RuntimeError, AttributeError) as exc:
        raise ProjectError(f"cannot save the weights: {exc}") from exc
    if len(blob) > MAX_WEIGHTS_BYTES:
        raise ProjectError(
            f"the weights are {_size(len(blob))}; at most {_size(MAX_WEIGHTS_BYTES)} can be saved"
        )
    return blob


# --- reading -------------------------------------------------------------------------------


def load_project(path: str | os.PathLike[str], *, load_weights: bool = True) -> Project:
    """Read a ``.cnnp`` archive or a plain JSON project from ``path``.

    ``load_weights=False`` skips the weights (e.g. to recover the structure of a
    file whose weights are damaged).
    """
    path = Path(path)
    try:
        # Non-blocking, so that a named pipe is refused below instead of waiting for a writer.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        try:
            info = os.fstat(fd)
            _check_regular_file(info.st_mode, path)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as f:
            _check_file_size(info.st_size)
            head = f.read(4)
            f.seek(0)
            if head in _ZIP_MAGIC:
                return _guard(lambda: _read_archive(f, load_weights), str(path))
            if info.st_size > MAX_JSON_BYTES:  # refused before reading it into memory
                raise _json_too_large()
            return _guard(lambda: _read_plain(f.read(MAX_JSON_BYTES + 1)), str(path))
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror or exc}") from exc


def project_from_bytes(data: bytes, *, load_weights: bool = True) -> Project:
    """Read a project from the bytes of a ``.cnnp`` archive or of a JSON project."""
    _check_file_size(len(data))
    if data[:4] in _ZIP_MAGIC:
        return _guard(lambda: _read_archive(io.BytesIO(data), load_weights))
    return _guard(lambda: _read_plain(data))


def _guard(read: Callable[[], Project], source: str | None = None) -> Project:
    """Run ``read``; whatever goes wrong comes out as a one-line :class:`ProjectError`.

    ``source`` names the file in the message of an :class:`OSError` (read
    failures of a path). Any other unexpected exception — a bug or a case no
    check foresaw — is wrapped as a last resort, so loading never raises
    anything else (``BaseException`` such as ``KeyboardInterrupt`` passes).
    """
    try:
        return read()
    except ProjectError:
        raise
    except MemoryError:
        raise ProjectError("there is not enough memory to open this project") from None
    except RecursionError:
        raise ProjectError("the project file is nested too deeply to be a project") from None
    except OSError as exc:
        if source is None:
            raise ProjectError(f"could not read the project: {one_line(exc, with_type=True)}") from exc
        raise ProjectError(f"cannot read {source}: {exc.strerror or exc}") from exc
    except Exception as exc:
        raise ProjectError(f"could not read the project: {one_line(exc, with_type=True)}") from exc


def _check_regular_file(mode: int, path: Path) -> None:
    """Refuse folders, pipes and devices (a pipe could block forever, a device never end)."""
    if stat.S_ISDIR(mode):
        raise ProjectError(f"cannot read {path}: it is a folder, not a project file")
    if not stat.S_ISREG(mode):
        raise ProjectError(f"cannot read {path}: it is not a regular file (a pipe, socket or device)")


def _json_too_large() -> ProjectError:
    return ProjectError(f"the project file is over {_size(MAX_JSON_BYTES)}, the limit for JSON projects")


def _check_file_size(size: int) -> None:
    if size > MAX_FILE_BYTES:
        raise ProjectError(f"file is {_size(size)}; project files are limited to {_size(MAX_FILE_BYTES)}")


def _read_plain(data: bytes) -> Project:
    if not data.strip():
        raise ProjectError("not a CNN Playground project: the file is empty")
    if len(data) > MAX_JSON_BYTES:
        raise _json_too_large()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = ""
    if not text.lstrip().startswith(("{", "[")):
        raise ProjectError("not a CNN Playground project: the file is neither a .cnnp archive nor JSON")
    return _from_document(parse_json(text, "the project file"), None)


def _read_archive(source: IO[bytes], load_weights: bool) -> Project:
    """The project in a ZIP archive; the weights are inflated only once their header fits the network."""
    with _archive_errors():
        # Before zipfile parses the whole central directory: it holds a few short records.
        check_central_directory(source, MAX_ENTRIES)
        zf = zipfile.ZipFile(source)
    with zf:
        with _archive_errors():
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ProjectError(
                    f"the project archive holds {len(infos)} files; at most {MAX_ENTRIES} are allowed"
                )
            names = [i.filename for i in infos]
            twice = next((n for n in names if names.count(n) > 1), None)
            if twice is not None:
                raise ProjectError(f"the project archive is damaged: it holds {twice!r} twice")
            if PROJECT_ENTRY not in names:
                raise ProjectError(f"not a CNN Playground project: the archive holds no {PROJECT_ENTRY}")
            unknown = sorted(n for n in set(names) - {PROJECT_ENTRY, WEIGHTS_ENTRY} if not is_epoch_entry(n))
            raw = _read_entry(zf, zf.getinfo(PROJECT_ENTRY), MAX_JSON_BYTES)
            weights_info = zf.getinfo(WEIGHTS_ENTRY) if load_weights and WEIGHTS_ENTRY in names else None
            if weights_info is not None and weights_info.file_size > MAX_WEIGHTS_BYTES:
                raise ProjectError(f"{WEIGHTS_ENTRY} in the archive is over {_size(MAX_WEIGHTS_BYTES)}, the limit")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ProjectError(f"{PROJECT_ENTRY} is not UTF-8 text (byte {exc.start})") from None
        doc = check_version(parse_json(text, PROJECT_ENTRY))
        if unknown:  # after the version check: a newer app may add entries
            raise ProjectError(f"the project archive holds an unknown file {unknown[0]!r}")
        def weights_for(graph: Graph) -> dict[str, torch.Tensor]:
            assert weights_info is not None  # only passed when there are weights
            expected = _expected_weights(graph)
            with _archive_errors(), zf.open(weights_info) as f:
                return read_weights(f, weights_info.file_size, expected)

        project = _from_document(doc, weights_for if weights_info is not None else None)
        if load_weights:  # each run's epochs, checked against the run's own network
            with _archive_errors():
                read_epochs(zf, project, lambda i: _read_entry(zf, i, MAX_JSON_BYTES), _expected_weights,
                            MAX_WEIGHTS_BYTES, MAX_PARAMS)
        return project


@contextmanager
def _archive_errors() -> Iterator[None]:
    """zipfile and zlib raise a wide, undocumented set of errors on corrupt input: one message for all."""
    try:
        yield
    except (ProjectError, MemoryError):
        raise
    except Exception as exc:
        raise ProjectError(f"the project archive is damaged ({one_line(exc)})") from exc


def _read_entry(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """An entry's bytes, never more than ``limit`` even when its header lies.

    zipfile returns at most the size the header declares and then checks the
    CRC-32, so reading no more than that keeps a header that understates the
    size from decompressing anything large: it only gives a checksum error.
    """
    too_big = f"{info.filename} in the archive is over {_size(limit)}, the limit"
    if info.file_size > limit:
        raise ProjectError(too_big)
    with zf.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) > limit:
        raise ProjectError(too_big)
    return data


def _from_document(doc: dict[str, Any], read_weights: Callable[[Graph], dict[str, torch.Tensor]] | None) -> Project:
    """The project of a checked JSON document; ``read_weights(graph)`` gives weights that fit ``graph``."""
    doc = check_version(doc)
    # Before pydantic copies the curves: a 64 MB file can hold tens of millions of points.
    check_history_size(doc.get("history"))
    try:
        model = ProjectFile.model_validate(doc, strict=True)
    except ValidationError as exc:
        raise ProjectError(describe_validation_error(exc.errors(include_url=False))) from None
    check_dataset(model.dataset)
    try:
        graph = Graph.from_dict(model.graph.model_dump())
    except GraphError as exc:
        raise ProjectError(f"graph: {exc}") from None
    total = infer(graph).total_params
    if total > MAX_PARAMS:
        raise ProjectError(
            f"graph: the network has {total:,} parameters; projects are limited to {MAX_PARAMS:,}"
        )
    weights = read_weights(graph) if read_weights is not None else None
    return Project(
        graph=graph,
        name=model.name,
        dataset=model.dataset,
        training=model.training,
        history=model.history,
        weights=weights,
        created=model.created,
        modified=model.modified,
    )


def check_dataset(choice: DatasetChoice) -> None:
    """Raise :class:`ProjectError` unless ``choice`` names a known dataset with valid options.

    The registry is imported here, not at module level: it pulls in the data
    loaders, and importing this module should stay cheap.
    """
    from ..data.base import DatasetError
    from ..data.registry import DATASETS, dataset_info, resolve_options

    try:
        info = dataset_info(choice.name)
    except DatasetError:
        raise ProjectError(
            f"dataset: unknown dataset {choice.name!r} (known: {', '.join(DATASETS)})"
        ) from None
    for key, value in choice.options.items():
        # Said here in a few words; the registry would print every digit (or overflow a float).
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**18:
            raise ProjectError(
                f"dataset: option {key!r} of dataset {info.name!r} is a number too large to use"
            )
    try:
        resolve_options(info, choice.options)
    except DatasetError as exc:
        raise ProjectError(f"dataset: {exc}") from None


# --- weights -------------------------------------------------------------------------------


def weights_from_module(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` as contiguous CPU copies, detached (safe to keep while training goes on)."""
    return {k: v.detach().to(device="cpu", copy=True).contiguous() for k, v in module.state_dict().items()}


def check_weights(graph: Graph, weights: dict[str, torch.Tensor]) -> None:
    """Raise :class:`ProjectError` unless ``weights`` fit the network built from ``graph`` exactly.

    Keys and shapes must equal the built module's ``state_dict`` (floating-point
    values where the network has them). The network is built on the ``meta``
    device, so the check allocates no parameter memory.
    """
    problems = _weight_problems(_expected_weights(graph), weights)
    if problems:
        more = len(problems) - 1
        raise ProjectError(problems[0] + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""))


def _weight_problems(expected: dict[str, torch.Tensor], weights: dict[str, torch.Tensor]) -> list[str]:
    problems: list[str] = []
    for key, ref in expected.items():
        got = weights.get(key)
        if got is None:
            problems.append(f"weights file is missing {key}")
        elif not isinstance(got, torch.Tensor):
            problems.append(f"weights for {key} are not a tensor")
        elif tuple(got.shape) != tuple(ref.shape):
            problems.append(f"weights for {key} have shape {_shape(got)}, the network needs {_shape(ref)}")
        elif got.is_floating_point() != ref.is_floating_point() or got.is_complex():
            problems.append(f"weights for {key} are {got.dtype}, the network needs {ref.dtype}")
    problems += [f"unexpected weight {key}" for key in weights if key not in expected]
    return problems


def _check_fits(expected_of: Callable[[Graph], dict[str, torch.Tensor]]) -> \
        Callable[[Graph, dict[str, torch.Tensor]], None]:
    """:func:`check_weights` that builds each network once (a run's epochs share it)."""
    built: dict[int, tuple[Graph, dict[str, torch.Tensor]]] = {}

    def check(graph: Graph, weights: dict[str, torch.Tensor]) -> None:
        if id(graph) not in built:
            built[id(graph)] = (graph, expected_of(graph))
        problems = _weight_problems(built[id(graph)][1], weights)
        if problems:
            raise ProjectError("cannot save the weights of a run's epoch: " + problems[0])

    return check


def _expected_weights(graph: Graph) -> dict[str, torch.Tensor]:
    """The state dict of ``graph``'s network, built on the ``meta`` device: names, shapes, dtypes, no memory."""
    try:
        with torch.device("meta"):
            module = build(graph)
    except (BuildError, ValueError, RuntimeError) as exc:
        raise ProjectError(f"the weights cannot be used: the network is not valid ({exc})") from None
    return module.state_dict()


def _shape(t: torch.Tensor) -> str:
    return "×".join(str(d) for d in t.shape) if t.dim() else "a scalar"


# --- helpers -------------------------------------------------------------------------------


def _size(n: int) -> str:
    """Bytes as text in binary units: ``64 MB``, ``3.1 GB``."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            value = n / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


