"""Help → Experiments: the gallery runs an experiment in the background, its runs enter the project's
runs, the finding (headline, verdict, figure) and a table of the arms appear, and both can be saved.

Tiny fake experiments (a 16-unit MLP, 200 synthetic images, one epoch) keep each run about a second.
"""

from __future__ import annotations

import csv
from html import escape

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox

from cnnplayground.experiments import nets
from cnnplayground.experiments.base import (
    Context,
    Curve,
    Experiment,
    Figure,
    Finding,
    Results,
    Stage,
    arm,
    curves_figure,
)
from cnnplayground.experiments.gallery import EXPERIMENTS
from cnnplayground.io.project import load_project
from cnnplayground.project import DatasetChoice, TrainingConfig
from cnnplayground.ui.experiments.dialog import COLUMNS, ExperimentsDialog, NumberItem
from cnnplayground.ui.experiments.figure import FigurePlot
from cnnplayground.ui.export.figure_dialog import ExportFigureDialog
from cnnplayground.ui.shell import main_window as main_window_module

TINY = DatasetChoice(name="synthetic", options={"train_size": 200, "test_size": 50})
SHAPE = (1, 28, 28)
WAIT = 120_000  # ms: generous for a loaded 2-core machine; a run takes about a second


def _config(**changes) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 1, "batch_size": 64, "checkpoint_every": 0, "device": "cpu",
                             "val_fraction": 0.2, **changes})


def _mlp(hidden=16):
    return nets.mlp(SHAPE, 10, [hidden])


def _conclude(arms):
    def conclude(results: Results) -> Finding:
        acc = {n: results.last(n, "val_accuracy") for n in arms}
        return Finding(f"The small net reached {acc[arms[0]]:.1%} on the tiny set.", True, acc,
                       curves_figure(results, list(arms), title="Tiny comparison"))
    return conclude


def _experiment(key, title, plan, conclude, minutes=(0.5, 3.0)) -> Experiment:
    return Experiment(key, title, f"{title}: one line.", "Watch the first epoch.", "Someone (2024) found it.",
                      plan, conclude, minutes)


def _two_arms(ctx: Context) -> list[Stage]:
    return [Stage("two widths", {"small": arm("small", _mlp(16), _config(), TINY, sweep="tiny"),
                                 "wider": arm("wider", _mlp(32), _config(), TINY, sweep="tiny")})]


def _two_stages(ctx: Context) -> list[Stage]:
    def later(results: Results):
        return {"second": arm("second", _mlp(16), _config(), TINY, sweep="tiny"),
                "extra": arm("extra", _mlp(8), _config(), TINY, sweep="tiny")}
    return [Stage("first", {"first": arm("first", _mlp(16), _config(), TINY, sweep="tiny")}),
            Stage("later", make=later)]


def _long_second(ctx: Context) -> list[Stage]:
    return [Stage("one short, one long", {"short": arm("short", _mlp(16), _config(), TINY, sweep="tiny"),
                                          "long": arm("long", _mlp(16), _config(epochs=500), TINY, sweep="tiny")})]


def _diverging(ctx: Context) -> list[Stage]:
    """A run at a learning rate far too high: its loss becomes NaN in the first epoch (a normal outcome)."""
    boom = _config(optimizer="sgd", learning_rate=10.0, momentum=0.99, epochs=3)
    return [Stage("fine and diverging", {"fine": arm("fine", _mlp(16), _config(), TINY, sweep="tiny"),
                                         "too high": arm("too high", nets.mlp(SHAPE, 10, [256, 256]), boom, TINY,
                                                         sweep="tiny")})]


def _missing_data(ctx: Context) -> list[Stage]:
    """MNIST at full scale (read from the data folder), the synthetic shapes at quick scale."""
    data = ctx.dataset("digits") if ctx.full else TINY
    return [Stage("digits", {"digits": arm("digits", _mlp(16), _config(), data, sweep="tiny")})]


