"""A run's figure set: File → Export Figure Set… and ``cnnplayground figures``.

:class:`FigureSet` lists the figures of one run (:class:`~cnnplayground.export.figure_set.FigureEntry`: the
architecture, the curves, the confusion matrix and every Inspect panel at each chosen epoch) and
:meth:`FigureSet.steps` draws and writes them one by one, a generator that yields after each figure (the
command line prints it, the window's dialog moves its progress bar and may cancel between figures). Each
file is written atomically, so a cancelled or failed set leaves whole files only; the index
(``index.html``, ``index.md``) is written last, from what was written, also after a cancel.

The panels' figures are the panels' own (:mod:`.panel_figures`), drawn with one shared dataset.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import UserError
from ...export.figure_set import (
    Drawn,
    FigureEntry,
    FigureResult,
    file_stem,
    index_html,
    index_markdown,
    resolve_epochs,
)
from ...export.panel_options import FigureOptions, FigureWeights
from ...export.style import DEFAULT_STYLE, FigureStyle, figure_style
from ...io.atomic import AtomicWriteError, atomic_write_bytes, atomic_write_text
from .headless import application, fitting_style, write_figure

#: The architecture diagram's styles, in the index's order.
DIAGRAM_STYLES = ("flow", "block")
#: The formats of a figure drawn by Qt.
WIDGET_FORMATS = ("svg", "png", "pdf")
#: The panels of each epoch's section, in the order of the index (the confusion matrix is under Results).
EPOCH_PANELS = ("kernels", "feature-maps", "receptive-field", "occlusion", "attribution", "adversarial",
                "max-activation", "top-patches")
#: Every kind of figure in a set, in the index's order.
KINDS = ("architecture", "curves", "confusion", *EPOCH_PANELS)
_PANEL_TITLES = {
    "kernels": "Kernels", "feature-maps": "Feature maps", "receptive-field": "Effective receptive field",
    "occlusion": "Occlusion map", "attribution": "Attribution maps", "adversarial": "Adversarial example",
    "max-activation": "Maximum activation", "top-patches": "Top images",
}


class FigureSetError(UserError):
    """The set cannot be made or written (one line: what happened and what to do)."""


@dataclass
class SetProgress:
    """After each figure: how many of ``total`` are done, and what became of this one."""

    done: int
    total: int
    result: FigureResult


@dataclass
class SetRequest:
    """What to write: the folder, the run (numbered from 1; None: the last that keeps its epochs), the
    epochs (numbers or ``"last"``), the figure style's name and the panels' choices."""

    out: Path
    run: int | None = None
    epochs: Sequence[int | str] = ("last",)
    style: str = DEFAULT_STYLE
    options: FigureOptions = field(default_factory=FigureOptions)
    #: Which kinds of figure (:data:`KINDS`); None: all of them.
    kinds: Sequence[str] | None = None


def _epoch_words(epoch: int | None) -> str:
    if epoch is None:
        return "with the project's weights"
    return "before training (epoch 0)" if epoch == 0 else f"after epoch {epoch}"


class FigureSet:
    """The figure set of one run of ``project`` (loaded, with its weights), as ``request`` asks.

    Raises :class:`FigureSetError` for a run or epoch the project does not have."""

    def __init__(self, project: Any, request: SetRequest) -> None:
        self.project = project
        self.request = request
        self.folder = Path(request.out)
        try:
            self.style: FigureStyle = figure_style(request.style)
        except KeyError as exc:
            raise FigureSetError(str(exc).strip("'\"")) from None
        #: The panels' choices, in the set's figure style.
        self.options = dataclasses.replace(request.options, style=self.style.name)
        unknown = [kind for kind in request.kinds or () if kind not in KINDS]
        if unknown:
            raise FigureSetError(f"no kind of figure {unknown[0]!r}; there are {', '.join(KINDS)}")
        self.run_index, self.weights = self._choose_weights()
        self.run_name = (project.history[self.run_index].name if self.run_index is not None
                         else "the project's weights")
        self.cancelled = False
        self.results: list[FigureResult] = []
        self.written: list[Path] = []
        #: The files an earlier set wrote in this folder (its manifest), read before anything is written;
        #: a finished set removes those it did not write again, so the folder holds one set.
        self.earlier: list[str] = []
        #: How many of them this set removed.
        self.removed = 0
        self._context: Any = None
        self.entries = self._entries()

    # --- what the set holds ---------------------------------------------------------------------------------
    def _choose_weights(self) -> tuple[int | None, list[FigureWeights]]:
        from ...io.project_epochs import snapshot_weights, stored_epochs

        project, request = self.project, self.request
        history = project.history
        if request.run is not None:
            if not 1 <= request.run <= len(history):
                count = len(history)
                raise FigureSetError(f"there is no run {request.run}: the project has {count} "
                                     f"run{'s' * (count != 1)}")
            index: int | None = request.run - 1
        else:
            keeping = [i for i, run in enumerate(history) if run.epochs is not None and run.epochs.weights]
            index = keeping[-1] if keeping else (len(history) - 1 if history else None)
        stored = stored_epochs(project, index) if index is not None else []
        if not stored:
            if list(request.epochs) != ["last"] or project.weights is None:
                why = (f"{history[index].name} keeps no epochs" if index is not None
                       else "the project has no runs")
                if project.weights is None:
                    raise FigureSetError(f"{why} and no trained weights: train it first (cnnplayground train "
                                         "PROJECT --save PROJECT)")
                raise FigureSetError(f"{why}: only its weights (--epochs last) can be drawn; train it again to "
                                     "store epochs")
            return index, [FigureWeights(project.graph, project.weights, f"{project.name}: the project's weights",
                                         None)]
        run = history[index]
        try:
            epochs = resolve_epochs(request.epochs, stored, run.name)
        except ValueError as exc:
            raise FigureSetError(str(exc)) from None
        return index, [FigureWeights(run.epochs.graph, snapshot_weights(project, index, k),
                                     f"{project.name} · {run.name} · epoch {k}", k) for k in epochs]

    def _entries(self) -> list[FigureEntry]:
        wanted = self.request.kinds
        entries: list[FigureEntry] = []
        if wanted is None or "architecture" in wanted:
            entries += self.architecture_entries()
        if wanted is None or "curves" in wanted:
            entries += self.curve_entries()
        for w in self.weights:
            if wanted is None or "confusion" in wanted:
                title = f"Confusion matrix, {_epoch_words(w.epoch)}"
                entries.append(FigureEntry("Results", "confusion", title, self._confusion_drawer(w), w.epoch))
        for w in self.weights:
            section = ("Panels with the project's weights" if w.epoch is None
                       else f"Panels {_epoch_words(w.epoch)}")
            for panel in EPOCH_PANELS if wanted is None else [p for p in EPOCH_PANELS if p in wanted]:
                title = f"{_PANEL_TITLES[panel]}, {_epoch_words(w.epoch)}"
                entries.append(FigureEntry(section, panel, title, self._panel_drawer(panel, w), w.epoch))
        return entries

    def architecture_entries(self) -> list[FigureEntry]:
        """The network's diagram in both styles: flow (a box per layer, or per block above
        ``BLOCKS_ABOVE`` layers) and block (feature maps as boxes)."""
        return [FigureEntry("Architecture", "architecture", f"Architecture, {name} diagram",
                            self._diagram_drawer(name)) for name in DIAGRAM_STYLES]

    def curve_entries(self) -> list[FigureEntry]:
        """The run's loss and accuracy per epoch (as ``cnnplayground curves`` draws them), when it recorded any."""
        if self.run_index is None:
            return []
        return [FigureEntry("Training curves", "curves", "Loss and accuracy per epoch", self._curves_drawer())]

    def _curves_drawer(self) -> Callable[[], Drawn]:
        def draw() -> Drawn:
            from ...export.curves import METRICS, curve_plots, pgfplots_document
            from .curves_figure import curves_figure

            assert self.run_index is not None
            application()  # the figure is a widget: Qt (offscreen without a display) must be there first
            run = self.project.history[self.run_index]
            plots = [p for p in curve_plots([run], list(METRICS), self.style) if p.lines]
            if not plots:
                raise FigureSetError(f"{run.name} recorded no loss or accuracy per epoch")
            numbers: dict[str, Any] = {}
            parts = []
            for plot in plots:
                line = plot.lines[0]
                unit = " %" if plot.key == "accuracy" else ""
                pick = max if plot.key == "accuracy" else min
                best = pick(range(len(line.y)), key=lambda i, y=line.y: y[i])
                numbers[plot.key] = {"series": line.series, "first": line.y[0], "last": line.y[-1],
                                     "best": line.y[best], "best_epoch": line.x[best]}
                digits = ".1f" if plot.key == "accuracy" else ".3f"
                parts.append(f"{line.series.replace('_', ' ').replace('val ', 'validation ')} "
                             f"{line.y[0]:{digits}}{unit} after epoch {line.x[0]:g}, {line.y[-1]:{digits}}{unit} "
                             f"after epoch {line.x[-1]:g} ({'highest' if pick is max else 'lowest'} "
                             f"{line.y[best]:{digits}}{unit} after epoch {line.x[best]:g})")
            caption = (f"Loss and accuracy of {run.name} per epoch: {'; '.join(parts)}. pgfplots source for LaTeX "
                       "beside it (.tex), the numbers inline.")
            title = f"{self.project.name}: {run.name}"
            widget = curves_figure(plots, self.style)
            write_widget = self.write_widget(widget)

            def write(stem: Path) -> list[Path]:
                paths = write_widget(stem)
                tex = stem.with_name(f"{stem.name}.tex")
                atomic_write_bytes(tex, pgfplots_document(plots, self.style, None, title).encode("utf-8"))
                return [*paths, tex]
            return Drawn(caption, numbers, write)
        return draw

    # --- drawing ----------------------------------------------------------------------------------------------
    def context(self):
        """The panels' shared context: the project's dataset is loaded once for every figure."""
        from .panel_figures import _Context

        if self._context is None:
            self._context = _Context(self.project, self.options, application())
        return self._context

    def _frame(self, panel: str, weights: FigureWeights):
        from .panel_figures import PANEL_DRAWERS

        [frame] = PANEL_DRAWERS[panel](self.context(), [weights])
        return frame

    def fitting_style(self, widget) -> FigureStyle:
        """The set's style, widened where ``widget``'s parts need more (:func:`~.headless.fitting_style`)."""
        return fitting_style(widget, self.style)

    def _widened(self, style: FigureStyle) -> str:
        if style.width_in == self.style.width_in:
            return ""
        if style.height_in is not None and self.style.height_in is not None:
            return (f" Drawn on a {style.width_in:g} × {style.height_in:g} in page (16:9): the panel's parts need "
                    f"more than the {self.style.width_in:g} × {self.style.height_in:g} in of a slide.")
        return (f" Drawn {style.width_in:g} in wide: the panel's parts need more than the {self.style.name} "
                f"style's {self.style.width_in:g} in.")

    def write_widget(self, widget, style: FigureStyle | None = None) -> Callable[[Path], list[Path]]:
        """A ``write`` that draws ``widget`` in every :data:`WIDGET_FORMATS` in ``style`` (default: the set's),
        and then lets it go."""
        def write(stem: Path) -> list[Path]:
            paths = []
            try:
                for suffix in WIDGET_FORMATS:
                    path = stem.with_name(f"{stem.name}.{suffix}")
                    write_figure(widget, path, style or self.style)
                    paths.append(path)
            finally:
                widget.deleteLater()
            return paths
        return write

    def _rest(self, title: str, weights: FigureWeights) -> str:
        """A frame's title without the label of its weights (the panel's own summary of what it shows)."""
        prefix = f"{weights.label} · "
        rest = title[len(prefix):] if title.startswith(prefix) else title
        return " ".join(rest.split())

    def _diagram_drawer(self, kind: str) -> Callable[[], Drawn]:
        def draw() -> Drawn:
            from ...core.inference import infer
            from ...core.shapes import format_shape
            from ...export.diagram.scene import DiagramOptions
            from ...export.diagram.write import blocks_by_default, default_orientation, diagram_scene, text_of
            from .diagram_render import diagram_pdf, diagram_png

            application()  # the scene measures its text with Qt's fonts
            graph = self.weights[-1].graph
            options = DiagramOptions(orientation=default_orientation(kind, self.style, graph))
            blocks = kind == "flow" and blocks_by_default(graph, options, self.style)[0]  # as `diagram` does
            scene = diagram_scene(graph, kind, dataclasses.replace(options, blocks=blocks), self.style)
            scene.title = scene.title or f"{self.project.name}: architecture"
            result = infer(graph)
            layers = len(graph)  # as the window's Properties and `cnnplayground diagram` count them
            params = result.total_params
            shape_in = format_shape(result.infos[result.input_id].shape) if result.input_id else "?"
            shape_out = format_shape(result.infos[result.output_id].shape) if result.output_id else "?"
            what = ("one box per layer, its output's shape on the arrows" if kind == "flow" and not blocks
                    else "one box per block" if kind == "flow" else "each feature map a box of its shape, kernels "
                    "as small boxes")
            caption = (f"Architecture of {self.project.name}, {kind} diagram ({what}): {layers} layers, "
                       f"{params:,} parameters; input {shape_in}, output {shape_out}. TikZ source for LaTeX "
                       "beside it (.tex).")
            numbers = {"layers": layers, "parameters": params, "width_pt": scene.width, "height_pt": scene.height}

            def write(stem: Path) -> list[Path]:
                formats = {"svg": lambda: text_of(scene, "svg").encode("utf-8"),
                           "png": lambda: diagram_png(scene, self.style.dpi),
                           "pdf": lambda: diagram_pdf(scene, scene.title),
                           "tex": lambda: text_of(scene, "tex").encode("utf-8")}
                paths = []
                for suffix, data in formats.items():
                    path = stem.with_name(f"{stem.name}.{suffix}")
                    atomic_write_bytes(path, data())
                    paths.append(path)
                return paths
            return Drawn(caption, numbers, write, kind)
        return draw

    def _confusion_drawer(self, weights: FigureWeights) -> Callable[[], Drawn]:
        def draw() -> Drawn:
            frame = self._frame("confusion", weights)
            confusion = np.asarray(frame.values["confusion"], dtype=np.int64)
            names = list(self.context().data("confusion matrix").class_names)
            count = int(confusion.sum())
            accuracy = float(np.trace(confusion)) / count if count else 0.0
            off = confusion.copy()
            np.fill_diagonal(off, 0)
            numbers: dict[str, Any] = {"images": count, "accuracy": accuracy}
            caption = (f"Confusion matrix of {self.run_name} {_epoch_words(weights.epoch)} on the {count:,} "
                       f"validation images: {accuracy * 100:.1f} % accuracy")
            if off.max(initial=0) > 0:
                true, predicted = np.unravel_index(int(off.argmax()), off.shape)
                pair = (names[true], names[predicted], int(off[true, predicted]))
                numbers["most_confused"] = pair
                caption += f"; most confused: {pair[0]} → {pair[1]} ({pair[2]:,})"
            else:
                caption += "; no image confused"
            self._stack_narrow_confusion(frame.widget)
            style = self.fitting_style(frame.widget)
            return Drawn(caption + "." + self._widened(style), numbers, self.write_widget(frame.widget, style))
        return draw

    def _stack_narrow_confusion(self, widget) -> None:
        """In a narrow style (a paper column), the per-class accuracies under the matrix instead of beside it,
        where they would be cut at the column's edge; the figure grows by their height."""
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QSplitter

        from .styled import LOGICAL_DPI, font

        if self.style.width_in * LOGICAL_DPI >= 600 or self.style.height_in is not None:
            return
        splits = widget.findChildren(QSplitter)
        if len(splits) != 1 or splits[0].count() != 2:
            return
        split = splits[0]
        widget.setFont(font(self.style, self.style.font_size))
        split.setOrientation(Qt.Orientation.Vertical)
        bars = split.widget(1)
        inner = getattr(bars, "widget", lambda: None)() or bars  # a scroll area's content
        needed = inner.sizeHint().height() + 2 * bars.frameWidth() if hasattr(bars, "frameWidth") else \
            inner.sizeHint().height()
        widget.resize(widget.width(), widget.height() + needed + split.handleWidth())
        widget.layout().activate()
        split.setSizes([max(split.height() - needed - split.handleWidth(), 1), needed])

    def _panel_drawer(self, panel: str, weights: FigureWeights) -> Callable[[], Drawn]:
        def draw() -> Drawn:
            frame = self._frame(panel, weights)
            rest = self._rest(frame.title, weights)
            when = _epoch_words(weights.epoch)
            detail = ""
            numbers: dict[str, Any] = {}
            if panel == "kernels":
                from ...inspect.kernels import kernel_images

                w = frame.values["weight"]
                out, channels, kh, kw = w.shape
                layer = rest[:rest.rfind(f": {out} filters of")]
                mode = self.options.mode if self.options.mode != "rgb" else "auto"
                scale = float(kernel_images(w, mode, "shared").scale.max(initial=0.0))
                numbers = {"layer": layer, "filters": out, "shape": (channels, kh, kw), "scale": scale}
                caption = (f"Kernels of {layer}, {out} filters of {channels}×{kh}×{kw}, {when}; colour scale "
                           f"±{scale:.3g}.")
                detail = layer
            elif panel == "feature-maps":
                maps = frame.values["maps"]
                layer = rest[:rest.rfind(f": {maps.shape[0]} maps of")]
                low, high = float(maps.min()), float(maps.max())
                numbers = {"layer": layer, "maps": int(maps.shape[0]), "low": low, "high": high}
                caption = (f"Feature maps of {rest}, {when}; values from {low:.3g} to {high:.3g}, each map on its "
                           "own scale.")
                detail = layer
            else:
                numbers = _panel_numbers(panel, frame.values)
                caption = f"{_PANEL_TITLES[panel]}, {self.run_name} {when}: {rest}"
                caption = caption.rstrip(".") + "." + _panel_extra(panel, frame)
            style = self.fitting_style(frame.widget)
            return Drawn(caption + self._widened(style), numbers, self.write_widget(frame.widget, style), detail)
        return draw

    # --- writing ----------------------------------------------------------------------------------------------
    def cancel(self) -> None:
        """Stop before the next figure (the one being drawn is finished and written)."""
        self.cancelled = True

    def steps(self) -> Iterator[SetProgress]:
        """Draw and write every figure, yielding after each; then the index. Raises :class:`FigureSetError`
        when the folder cannot be written (the files written before stay, each whole)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FigureSetError(f"cannot make the folder {self.folder}: {exc.strerror or exc}") from None
        self.earlier = read_manifest(self.folder)
        total = len(self.entries)
        try:
            for number, entry in enumerate(self.entries, start=1):
                if self.cancelled:
                    break
                result = self._one(number, entry)
                self.results.append(result)
                yield SetProgress(number, total, result)
        finally:
            app = application()
            app.processEvents()
        self.write_index()

    def _one(self, number: int, entry: FigureEntry) -> FigureResult:
        result = FigureResult(entry.section, entry.title)
        try:
            drawn = entry.draw()
        except OSError as exc:
            raise self._write_error(entry.title, exc) from None
        except (UserError, ValueError, RuntimeError) as exc:  # this figure cannot be drawn: say why, go on
            result.skipped = " ".join(str(exc).split()) or type(exc).__name__
            return result
        stem = self.folder / file_stem(number, entry.kind, drawn.detail, entry.epoch)
        try:
            paths = drawn.write(stem)
        except OSError as exc:
            raise self._write_error(stem.name, exc) from None
        except (UserError, ValueError, RuntimeError) as exc:
            result.skipped = " ".join(str(exc).split()) or type(exc).__name__
            return result
        self.written += paths
        result.caption, result.numbers = drawn.caption, drawn.numbers
        result.files = [p.name for p in paths]
        return result

    def _write_error(self, what: str, exc: OSError) -> FigureSetError:
        """One line: which file could not be written, why, and that the files written before it are whole."""
        if isinstance(exc, AtomicWriteError):  # it names the file and the reason
            message = str(exc).split("; ")[0]
        else:
            message = f"could not write {what} in {self.folder}: {exc.strerror or exc}"
        done = len(self.written)
        return FigureSetError(f"{message}; the {done} file{'s' * (done != 1)} written before it are whole"
                              if done else f"{message}; nothing was written")

    def title(self) -> str:
        dataset = getattr(self.project.dataset, "name", "")
        return f"{self.project.name} · {self.run_name}" + (f" · {dataset}" if dataset else "")

    def meta(self) -> list[str]:
        epochs = ", ".join(str(w.epoch) for w in self.weights if w.epoch is not None)
        drawn = sum(r.skipped is None for r in self.results)
        lines = [f"Epochs drawn: {epochs}" if epochs else "The project's weights",
                 f"Figure style: {self.style.name} ({self.style.width_in:g} in wide)",
                 f"{drawn} figure{'s' * (drawn != 1)} drawn, {len(self.results) - drawn} not drawn"]
        return lines

    def write_index(self) -> Path:
        """``index.html``, ``index.md`` and the manifest of the figures written so far. A finished set first
        removes the files of an earlier set in this folder that it did not write again (only names that set's
        manifest lists, plain files in this folder); a cancelled one keeps them, and lists them to remove later."""
        note = ""
        cancelled = self.cancelled and len(self.results) < len(self.entries)
        if cancelled:
            note = f"Cancelled after {len(self.results)} of {len(self.entries)} figures."
        names = [p.name for p in self.written] + [*INDEX_FILES, MANIFEST]
        stale = [name for name in self.earlier if name not in names]
        if cancelled:
            names += stale
        else:
            self.removed = remove_files(self.folder, stale, keep=names)
            if self.removed:
                note = (note + " " if note else "") + (f"Replaced the figure set that was in this folder "
                                                       f"({self.removed} of its files removed).")
        page = self.folder / "index.html"
        try:
            atomic_write_text(self.folder / "index.md", index_markdown(self.title(), self.meta(), self.results, note))
            atomic_write_text(page, index_html(self.title(), self.meta(), self.results, note))
            atomic_write_text(self.folder / MANIFEST, json.dumps({"format": _MANIFEST_FORMAT, "files": names},
                                                                indent=1) + "\n")
        except OSError as exc:
            raise self._write_error("the index", exc) from None
        return page


#: The index files of a set, and its manifest (the names of every file it wrote).
INDEX_FILES = ("index.html", "index.md")
MANIFEST = "figures.json"


_MANIFEST_FORMAT = "cnnplayground figure set"


def _plain_name(name: object) -> bool:
    """A file name that can only mean a file directly in the folder, on any system: no separators, no drive
    (``C:x``), nothing hidden, no trailing dot or space (Windows drops them: another file's name)."""
    return (isinstance(name, str) and 0 < len(name) <= 255 and name not in (".", "..")
            and not any(c in name for c in '/\\:\0') and not name.startswith(".") and name[-1] not in ". ")


def read_manifest(folder: Path) -> list[str]:
    """The file names an earlier set's manifest in ``folder`` lists (plain names only: nothing outside the
    folder); none where there is no manifest, it is not a figure set's (another program's ``figures.json``),
    or it cannot be read (a damaged one is ignored)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(data, dict) or data.get("format") != _MANIFEST_FORMAT:
        return []
    files = data.get("files")
    return [name for name in files if _plain_name(name)][:100_000] if isinstance(files, list) else []


def remove_files(folder: Path, names: Sequence[str], keep: Sequence[str] = ()) -> int:
    """Remove the plain files ``names`` directly in ``folder`` (not links, not folders, not a name that is one of
    ``keep`` but for its case: on a case-insensitive disk that is the file just written); how many went. One that
    cannot be removed stays."""
    kept = {name.casefold() for name in keep}
    removed = 0
    for name in names:
        path = folder / name
        if not _plain_name(name) or name.casefold() in kept or path.is_symlink() or not path.is_file():
            continue
        try:
            if path.resolve().parent != folder.resolve():
                continue
            path.unlink()
        except OSError:
            continue
        removed += 1
    return removed


def _panel_extra(panel: str, frame) -> str:
    """What a panel's figure shows beyond its title, as the panel says it (its labels), for the caption."""
    owner = getattr(frame.widget, "_panel", None)
    if panel == "adversarial" and owner is not None:
        before = ", ".join(" ".join(line.split()) for line in owner.original_label.text().splitlines())
        change = " ".join(owner.perturbation_label.text().split()).split(" (shown")[0]
        after = " ".join(owner.adversarial_label.text().split()).replace("says:", "says", 1)
        return f" Before the attack: {before}; the change per pixel: {change}; after it the network {after}."
    if panel == "top-patches":
        values = np.asarray(frame.values["values"], dtype=float)
        if values.size:
            return f" Values from {values.max():.3g} (first) to {values.min():.3g} (last)."
    return ""


def _panel_numbers(panel: str, values: dict[str, Any]) -> dict[str, Any]:
    """The numbers behind a panel's figure, by name (plain floats and ints)."""
    numbers: dict[str, Any] = {}
    for key, value in values.items():
        array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=float)
        if array.size == 1:
            numbers[key] = float(array.reshape(()))
        elif array.size:
            numbers[f"{key}_max"] = float(array.max())
    return numbers
