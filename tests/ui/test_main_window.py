"""The main window: menus, shortcuts, files, recent files, settings, status bar, launcher.

Every question a dialog would ask is answered by the ``answers`` fixture (the
question methods of the window's ``files``, ``ask_save_changes`` / ``choose_*`` /
``show_error``, are replaced), so no test can block on a modal dialog. Settings go to a temporary
INI file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication, QSettings, QSize, QStandardPaths, Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMessageBox, QProgressBar, QWidgetAction

from cnnplayground.core.presets import get_preset
from cnnplayground.core.summary import summarize
from cnnplayground.project import TrainingConfig
from cnnplayground.train.run_state import RunState
from cnnplayground.ui.app import run, set_app_metadata
from cnnplayground.ui.dialogs import SummaryDialog, TrainCommandDialog
from cnnplayground.ui.document.commands import AddNode, SetParams
from cnnplayground.ui.editor.canvas.view import CanvasView
from cnnplayground.ui.shell.files import ProjectFiles
from cnnplayground.ui.shell.main_window import HINT, MainWindow

Button = QMessageBox.StandardButton
Key = QKeySequence.StandardKey


class Answers:
    """What the replaced dialogs answer, and what they were asked."""

    def __init__(self) -> None:
        self.save_changes = Button.Discard
        self.open_path: Path | None = None
        self.save_path: Path | None = None
        self.preset: str | None = None
        self.questions: list[str] = []
        self.errors: list[tuple[str, str]] = []


@pytest.fixture
def settings_path(qapp, tmp_path) -> Path:
    """QSettings() of this test writes an INI file under tmp_path, never the user's settings."""
    QStandardPaths.setTestModeEnabled(True)
    set_app_metadata(qapp)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    path = tmp_path / "settings"
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(path))
    return path


@pytest.fixture
def answers(monkeypatch) -> Answers:
    a = Answers()

    def ask(self):
        a.questions.append(self.document.title)
        return a.save_changes

    monkeypatch.setattr(ProjectFiles, "ask_save_changes", ask)
    monkeypatch.setattr(ProjectFiles, "choose_open_path", lambda self: a.open_path)
    monkeypatch.setattr(ProjectFiles, "choose_save_path", lambda self: a.save_path)
    monkeypatch.setattr(ProjectFiles, "choose_preset", lambda self: a.preset)
    monkeypatch.setattr(ProjectFiles, "show_error", lambda self, title, text: a.errors.append((title, text)))
    return a


def make_window(qtbot) -> MainWindow:
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    return w


@pytest.fixture
def window(qtbot, settings_path, answers) -> MainWindow:
    return make_window(qtbot)


def edit(window: MainWindow) -> None:
    """One undoable change: a ReLU layer."""
    window.document.push(AddNode(window.document.graph, "ReLU", (0.0, 120.0)))


def recent_texts(window: MainWindow) -> list[str]:
    return [a.text() for a in window.menus["Open Recent"].actions()]


# --- structure -----------------------------------------------------------------------------


def test_window_has_canvas_docks_and_status_bar(window):
    assert isinstance(window.centralWidget(), CanvasView) and window.centralWidget() is window.canvas
    area = Qt.DockWidgetArea
    assert window.dockWidgetArea(window.layers_dock) == area.LeftDockWidgetArea
    assert window.dockWidgetArea(window.properties_dock) == area.RightDockWidgetArea
    assert (window.layers_dock.objectName(), window.properties_dock.objectName()) == ("layersDock", "propertiesDock")
    assert window.layers_dock.widget() is window.layer_palette
    assert window.properties_dock.widget() is window.properties
    f = QDockWidget.DockWidgetFeature
    for dock in (window.layers_dock, window.properties_dock):
        assert dock.features() == f.DockWidgetMovable | f.DockWidgetFloatable | f.DockWidgetClosable
    assert window.toolbar.objectName() == "mainToolBar"
    # A new project: just an Input layer for the synthetic dataset.
    graph = window.document.graph
    assert list(graph.nodes) == ["input"]
    assert graph.nodes["input"].params == {"channels": 1, "height": 28, "width": 28}
    assert window.windowTitle() == "Untitled[*] — CNN Playground"
    assert not window.isWindowModified()
    assert window.statusBar().currentMessage() == HINT
    assert window.status.params_label.text() == "Parameters: 0"
    assert window.status.memory_label.text() == "Memory ≈ 784.0 KB (batch 128)"
    assert window.status.errors_label.text() == "Add layers after the Input"  # unfinished, not an error
    assert window.status.errors_label.styleSheet() == ""
    assert window.status.zoom_label.text() == "100 %"
    assert isinstance(window.status.progress, QProgressBar) and window.status.progress.isHidden()


