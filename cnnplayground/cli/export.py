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
from .common import CliError, load_target

if TYPE_CHECKING:  # pragma: no cover
    from ..project import Project

FORMATS = ("pytorch", "script", "onnx", "pt2", "card")
#: Files each format writes (``model.safetensors`` only when there are weights).
FILES = {
    "pytorch": ("model.py", "model.safetensors"),
    "script": ("train.py", "config.json", "model.py", "model.safetensors"),
    "onnx": ("model.onnx",),
    "pt2": ("model.pt2",),
    "card": ("MODEL_CARD.md",),
}


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

    graph, title, project = load_target(args.target)
    if project is None:
        project = Project.new(graph=graph, name=title)
    from ..core.inference import infer

    result = infer(project.graph)
    if not result.ok:
        raise CliError(f"the network cannot be exported: {result.first_error()}")
    formats = list(FORMATS) if args.format == "all" else [args.format]
    out: Path = args.out
    if not args.force:
        names = {name for f in formats for name in FILES[f]}
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
    skipped: list[str] = []
    for fmt in formats:
        try:
            paths = _export(fmt, project, out)
        except Unavailable as exc:
            if args.format != "all":
                raise CliError(f"--format {fmt} is not available in this installation ({exc})") from None
            skipped.append(f"{fmt} (not available: {exc})")
            continue
        written += [p for p in paths if p not in written]
    for path in written:
        print(f"wrote {path}")
    if project.weights is None and {"pytorch", "script"} & set(formats):
        print("note: the project has no trained weights, so no model.safetensors was written", file=sys.stderr)
    for text in skipped:
        print(f"skipped {text}", file=sys.stderr)
    return 0


def _export(fmt: str, project: Project, out: Path) -> list[Path]:
    from ..export.code import ExportError

    try:
        if fmt == "pytorch":
            from ..export.code import export_pytorch

            return export_pytorch(project, project.weights, out)
        if fmt == "script":
            from ..export.script import export_training_script

            return export_training_script(project, out)
        if fmt == "card":
            return [_card(project, out / FILES["card"][0])]
        return [_model_file(fmt, project, out / FILES[fmt][0])]
    except ExportError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot write into {out}: {exc.strerror or exc}") from None


def _card(project: Project, path: Path) -> Path:
    try:
        from ..export.card import model_card
    except ImportError as exc:
        raise Unavailable(one_line(exc)) from None
    from ..io.atomic import atomic_write_text

    try:
        text = model_card(project)
    except Exception as exc:  # noqa: BLE001 - a foreign exporter: one line, whatever it raised
        raise CliError(f"model card failed: {type(exc).__name__}: {one_line(exc)}") from None
    atomic_write_text(path, text)
    return path


def _model_file(fmt: str, project: Project, path: Path) -> Path:
    """ONNX or PT2 through ``export/formats.py``, of the project's network in eval mode."""
    try:
        from ..export import formats
    except ImportError as exc:
        raise Unavailable(one_line(exc)) from None
    function = getattr(formats, f"export_{fmt}", None)
    if function is None:
        raise Unavailable(f"cnnplayground.export.formats has no export_{fmt}")
    import torch

    from ..core.builder import build

    with torch.random.fork_rng():  # random weights (no project weights) drawn from seed 0, globally untouched
        torch.manual_seed(0)
        model = build(project.graph)
    if project.weights is not None:
        model.load_state_dict(project.weights)
    else:
        print(f"note: the project has no trained weights; {path.name} holds random weights", file=sys.stderr)
    model.eval()
    try:
        result = function(model, path, tuple(model.input_shape))
    except ImportError as exc:  # e.g. the onnx package is not installed
        raise Unavailable(one_line(exc)) from None
    except Exception as exc:  # noqa: BLE001 - one line, whatever the exporter raised
        typed = getattr(formats, "ExportError", ())
        what = "" if isinstance(exc, typed) else f"{type(exc).__name__}: "
        raise CliError(f"{fmt} export failed: {what}{one_line(exc)}") from None
    return Path(result) if result is not None else path


