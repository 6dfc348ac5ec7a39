"""``cnnplayground diagnose``: what is wrong with a recorded run, in plain words and with the fix.

::

    cnnplayground diagnose my.cnnp            # the last run
    cnnplayground diagnose my.cnnp --run 2 --json

The rules are :mod:`cnnplayground.project.diagnoses`; runs recorded before layer health was get the
rules that need only the curves. Exit status 0 whether or not something was found.
"""

from __future__ import annotations

import argparse
import json

from ..core.text import printable
from .common import CliError, load_target, positive_int, say


def add_diagnose_parser(sub) -> None:
    p = sub.add_parser("diagnose", help="say what is wrong with a run (dead units, vanishing gradients, "
                       "divergence, slow learning, overfitting) and how to fix it",
                       description="Diagnose a recorded training run: each finding names the layer, the measure "
                       "and its value, and the fix.")
    p.add_argument("project", metavar="PROJECT")
    p.add_argument("--run", type=positive_int, metavar="R", help="run number, as in 'run 2' (default: the last)")
    p.add_argument("--json", action="store_true", help="one JSON object per finding")
    p.set_defaults(func=cmd_diagnose)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from ..project.diagnoses import diagnose

    _, _, project = load_target(args.project, load_weights=False)
    if project is None:
        raise CliError(f"{args.project!r} is a preset, not a project file: diagnose a project that was trained")
    runs = project.history
    if not runs:
        raise CliError(f"{args.project}: the project has no recorded run; train it first (cnnplayground train)")
    if args.run is not None and args.run > len(runs):
        raise CliError(f"there is no run {args.run}: the project has {len(runs)} run{'s' * (len(runs) != 1)}")
    run = runs[(args.run or len(runs)) - 1]
    findings = diagnose(run)
    if args.json:
        for finding in findings:
            say(json.dumps({"run": run.name, **finding.to_dict()}, allow_nan=False))
        return 0
    say(f"{printable(run.name)}: " + (f"{len(findings)} finding{'s' * (len(findings) != 1)}" if findings
                                      else "nothing looks wrong"))
    for finding in findings:
        say(f"- {finding.text()}")
    if run.health is None:
        say("(this run has no layer health recorded: dead units and vanishing gradients were not checked)")
    return 0