def test_menus_in_order(window):
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles == ["File", "Edit", "View", "Network", "Train", "Inspect", "Help"]
    file_items = [a.text() for a in window.menus["File"].actions() if not a.isSeparator()]
    assert file_items == ["&New", "New from &Preset…", "Import Mo&del…", "&Open…", "Open &Recent", "&Save",
                          "Save &As…", "Export &Model…", "Export &Figure…", "Export Dia&gram…",
                          "Export Figure S&et…", "Export &Report…", "&Import Weights…",
                          "Initialize from &Project…", "Import &torchvision Weights…", "&Quit"]
    train_items = [a.text() for a in window.menus["Train"].actions() if not a.isSeparator()]
    assert train_items == ["&Train", "&Pause", "&Stop", "S&weep…", "Find &Learning Rate…", "Training", "Curves",
                           "Results", "Health", "Train in the &Terminal…"]
    assert [window.acts.train.shortcut().toString(), window.acts.pause.shortcut().toString(),
            window.acts.stop.shortcut().toString()] == ["Ctrl+Return", "Ctrl+P", "Ctrl+."]
    assert not window.acts.pause.isEnabled() and not window.acts.stop.isEnabled()  # nothing to pause yet
    assert window.acts.summary in window.menus["Inspect"].actions()
    help_items = [a.text() for a in window.menus["Help"].actions() if not a.isSeparator()]
    assert help_items == ["&Experiments…", "&Layer Reference…", "&Keyboard Shortcuts…", "&About CNN Playground"]
    view = window.menus["View"].actions()
    assert window.layers_dock.toggleViewAction() in view and window.properties_dock.toggleViewAction() in view


def test_standard_shortcuts(window):
    a = window.acts
    standard = {a.new: Key.New, a.open: Key.Open, a.save: Key.Save, a.undo: Key.Undo, a.redo: Key.Redo,
                a.cut: Key.Cut, a.copy: Key.Copy, a.paste: Key.Paste, a.delete: Key.Delete,
                a.select_all: Key.SelectAll, a.zoom_in: Key.ZoomIn, a.zoom_out: Key.ZoomOut,
                a.full_screen: Key.FullScreen}
    for action, key in standard.items():
        assert action.shortcuts()[: len(QKeySequence.keyBindings(key))] == QKeySequence.keyBindings(key), action.text()
    literal = {a.new_from_preset: "Ctrl+Shift+N", a.save_as: "Ctrl+Shift+S", a.quit: "Ctrl+Q",
               a.duplicate: "Ctrl+D", a.actual_size: "Ctrl+0", a.fit: "F", a.add_layer: "Ctrl+K",
               a.auto_layout: "Ctrl+L", a.summary: "Ctrl+I"}
    for action, text in literal.items():
        assert action.shortcut().toString() == text, action.text()
    assert QKeySequence("Backspace") in a.delete.shortcuts()
    assert QKeySequence("Ctrl+=") in a.zoom_in.shortcuts()
    # Single keys act only on the canvas, so they never steal typing from text fields.
    for action in (a.delete, a.fit):
        assert action.shortcutContext() == Qt.ShortcutContext.WidgetWithChildrenShortcut
        assert action in window.canvas.actions()
    assert a.save.toolTip() == "Save (Ctrl+S)"
    assert a.zoom_in.toolTip() == "Zoom In (Ctrl++)"
    toolbar = [act.text() or "|" for act in window.toolbar.actions()]
    assert toolbar == ["&New", "&Open…", "&Save", "|", "&Undo", "&Redo", "|", "Zoom &In", "Zoom &Out",
                       "&Fit to View", "|", "Auto &Layout", "|", "&Train", "&Pause", "&Stop",
                       "|", "&Build Mode", "&Train Mode", "&Inspect Mode"]  # "|": the spacer before the modes
    buttons = [act for act in window.toolbar.actions()
               if not act.isSeparator() and not isinstance(act, QWidgetAction) and act not in a.modes.values()]
    assert all(not act.icon().isNull() for act in buttons)  # the modes' buttons are words


