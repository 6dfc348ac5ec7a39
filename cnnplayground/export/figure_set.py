"""A run's figure set, the part without Qt: what the set holds (:class:`FigureEntry`), the files' names, the
epochs asked for, and the ``index.html`` / ``index.md`` that show every figure with its caption.

An entry is a figure to draw: its section of the index, a title, and a ``draw`` callable that runs the
analysis and returns a :class:`Drawn` (the caption with the numbers behind the figure, and a ``write`` that
writes the formats given a path without suffix). ``ui/export/figure_set.py`` makes the entries (architecture
diagrams, curves, confusion matrices, every Inspect panel at each chosen epoch) and writes them one by one;
an entry that cannot be drawn becomes a :class:`FigureResult` with the reason it was skipped. The index is
written from the results alone: every name in it is escaped, and it links exactly the files written.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The index's sections, in the order they appear (the panels' sections, one per epoch, come last).
SECTIONS = ("Architecture", "Training curves", "Results")
#: Longest layer name part of a file name.
_MAX_DETAIL = 40


@dataclass
class Drawn:
    """A figure drawn: its caption (what it is, and the numbers behind it), the numbers by name, a ``write``
    that writes its formats to ``stem`` (a path without suffix) and returns the paths written, and
    ``detail``: the part of the file name after the figure's kind (e.g. the layer, ``conv1``)."""

    caption: str
    numbers: dict[str, Any]
    write: Callable[[Path], list[Path]]
    detail: str = ""


@dataclass
class FigureEntry:
    """One figure of the set, before it is drawn. ``kind``: its file-name word (``kernels``, ``confusion``);
    ``epoch``: the epoch it shows (None: not one epoch, e.g. the architecture)."""

    section: str
    kind: str
    title: str
    draw: Callable[[], Drawn]
    epoch: int | None = None


@dataclass
class FigureResult:
    """An entry after the set tried it: the files written (names relative to the folder), or the reason it
    was skipped."""

    section: str
    title: str
    caption: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    skipped: str | None = None


def slug(text: str, limit: int = _MAX_DETAIL) -> str:
    """``text`` as a readable, portable file-name part: letters, digits, ``_`` and ``-`` (anything else
    becomes ``-``), at most ``limit`` characters; ``x`` for nothing left."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:limit].strip("-")
    return cleaned or "x"


def file_stem(number: int, kind: str, detail: str = "", epoch: int | None = None) -> str:
    """``02_kernels_conv1_epoch10``: the entry's place in the set, its kind, its detail and its epoch."""
    parts = [f"{number:02d}", slug(kind)]
    if detail:
        parts.append(slug(detail))
    if epoch is not None:
        parts.append(f"epoch{epoch}")
    return "_".join(parts)


def parse_epochs(text: str) -> list[int | str]:
    """``"0,1,last"`` → ``[0, 1, "last"]``. ValueError (one line) for anything else."""
    chosen: list[int | str] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        if part == "last":
            value: int | str = "last"
        else:
            try:
                value = int(part)
            except ValueError:
                raise ValueError(f"epochs are numbers or 'last', separated by commas (0,5,last), "
                                 f"not {part!r}") from None
            if value < 0:
                raise ValueError(f"an epoch is 0 (the weights before training) or more, not {value}")
        if value not in chosen:
            chosen.append(value)
    if not chosen:
        raise ValueError("give at least one epoch (e.g. last, or 0,last)")
    return chosen


def resolve_epochs(chosen: Sequence[int | str], stored: Sequence[int], run_name: str) -> list[int]:
    """The stored epochs that ``chosen`` names, in order; ValueError naming the stored ones for one not kept."""
    if not stored:
        raise ValueError(f"{run_name} keeps no epochs")
    out: list[int] = []
    for value in chosen:
        epoch = stored[-1] if value == "last" else value
        assert isinstance(epoch, int)
        if epoch not in stored:
            raise ValueError(f"{run_name} keeps no weights of epoch {epoch}; it keeps epochs "
                             f"{', '.join(map(str, stored))}")
        if epoch not in out:
            out.append(epoch)
    return sorted(out)


