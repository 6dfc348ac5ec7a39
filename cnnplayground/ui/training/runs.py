"""The Curves panel: the live plots beside a table of runs that says how the runs differ.

Each row is one run: a check box shows or hides its curves, a swatch gives its colour,
then the settings in which it differs from the other runs ("lr 0.01", "+Dropout",
"batch 128"; bold, in the palette's accent colour, its tool tip giving every run's values),
its best and final validation accuracy, last validation loss, epochs and training time.
Selecting a row draws that run strong (:meth:`RunsModel.set_focus`); the run name's
tool tip lists all of its settings. A click on a header sorts the rows by that column
(numbers as numbers, missing values "—" last); until then they are in run order.

The table and the plots observe one :class:`~.runs_model.RunsModel` (owned by the
:class:`CurvesPanel`): the table never reads the plots.
"""

from __future__ import annotations

from collections import Counter
from html import escape
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSplitter,
    QStyledItemDelegate,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..shell import theme
from ..sorting import SORT_ROLE, NumberTreeItem, format_seconds, is_number
from .plots import MIN_GRID_HEIGHT, ROW_MIN_ASPECT, ROW_MIN_WIDTH, TrainingPlots, short_run_names
from .runs_model import RunsModel

#: Setting key → short label in the "Differs in" column (keys not listed are shown as they are).
LABELS: dict[str, str] = {
    "learning_rate": "lr",
    "batch_size": "batch",
    "weight_decay": "wd",
    "label_smoothing": "smoothing",
    "network.parameters": "params",
    "augment.hflip": "flip",
    "augment.crop_padding": "crop",
    "mixed_precision": "amp",
    "adversarial": "adv",
    "adversarial_epsilon": "adv ε",
    "adversarial_steps": "adv steps",
    "adversarial_fraction": "adv share",
    "l1": "L1",
    "grad_clip": "clip",
    "val_fraction": "val share",
    "train_images": "images",
    "early_stopping_patience": "early stop",
    "early_stopping_metric": "stop on",
    "augment.vflip": "vflip",
    "augment.rotate_degrees": "rotate",
    "augment.translate": "shift",
    "augment.color_jitter": "jitter",
    "augment.erasing": "erasing",
    "augment.noise_std": "noise",
    "network.dropout": "dropout",
}
#: Settings never listed as differences (they differ between any two runs or say nothing).
IGNORED = frozenset({"steps_per_epoch", "checkpoint_every", "device"})
#: (header, header tool tip) of each column.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("Run", "Tick to show a run's curves; select a run to draw it strong. Sorts by run order (oldest first)"),
    ("Differs in", "The settings in which this run differs from the other runs (hover a cell for every run's "
                   "values)"),
    ("Best\nval acc", "Best validation accuracy over the run's epochs"),
    ("Final\nval acc", "Validation accuracy after the last epoch"),
    ("Val loss", "Validation loss after the last epoch"),
    ("Epochs", "Epochs trained"),
    ("Time", "Training time: the sum of the epochs' durations (— for runs saved before it was recorded)"),
)
RUN, DIFFERS, BEST, FINAL, LOSS, EPOCHS, TIME = range(len(COLUMNS))
#: The text of a missing value (sorted after every number).
MISSING = "—"
#: The "Differs in" text of a run that has the settings most runs share.
BASELINE = "baseline"
#: The widest the "Run" column is made (longer names are elided in the middle, whole in the tool tip).
MAX_NAME_WIDTH = 260
#: The widest the "Differs in" column is made (a longer list is elided at its end, whole in the tool tip).
MAX_DIFFERS_WIDTH = 320
#: The narrowest the runs table is made beside the plots (until the user drags the splitter).
MIN_TABLE_WIDTH = 360


def layer_counts(text: str) -> Counter[str]:
    """``"Conv2d×2, Dropout"`` → ``Counter({"Conv2d": 2, "Dropout": 1})``."""
    counts: Counter[str] = Counter()
    for part in filter(None, (p.strip() for p in text.split(","))):
        kind, _, n = part.partition("×")
        counts[kind] += int(n) if n.isdigit() else 1
    return counts


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def varying(settings: list[dict[str, Any]]) -> list[str]:
    """The setting keys whose values are not the same in every run (sorted, :data:`IGNORED` left out).

    A sweep's ``sweep.learning_rate`` is left out when the runs also store ``learning_rate``.
    """
    present = {k for s in settings for k in s}
    keys = sorted(k for k in present - IGNORED if not (k.startswith("sweep.") and k[6:] in present))
    return [k for k in keys if len({repr(s.get(k)) for s in settings}) > 1]