TWO = _experiment("tiny", "Tiny widths", _two_arms, _conclude(("small", "wider")), minutes=(0.25, 4.0))
STAGES = _experiment("stages", "Tiny stages", _two_stages, _conclude(("first", "second", "extra")))
LONG = _experiment("long", "Tiny long run", _long_second, _conclude(("short", "long")))
DIVERGING = _experiment("diverging", "Tiny divergence", _diverging, _conclude(("fine", "too high")))
MISSING = _experiment("missing", "Tiny digits", _missing_data, _conclude(("digits",)))
FAKES = (TWO, STAGES, LONG, DIVERGING, MISSING)


@pytest.fixture
def dialog(qtbot, document):
    d = ExperimentsDialog(document, experiments=FAKES)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    yield d
    if d.running:
        d.reject()
        qtbot.waitUntil(lambda: not d.running, timeout=WAIT)


def _run(qtbot, dialog, key):
    dialog.select(key)
    dialog.run_button.click()
    assert dialog.running
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT)


def _column(dialog, key):
    c = [k for k, _, _ in COLUMNS].index(key)
    return [dialog.table.item(r, c).text() for r in range(dialog.table.rowCount())]


def _curve_count(plot: FigurePlot) -> int:
    return len(plot.getPlotItem().listDataItems())


def test_the_gallery_lists_all_ten_experiments_with_their_texts(qtbot, document):
    d = ExperimentsDialog(document)
    qtbot.addWidget(d)
    assert len(EXPERIMENTS) == 10
    assert [d.list.item(i).text() for i in range(d.list.count())] == [e.title for e in EXPERIMENTS]
    assert [d.list.item(i).toolTip() for i in range(d.list.count())] == [e.summary for e in EXPERIMENTS]
    for row, experiment in enumerate(EXPERIMENTS):
        d.list.setCurrentRow(row)
        assert d.title.text() == experiment.title
        assert escape(experiment.watch, quote=False) in d.watch.text() and "What to watch for" in d.watch.text()
        assert escape(experiment.literature, quote=False) in d.literature.text()
        assert "What the literature found" in d.literature.text()
        quick, full = experiment.minutes
        assert d.quick.text().startswith("Quick — synthetic shapes, ")
        assert d.full.text().startswith("Full — MNIST and Fashion-MNIST, ")
        assert (f"about {full:g} min" if full >= 1 else "under a minute") in d.full.text()
        assert (f"about {quick:g} min" if quick >= 1 else "under a minute") in d.quick.text()
    # Nothing to save before a run; the data folder is for the full scale only.
    assert not d.figure_button.isEnabled() and not d.csv_button.isEnabled()
    assert d.quick.isChecked() and not d.data_root.isEnabled() and not d.browse_button.isEnabled()
    d.full.setChecked(True)
    assert d.data_root.isEnabled() and d.browse_button.isEnabled()


def test_the_data_folder_defaults_to_the_projects_then_the_apps(qtbot, document, tmp_path, monkeypatch):
    monkeypatch.setenv("CNNPLAYGROUND_DATA", str(tmp_path / "default"))
    d = ExperimentsDialog(document, experiments=FAKES)
    qtbot.addWidget(d)
    assert d.data_root.text() == str(tmp_path / "default")
    document.set_dataset(DatasetChoice(name="mnist", root=str(tmp_path / "mine")))
    d2 = ExperimentsDialog(document, experiments=FAKES)
    qtbot.addWidget(d2)
    assert d2.data_root.text() == str(tmp_path / "mine")
    d2.choose_folder = lambda: str(tmp_path / "chosen")
    d2.full.setChecked(True)
    d2.browse_button.click()
    assert d2.data_root.text() == str(tmp_path / "chosen")


