"""``project.json``: its pydantic models (schema version 1), limits, decoding and versions.

Every model refuses unknown fields, so a misspelled or foreign key is named in
the error instead of being silently dropped. Files are validated in strict mode:
no text-to-number coercion, a number is never ``true``. The *meaning* of the
graph (known layer kinds, parameter ranges, wires, cycles) is checked by
:meth:`cnnplayground.core.graph.Graph.from_dict` after this structural check.

See ``docs/PROJECT_FORMAT.md`` for the format as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StringConstraints,
)
from pydantic_core import ErrorDetails

from ..core.errors import UserError
from ..core.graph import MAX_NODES
from ..project import DatasetChoice, TrainingConfig
from ..project.history import MAX_NAME, RunHistory, Timestamp
from ..project.settings import Scalar, json_kind

#: The schema this version writes and reads; older files are migrated on load.
SCHEMA_VERSION = 1
MAX_EDGES = 50_000
MAX_RUNS = 10_000
#: Points over all series of all runs of a project (a point is an x and a y).
MAX_TOTAL_POINTS = 5_000_000

#: Longest error message; longer ones (huge names in a hostile file) are cut.
MAX_MESSAGE = 400

#: ``schema n → n + 1`` upgrades of a decoded ``project.json``; none needed yet.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}

_Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class NodeModel(_Strict):
    id: _Id
    kind: _Id
    params: dict[_Key, Scalar] = Field(default_factory=dict, max_length=64)
    #: Canvas position ``[x, y]`` in scene units (pixels at 100 % zoom).
    position: list[FiniteFloat] = Field(default_factory=lambda: [0.0, 0.0], min_length=2, max_length=2)
    #: Training attributes that differ from their defaults (``frozen``, ``lr_scale``; core.graph.NODE_ATTRIBUTES).
    attributes: dict[_Key, Scalar] = Field(default_factory=dict, max_length=16)


class EdgeModel(_Strict):
    source: _Id
    target: _Id
    #: Input port of the target (orders the inputs of Concat).
    port: int = Field(0, ge=0, le=MAX_NODES)


class GraphModel(_Strict):
    nodes: list[NodeModel] = Field(default_factory=list, max_length=MAX_NODES)
    edges: list[EdgeModel] = Field(default_factory=list, max_length=MAX_EDGES)


class ProjectFile(_Strict):
    """``project.json``: everything of a project except the weights."""

    schema_version: int = Field(ge=1)
    app_version: Annotated[str, StringConstraints(max_length=64)]
    name: Annotated[str, StringConstraints(max_length=MAX_NAME)]
    created: Timestamp
    modified: Timestamp
    graph: GraphModel
    dataset: DatasetChoice = Field(default_factory=DatasetChoice)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    history: list[RunHistory] = Field(default_factory=list, max_length=MAX_RUNS)


class ProjectError(UserError, ValueError):
    """A project cannot be read or written. ``str()`` is one line naming the problem."""

    def __init__(self, message: str) -> None:
        text = " ".join(str(message).split()) or "the project file is not valid"
        # Names from a hostile file must not carry terminal escapes or invisible controls.
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
        if len(text) > MAX_MESSAGE:
            text = text[: MAX_MESSAGE - 1] + "…"
        super().__init__(text)


def parse_json(text: str, label: str) -> dict[str, Any]:
    """Decode JSON text that must hold an object; ``label`` names the file in messages."""
    try:
        doc = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ProjectError(
            f"{label} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise ProjectError(f"{label} is nested too deeply to be a project") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with thousands of digits
        reason = "a number has too many digits" if "digits" in str(exc) else str(exc)
        raise ProjectError(f"{label} is not valid JSON ({reason})") from None
    if not isinstance(doc, dict):
        raise ProjectError(f"{label} must hold a JSON object, got {json_kind(doc)}")
    return doc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_version(doc: dict[str, Any]) -> dict[str, Any]:
    """Refuse newer schemas, migrate older ones to :data:`SCHEMA_VERSION`."""
    if "schema_version" not in doc:
        raise ProjectError("schema_version is missing: this is not a CNN Playground project file")
    version = doc["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int):
        got = repr(version) if isinstance(version, float) else json_kind(version)
        raise ProjectError(f"schema_version must be a whole number, got {got}")
    if version < 1:
        shown = str(version) if version > -(10**18) else "a very large negative number"
        raise ProjectError(f"schema_version must be at least 1, got {shown}")
    if version > SCHEMA_VERSION:
        shown = f"schema {version}" if version < 10**18 else "a schema number far beyond this version's"
        raise ProjectError(
            f"written by a newer CNN Playground ({shown}); this version reads schema "
            f"{SCHEMA_VERSION} — update the app"
        )
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
        doc["schema_version"] = version
    return doc


def count_history_points(history: Any) -> int:
    """Points (``max(len(x), len(y))`` per series, and each layer-health value) over every run of a decoded
    ``history``.

    Works on the raw JSON (anything that is not the expected shape counts 0), so
    it can run before validation copies the curves.
    """
    total = 0
    if not isinstance(history, list):
        return 0
    for run in history:
        series = run.get("series") if isinstance(run, dict) else None
        if isinstance(series, dict):
            for curve in series.values():
                if isinstance(curve, dict):
                    total += max((len(v) for v in (curve.get("x"), curve.get("y")) if isinstance(v, list)),
                                 default=0)
        health = run.get("health") if isinstance(run, dict) else None
        layers = health.get("layers") if isinstance(health, dict) else None
        if isinstance(layers, list):  # layer health: every value of every measure counts as a point
            total += sum(len(v) for layer in layers if isinstance(layer, dict) for v in layer.values()
                         if isinstance(v, list))
            # and every percentile of a distribution (a list per epoch)
            total += sum(len(row) for layer in layers if isinstance(layer, dict) for v in layer.values()
                         if isinstance(v, list) for row in v if isinstance(row, list))
    return total


def check_history_size(history: Any) -> None:
    """Raise :class:`ProjectError` when ``history`` holds more than :data:`MAX_TOTAL_POINTS` points."""
    total = count_history_points(history)
    if total > MAX_TOTAL_POINTS:
        raise ProjectError(
            f"history: the runs hold {total:,} points in all; at most {MAX_TOTAL_POINTS:,} are allowed "
            "(delete some runs)"
        )


def describe_validation_error(errors: list[ErrorDetails]) -> str:
    """One line for the first of pydantic's errors: ``graph.nodes[2].id: ...``.

    Locations are dotted paths with list indices in brackets; ``(and N more
    problems)`` is appended when there are more.
    """
    if not errors:
        return "the project does not match the expected structure"
    first = errors[0]
    loc = format_loc(first.get("loc", ()))
    kind = first.get("type", "")
    if kind == "missing":
        text = f"{loc} is missing"
    elif kind == "extra_forbidden":
        text = f"{loc}: unknown field"
    else:
        msg = first.get("msg", "is not valid")
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        text = f"{loc}: {msg[:1].lower()}{msg[1:]}" if loc else msg
        # Our own validators say what they got; pydantic's built-in messages do not.
        if "got" not in msg and kind not in ("value_error", "assertion_error"):
            text += _got(first.get("input"))
    if len(errors) > 1:
        more = len(errors) - 1
        text += f" (and {more} more problem{'s' if more > 1 else ''})"
    return text


def format_loc(loc: tuple[str | int, ...]) -> str:
    """``("graph", "nodes", 2, "id")`` → ``"graph.nodes[2].id"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _got(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**30:
        return ", got a very large number"
    if isinstance(value, bool | int | float) or value is None:
        return f", got {'null' if value is None else repr(value)}"
    if isinstance(value, str):
        return f", got {value[:40]!r}" + ("…" if len(value) > 40 else "")
    return f", got {json_kind(value)}"
