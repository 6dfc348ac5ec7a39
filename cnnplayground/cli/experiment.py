"""``cnnplayground experiment``: run gallery experiments headless and write their figures.

    cnnplayground experiment --list
    cnnplayground experiment batch-norm residual                 # quick: the synthetic shapes
    cnnplayground experiment all --full --data-root ~/datasets --out results/
    cnnplayground experiment batch-norm --save-project bn.cnnp    # the arms as runs, with their epochs

Each experiment prints its runs as they finish and its headline; with ``--out``
it writes ``KEY.png`` (the figure, drawn by an offscreen Qt) and ``KEY.json``
(headline, whether the effect appeared, the numbers, each run's outcome, and the figure's data).
With ``--save-project`` (one experiment) it writes a project whose runs are the arms, each keeping the
weights of its epochs, to open in the window (epoch slider, Compare with).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

from ..core.text import printable
from ..io.atomic import atomic_write_text
from .common import CliError, say


def add_experiment_parser(sub) -> None:
    p = sub.add_parser("experiment", help="run experiments of the gallery (Help > Experiments) headless")
    p.add_argument("keys", nargs="*", metavar="KEY", help="experiments to run, or 'all' (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--full", action="store_true", help="full size on MNIST and Fashion-MNIST (default: quick, "
                   "on the synthetic shapes)")
    p.add_argument("--data-root", default=None, help="folder holding MNIST and Fashion-MNIST (torchvision layout)")
    p.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, metavar="DIR", help="write KEY.png and KEY.json here")
    p.add_argument("--save-project", default=None, metavar="FILE.cnnp",
                   help="write the experiment's arms as a project: one run per arm, each with the weights of "
                   "its epochs (epoch 0 and every epoch, within --snapshot-budget), to compare them at any "
                   "epoch in the window; one experiment only")
    p.add_argument("--snapshot-budget", type=int, default=None, metavar="MB",
                   help="room for the arms' epochs in the project, in MB (default 200; 0 keeps none)")
    p.add_argument("--replot", action="store_true", help="draw KEY.png again from each KEY.json in --out, "
                   "running nothing")
    p.set_defaults(func=cmd_experiment)


def cmd_experiment(args: argparse.Namespace) -> int:
    from ..experiments.base import Context, ExperimentError
    from ..experiments.gallery import EXPERIMENTS, get_experiment

    if args.replot:
        return _replot(Path(args.out or "."))
    if args.list or not args.keys:
        for e in EXPERIMENTS:
            say(f"{e.key:<16} {e.title}  (about {e.minutes[0]:g} min quick, {e.minutes[1]:g} min full)")
        return 0
    try:
        chosen = list(EXPERIMENTS) if args.keys == ["all"] else [get_experiment(k) for k in args.keys]
        context = Context("full" if args.full else "quick", args.data_root, args.seed)
    except ExperimentError as exc:
        raise CliError(str(exc)) from None
    project_path = _project_path(args, chosen)
    out = Path(args.out) if args.out else None
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot write to {out}: {exc.strerror or exc}") from None
    failures = 0
    for experiment in chosen:
        failures += 0 if _run(experiment, context, args.device, out, project_path, args.snapshot_budget) else 1
    return 1 if failures else 0


def _project_path(args: argparse.Namespace, chosen: list) -> Path | None:
    """``--save-project``'s file, checked before anything runs (None: not asked for)."""
    from ..io.atomic import AtomicWriteError
    from ..io.destination import check_destination

    if args.snapshot_budget is not None and not 0 <= args.snapshot_budget <= 2_000:
        raise CliError(f"--snapshot-budget must be 0 to 2000 MB, got {args.snapshot_budget}")
    if args.save_project is None:
        return None
    if len(chosen) != 1:
        raise CliError(f"--save-project writes one experiment's arms: name one experiment, not {len(chosen)}")
    path = Path(args.save_project)
    if path.suffix != ".cnnp":
        path = path.with_name(path.name + ".cnnp")
    try:
        check_destination(path, 0)
    except AtomicWriteError as exc:
        raise CliError(f"{exc}; nothing was run (choose another --save-project file)") from None
    return path


