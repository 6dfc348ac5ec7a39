"""Shared pieces of the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from ..core.graph import Graph
    from ..project import Project


class CliError(UserError):
    """A problem the user can fix; printed as one line, exit code 2."""


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
        return project.graph, f"{project.name} ({path})", project
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
