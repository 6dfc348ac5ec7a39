"""The ``cnnplayground`` command line.

``cnnplayground`` with no arguments starts the application (until the desktop
window lands, the training demo on the built-in dataset). Sub-commands work
headless, without Qt::

    cnnplayground summary lenet5            # layer table of a preset or project file
    cnnplayground presets                   # list the presets
    cnnplayground new resnet18 my.cnnp      # start a project from a preset
    cnnplayground demo --epochs 3           # train a preset on the synthetic set
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__

EXIT_USAGE = 2


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def _load_graph(target: str):
    """A preset name or a project file path → (graph, title)."""
    from .core.presets import get_preset, list_presets

    path = Path(target)
    if path.suffix in (".cnnp", ".json") or path.exists():
        from .io.project import ProjectError, load_project

        if not path.exists():
            raise CliError(f"no such project file: {path}")
        try:
            project = load_project(path)
        except ProjectError as exc:
            raise CliError(f"{path}: {exc}") from None
        return project.graph, f"{project.name} ({path})"
    try:
        preset = get_preset(target)
    except KeyError:
        names = ", ".join(p.name for p in list_presets())
        raise CliError(f"{target!r} is neither a project file nor a preset (presets: {names})") from None
    return preset.factory(), preset.title


def cmd_summary(args: argparse.Namespace) -> int:
    from .core.summary import summarize

    graph, title = _load_graph(args.target)
    shape = tuple(args.input) if args.input else None
    print(summarize(graph, shape, batch_size=args.batch_size, title=title))
    from .core.inference import infer

    return 0 if infer(graph, shape).ok else 1


def cmd_presets(args: argparse.Namespace) -> int:
    from .core.inference import infer
    from .core.presets import list_presets
    from .core.shapes import format_shape

    rows = []
    for p in list_presets():
        result = infer(p.factory())
        rows.append((p.name, p.title, format_shape(p.input_shape), f"{result.total_params:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}} params")
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from .core.presets import get_preset
    from .io.project import Project, ProjectError, save_project

    try:
        preset = get_preset(args.preset)
    except KeyError as exc:
        raise CliError(str(exc).strip("'\"")) from None
    out = Path(args.output)
    if out.exists() and not args.force:
        raise CliError(f"{out} exists; pass --force to overwrite it")
    project = Project.new(graph=preset.factory(), name=preset.title)
    try:
        save_project(project, out)
    except (OSError, ProjectError) as exc:
        raise CliError(f"could not save {out}: {exc}") from None
    print(f"wrote {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Train a preset on the built-in synthetic dataset and print each epoch."""
    import torch

    from .core.builder import build
    from .core.presets import get_preset
    from .data.synthetic import CLASS_NAMES, make_synthetic
    from .train.quick import fit, pick_device

    preset = get_preset(args.preset)
    c, h, w = preset.input_shape
    if c not in (1, 3) or h != w:
        raise CliError(f"the demo needs a square 1- or 3-channel preset; {preset.name} takes {c}×{h}×{w}")
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    if device.type == "cpu":
        # Leave a core for the rest of the machine.
        torch.set_num_threads(max(1, (torch.get_num_threads() or 2) - 1))
    n_val = max(args.train_size // 5, 100)
    images, labels = make_synthetic(args.train_size + n_val, size=h, channels=c, seed=args.seed)
    train = images[: args.train_size], labels[: args.train_size]
    val = images[args.train_size :], labels[args.train_size :]
    model = build(preset.factory(num_classes=len(CLASS_NAMES)))
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"Training {preset.title} ({n_params:,} parameters) on the synthetic set "
        f"({len(CLASS_NAMES)} classes, {len(train[0]):,} train / {len(val[0]):,} validation images, "
        f"{c}×{h}×{w}) on {device.type.upper()}"
    )
    for r in fit(model, train, val, epochs=args.epochs, batch_size=args.batch_size,
                 learning_rate=args.lr, device=device, seed=args.seed):
        print(
            f"epoch {r.epoch}/{args.epochs}  loss {r.train_loss:.3f}  train acc {r.train_accuracy:6.1%}  "
            f"val loss {r.val_loss:.3f}  val acc {r.val_accuracy:6.1%}  "
            f"({r.seconds:.1f} s, {r.images_per_second:,.0f} img/s)",
            flush=True,
        )
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
    p.add_argument("--input", nargs=3, type=int, metavar=("C", "H", "W"), help="override the input shape")
    p.add_argument("--batch-size", type=int, default=1, help="batch size for the memory estimate")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("presets", help="list the network presets")
    p.set_defaults(func=cmd_presets)

    p = sub.add_parser("new", help="create a project file from a preset")
    p.add_argument("preset")
    p.add_argument("output", metavar="PROJECT.cnnp")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("demo", help="train a preset on the built-in synthetic dataset")
    p.add_argument("--preset", default="lenet5")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-size", type=int, default=10_000)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # The desktop window is not there yet: the app starts with the training demo.
        args = parser.parse_args(["demo", *(argv or [])])
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"cnnplayground: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("cnnplayground: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
