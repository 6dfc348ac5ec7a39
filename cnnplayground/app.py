"""The ``cnnplayground`` command: the desktop app, or a headless sub-command.

``cnnplayground [PROJECT.cnnp]`` opens the window (optionally with a project);
``cnnplayground summary|presets|new|train|evaluate|export ...``, ``--help`` and
``--version`` run the command line without loading Qt. Qt is imported only when
the window starts, so the sub-commands work on machines without a display.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

#: First arguments that select the command line instead of the window.
CLI_COMMANDS = frozenset({"summary", "presets", "new", "train", "evaluate", "export", "experiment"})
CLI_FLAGS = frozenset({"-h", "--help", "--version"})


def wants_cli(args: Sequence[str]) -> bool:
    """True when ``args`` (after the program name) name a sub-command or a help/version flag."""
    return bool(args) and (args[0] in CLI_COMMANDS or args[0] in CLI_FLAGS)


def _display_missing() -> bool:
    """On X11/Wayland systems, no display and no explicit Qt platform: the window cannot open."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnplayground`` script and ``python -m cnnplayground``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if wants_cli(args):
        from .cli import main as cli_main

        return cli_main(args)
    if _display_missing():
        print(
            "cnnplayground: no display found (DISPLAY / WAYLAND_DISPLAY are not set), so the window "
            "cannot open; the sub-commands work without one: cnnplayground --help",
            file=sys.stderr,
        )
        return 1
    from .ui.app import run

    return run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