def common_value(settings: list[dict[str, Any]], key: str) -> str | None:
    """``repr`` of the value of ``key`` that most runs share, if more runs share it than any other
    value (and at least two do): the baseline from which the other runs differ. Else None."""
    counts = Counter(repr(s.get(key)) for s in settings).most_common(2)
    if counts[0][1] >= 2 and (len(counts) == 1 or counts[0][1] > counts[1][1]):
        return counts[0][0]
    return None


def _layer_change(counts: Counter[str], reference: Counter[str]) -> list[str]:
    more, fewer = counts - reference, reference - counts
    return ([f"+{k}" + (f"×{n}" if n > 1 else "") for k, n in sorted(more.items())]
            + [f"−{k}" + (f"×{n}" if n > 1 else "") for k, n in sorted(fewer.items())])


def differences(settings: list[dict[str, Any]]) -> list[str]:
    """For each run, the settings in which it differs from the other runs, as short text.

    A setting most runs share (:func:`common_value`) is listed only for the runs that change it
    ("wd 0.001" for the one run with weight decay, nothing for the others); a setting without
    such a baseline (a learning rate per run) is listed for every run. Layer lists are compared
    with the most common one, else with the first run that has one: "+Dropout", "−BatchNorm2d×2".
    """
    keys = varying(settings)
    common = {key: common_value(settings, key) for key in keys}
    reference = _layer_reference(settings, common.get("network.layers"))
    texts = []
    for s in settings:
        parts = []
        for key in keys:
            if common[key] is not None and repr(s.get(key)) == common[key]:
                continue
            if key == "network.layers":
                if reference is not None and key in s:
                    parts += _layer_change(layer_counts(s[key]), reference)
            elif key in s:
                parts.append(f"{LABELS.get(key, key)} {_format(s[key])}")
        texts.append(", ".join(parts))
    return texts


def _layer_reference(settings: list[dict[str, Any]], common: str | None) -> Counter[str] | None:
    """The layer counts runs are compared with: the layer list most runs share, else the first run's."""
    for s in settings:
        if "network.layers" in s and (common is None or repr(s["network.layers"]) == common):
            return layer_counts(s["network.layers"])
    return None