def _run(experiment, context, device: str | None, out: Path | None, project_path: Path | None = None,
         snapshot_budget: int | None = None) -> bool:
    from ..experiments.base import DEFAULT_SNAPSHOT_BUDGET_MB, ExperimentFinished, ExperimentRun
    from ..train.sweep import VariantFinished

    say(f"== {experiment.title} ({context.scale})")
    budget = DEFAULT_SNAPSHOT_BUDGET_MB if snapshot_budget is None else snapshot_budget
    run = ExperimentRun(experiment, context, device=device, snapshot_budget_mb=budget)
    t0 = time.perf_counter()
    arms: list[dict] = []
    end: ExperimentFinished | None = None
    for event in run.run():
        if isinstance(event, VariantFinished):
            name = run.arm_names[event.index]
            arms.append({"name": name, "outcome": event.outcome, "message": event.message,
                         "seconds": round(event.seconds, 2)})
            note = "" if event.outcome == "completed" else f" ({event.message})"
            say(f"   {name}: {event.outcome}{note}, {event.seconds:.1f} s")
        elif isinstance(event, ExperimentFinished):
            end = event
    seconds = time.perf_counter() - t0
    if project_path is not None:
        _save_arms(run, project_path)
    finding = end.finding if end is not None else None
    if finding is None:
        say(f"   no result: {end.message if end is not None else 'the run ended early'}")
        return False
    mark = finding.verdict
    say(f"   {finding.headline}\n   [{mark}] {seconds:.0f} s")
    if out is not None:
        record = {"key": experiment.key, "title": experiment.title, "scale": context.scale,
                  "headline": finding.headline, "holds": finding.holds, "clear": finding.clear,
                  "seconds": round(seconds, 1),
                  "numbers": {k: _finite(v) for k, v in finding.numbers.items()}, "arms": arms}
        figure = dataclasses.asdict(finding.figure)
        for curve in figure["curves"]:
            curve["y"] = [None if y is None else _finite(y) for y in curve["y"]]
        record["figure"] = figure
        path = out / f"{experiment.key}.json"
        try:
            atomic_write_text(path, json.dumps(record, indent=2, allow_nan=False) + "\n")
            _write_png(finding.figure, out / f"{experiment.key}.png")
        except OSError as exc:
            raise CliError(f"could not write the results to {out}: {exc.strerror or exc}") from None
    return True


def _save_arms(run, path: Path) -> None:
    """The arms that trained as a project at ``path`` (also when no finding came: the runs are worth having)."""
    from ..core.errors import UserError
    from ..experiments.arms import experiment_project
    from ..io.project import save_project
    from ..io.project_epochs import saved_epochs

    project = experiment_project(run)
    if not project.history:
        say("   no arm trained: no project written")
        return
    try:
        save_project(project, path)
    except (UserError, OSError) as exc:
        raise CliError(f"could not write the arms' project {printable(path)}: {exc}") from None
    stored = sum(len(r.weights) for r in saved_epochs(project) if r is not None)
    runs = len(project.history)
    say(f"   wrote {printable(path)}: {runs} run{'s' * (runs != 1)} with the weights of {stored} "
        f"epoch{'s' * (stored != 1)} in all")


def _replot(folder: Path) -> int:
    from ..experiments.base import Curve, Figure

    found = sorted(folder.glob("*.json"))
    if not found:
        raise CliError(f"no experiment results (*.json) in {folder}")
    for path in found:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))["figure"]
            curves = tuple(Curve(c["label"], tuple(c["x"]), tuple(c["y"])) for c in data["curves"])
            figure = Figure(data["title"], data["x_label"], data["y_label"], curves, data["log_x"], data["percent"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(f"{path}: not an experiment result with a figure ({exc})") from None
        try:
            _write_png(figure, path.with_suffix(".png"))
        except OSError as exc:
            raise CliError(f"could not write {path.with_suffix('.png')}: {exc.strerror or exc}") from None
    return 0


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity: a value that is not finite (a run that diverged) is null."""
    return value if math.isfinite(value) else None


def _write_png(figure, path: Path) -> None:
    from ..ui.experiments.figure import figure_png_headless

    figure_png_headless(figure, path)
    say(f"   wrote {printable(path)}")
