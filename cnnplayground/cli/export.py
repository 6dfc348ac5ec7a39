"""``cnnplayground export``: PyTorch code, a training script, ONNX, PT2 or a model card.

    cnnplayground export my.cnnp --format pytorch --out exported/   # model.py + model.safetensors
    cnnplayground export my.cnnp --format script --out run/         # train.py, config.json, model.py ...
    cnnplayground export lenet5 --format all --out lenet/           # a preset: the network, no weights

The exporters live in ``cnnplayground.export`` and are imported when the command
runs; a format whose exporter is missing from this installation is reported as not
available (``--format all`` skips it with a note).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import UserError, one_line
from ..core.text import printable
from ..export.registry import FORMATS, built_model, check_export_memory
from .common import CliError, load_target, say

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ..project import Project

class Unavailable(UserError):
    """The exporter of a format is not part of this installation."""


def add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="export a project or preset: PyTorch code, training script, ONNX, PT2, card")
    p.add_argument("target", metavar="PROJECT_OR_PRESET", help="a project file (.cnnp/.json) or a preset name")
    p.add_argument("--format", choices=[*FORMATS, "all"], default="pytorch",
                   help="pytorch: model.py + model.safetensors; script: train.py for python/torchrun + config.json; "
                   "onnx; pt2 (torch.export); card: MODEL_CARD.md; all: each of them (default: pytorch)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder to write into (created if missing)")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from ..project import Project

    # Only the model card can be written without the weights.
    graph, title, project = load_target(args.target, load_weights=args.format != "card")
    if project is None:
        project = Project.new(graph=graph, name=title)
    from ..core.inference import infer

    result = infer(project.graph)
    if not result.ok:
        raise CliError(f"the network cannot be exported: {result.first_error()}")
    formats = list(FORMATS) if args.format == "all" else [args.format]
    skipped: list[str] = []
    if any(FORMATS[f].needs_model for f in formats):
        from ..core.memory import NotEnoughMemoryError

        try:  # before the network is built, and before any folder or file is made
            check_export_memory(project)
        except NotEnoughMemoryError as exc:
            if args.format != "all":
                raise CliError(f"the network cannot be exported as {args.format}: {exc}") from None
            skipped += [f"{f} (not enough memory: {exc})" for f in formats if FORMATS[f].needs_model]
            formats = [f for f in formats if not FORMATS[f].needs_model]
    model = None
    out: Path = args.out
    if not args.force:
        names = {name for f in formats for name in FORMATS[f].files}
        if project.weights is None:
            names.discard("model.safetensors")
        existing = sorted(name for name in names if (out / name).exists())
        if existing:
            raise CliError(f"{out / existing[0]} exists; pass --force to overwrite")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"cannot create {out}: {exc.strerror or exc}") from None

    written: list[Path] = []
    for fmt in formats:
        try:
            if FORMATS[fmt].needs_model and model is None:
                model = built_model(project)
            paths = _export(fmt, project, out, model)
        except Unavailable as exc:
            if args.format != "all":
                raise CliError(f"--format {fmt} is not available in this installation ({exc})") from None
            skipped.append(f"{fmt} (not available: {exc})")
            continue
        written += [p for p in paths if p not in written]
    for path in written:
        say(f"wrote {printable(path)}")
    if project.weights is None and {"pytorch", "script"} & set(formats):
        say("note: the project has no trained weights, so no model.safetensors was written", sys.stderr)
    for text in skipped:
        say(f"skipped {text}", sys.stderr)
    return 0


def _export(fmt: str, project: Project, out: Path, model: nn.Module | None) -> list[Path]:
    """Write one format through the export registry; every failure becomes one line."""
    from ..export.code import ExportError

    spec = FORMATS[fmt]
    try:
        paths = spec.write(project, out, model)
    except ImportError as exc:  # the exporter's module or packages are not installed
        raise Unavailable(one_line(exc)) from None
    except ExportError as exc:
        raise CliError(f"{fmt} export failed: {one_line(exc)}" if spec.needs_model else str(exc)) from None
    except OSError as exc:
        if not spec.needs_model:
            raise CliError(f"cannot write into {out}: {exc.strerror or exc}") from None
        raise CliError(f"{fmt} export failed: {type(exc).__name__}: {one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - one line, whatever the exporter raised
        what = "model card" if fmt == "card" else f"{fmt} export"
        raise CliError(f"{what} failed: {type(exc).__name__}: {one_line(exc)}") from None
    if spec.needs_model and project.weights is None:
        say(f"note: the project has no trained weights; {spec.files[0]} holds random weights", sys.stderr)
    return paths