# --- the index --------------------------------------------------------------------------------------------
_STYLE = """
body { font-family: "DejaVu Sans", system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.1em; } .meta { color: #555; margin-top: 0; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin: 1.5em 0 0.3em; font-size: 1.05em; }
figure { margin: 0 0 2em; } figcaption { color: #333; font-size: 0.95em; margin-top: 0.4em; }
.files { color: #666; font-size: 0.9em; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.skipped { color: #8a4b00; } nav ul { columns: 2; }
"""
#: The format shown on the page, by preference (the others are linked under it).
_SHOWN = (".png", ".svg")


def _shown(files: Sequence[str]) -> str | None:
    for suffix in _SHOWN:
        for name in files:
            if name.lower().endswith(suffix):
                return name
    return None


def _sections(results: Sequence[FigureResult]) -> list[tuple[str, list[FigureResult]]]:
    order: list[str] = []
    grouped: dict[str, list[FigureResult]] = {}
    for result in results:
        if result.section not in grouped:
            order.append(result.section)
            grouped[result.section] = []
        grouped[result.section].append(result)
    first = [s for s in SECTIONS if s in grouped]
    return [(s, grouped[s]) for s in first + [s for s in order if s not in SECTIONS]]


def _anchor(section: str) -> str:
    return "s-" + slug(section.lower(), 60)


def index_html(title: str, meta: Sequence[str], results: Sequence[FigureResult], note: str = "") -> str:
    """The page that shows every figure of ``results`` with its caption, section by section; no script, no
    external style sheet, relative links only. Every text given is escaped."""
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>", f"<title>{e(title)}</title>",
             f"<style>{_STYLE}</style></head><body>", f"<h1>{e(title)}</h1>"]
    parts += [f"<p class='meta'>{e(line)}</p>" for line in meta]
    if note:
        parts.append(f"<p class='skipped'>{e(note)}</p>")
    sections = _sections(results)
    parts.append("<nav><ul>" + "".join(f"<li><a href='#{_anchor(s)}'>{e(s)}</a> ({len(items)})</li>"
                                        for s, items in sections) + "</ul></nav>")
    for section, items in sections:
        parts.append(f"<section id='{_anchor(section)}'><h2>{e(section)}</h2>")
        for result in items:
            if result.skipped is not None:
                parts.append(f"<p class='skipped'><b>{e(result.title)}</b>: not drawn: {e(result.skipped)}</p>")
                continue
            shown = _shown(result.files)
            parts.append(f"<h3>{e(result.title)}</h3><figure>")
            if shown is not None:
                parts.append(f"<a href='{e(shown)}'><img src='{e(shown)}' alt='{e(result.title)}'></a>")
            links = " · ".join(f"<a href='{e(name)}'>{e(Path(name).suffix.lstrip('.').upper())}</a>"
                               for name in result.files)
            parts.append(f"<figcaption>{e(result.caption)}<br><span class='files'>{links}</span></figcaption>"
                         "</figure>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _md(text: str) -> str:
    """``text`` safe in Markdown: its markup characters and HTML escaped."""
    return re.sub(r"([\\`*_\[\]|<>~])", r"\\\1", " ".join(text.split()))


def _md_link(name: str) -> str:
    return name.replace(" ", "%20").replace("(", "%28").replace(")", "%29")


def index_markdown(title: str, meta: Sequence[str], results: Sequence[FigureResult], note: str = "") -> str:
    """The same as :func:`index_html` in Markdown (for a repository's README or a notebook)."""
    lines = [f"# {_md(title)}", ""]
    lines += [f"{_md(line)}  " for line in meta]
    if note:
        lines += ["", f"**{_md(note)}**"]
    for section, items in _sections(results):
        lines += ["", f"## {_md(section)}", ""]
        for result in items:
            if result.skipped is not None:
                lines += [f"- *{_md(result.title)}*: not drawn: {_md(result.skipped)}", ""]
                continue
            shown = _shown(result.files)
            lines += [f"### {_md(result.title)}", ""]
            if shown is not None:
                lines.append(f"![{_md(result.title)}]({_md_link(shown)})")
                lines.append("")
            links = " · ".join(f"[{Path(n).suffix.lstrip('.').upper()}]({_md_link(n)})" for n in result.files)
            lines += [f"{_md(result.caption)} ({links})", ""]
    return "\n".join(lines).rstrip() + "\n"