def _sort_value(value: Any) -> tuple[int, Any]:
    """Numbers in order, then everything else by its text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, _format(value))


def difference_tips(names: list[str], settings: list[dict[str, Any]]) -> list[str]:
    """For each run, a rich-text tool tip: every differing setting with its values across all runs.

    This run's value is bold; a value several runs share says how many ("0.001 ×3"). Layer lists
    are told as the change from the first run with the most common layer list.
    """
    keys = varying(settings)
    common = common_value(settings, "network.layers") if "network.layers" in keys else None
    first = next((i for i, s in enumerate(settings) if "network.layers" in s
                  and (common is None or repr(s["network.layers"]) == common)), None)
    reference = layer_counts(settings[first]["network.layers"]) if first is not None else None
    # Each key's values across the runs, sorted and counted once (not again for every run's tip).
    spread: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        if key == "network.layers":
            continue
        counts = Counter(repr(other.get(key)) for other in settings)
        values = {repr(other.get(key)): other.get(key) for other in settings}
        spread[key] = [(r, escape("(not set)" if value is None else _format(value))
                        + (f" ×{counts[r]}" if counts[r] > 1 else ""))
                       for r, value in sorted(values.items(), key=lambda kv: _sort_value(kv[1]))]
    tips = []
    for s in settings:
        lines = []
        for key in keys:
            label = escape(LABELS.get(key, key))
            if key == "network.layers":
                if reference is None or key not in s:
                    continue
                change = _layer_change(layer_counts(s[key]), reference)
                what = ", ".join(change) if change else "the same layers"
                lines.append(f"layers: <b>{escape(what)}</b> (compared with {escape(names[first])})")
                continue
            mine = repr(s.get(key))
            shown = [f"<b>{text}</b>" if r == mine else text for r, text in spread[key]]
            lines.append(f"{label}: {' · '.join(shown)}")
        tips.append("How the runs differ (this run's value in bold):<br>" + "<br>".join(lines) if lines else "")
    return tips


class _ElideRight(QStyledItemDelegate):
    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt override)
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideRight


class RunsTable(QTreeWidget):
    """One row per run of a :class:`RunsModel`, kept in step with it.

    Click a header to sort (numbers as numbers, missing values last); until then, and when
    sorted by "Run", the rows are in run order. A row knows its run by the index in its
    first cell's ``UserRole`` (never by its row number, which sorting changes).
    """

    def __init__(self, model: RunsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self._filling = False
        self._toggling = False  # a check box is showing or hiding its run: its row is right already
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels([header for header, _ in COLUMNS])
        for column, (_, tip) in enumerate(COLUMNS):
            self.headerItem().setToolTip(column, tip)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setIconSize(QSize(12, 12))
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long name keeps its end: "(newest)"
        self.setItemDelegateForColumn(DIFFERS, _ElideRight(self))  # a list keeps its first items
        header = self.header()
        header.setStretchLastSection(False)
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # Every column as wide as its contents; the two text columns at most MAX_*_WIDTH (fitted in refresh),
        # so a narrow table scrolls sideways instead of cutting values short.
        header.setSectionResizeMode(RUN, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(DIFFERS, QHeaderView.ResizeMode.Interactive)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # the run order until a header is clicked
        self.setSortingEnabled(True)
        self.setToolTip("")
        model.runs_changed.connect(self.refresh)
        theme.theme_changed().connect(self.refresh)
        self.itemChanged.connect(self._on_item_changed)
        self.itemSelectionChanged.connect(self._on_selection_changed)
        self.refresh()

    def ideal_width(self) -> int:
        """The width that shows every column whole (the "Run" column at most :data:`MAX_NAME_WIDTH`)."""
        header = self.header()
        widths = [max(self.sizeHintForColumn(c), header.sectionSizeHint(c)) for c in range(self.columnCount())]
        widths[RUN] = min(widths[RUN], MAX_NAME_WIDTH)
        widths[DIFFERS] = min(widths[DIFFERS], MAX_DIFFERS_WIDTH)
        return sum(widths) + 2 * self.frameWidth() + self.verticalScrollBar().sizeHint().width()

    def run_index(self, item: QTreeWidgetItem) -> int:
        """The index (in :attr:`model`) of the run shown in row ``item``."""
        return int(item.data(RUN, SORT_ROLE))

    def item_for_run(self, run_index: int) -> QTreeWidgetItem | None:
        """The row of run ``run_index`` (wherever sorting put it)."""
        for row in range(self.topLevelItemCount()):
            item = self.topLevelItem(row)
            if self.run_index(item) == run_index:
                return item
        return None

    def refresh(self, *_args: object) -> None:
        """Rebuild the rows from the model's runs, sorted as the user chose (else in run order)."""
        if self._toggling:  # not while Qt is still inside the toggled item's change: it would be deleted
            return
        self._filling = True
        self.setSortingEnabled(False)  # rows go in as they come; sorted once at the end
        try:
            model = self.model
            focus = model.focus
            self.clear()
            n = model.count
            names = model.names()
            shown_names = short_run_names(names)  # "dropout 0.5", not "Overfitting and the regularizers: ..."
            settings = [model.run(i).settings for i in range(n)]
            diffs = differences(settings)
            diff_tips = difference_tips(shown_names, settings)
            differing = bool(varying(settings))
            emphasis = self.palette().color(QPalette.ColorRole.Link)
            quiet = self.palette().color(QPalette.ColorRole.PlaceholderText)
            for i in range(n):
                metrics = model.run(i).metrics
                item = NumberTreeItem()
                newest = "  (newest)" if i == n - 1 and n > 1 else ""
                item.setText(RUN, shown_names[i] + newest)
                item.setData(RUN, SORT_ROLE, i)
                item.setText(DIFFERS, diffs[i] or (BASELINE if differing else MISSING if n > 1 else ""))
                for column, key, shown in (
                    (BEST, "best_val_accuracy", lambda v: f"{v:.2f} %"),
                    (FINAL, "final_val_accuracy", lambda v: f"{v:.2f} %"),
                    (LOSS, "last_val_loss", lambda v: f"{v:.4f}"),
                    (EPOCHS, "epochs", lambda v: f"{v:.0f}"),
                    (TIME, "seconds", format_seconds),
                ):
                    value = metrics.get(key)
                    if is_number(value):
                        item.setText(column, shown(value))
                        item.setData(column, SORT_ROLE, float(value))
                    else:
                        item.setText(column, MISSING)
                    item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(RUN, Qt.CheckState.Checked if model.run(i).visible else Qt.CheckState.Unchecked)
                item.setIcon(RUN, _swatch(model.color(i)))
                tip = "\n".join(f"{k}: {_format(v)}" for k, v in sorted(settings[i].items()))
                for column in range(len(COLUMNS)):
                    item.setToolTip(column, tip or "No settings recorded")
                item.setToolTip(RUN, f"{names[i]}{newest}\n\n{tip}" if tip else names[i] + newest)  # whole name
                font = item.font(DIFFERS)
                if diffs[i]:  # what sets this run apart stands out: bold, in the palette's accent colour
                    font.setBold(True)
                    item.setForeground(DIFFERS, emphasis)
                elif differing:
                    font.setItalic(True)
                    item.setForeground(DIFFERS, quiet)
                item.setFont(DIFFERS, font)
                if differing:  # the whole cell first (it may be elided), then every run's values
                    item.setToolTip(DIFFERS, f"<b>{escape(item.text(DIFFERS))}</b><br><br>{diff_tips[i]}")
                self.addTopLevelItem(item)
                if focus == i:
                    item.setSelected(True)
        finally:
            self.setSortingEnabled(True)  # sorts by the header the user clicked; none: the run order stays
            self._filling = False
        header = self.header()
        for column, most in ((RUN, MAX_NAME_WIDTH), (DIFFERS, MAX_DIFFERS_WIDTH)):
            self.setColumnWidth(column, min(max(self.sizeHintForColumn(column), header.sectionSizeHint(column)), most))

    def _on_item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != RUN:
            return
        index = self.run_index(item)
        visible = item.checkState(RUN) == Qt.CheckState.Checked
        if self.model.run(index).visible != visible:
            self._toggling = True
            try:
                self.model.set_visible(index, visible)
            finally:
                self._toggling = False

    def _on_selection_changed(self) -> None:
        if self._filling:
            return
        selected = self.selectedItems()
        index = self.run_index(selected[0]) if selected else None
        self.model.set_focus(index if index != self.model.count - 1 else None)


