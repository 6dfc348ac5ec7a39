"""Reading an exported program (``.pt2``) without running anything the file holds: :func:`load_program`.

``torch.export.load`` (PyTorch 2.14) runs code from the file in four ways: weights and constants marked
``use_pickle`` are read with ``torch.load(weights_only=False)``; the sample inputs are read with
``weights_only=True`` and, when that fails, again with ``weights_only=False``; custom and opaque objects are
unpickled (``torch._C._pickle_load_obj``, ``pickle.loads``); an AOTInductor entry loads a compiled shared
library; and every symbolic size (``expr_str``) goes through ``sympy.sympify``, which ``eval`` s it. It also
allocates ``torch.zeros(sizes)`` for an empty weight record, whatever ``sizes`` declares.

So the file is never given to torch. :func:`safe_archive` reads it as a ZIP of bounded size and entry count,
takes only the entries a plain exported program has (the program's JSON, the weight and constant
configurations, the raw tensor records, the format markers), refuses everything else by name, checks
every configuration (no pickled payload, every tensor's extent within its record) and every symbolic
expression against a small grammar of sympy constructors (no names but the allowed ones, no attribute access,
strings only as symbol names), and writes what it checked into a new archive in memory, with the sample
inputs left empty (torch then reads none). Only that archive reaches ``load_pt2``: nothing is unpickled and
no expression is evaluated that was not checked, and the file is read once (no change between the check and
the load). Every refusal is one line.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..core.errors import UserError, one_line
from .input_file import regular_file
from .project_archive import check_central_directory
from .project_schema import ProjectError

__all__ = ["MAX_PT2_BYTES", "MAX_PT2_ENTRIES", "Pt2ImportError", "load_program", "safe_archive"]

#: The largest ``.pt2`` read (the weights are held in memory twice while loading).
MAX_PT2_BYTES = 2 * 2**30
#: Entries of an archive: one per weight tensor and a dozen more (DenseNet-121 has 736).
MAX_PT2_ENTRIES = 10_000
#: The program's JSON (DenseNet-121's is 1.3 MB), and each weight or constant configuration.
MAX_PROGRAM_JSON = 64 * 2**20
MAX_CONFIG_JSON = 16 * 2**20
#: Graph nodes of the program (DenseNet-121 has about 1,000).
MAX_NODES = 100_000
#: Characters of one symbolic size expression (``Symbol('s77', positive=True, integer=True)`` has 43).
MAX_EXPR = 1_000

_MODEL = "model"
_MARKERS = {"archive_format": 16, "archive_version": 16, "byteorder": 16, ".data/version": 16,
            ".data/serialization_id": 256}
_PROGRAM = f"models/{_MODEL}.json"
_WEIGHTS_CONFIG = f"data/weights/{_MODEL}_weights_config.json"
_CONSTANTS_CONFIG = f"data/constants/{_MODEL}_constants_config.json"
_SAMPLE_INPUTS = f"data/sample_inputs/{_MODEL}.pt"
_RECORD = re.compile(r"data/(?:weights/weight|constants/tensor)_\d{1,9}")


class Pt2ImportError(UserError, ValueError):
    """A ``.pt2`` file that cannot be read safely, or is no exported program; the message is one line."""


def load_program(path: str | os.PathLike[str]) -> torch.export.ExportedProgram:
    """The exported program in ``path``, read through :func:`safe_archive` (see the module's text)."""
    path = Path(path)
    archive = safe_archive(path)
    try:
        from torch.export.pt2_archive._package import load_pt2
    except ImportError:  # pragma: no cover - a PyTorch whose loader these checks were not made for
        raise Pt2ImportError(f"this PyTorch ({torch.__version__}) has no .pt2 loader that {path.name} can be "
                             "given safely; use an ONNX file or the model's Python file") from None
    try:
        with _quiet():
            program = load_pt2(archive).exported_programs.get(_MODEL)
    except MemoryError:
        raise Pt2ImportError(f"there is not enough memory to read {path.name}") from None
    except Exception as exc:  # whatever torch raises for a program it cannot rebuild
        raise Pt2ImportError(f"cannot read {path.name} as an exported program: {one_line(exc, 200)}") from None
    if program is None:  # pragma: no cover - the archive was checked to hold it
        raise Pt2ImportError(f"{path.name} holds no exported program")
    return program


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    logger = logging.getLogger("torch.export")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def safe_archive(path: Path) -> io.BytesIO:
    """The checked entries of the ``.pt2`` file ``path`` as a new archive in memory (see the module's text)."""
    name = path.name
    info = regular_file(path, "an exported program", Pt2ImportError)
    if info.st_size == 0:
        raise Pt2ImportError(f"{name} is empty, not an exported program")
    if info.st_size > MAX_PT2_BYTES:
        raise Pt2ImportError(f"{name} is {info.st_size / 2**30:.1f} GB; exported programs are limited to "
                             f"{MAX_PT2_BYTES / 2**30:.0f} GB")
    try:
        with open(path, "rb") as f:
            try:
                check_central_directory(f, MAX_PT2_ENTRIES, name)
            except ProjectError as exc:
                raise Pt2ImportError(str(exc)) from None
            with zipfile.ZipFile(f) as archive:
                return _rebuild(archive, name, info.st_size)
    except Pt2ImportError:
        raise
    except MemoryError:
        raise Pt2ImportError(f"there is not enough memory to read {name}") from None
    except OSError as exc:
        raise Pt2ImportError(f"cannot read {path}: {exc.strerror or one_line(exc)}") from None
    except Exception as exc:  # zipfile's BadZipFile, a bad CRC, a damaged header
        raise Pt2ImportError(f"{name} is not an exported program (.pt2), or it is damaged "
                             f"({one_line(exc, 160)})") from None


def _refuse(name: str, entry: str) -> Pt2ImportError:
    if entry.startswith("data/aotinductor/") or entry.startswith(("data/executorch/", "data/mtia")):
        why = "it holds compiled code (an AOTInductor or other backend package), which is never loaded"
    elif entry in (f"data/weights/{_MODEL}.pt", f"data/constants/{_MODEL}.pt"):
        why = "it keeps its weights pickled (the format of PyTorch 2.7), and loading them could run code"
    elif "/custom_obj_" in entry or "/opaque_obj_" in entry:
        why = "it holds pickled Python objects, and loading them could run code"
    elif entry.startswith("models/"):
        why = "it holds more than one program"
    else:
        why = "it holds a file an exported program does not have"
    return Pt2ImportError(f"{name} cannot be read safely: {why} ({entry[:80]}); export the model again with "
                          "torch.export.save, without packages or custom objects")


def _rebuild(archive: zipfile.ZipFile, name: str, file_size: int) -> io.BytesIO:
    infos = archive.infolist()
    if not infos:
        raise Pt2ImportError(f"{name} is an empty archive, not an exported program")
    prefix = infos[0].filename.split("/", 1)[0] + "/"
    entries: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        if not info.filename.startswith(prefix) or info.filename == prefix:
            raise Pt2ImportError(f"{name} is not an exported program: its entries are not in one folder")
        entry = info.filename[len(prefix):]
        if entry in entries:
            raise Pt2ImportError(f"{name} is damaged: it holds {entry[:80]} twice")
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            raise Pt2ImportError(f"{name} is not an exported program as torch.export.save writes it: "
                                 f"{entry[:80]} is compressed")
        total += info.file_size
        if info.file_size > file_size or total > file_size:
            raise Pt2ImportError(f"{name} is damaged: its entries declare {total:,} bytes, the file has "
                                 f"{file_size:,}")
        if entry.startswith("extra/") or entry == _SAMPLE_INPUTS:
            continue  # not needed; never given to torch (the sample inputs are a pickle)
        limit = _MARKERS.get(entry) or {_PROGRAM: MAX_PROGRAM_JSON, _WEIGHTS_CONFIG: MAX_CONFIG_JSON,
                                        _CONSTANTS_CONFIG: MAX_CONFIG_JSON}.get(entry)
        if limit is None and not _RECORD.fullmatch(entry):
            raise _refuse(name, entry)
        if limit is not None and info.file_size > limit:
            raise Pt2ImportError(f"{name}: its {entry} is {info.file_size:,} bytes; at most {limit:,} are read")
        entries[entry] = info
    for needed in ("archive_format", "archive_version", ".data/version", _PROGRAM, _WEIGHTS_CONFIG,
                   _CONSTANTS_CONFIG):
        if needed not in entries:
            raise Pt2ImportError(f"{name} is not an exported program (.pt2) of this PyTorch: it has no {needed}")
    marker = archive.read(entries["archive_format"])
    if marker != b"pt2":
        raise Pt2ImportError(f"{name} is not an exported program (.pt2): its format is {marker[:16]!r}")
    version = archive.read(entries["archive_version"])
    if version != b"0":
        raise Pt2ImportError(f"{name} was written in archive version {version[:16].decode('ascii', 'replace')}; "
                             "this PyTorch reads version 0: export it again with this version")
    records = {e: info.file_size for e, info in entries.items() if _RECORD.fullmatch(e)}
    configs = {e: _json(archive.read(entries[e]), name, e) for e in (_WEIGHTS_CONFIG, _CONSTANTS_CONFIG)}
    for entry, config in configs.items():
        _check_config(config, records, name, "weight" if entry == _WEIGHTS_CONFIG else "constant")
    program = archive.read(entries[_PROGRAM])
    _check_program(_json(program, name, _PROGRAM), name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as rebuilt:
        for entry, info in entries.items():
            rebuilt.writestr(f"archive/{entry}", program if entry == _PROGRAM else archive.read(info))
        rebuilt.writestr(f"archive/{_SAMPLE_INPUTS}", b"")  # empty: torch reads no sample inputs
    out.seek(0)
    return out


def _json(data: bytes, name: str, entry: str) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise Pt2ImportError(f"{name} is damaged: its {entry} is nested too deeply") from None
    except ValueError as exc:
        raise Pt2ImportError(f"{name} is damaged: its {entry} is not valid JSON ({one_line(exc, 120)})") from None


def _damaged(name: str, what: str) -> Pt2ImportError:
    return Pt2ImportError(f"{name} is damaged: {what}")


def _int(value: Any, name: str, what: str) -> int:
    if not isinstance(value, dict) or set(value) != {"as_int"} or type(value["as_int"]) is not int:
        raise _damaged(name, f"{what} is not a whole number")
    return int(value["as_int"])


def _check_config(config: Any, records: dict[str, int], name: str, what: str) -> None:
    """No pickled payload; every tensor within its record (``torch.zeros(sizes)`` for an empty one)."""
    from torch._export.serde.serialize import _SERIALIZE_TO_TORCH_DTYPE

    table = config.get("config") if isinstance(config, dict) else None
    if not isinstance(table, dict):
        raise _damaged(name, f"its {what} configuration is not a table")
    for fqn, payload in table.items():
        label = f"{what} {str(fqn)[:60]!r}"
        if not isinstance(payload, dict):
            raise _damaged(name, f"the entry of {label} is not a table")
        if payload.get("use_pickle") is not False:
            raise Pt2ImportError(f"{name} cannot be read safely: its {label} is pickled, and loading it could run "
                                 "code")
        path_name = payload.get("path_name")
        prefix = "data/weights/" if what == "weight" else "data/constants/"
        record = f"{prefix}{path_name}" if isinstance(path_name, str) else ""
        if record not in records:
            raise _damaged(name, f"{label} names a record it does not hold ({str(path_name)[:60]})")
        meta = payload.get("tensor_meta")
        if not isinstance(meta, dict):
            raise _damaged(name, f"{label} has no tensor description")
        dtype = _SERIALIZE_TO_TORCH_DTYPE.get(meta.get("dtype"))
        sizes, strides = meta.get("sizes"), meta.get("strides")
        if dtype is None or not isinstance(sizes, list) or not isinstance(strides, list) \
                or len(sizes) != len(strides) or len(sizes) > 8:
            raise _damaged(name, f"{label} has no valid dtype, sizes and strides")
        dims = [_int(s, name, f"a size of {label}") for s in sizes]
        steps = [_int(s, name, f"a stride of {label}") for s in strides]
        offset = _int(meta.get("storage_offset"), name, f"the offset of {label}")
        if min(dims + steps + [offset], default=0) < 0:
            raise _damaged(name, f"{label} declares a negative size, stride or offset")
        if math.prod(dims) == 0:
            continue
        extent = (offset + sum((d - 1) * s for d, s in zip(dims, steps)) + 1) * dtype.itemsize
        if extent > records[record]:
            raise _damaged(name, f"{label} of shape {dims} needs {extent:,} bytes, its record holds "
                                 f"{records[record]:,}")


def _check_program(program: Any, name: str) -> None:
    """Every symbolic expression is one of :data:`_EXPR_NAMES` 's constructors over numbers and symbol names;
    at most :data:`MAX_NODES` nodes."""
    if not isinstance(program, dict):
        raise _damaged(name, f"its {_PROGRAM} is not a program")
    nodes = 0
    todo: list[Any] = [program]
    while todo:
        value = todo.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "expr_str":
                    _check_expr(item, name)
                elif key == "nodes" and isinstance(item, list):
                    nodes += len(item)
                    if nodes > MAX_NODES:
                        raise Pt2ImportError(f"{name} holds over {MAX_NODES:,} operations; at most that many "
                                             "are read")
                if isinstance(item, (dict, list)):
                    todo.append(item)
        elif isinstance(value, list):
            todo.extend(v for v in value if isinstance(v, (dict, list)))


#: The names a symbolic size expression may call or name (what ``sympy.srepr`` writes for sizes, and
#: torch's own size functions); anything else is refused before ``sympify`` evaluates the text.
_EXPR_NAMES = frozenset({
    "Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Mod", "Max", "Min", "Abs", "floor", "ceiling",
    "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "Equality", "Unequality", "StrictLessThan", "LessThan",
    "StrictGreaterThan", "GreaterThan", "And", "Or", "Not", "Tuple", "Piecewise", "ExprCondPair",
    "oo", "zoo", "nan", "Infinity", "NegativeInfinity", "true", "false", "True", "False", "None",
    "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt", "CeilDiv",
    "IntTrueDiv", "FloatTrueDiv", "IsNonOverlappingAndDenseIndicator", "TruncToFloat", "TruncToInt",
    "RoundToInt", "ToFloat", "Identity",
})
_EXPR_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<string>'[A-Za-z0-9_.+-]{0,64}')|(?P<number>\d{1,30}(?:\.\d{1,30})?(?:[eE][+-]?\d{1,3})?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]{0,63})(?P<keyword>\s*=(?!=))?|(?P<open>\()|(?P<close>\))|(?P<op>[-+*/%,<>!=])"
)
_KEYWORD = re.compile(r"[a-z]+(?:_[a-z]+)*")


