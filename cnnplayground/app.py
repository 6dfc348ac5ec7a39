"""The ``cnnplayground`` command: the desktop app, or a headless sub-command.

``cnnplayground [PROJECT.cnnp]`` opens the window (optionally with a project);
``cnnplayground summary|presets|new|train|evaluate|export|import ...``, ``--help`` and
``--version`` run the command line without loading Qt. Qt is imported only when
the window starts, so the sub-commands work on machines without a display.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

#: First arguments that select the command line instead of the window.
CLI_COMMANDS = frozenset({"summary", "presets", "new", "train", "evaluate", "export", "experiment", "figure",
                          "figures", "import", "diagnose", "lr-find", "diagram", "curves"})
CLI_FLAGS = frozenset({"-h", "--help", "--version"})


def wants_cli(args: Sequence[str]) -> bool:
    """True when ``args`` (after the program name) name a sub-command or a help/version flag."""
    return bool(args) and (args[0] in CLI_COMMANDS or args[0] in CLI_FLAGS)


def mistyped_command(args: Sequence[str]) -> str | None:
    """The sub-command ``args[0]`` was probably meant to be (``sumary`` → ``summary``), or None.

    Only a first argument that is not an existing file, has no project suffix or folder, and is close
    to a sub-command's name counts: anything else is a project to open in the window.
    """
    if not args or args[0].startswith("-") or os.sep in args[0] or "/" in args[0]:
        return None
    word = args[0]
    if os.path.splitext(word)[1].lower() in (".cnnp", ".json") or os.path.lexists(word):
        return None
    import difflib

    close = difflib.get_close_matches(word.lower(), sorted(CLI_COMMANDS), n=1, cutoff=0.75)
    return close[0] if close else None


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
    meant = mistyped_command(args)
    if meant is not None:
        from .core.text import printable

        print(f"cnnplayground: '{printable(args[0])}' is not a command or a project file; did you mean "
              f"'cnnplayground {meant}'? (cnnplayground --help lists the commands)", file=sys.stderr)
        return 2
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