def test_a_run_fills_the_project_the_table_the_headline_and_the_figure(qtbot, dialog, document):
    dialog.select("tiny")
    dialog.run_button.click()
    # While it runs the experiment cannot be switched, nor its scale.
    assert not dialog.list.isEnabled() and not dialog.quick.isEnabled() and not dialog.full.isEnabled()
    assert not dialog.run_button.isEnabled() and dialog.stop_button.isEnabled()
    assert dialog.verdict.text() == "Running…"
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT)
    history = dialog.runs.project.history
    assert [r.name for r in history] == ["Tiny widths: small", "Tiny widths: wider"]
    assert document.project.history == [] and not document.undo_stack.canUndo()  # the open project untouched
    assert dialog.table.rowCount() == 2
    assert sorted(_column(dialog, "run")) == ["small", "wider"]
    assert _column(dialog, "outcome") == ["completed", "completed"]
    assert all(text.endswith("%") for text in _column(dialog, "best_val_accuracy"))
    assert dialog.progress.value() == 2 and dialog.progress.maximum() == 2
    assert dialog.verdict.text() == "✓ As in the literature"
    assert "The small net reached" in dialog.headline.text()
    assert _curve_count(dialog.figure_plot) == 2
    assert dialog.status.text().startswith("Done in ") and "kept with the experiments' runs" in dialog.status.text()
    assert dialog.run_button.isEnabled() and not dialog.stop_button.isEnabled() and dialog.list.isEnabled()
    assert dialog.figure_button.isEnabled() and dialog.csv_button.isEnabled()
    dialog.runs.undo_stack.undo()  # each run is one undo step of the dialog's project
    assert [r.name for r in dialog.runs.project.history] == ["Tiny widths: small"]


def test_results_are_kept_per_experiment(qtbot, dialog):
    _run(qtbot, dialog, "tiny")
    dialog.select("stages")
    assert dialog.table.rowCount() == 0 and dialog.verdict.text() == "No result yet"
    assert _curve_count(dialog.figure_plot) == 0 and not dialog.figure_button.isEnabled()
    dialog.select("tiny")
    assert dialog.table.rowCount() == 2 and dialog.verdict.text() == "✓ As in the literature"
    assert _curve_count(dialog.figure_plot) == 2


def test_a_later_stage_adds_its_runs_to_the_plan(qtbot, dialog, document):
    progress = []
    dialog.progress.valueChanged.connect(lambda value: progress.append((value, dialog.progress.maximum())))
    _run(qtbot, dialog, "stages")
    assert [r.name for r in dialog.runs.project.history] == ["Tiny stages: first", "Tiny stages: second",
                                                          "Tiny stages: extra"]
    assert dialog.progress.value() == dialog.progress.maximum() == 3
    # The first stage planned one run, and it finished before the second stage added two more.
    assert [p for p in progress if p[0] > 0] == [(1, 1), (2, 3), (3, 3)]
    assert _column(dialog, "run") == ["first", "second", "extra"]  # in the order they ran
    seconds = [k for k, _, _ in COLUMNS].index("seconds")
    dialog.table.sortItems(seconds, Qt.SortOrder.DescendingOrder)  # a click on the header: by the number
    values = [dialog.table.item(r, seconds).data(Qt.ItemDataRole.UserRole) for r in range(3)]
    assert values == sorted(values, reverse=True)
    assert _curve_count(dialog.figure_plot) == 3


def test_stop_keeps_the_finished_runs_and_says_so(qtbot, dialog, document):
    dialog.select("long")
    dialog.run_button.click()
    qtbot.waitUntil(lambda: len(dialog.runs.project.history) == 1 and "long" in dialog.status.text()
                    and "epoch" in dialog.status.text(), timeout=WAIT)
    dialog.stop_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT)
    assert [r.name for r in dialog.runs.project.history] == ["Tiny long run: short"]
    assert dialog.outcome.message == "stopped" and dialog.outcome.stopped
    assert dialog.verdict.text() == "Stopped" and "stopped" in dialog.headline.text()
    assert dialog.status.text().startswith("Stopped after") and "1 of 2 runs finished" in dialog.status.text()
    assert dialog.table.rowCount() == 1 and _curve_count(dialog.figure_plot) == 0
    assert dialog.run_button.isEnabled() and not dialog.stop_button.isEnabled()
    assert not dialog.figure_button.isEnabled() and dialog.csv_button.isEnabled()


def test_closing_stops_the_experiment_and_keeps_finished_runs(qtbot, dialog, document):
    dialog.select("long")
    dialog.run_button.click()
    qtbot.waitUntil(lambda: len(dialog.runs.project.history) == 1 and "epoch" in dialog.status.text(), timeout=WAIT)
    job = dialog.job
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: not job.running, timeout=WAIT)
    assert job.wait(60)
    assert [r.name for r in dialog.runs.project.history] == ["Tiny long run: short"]