def test_keys_reach_the_canvas_but_not_text_fields(window, qtbot):
    window.layer_palette.layer_activated.emit("ReLU")
    assert window.canvas.selected_node_ids() == ["relu1"]
    window.layer_palette.search.setFocus()
    qtbot.waitUntil(window.layer_palette.search.hasFocus)
    qtbot.keyClicks(window.layer_palette.search, "f")
    qtbot.keyClick(window.layer_palette.search, Qt.Key.Key_Backspace)
    assert "relu1" in window.document.graph.nodes and window.status.zoom_label.text() == "100 %"
    window.canvas.setFocus()
    qtbot.waitUntil(window.canvas.hasFocus)
    qtbot.keyClick(window.canvas, Qt.Key.Key_Delete)
    assert list(window.document.graph.nodes) == ["input"]
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert list(window.document.graph.nodes) == ["input", "relu1"]


# --- files ----------------------------------------------------------------------------------


def test_new_from_preset_loads_lenet5(window, answers):
    answers.preset = None  # gallery cancelled: nothing happens
    window.acts.new_from_preset.trigger()
    assert list(window.document.graph.nodes) == ["input"]
    answers.preset = "lenet5"
    window.acts.new_from_preset.trigger()
    assert window.document.graph.to_dict() == get_preset("lenet5").factory().to_dict()
    assert window.status.params_label.text() == "Parameters: 61,706"
    assert window.status.memory_label.text() == "Memory ≈ 16.4 MB (batch 128)"
    assert window.status.errors_label.text() == "No errors"
    assert window.windowTitle() == "LeNet-5[*] — CNN Playground"
    assert not window.isWindowModified() and window.document.undo_stack.count() == 0
    assert answers.questions == []  # nothing to save: no question
    assert window.document.project.training == TrainingConfig()  # LeNet-5 has no recipe of its own
    answers.preset = "speedrun_cifar"
    window.acts.new_from_preset.trigger()
    recipe = get_preset("speedrun_cifar").recommended_settings()
    assert window.document.project.training == TrainingConfig.model_validate(recipe["training"])
    assert window.document.project.dataset.name == recipe["dataset"]["name"]
    assert "recommended training settings" in window.statusBar().currentMessage()


def test_unsaved_changes_are_asked_about_and_cancel_keeps_them(window, answers):
    edit(window)
    before = window.document.graph.to_dict()
    answers.save_changes, answers.preset = Button.Cancel, "lenet5"
    assert not window.new_from_preset()
    assert not window.new_project()
    assert answers.questions == ["Untitled", "Untitled"]
    assert window.document.graph.to_dict() == before and window.document.modified
    answers.save_changes = Button.Discard
    assert window.new_project()
    assert list(window.document.graph.nodes) == ["input"] and not window.document.modified


def test_title_shows_file_name_and_modified_mark(window, answers, tmp_path):
    answers.save_path = tmp_path / "net"  # no suffix: .cnnp is added
    assert window.save()
    assert window.document.path == tmp_path / "net.cnnp" and (tmp_path / "net.cnnp").is_file()
    assert window.windowTitle() == "net.cnnp[*] — CNN Playground" and not window.isWindowModified()
    edit(window)
    assert window.isWindowModified() and window.windowTitle() == "net.cnnp[*] — CNN Playground"
    window.document.undo_stack.undo()
    assert not window.isWindowModified()


def test_open_corrupt_file_keeps_current_work(window, answers, tmp_path):
    answers.preset = "lenet5"
    window.new_from_preset()
    window.document.push(SetParams(window.document.graph, "conv1", {"out_channels": 8}))
    before = window.document.graph.to_dict()
    broken = tmp_path / "broken.cnnp"
    broken.write_bytes(b"not a project")
    answers.open_path = broken
    window.acts.open.trigger()
    assert answers.questions == ["LeNet-5"]  # asked before replacing the work (answered Discard)
    assert answers.errors == [("Cannot open project", "broken.cnnp: not a CNN Playground project: the file is "
                                                      "neither a .cnnp archive nor JSON")]
    assert window.document.graph.to_dict() == before
    assert window.document.modified and window.windowTitle() == "LeNet-5[*] — CNN Playground"
    assert window.document.undo_stack.count() == 1
    assert window.recent.paths() == []


