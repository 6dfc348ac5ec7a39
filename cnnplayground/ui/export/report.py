"""File → Export Report: one self-contained HTML page about the project.

The page holds the architecture (the summary table and a drawing of the network),
the training settings and each run's final numbers, then a figure of every open
panel (curves, confusion matrix, kernels, …) as embedded PNG images, so it can be
mailed or attached as one file and printed to PDF from a browser.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime
from pathlib import Path

from ...core.inference import infer
from ...core.summary import HEADERS, summary_rows
from ...io.atomic import atomic_write_text
from ...project import Project
from .figures import FigureTarget, default_png_size, png_bytes

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.4; }
h1 { margin-bottom: 0.1em; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0 2em; } figcaption { color: #555; font-size: 0.92em; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def _table(headers, rows, numeric=()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{html.escape(str(c))}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _image(target: FigureTarget, width: int | None = None) -> str:
    data = base64.b64encode(png_bytes(target, width=width, dpi=144)).decode("ascii")
    return f'<img alt="{html.escape(target.name)}" src="data:image/png;base64,{data}">'


def _final(run, key: str, percent: bool = False) -> str:
    series = run.series.get(key)
    if series is None or not series.y:
        return ""
    value = series.y[-1]
    if value is None:
        return ""
    return f"{value:.2%}" if percent else f"{value:.4f}"  # accuracies are stored as fractions


def report_html(project: Project, targets: list[FigureTarget]) -> str:
    """The report for ``project`` with a figure of each of ``targets`` (the first drawn narrower if the network)."""
    result = infer(project.graph)
    total = sum(info.params for info in result.infos.values() if info.shape is not None)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(project.name)}</title>",
             f"<style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(project.name)}</h1>",
             f"<p class=meta>CNN Playground report, {datetime.now():%Y-%m-%d %H:%M}. "
             f"{total:,} parameters; dataset {html.escape(project.dataset.name)}; "
             f"{'trained weights' if project.weights is not None else 'not trained'}.</p>",
             "<h2>Architecture</h2>",
             _table(HEADERS, summary_rows(project.graph, result), numeric=(4,))]
    settings = project.training.model_dump(mode="json")
    shown = ("epochs", "batch_size", "optimizer", "learning_rate", "schedule", "weight_decay", "label_smoothing",
             "adversarial", "seed", "device")
    parts += ["<h2>Training settings</h2>",
              _table(("Setting", "Value"), [(k.replace("_", " "), settings[k]) for k in shown if k in settings])]
    if project.history:
        rows = [(run.name, len(run.series.get("val_loss").y) if run.series.get("val_loss") else "",
                 _final(run, "train_loss"), _final(run, "val_loss"), _final(run, "val_accuracy", percent=True))
                for run in project.history]
        parts += ["<h2>Runs</h2>",
                  _table(("Run", "Epochs", "Last train loss", "Last val loss", "Last val accuracy"), rows,
                         numeric=(1, 2, 3, 4))]
    parts.append("<h2>Figures</h2>")
    for target in targets:
        width = min(default_png_size(target).width(), 2000)  # a tall network stays within MAX_SIDE
        parts.append(f"<figure>{_image(target, width)}<figcaption>{html.escape(target.name)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def export_report(project: Project, targets: list[FigureTarget], path: str | Path) -> Path:
    """Write the report atomically (the old file stays if writing fails)."""
    path = Path(path)
    atomic_write_text(path, report_html(project, targets))
    return path
