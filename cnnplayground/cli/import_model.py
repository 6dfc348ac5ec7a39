"""``cnnplayground import``: an existing PyTorch network as a project file, with its weights.

    cnnplayground import torchvision:resnet18 resnet18.cnnp            # architecture and initial weights
    cnnplayground import models.py:Net net.cnnp --args '{"num_classes": 10}' --input-shape 3,32,32
    cnnplayground import lenet.pt2 lenet.cnnp                           # an exported program
    cnnplayground import resnet18.onnx resnet18.cnnp                    # an ONNX model

The mapping lives in ``cnnplayground.io.model_import``; nothing is written when part of the
model has no layer on the canvas (each such part is listed with its source line).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..core.text import printable
from .common import CliError, say

EXIT_REFUSED = 1

_SOURCE_HELP = (
    "path/to/file.py:ClassName (the file is executed as Python: import only code you trust; the class is "
    "constructed with its defaults and --args), torchvision:NAME (torchvision's classifier with its initial "
    "weights; nothing is downloaded), FILE.pt2 (a torch.export program) or FILE.onnx (an ONNX model of "
    "standard operators)"
)


def add_import_parser(sub: Any) -> None:
    p = sub.add_parser(
        "import", help="put a PyTorch model (file.py:Class, torchvision:NAME, .pt2, .onnx) on the canvas as a project",
        description="Trace a PyTorch model and write it as a project file with its weights. SOURCE: "
        + _SOURCE_HELP + ". Parts that have no layer on the canvas are listed with their source line, and then "
        "nothing is written.")
    p.add_argument("source", metavar="SOURCE", help=_SOURCE_HELP)
    p.add_argument("output", metavar="OUT.cnnp", help="the project file to write")
    p.add_argument("--args", metavar="JSON", default=None,
                   help='keyword arguments for the class or torchvision model, e.g. \'{"num_classes": 10}\'')
    p.add_argument("--input-shape", metavar="C,H,W", default=None,
                   help="the image size the model takes (default: the file's INPUT_SHAPE, 3,224,224 for "
                   "torchvision, the program's own for .pt2, the model's own for .onnx)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_import)


def parse_shape(text: str) -> tuple[int, int, int]:
    parts = text.replace("x", ",").replace("×", ",").split(",")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise CliError(f"--input-shape must be three positive numbers C,H,W (e.g. 3,32,32), got {text!r}")
    return dims  # type: ignore[return-value]


def parse_args_json(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"--args is not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise CliError('--args must be a JSON object of keyword arguments, e.g. \'{"num_classes": 10}\'')
    return value


def cmd_import(args: argparse.Namespace) -> int:
    from ..core.shapes import format_shape
    from ..io.model_import import ModelImportError, import_source
    from ..io.project import ProjectError, save_project
    from ..project import TrainingConfig

    kwargs = parse_args_json(args.args)
    shape = parse_shape(args.input_shape) if args.input_shape else None
    out = Path(args.output)
    if out.exists() and not args.force:
        raise CliError(f"{out} exists; pass --force to overwrite it")
    try:
        result = import_source(args.source, kwargs, shape)
    except ModelImportError as exc:
        raise CliError(str(exc)) from None
    if not result.ok:
        n = len(result.problems)
        say(f"cnnplayground: {result.name} cannot be imported; nothing was written. {n} part{'s' * (n != 1)} "
            f"{'have' if n != 1 else 'has'} no layer on the canvas:", sys.stderr)
        for problem in result.problems:
            say(f"  {problem}", sys.stderr)
        return EXIT_REFUSED
    project = result.project()
    try:
        save_project(project, out)
    except (OSError, ProjectError) as exc:
        raise CliError(f"could not save {out}: {exc}") from None
    say(f"wrote {printable(out)}: {result.name}, {result.layers} layers, {result.params:,} parameters, "
        f"input {format_shape(result.input_shape)} (traced with {result.method})")
    for warning in result.warnings:
        say(f"note: {warning}")
    if project.training.batch_size != TrainingConfig().batch_size:
        say(f"note: batch size {project.training.batch_size}, so that training fits this machine's memory "
            f"(batch {TrainingConfig().batch_size} would not)")
    dataset_note = result.dataset_note()
    say(f"note: {dataset_note}" if dataset_note else f"dataset: {project.dataset.name} at "
        f"{format_shape(result.input_shape)} (change it before training on your own images)")
    return 0