def test_save_and_reopen_round_trip(window, answers, tmp_path):
    answers.preset = "lenet5"
    window.new_from_preset()
    window.document.push(SetParams(window.document.graph, "fc1", {"out_features": 100}))
    before = window.document.graph.to_dict()
    answers.save_path = tmp_path / "lenet.cnnp"
    window.acts.save.trigger()  # no file yet: Save asks for a name
    assert window.new_project()
    assert list(window.document.graph.nodes) == ["input"]
    assert window.open_path(tmp_path / "lenet.cnnp")
    assert window.document.graph.to_dict() == before
    assert window.windowTitle() == "lenet.cnnp[*] — CNN Playground" and not window.isWindowModified()
    assert window.status.params_label.text() == "Parameters: 52,006"  # fc1 400·100+100, fc2 100·84+84
    assert answers.errors == [] and answers.questions == []


def test_save_failure_shows_error_and_stays_modified(window, answers, tmp_path):
    edit(window)
    answers.save_path = tmp_path / "missing" / "net.cnnp"
    assert not window.save_as()
    ((title, text),) = answers.errors
    reason, recovered = text.split("\n\n")
    assert (title, reason) == ("Cannot save project", f"net.cnnp: could not write {answers.save_path}: "
                                                      "No such file or directory; no file was written")
    assert recovered.startswith(f"A copy of the project, with its runs and weights, was saved to "
                                f"{window.autosaver.file}") and window.autosaver.file.is_file()
    assert window.document.modified and window.document.path is None
    assert window.recent.paths() == []


def test_recent_files_update_persist_and_forget_missing(window, answers, tmp_path, settings_path, qtbot):
    a, b = tmp_path / "a.cnnp", tmp_path / "b.cnnp"
    answers.save_path = a
    window.save_as()
    answers.save_path = b
    window.save_as()
    assert window.new_project() and window.open_path(a)
    assert window.recent.paths() == [a, b]
    assert QSettings().value("recentFiles") == [str(a), str(b)]
    assert Path(QSettings().fileName()).is_relative_to(settings_path)
    assert recent_texts(window) == ["&1 a.cnnp", "&2 b.cnnp", "", "&Clear Recent"]
    assert window.menus["Open Recent"].actions()[1].toolTip() == str(b)

    other = make_window(qtbot)  # a new window reads the same list
    assert recent_texts(other) == ["&1 a.cnnp", "&2 b.cnnp", "", "&Clear Recent"]

    b.unlink()
    window.menus["Open Recent"].actions()[1].trigger()
    assert answers.errors == [("Cannot open project", f"{b}: no such file")]
    assert window.recent.paths() == [a]
    assert recent_texts(window) == ["&1 a.cnnp", "", "&Clear Recent"]

    for i in range(12):
        window.recent.add(tmp_path / f"p{i}.cnnp")
    assert window.recent.paths() == [tmp_path / f"p{i}.cnnp" for i in range(11, 1, -1)]
    window.acts.clear_recent.trigger()
    assert window.recent.paths() == [] and QSettings().value("recentFiles") == []
    assert recent_texts(window) == ["No recent projects", "", "&Clear Recent"]
    assert not window.acts.clear_recent.isEnabled()


def test_geometry_and_dock_state_saved_and_restored(qtbot, settings_path, answers):
    first = make_window(qtbot)
    first.resize(640, 480)  # fits the offscreen platform's 800×600 screen
    first.properties_dock.hide()
    first.history_dock.show()
    assert first.close()
    settings = QSettings()
    assert settings.contains("window/geometry") and settings.contains("window/state")
    second = make_window(qtbot)
    assert second.size() == QSize(640, 480)
    assert second.properties_dock.isHidden() and not second.history_dock.isHidden()
    assert not second.layers_dock.isHidden()


def test_close_with_unsaved_changes(window, answers, tmp_path):
    edit(window)
    answers.save_changes = Button.Cancel
    assert not window.close()
    assert window.isVisible() and answers.questions == ["Untitled"]
    answers.save_changes, answers.save_path = Button.Save, tmp_path / "kept.cnnp"
    assert window.close()
    assert not window.isVisible() and (tmp_path / "kept.cnnp").is_file()


# --- connections and status ------------------------------------------------------------------


def test_palette_canvas_and_properties_are_connected(window, monkeypatch):
    shown: list[str | None] = []
    monkeypatch.setattr(window.properties, "show_node", shown.append)
    window.layer_palette.layer_activated.emit("ReLU")
    assert "relu1" in window.document.graph.nodes
    assert shown[-1] == "relu1"
    window.canvas.select_all()
    assert shown[-1] is None
    window.canvas.select_nodes(["input"])
    assert shown[-1] == "input"