def _check_expr(text: Any, name: str) -> None:
    """``sympy.sympify`` ``eval`` s the text: it may only call the constructors of :data:`_EXPR_NAMES`, with
    numbers, symbol names in quotes and keyword flags (``positive=True``), nested at most 32 deep."""
    if not isinstance(text, str) or len(text) > MAX_EXPR:
        raise _damaged(name, "a symbolic size is not a short text")
    pos = depth = 0
    while pos < len(text):
        m = _EXPR_TOKEN.match(text, pos)
        if m is None:
            raise _unsafe_expr(name, text)
        if m["name"] is not None:
            ok = _KEYWORD.fullmatch(m["name"]) if m["keyword"] else m["name"] in _EXPR_NAMES
            if not ok:
                raise _unsafe_expr(name, text)
        elif m["open"]:
            depth += 1
            if depth > 32:
                raise _unsafe_expr(name, text)
        elif m["close"]:
            depth -= 1
        pos = m.end()


def _unsafe_expr(name: str, text: str) -> Pt2ImportError:
    shown = text[:60] + ("…" if len(text) > 60 else "")
    return Pt2ImportError(f"{name} cannot be read safely: the symbolic size {shown!r} is not an arithmetic "
                          "expression of sizes (torch would evaluate it as Python code)")
