"""Shared pieces of the command line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..core.errors import UserError
from ..core.text import printable

if TYPE_CHECKING:  # pragma: no cover
    from ..core.graph import Graph
    from ..project import Project


class CliError(UserError):
    """A problem the user can fix; printed as one line, exit code 2."""


def say(text: object = "", file: TextIO | None = None, *, end: str = "\n", escape: bool = True) -> None:
    """Print ``text`` on ``file`` (stdout) and flush: every line the command line writes goes through here.

    Control characters are escaped (:func:`~cnnplayground.core.text.printable`; newlines are kept), so a
    project, class or file name cannot drive the terminal and a name that is not UTF-8 prints as
    ``\\xff`` on any stream. ``escape=False`` is for the command's own control sequences (the progress
    bar). When the reader has gone (``cnnplayground summary | head -1``), the rest of the output is
    discarded and the command goes on to its end, without a traceback.
    """
    stream = sys.stdout if file is None else file
    text = printable(text, keep_newlines=True) if escape else str(text)
    try:
        stream.write(text + end)
        stream.flush()
    except BrokenPipeError:
        discard_output(stream)


def discard_output(stream: TextIO) -> None:
    """Point ``stream``'s file descriptor at the null device: its reader has gone, and what is still
    buffered (or printed later, or flushed when Python exits) must not raise ``BrokenPipeError`` again."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing is left to flush there
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def load_target(target: str, *, load_weights: bool = True) -> tuple[Graph, str, Project | None]:
    """A preset name or a project file path → ``(graph, title, project or None)``.

    ``load_weights=False`` leaves a project's weights unread (``project.weights`` is ``None``).
    """
    from ..core.presets import get_preset, list_presets

    path = Path(target)
    if path.suffix in (".cnnp", ".json") or path.exists():
        from ..io.project import ProjectError, load_project

        if not path.exists():
            raise CliError(f"no such project file: {path}")
        try:
            project = load_project(path, load_weights=load_weights)
        except ProjectError as exc:
            raise CliError(f"{path}: {exc}") from None
        return project.graph, f"{printable(project.name)} ({printable(path)})", project
    try:
        preset = get_preset(target)
    except KeyError:
        names = ", ".join(p.name for p in list_presets())
        raise CliError(f"{target!r} is neither a project file nor a preset (presets: {names})") from None
    return preset.factory(), preset.title, None


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