def test_a_diverging_run_is_a_normal_outcome(qtbot, dialog, document):
    _run(qtbot, dialog, "diverging")
    # Its curve up to the NaN is worth comparing: both runs enter the project.
    assert [r.name for r in dialog.runs.project.history] == ["Tiny divergence: fine", "Tiny divergence: too high"]
    outcomes = dict(zip(_column(dialog, "run"), _column(dialog, "outcome")))
    assert outcomes["fine"] == "completed"
    assert outcomes["too high"].startswith("failed: the ") and "became NaN" in outcomes["too high"]
    assert dialog.verdict.text() == "✓ As in the literature"  # the experiment still has its finding
    assert dialog.run_button.isEnabled()


def test_a_missing_data_folder_is_refused_before_anything_runs(qtbot, dialog, document, tmp_path):
    dialog.select("missing")
    dialog.full.setChecked(True)
    dialog.data_root.setText(str(tmp_path / "nowhere"))
    dialog.run_button.click()
    assert not dialog.running and dialog.runs.project.history == []
    assert "does not exist" in dialog.status.text() and str(tmp_path / "nowhere") in dialog.status.text()
    assert dialog.run_button.isEnabled()


def test_runs_that_cannot_load_their_data_fail_with_a_clear_message(qtbot, dialog, document, tmp_path):
    dialog.select("missing")
    dialog.full.setChecked(True)
    dialog.data_root.setText(str(tmp_path))  # exists, but holds no MNIST
    dialog.run_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT)
    assert dialog.runs.project.history == []  # a run that could not start has no curve to compare
    assert dialog.table.rowCount() == 1
    assert _column(dialog, "outcome")[0].startswith("failed: MNIST files not found")
    assert dialog.verdict.text() == "✗ No result"
    assert "No run finished" in dialog.headline.text() and "MNIST files not found" in dialog.headline.text()
    assert "without a result" in dialog.status.text()
    assert _curve_count(dialog.figure_plot) == 0 and not dialog.figure_button.isEnabled()
    # Still usable: the quick scale runs the same experiment on the synthetic shapes.
    assert dialog.run_button.isEnabled() and dialog.list.isEnabled()
    dialog.quick.setChecked(True)
    dialog.run_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT)
    assert [r.name for r in dialog.runs.project.history] == ["Tiny digits: digits"]
    assert dialog.verdict.text() == "✓ As in the literature"


def test_a_finding_that_does_not_hold_is_marked(qtbot, document):
    def conclude(results):
        return Finding("No difference here.", False, {}, Figure("Flat", "x", "y", (Curve("a", (1.0, 2.0), (0.5, 0.5)),
                                                                                  Curve("b", (1.0, 2.0), (0.4, None)))))
    experiment = _experiment("flat", "Flat", lambda ctx: [Stage("one", {"a": arm("a", _mlp(), _config(), TINY,
                                                                                 sweep="t")})], conclude)
    d = ExperimentsDialog(document, experiments=[experiment])
    qtbot.addWidget(d)
    _run(qtbot, d, "flat")
    assert d.verdict.text() == "✗ Not seen in this run" and "No difference here." in d.headline.text()
    assert _curve_count(d.figure_plot) == 2


def test_an_experiment_that_raises_leaves_the_dialog_usable(qtbot, document):
    def plan(ctx):
        raise RuntimeError("the plan broke")
    experiment = _experiment("broken", "Broken", plan, _conclude(("a",)))
    d = ExperimentsDialog(document, experiments=[experiment])
    qtbot.addWidget(d)
    _run(qtbot, d, "broken")
    assert d.verdict.text() == "✗ No result" and "the plan broke" in d.headline.text()
    assert "without a result" in d.status.text() and d.run_button.isEnabled()