def _swatch(color: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(color)
    return QIcon(pixmap)


class CurvesPanel(QWidget):
    """The plots with the runs table beside them (in a splitter).

    Until the user drags the splitter, the table gets the width that shows its columns whole,
    except where that would keep a low, wide panel from putting the four plots in one row
    (:data:`~.plots.ROW_MIN_WIDTH`): there the plots get their row and the table the rest
    (at least :data:`MIN_TABLE_WIDTH`), and except in a panel too low for two rows of plots
    (:data:`~.plots.MIN_GRID_HEIGHT`, the Curves dock of a 1280×720 window), where the table gets at most
    :data:`MIN_TABLE_WIDTH` unless the row has its width anyway. A table is never made wider than half the panel.
    """

    def figure_widget(self) -> QWidget:
        """The plots make the figure (not the runs table or the buttons above the plots)."""
        return self.plots.graphics

    def curve_runs(self) -> list:
        """The shown runs as records (Export Figure's pgfplots): :meth:`.TrainingPlots.curve_runs`."""
        return self.plots.curve_runs()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: The runs shown: the plots draw them, the table lists them.
        self.model = RunsModel(self)
        self.plots = TrainingPlots(self, model=self.model)
        self.runs = RunsTable(self.model, self)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.addWidget(self.runs)
        self.splitter.addWidget(self.plots)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([420, 900])
        self.splitter.setChildrenCollapsible(True)
        self._split_by_hand = False
        self.splitter.splitterMoved.connect(self._on_split_moved)
        self.model.runs_changed.connect(self.fit_split)  # after the table has its new rows (connected first)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    def table_width(self, width: int, height: int) -> int:
        """The runs table's width in a panel ``width`` × ``height`` (see the class docstring)."""
        natural = min(self.runs.ideal_width(), width // 2)
        if height < MIN_GRID_HEIGHT:  # too low for 2×2 plots: the row of four needs the width more than the table
            return min(natural, max(MIN_TABLE_WIDTH, width - ROW_MIN_WIDTH))
        row = max(ROW_MIN_WIDTH, ROW_MIN_ASPECT * height)  # the plots' width for one row of four
        if width - row < MIN_TABLE_WIDTH:  # no room for the row anyway
            return max(natural, min(MIN_TABLE_WIDTH, width // 2))
        return max(MIN_TABLE_WIDTH, min(natural, width - row))

    def fit_split(self) -> None:
        """Give the table its width (:meth:`table_width`), unless the user has dragged the splitter."""
        width = self.splitter.width() - self.splitter.handleWidth()
        if self._split_by_hand or width <= 0 or not self.isVisible():
            return
        table = self.table_width(width, self.splitter.height())
        if self.splitter.sizes()[0] != table:
            self.splitter.setSizes([table, width - table])

    def _on_split_moved(self, _pos: int, _index: int) -> None:
        self._split_by_hand = True

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().resizeEvent(event)
        self.fit_split()

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.fit_split()
