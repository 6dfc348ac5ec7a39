"""The ``cnnplayground`` command line.

``cnnplayground`` with no arguments opens the desktop window (see
``cnnplayground.app``); these sub-commands work headless, without Qt::

    cnnplayground summary lenet5                 # layer table of a preset or project file
    cnnplayground presets                        # list the presets
    cnnplayground new resnet18 my.cnnp           # start a project from a preset
    cnnplayground train --preset lenet5 --dataset synthetic --epochs 3 --save my.cnnp
    cnnplayground evaluate my.cnnp               # test accuracy, per class, confusion, mistakes
    cnnplayground export my.cnnp --format pytorch --out exported/   # model.py, train.py, ONNX, PT2, card
    cnnplayground experiment batch-norm --out results/   # a gallery experiment, its figure and numbers
    cnnplayground figure my.cnnp --panel kernels --epoch 0 --out init.png   # a panel at a stored epoch
    cnnplayground figures my.cnnp --out figs/ --epochs 0,last   # a run's figure set with an index.html
    cnnplayground import torchvision:resnet18 r18.cnnp   # a PyTorch model (file.py:Class, .pt2) as a project
    cnnplayground diagnose my.cnnp --json     # what is wrong with the last run, and the fix
    cnnplayground curves my.cnnp --out curves.tex   # the runs' curves as pgfplots (or .pdf, .svg, .png, .csv)
    cnnplayground lr-find my.cnnp --apply        # a learning rate from a short sweep of rates, written in
    cnnplayground diagram my.cnnp --out net.pdf  # an architecture diagram (SVG, PDF, PNG or TikZ)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .. import __version__
from ..core.text import printable
from .common import CliError, discard_output, load_target, positive_int, say
from .curves import add_curves_parser
from .diagnose import add_diagnose_parser
from .diagram import add_diagram_parser
from .experiment import add_experiment_parser
from .export import add_export_parser
from .figure import add_figure_parser
from .figures import add_figures_parser
from .import_model import add_import_parser
from .lr_find import add_lr_find_parser
from .setting_flags import add_setting_flags
from .train import add_evaluate_parser, add_train_parser

EXIT_USAGE = 2


def cmd_summary(args: argparse.Namespace) -> int:
    from ..core.summary import summarize

    graph, title, _ = load_target(args.target, load_weights=False)  # a summary never needs them
    shape = tuple(args.input) if args.input else None
    say(summarize(graph, shape, batch_size=args.batch_size, title=title))
    from ..core.inference import infer

    return 0 if infer(graph, shape).ok else 1


def cmd_presets(args: argparse.Namespace) -> int:
    from ..core.inference import infer
    from ..core.presets import list_presets
    from ..core.shapes import format_shape

    rows = []
    for p in list_presets():
        result = infer(p.factory())
        rows.append((p.name, p.title, format_shape(p.input_shape), f"{result.total_params:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        say(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}} params")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    """A project from a preset, with the dataset that fits its input (``Preset.recommended_settings``, as
    the window's New from Preset) and the settings flags applied; the network is fitted to the chosen
    dataset's image shape and class count (said when it changes)."""
    from ..core.inference import infer
    from ..core.presets import get_preset
    from ..core.shapes import format_shape
    from ..data.base import DatasetError
    from ..data.registry import dataset_info, folder_summary, input_shape_of
    from ..io.project import ProjectError, save_project
    from ..project import DatasetChoice, Project, TrainingConfig
    from .setting_flags import apply_setting_flags

    try:
        preset = get_preset(args.preset)
    except KeyError as exc:
        raise CliError(str(exc).strip("'\"")) from None
    out = Path(args.output)
    if out.exists() and not args.force:
        raise CliError(f"{out} exists; pass --force to overwrite it")
    recommended = preset.recommended_settings()  # always names a dataset that fits the network's input
    dataset = DatasetChoice.model_validate(recommended["dataset"])
    training = apply_setting_flags(args, TrainingConfig.model_validate(recommended.get("training", {})), dataset)
    try:
        info = dataset_info(dataset.name)
        shape = input_shape_of(dataset)
        classes = info.num_classes
        if classes is None and dataset.name == "folder" and dataset.root:  # its class folders (listed only)
            classes = len(folder_summary(dataset, training.val_fraction, training.seed).plan.classes)
    except DatasetError as exc:
        raise CliError(str(exc)) from None
    graph = preset.factory(**({"num_classes": classes} if classes else {}),
                           **({"in_channels": shape[0]} if shape[0] != preset.input_shape[0] else {}))
    if shape != preset.input_shape:
        c, h, w = shape
        for node in graph.input_nodes():
            graph.set_params(node.id, {"channels": c, "height": h, "width": w})
        say(f"note: {preset.title} takes {format_shape(preset.input_shape)} images; its input was changed to "
            f"{format_shape(shape)}, the images of {dataset.name}")
        result = infer(graph)
        if not result.ok:
            say(f"warning: the network does not work on {format_shape(shape)} images: {result.first_error()}",
                sys.stderr)
    project = Project.new(graph=graph, name=preset.title, dataset=dataset, training=training)
    try:
        save_project(project, out)
    except (OSError, ProjectError) as exc:
        raise CliError(f"could not save {out}: {exc}") from None
    counted = f", {classes} classes" if classes else ""
    say(f"wrote {printable(out)}: {preset.title} for {dataset.name} ({format_shape(shape)} images{counted})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cnnplayground",
        description="Build, train and look inside convolutional neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("summary", help="print the layer table of a preset or project file")
    p.add_argument("target", metavar="PROJECT_OR_PRESET")
    p.add_argument("--input", nargs=3, type=positive_int, metavar=("C", "H", "W"), help="override the input shape")
    p.add_argument("--batch-size", type=positive_int, default=1, help="batch size for the memory estimate")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("presets", help="list the network presets")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("new", help="create a project file from a preset")
    p.add_argument("preset")
    p.add_argument("output", metavar="PROJECT.cnnp")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    add_setting_flags(p)
    p.set_defaults(func=cmd_new)

    add_train_parser(sub)
    add_evaluate_parser(sub)
    add_export_parser(sub)
    add_experiment_parser(sub)
    add_figure_parser(sub)
    add_figures_parser(sub)
    add_import_parser(sub)
    add_diagnose_parser(sub)
    add_lr_find_parser(sub)
    add_diagram_parser(sub)
    add_curves_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # The launcher (cnnplayground.app) opens the window; here, without a command, say what there is.
        say(parser.format_help(), end="")
        return 0
    try:
        return int(args.func(args))
    except CliError as exc:
        say(f"cnnplayground: {printable(exc)}", sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        say("cnnplayground: interrupted", sys.stderr)
        return 130
    except BrokenPipeError:  # output that did not go through say(): the reader has gone, end quietly
        discard_output(sys.stdout)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