def test_status_bar_follows_canvas_and_zoom(window):
    window.canvas.status_message.emit("Refused: ReLU takes 1 input and already has one")
    assert window.statusBar().currentMessage() == "Refused: ReLU takes 1 input and already has one"
    window.acts.zoom_in.trigger()
    assert window.status.zoom_label.text() == "120 %"
    window.acts.actual_size.trigger()
    assert window.status.zoom_label.text() == "100 %"


def test_error_label_and_go_to_first_error(window, qtbot):
    window.layer_palette.layer_activated.emit("ReLU")  # not wired: what to do next, and a problem to go to
    assert window.status.errors_label.text() == "Connect relu1: draw a wire into it"
    assert window.status.errors_label.styleSheet() == ""
    window.canvas.select_nodes([])
    window.acts.first_error.trigger()
    assert window.canvas.selected_node_ids() == ["relu1"]
    assert window.statusBar().currentMessage() == "relu1: ReLU has no input: draw a wire into it"
    window.canvas.select_nodes([])
    qtbot.mouseClick(window.status.errors_label, Qt.MouseButton.LeftButton)
    assert window.canvas.selected_node_ids() == ["relu1"]


def test_summary_and_train_dialogs(window, answers, tmp_path, qapp):
    window.acts.summary.trigger()
    summary = window.findChild(SummaryDialog)
    assert summary.isVisible()
    assert summary.text_edit.toPlainText() == summarize(window.document.graph, batch_size=128, title="Untitled")
    answers.save_path = tmp_path / "my net.cnnp"
    window.save_as()
    window.acts.train_terminal.trigger()
    train = window.findChild(TrainCommandDialog)
    assert train.command.text() == f"cnnplayground train '{tmp_path / 'my net.cnnp'}' --epochs 5"
    train.copy_button.click()
    assert qapp.clipboard().text() == train.command.text()


def test_help_dialogs_open(window):
    assert window.show_about().isVisible()
    assert window.show_layer_reference().isVisible()
    shortcuts = window.show_shortcuts()
    groups = [shortcuts.tree.topLevelItem(i).text(0) for i in range(shortcuts.tree.topLevelItemCount())]
    assert groups == ["File", "Edit", "View", "Network", "Train", "Inspect", "Help", "Canvas"]


# --- starting the app ---------------------------------------------------------------------------


@pytest.fixture
def keep_app_look(qapp):
    """run() applies the app theme; give the shared QApplication its look back afterwards."""
    sheet, palette, quit_on_close = qapp.styleSheet(), qapp.palette(), qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)
    qapp.setQuitOnLastWindowClosed(quit_on_close)


def test_run_opens_the_project_from_the_command_line(settings_path, answers, tmp_path, keep_app_look, qapp):
    path = tmp_path / "cli.cnnp"
    answers.save_path = path
    first = MainWindow()
    assert first.save_as()
    first.close()
    first.deleteLater()
    seen: list[str] = []

    def inspect_and_quit() -> None:
        QCoreApplication.exit(3)
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        seen.extend(w.windowTitle() for w in windows)
        for w in windows:
            w.hide()
            w.deleteLater()

    QTimer.singleShot(0, inspect_and_quit)
    assert run([str(path)]) == 3
    assert seen == ["cli.cnnp[*] — CNN Playground"]
    assert qapp.applicationName() == "CNN Playground" and qapp.organizationDomain() == "cnnplayground.invalid"

    QTimer.singleShot(0, inspect_and_quit)
    assert run([str(tmp_path / "nope.cnnp")]) == 3
    assert seen[-1] == "Untitled[*] — CNN Playground"
    assert answers.errors == [("Cannot open project", f"{tmp_path / 'nope.cnnp'}: no such file")]


@pytest.mark.parametrize("state", list(RunState))
def test_train_menu_follows_the_run_state_rules(window, state):
    """Whatever state the Training dock reports, Train, Pause/Resume and Stop are as RunState says."""
    window.training.state_changed.emit(state.value)
    acts = window.acts
    assert acts.train.isEnabled() is state.can_start
    assert acts.pause.isEnabled() is (state.can_pause or state.can_resume)
    assert acts.pause.text() == ("&Resume" if state is RunState.PAUSED else "&Pause")
    assert acts.stop.isEnabled() is state.can_stop