def test_enter_and_ctrl_return_run_the_selected_experiment(qtbot, dialog, document):
    dialog.select("tiny")
    dialog.list.setFocus()
    qtbot.keyClick(dialog.list, Qt.Key.Key_Return)
    assert dialog.running
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT)
    assert len(dialog.runs.project.history) == 2
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=5000)
    qtbot.keyClick(dialog.list, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert dialog.running
    qtbot.waitUntil(lambda: not dialog.running, timeout=WAIT)
    assert len(dialog.runs.project.history) == 4


def test_the_table_and_the_figure_are_saved(qtbot, dialog, tmp_path):
    _run(qtbot, dialog, "tiny")
    dialog.choose_csv_path = lambda: str(tmp_path / "tiny.csv")
    assert dialog.save_csv() == str(tmp_path / "tiny.csv")
    rows = list(csv.DictReader((tmp_path / "tiny.csv").read_text().splitlines()))
    assert [r["run"] for r in rows] == ["small", "wider"] and {r["outcome"] for r in rows} == {"completed"}
    assert {"experiment", "scale", "best_val_accuracy", "final_val_loss", "final_train_accuracy",
            "seconds"} <= set(rows[0])
    assert rows[0]["experiment"] == "tiny" and rows[0]["scale"] == "quick" and float(rows[0]["seconds"]) > 0
    signatures = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<svg", "pdf": b"%PDF", "csv": b"plot,series,x,y"}
    for fmt, signature in signatures.items():
        export = dialog.save_figure()
        assert isinstance(export, ExportFigureDialog)
        export.format.setCurrentIndex(export.format.findData(fmt))
        path = tmp_path / f"figure.{fmt}"
        export.choose_path = lambda _suggested, _filter, path=path: str(path)
        with qtbot.waitSignal(export.accepted, timeout=30_000):
            export.export()
        data = path.read_bytes()
        assert len(data) > 50, fmt
        assert (signature in data[:2000]) if fmt == "svg" else data.startswith(signature), fmt
        if fmt == "csv":
            lines = data.decode().splitlines()
            assert {line.split(",")[1] for line in lines[1:]} == {"small", "wider"}
    assert dialog.status.text().startswith("Saved")


def test_numbers_sort_as_numbers():
    items = []
    for value in (9.5, 10.25, None, 2.0):
        item = NumberItem()
        if value is None:
            item.setText("—")
        else:
            item.setData(Qt.ItemDataRole.DisplayRole, f"{100 * value:.1f} %")
            item.setData(Qt.ItemDataRole.UserRole, value)
        items.append(item)
    assert [i.text() for i in sorted(items)] == ["200.0 %", "950.0 %", "1025.0 %", "—"]


# --- through the main window --------------------------------------------------------------------


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: bringing to the front
def test_help_experiments_opens_the_dialog_beside_the_curves(qtbot, window):  # noqa: F811
    assert window.acts.experiments in window.menus["Help"].actions()
    assert window.acts.experiments.shortcut().toString() == "Ctrl+Shift+L"
    assert window.acts.experiments.statusTip()
    taken = [act.text() for act in window.findChildren(QAction) if QKeySequence("Ctrl+Shift+L") in act.shortcuts()]
    assert taken == ["&Experiments…"]  # no other action of the window has its key
    window.curves_dock.hide()
    window.acts.experiments.trigger()
    dialog = window.open_dialogs.get("experiments")
    assert isinstance(dialog, ExperimentsDialog) and dialog.isVisible()
    assert dialog.list.count() == len(EXPERIMENTS)
    assert window.curves_dock.isVisible()
    assert window.show_experiments() is dialog  # asked again: the open one comes to the front
    dialog.close()


def test_experiments_are_refused_while_training(qtbot, window, monkeypatch):  # noqa: F811
    told = []
    monkeypatch.setattr(main_window_module.QMessageBox, "information",
                        lambda *args: told.append(args[2]) or QMessageBox.StandardButton.Ok)
    with monkeypatch.context() as m:  # undone before the window closes (closing stops a running run)
        m.setattr(type(window.training), "running", property(lambda self: True))
        assert window.show_experiments() is None
    assert told and "stop it" in told[0]
    assert window.open_dialogs.get("experiments") is None


def test_closing_the_window_dialog_mid_run_keeps_the_finished_runs(qtbot, window, monkeypatch):  # noqa: F811
    monkeypatch.setattr(main_window_module, "ExperimentsDialog",
                        lambda document, parent: ExperimentsDialog(document, parent, experiments=FAKES))
    dialog = window.show_experiments()
    dialog.select("long")
    dialog.run_button.click()
    history = dialog.runs.project.history
    qtbot.waitUntil(lambda: len(history) == 1 and "epoch" in dialog.status.text(), timeout=WAIT)
    job = dialog.job
    dialog.close()  # deleted on close: the experiment stops with it
    qtbot.waitUntil(lambda: window.open_dialogs.get("experiments") is None, timeout=10_000)  # forgotten when destroyed
    assert job.wait(60)  # the worker has left the experiment
    assert [r.name for r in history] == ["Tiny long run: short"]
    assert window.document.project.history == [] and window.curves.plots.run_count == 0  # the open project


def test_an_experiments_runs_stay_out_of_the_open_project_and_open_in_a_window_of_their_own(
        qtbot, window, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setattr(main_window_module, "ExperimentsDialog",
                        lambda document, parent: ExperimentsDialog(document, parent, experiments=FAKES))
    before = list(window.document.project.history)
    dialog = window.show_experiments()
    assert not dialog.open_runs_button.isEnabled() and not dialog.save_runs_button.isEnabled()
    _run(qtbot, dialog, "tiny")
    assert window.document.project.history == before and not window.isWindowModified()
    assert [r.name for r in dialog.runs.project.history] == ["Tiny widths: small", "Tiny widths: wider"]
    assert dialog.open_runs_button.isEnabled() and dialog.save_runs_button.isEnabled()

    dialog.choose_runs_path = lambda: str(tmp_path / "runs")
    saved = dialog.save_runs()
    assert saved == tmp_path / "runs.cnnp"
    opened = load_project(saved)
    assert [r.name for r in opened.history] == ["Tiny widths: small", "Tiny widths: wider"]
    # Each arm keeps its epochs (0: its start, 1: its end) with its own network (16 and 32 hidden units).
    assert [r.epochs.epochs() for r in opened.history] == [[0, 1], [0, 1]]
    assert [r.epochs.weights[1]["layers.fc1.weight"].shape[0] for r in opened.history] == [16, 32]
    assert opened.graph.to_dict() == opened.history[0].epochs.graph.to_dict() and opened.weights is not None

    other = dialog.open_runs_window()
    try:
        assert other is not window and other.isVisible()
        assert [r.name for r in other.document.project.history] == ["Tiny widths: small", "Tiny widths: wider"]
        qtbot.waitUntil(lambda: other.curves.plots.run_count == 2, timeout=10_000)
        # The epoch slider offers both arms, and the panels can look at either at any stored epoch.
        assert [(i, epochs) for i, _name, epochs in other.model_source.stored_runs()] == [(0, [0, 1]), (1, [0, 1])]
        other.model_source.select_epoch(1, 0)
        assert other.model_source.selected_epoch == (1, 0)
        assert other.model_source.model.state_dict()["layers.fc1.weight"].shape[0] == 32
        assert window.document.project.history == before
    finally:
        monkeypatch.setattr(other.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
        other.training.shutdown()
        other.close()
    dialog.close()


def test_a_difference_within_seed_noise_is_shown_as_no_clear_difference(qtbot, document):
    def conclude(results):
        return Finding("86.0 % against 84.3 %.", False, {}, Figure("F", "x", "y", (Curve("a", (1.0,), (0.5,)),)),
                       clear=False)
    experiment = _experiment("close", "Close", lambda ctx: [Stage("one", {"a": arm("a", _mlp(), _config(), TINY,
                                                                                   sweep="t")})], conclude)
    d = ExperimentsDialog(document, experiments=[experiment])
    qtbot.addWidget(d)
    _run(qtbot, d, "close")
    assert d.verdict.text() == "≈ No clear difference (within seed noise)"
    assert "As in the literature" not in d.verdict.text() and d.verdict.styleSheet() == ""


def test_the_dialog_fits_a_small_laptop_screen(qtbot, document):
    d = ExperimentsDialog(document, experiments=FAKES)
    qtbot.addWidget(d)
    # 1280×720 less a panel: the buttons at the bottom stay on screen (the texts above scroll instead).
    assert d.minimumSizeHint().height() <= 660 and d.minimumSizeHint().width() <= 1240
