"""``cnnplayground lr-find PROJECT``: the learning-rate finder (Smith's range test) on the command line.

A copy of the project's network trains for ``--steps`` steps while the rate grows from ``--start-lr``
to ``--end-lr`` (:mod:`cnnplayground.train.lr_find`); the project is not changed unless ``--apply``
writes the suggested rate into it (atomically, like ``train``'s saves).
"""

from __future__ import annotations

import argparse
import json
import math

from ..core.text import printable
from .common import CliError, load_target, positive_int, say

#: Points shown in the human-readable curve (every n-th step, the minimum and the suggestion marked).
SHOWN_POINTS = 12


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_lr_find_parser(sub) -> None:
    p = sub.add_parser("lr-find", help="find a learning rate: a short sweep of rates on a copy of the network")
    p.add_argument("project", metavar="PROJECT_OR_PRESET")
    p.add_argument("--steps", type=positive_int, default=100, help="optimizer steps of the sweep (default 100)")
    p.add_argument("--start-lr", type=_positive_float, default=1e-7, help="first rate (default 1e-7)")
    p.add_argument("--end-lr", type=_positive_float, default=10.0, help="last rate (default 10)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], default=None,
                   help="where to run (default: the project's setting)")
    p.add_argument("--from-weights", action="store_true",
                   help="start from the project's trained weights (a copy) instead of fresh ones, as Train does")
    p.add_argument("--apply", action="store_true", help="write the suggested rate into the project file")
    p.add_argument("--json", action="store_true", help="print the whole curve and the suggestion as one JSON object")
    p.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.base import DatasetError
    from ..data.registry import load_dataset
    from ..io.project import ProjectError, save_project
    from ..project import DatasetChoice, Project, TrainingConfig
    from ..train.lr_find import LrFindError, find_for_project, run_to_end
    from ..train.setup import adapt_input
    from ..train.trainer import TrainingSetupError

    graph, title, project = load_target(args.project, load_weights=args.from_weights)
    if args.apply and project is None:
        raise CliError("--apply writes the rate into a project file: give one, not a preset")
    if args.from_weights and (project is None or project.weights is None):
        raise CliError(f"{args.project} has no trained weights to start from: leave out --from-weights")
    config = project.training if project is not None else TrainingConfig()
    choice = project.dataset if project is not None else DatasetChoice()
    try:
        data = load_dataset(choice, val_fraction=config.val_fraction, seed=config.seed)
    except DatasetError as exc:
        raise CliError(str(exc)) from None
    if project is None:  # a preset: fitted to the dataset, as train --preset does
        from ..core.presets import get_preset

        preset = get_preset(args.project)
        graph = adapt_input(preset.factory(num_classes=data.num_classes, in_channels=data.input_shape[0]), data)
    try:
        sweep = find_for_project(graph, data, config, weights=project.weights if args.from_weights else None,
                                 start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps, device=args.device)
        result = run_to_end(sweep)
    except (LrFindError, TrainingSetupError) as exc:
        raise CliError(str(exc)) from None
    applied = False
    if args.apply:
        assert project is not None
        target = Path(args.project)
        saved: Project = project
        if not args.from_weights:  # read without its weights: load them now, the file is written whole
            saved = _load_full(target)
        try:
            saved.training = TrainingConfig.model_validate({**saved.training.model_dump(),
                                                            "learning_rate": result.suggested_lr})
        except ValueError:  # pydantic's ValidationError: above the most a project's rate may be (10)
            raise CliError(f"the suggested rate {result.suggested_lr:.2g} is above 10, the most a project may use: "
                           "nothing was written; try a lower --end-lr") from None
        try:
            save_project(saved, target)
        except (OSError, ProjectError) as exc:
            raise CliError(f"could not write the rate into {target}: {exc}; the file was left as it was") from None
        applied = True
    if args.json:
        say(json.dumps({**result.to_dict(), "applied": applied, "project": str(args.project)}, allow_nan=False))
        return 0
    say(f"learning-rate finder for {title} on {data.name}: {result.steps} of {result.steps_planned} steps, "
        f"{result.start_lr:.0e} to {result.end_lr:.0e}, batch size {config.batch_size}, {config.optimizer}, "
        f"{'the project weights' if result.start == 'project' else 'fresh weights'}")
    for line in curve_lines(result):
        say(line)
    say(result.describe())
    say(f"suggested_lr {result.suggested_lr:.2g}")
    if applied:
        say(f"wrote learning rate {result.suggested_lr:.2g} into {printable(args.project)} "
            f"(was {config.learning_rate:.2g})")
    return 0


def _load_full(path):
    from ..io.project import ProjectError, load_project

    try:
        return load_project(path)
    except ProjectError as exc:
        raise CliError(f"{path}: {exc}") from None


def curve_lines(result) -> list[str]:
    """``  1.0e-03  loss 2.289  smoothed 2.301  ← suggested``: about :data:`SHOWN_POINTS` rows of the curve."""
    n = result.steps
    every = max(n // SHOWN_POINTS, 1)
    lowest = min(range(n), key=lambda i: result.smoothed[i] if math.isfinite(result.smoothed[i]) else math.inf)
    near = min(range(n), key=lambda i: abs(math.log(result.learning_rates[i] / result.suggested_lr)))
    rows = sorted({*range(0, n, every), n - 1, lowest, near})
    lines = ["  rate       loss     smoothed"]
    for i in rows:
        mark = "  ← suggested" if i == near else "  ← lowest" if i == lowest else ""
        lines.append(f"  {result.learning_rates[i]:.1e}  {result.losses[i]:7.3f}  {result.smoothed[i]:7.3f}{mark}")
    return lines
