"""Modes (Build, Train, Inspect): what was asked for is in front, each mode keeps its layout, the canvas
keeps a usable share of the window, and quitting during a run asks before it stops anything.

The window is given a laptop's size (1280×720) explicitly: the offscreen screen is 800×800.
"""

from __future__ import annotations

import pytest
from helpers import shown_window
from PySide6.QtCore import QPoint, QRect, QSettings, QStandardPaths, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMessageBox, QTabBar

from cnnplayground.core.presets import get_preset
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.ui.app import set_app_metadata
from cnnplayground.ui.dialogs import ShortcutsDialog
from cnnplayground.ui.shell.main_window import MainWindow
from cnnplayground.ui.shell.modes import MIN_CANVAS_SIZE

SMALL = DatasetChoice(name="synthetic", options={"train_size": 1000, "test_size": 100})
INSPECT = ("kernels", "feature_maps", "receptive", "occlusion", "maximize", "adversarial", "patches",
           "attribution", "explorer")


@pytest.fixture(autouse=True)
def own_settings(qapp, tmp_path):
    """QSettings of this test in its own INI file: other test processes share Qt's test-mode settings."""
    QStandardPaths.setTestModeEnabled(True)
    set_app_metadata(qapp)
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))


@pytest.fixture
def window_size() -> tuple[int, int]:
    return (1280, 720)


def front_tab(window: MainWindow, dock: QDockWidget) -> str | None:
    """The title on the front tab of the dock's tab group (its own title when it has no tabs)."""
    for bar in window.findChildren(QTabBar):
        titles = [bar.tabText(i) for i in range(bar.count())]
        if bar.isVisible() and dock.windowTitle() in titles:
            return bar.tabText(bar.currentIndex())
    return dock.windowTitle() if dock.isVisible() else None


def canvas_share(window: MainWindow) -> tuple[float, int]:
    """The canvas viewport's share of the window's area, and its height (px)."""
    view = window.canvas.viewport()
    return view.width() * view.height() / (window.width() * window.height()), view.height()


def shown(window: MainWindow) -> set[str]:
    return {d.objectName() for d in window.modes.docks() if not d.isHidden()}


def test_a_panel_asked_for_is_in_front_in_its_mode(qtbot, window):
    assert window.modes.current == "build" and window.acts.mode_build.isChecked()
    assert shown(window) == {"layersDock", "propertiesDock", "trainingDock"}
    inspect_menu = window.menus["Inspect"].actions()
    for key in ("feature_maps", "receptive", "maximize", "adversarial", "kernels"):
        act = window.acts.show_panel[key]
        assert act in inspect_menu
        act.trigger()
        dock = window.panel_dock(key)
        assert window.modes.current == "inspect" and window.acts.mode_inspect.isChecked()
        qtbot.waitUntil(lambda: front_tab(window, dock) == dock.windowTitle())  # noqa: B023
        assert window.modes.in_front(dock) and act.isChecked()
        assert window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea  # beside the canvas
        assert dock.width() > 0.5 * window.width()  # large
    # Asked again while in front, it closes; asked once more, it is back in front.
    window.acts.show_kernels.trigger()
    assert window.kernels_dock.isHidden() and not window.acts.show_kernels.isChecked()
    window.acts.show_kernels.trigger()
    assert window.modes.in_front(window.kernels_dock)
    # The Curves go to Train, in front of Results.
    window.acts.show_results.trigger()
    window.acts.show_curves.trigger()
    assert window.modes.current == "train"
    qtbot.waitUntil(lambda: front_tab(window, window.curves_dock) == "Curves")


def test_modes_switch_by_tool_bar_and_shortcut_without_clashes(qtbot, window):
    a = window.acts
    assert [act.shortcut().toString() for act in a.modes.values()] == ["Ctrl+1", "Ctrl+2", "Ctrl+3"]
    assert window.modes.group.isExclusive() and all(act in window.toolbar.actions() for act in a.modes.values())
    keys: dict[str, str] = {}
    for act in window.findChildren(QAction):
        for key in act.shortcuts():
            assert keys.setdefault(key.toString(), act.text()) == act.text(), f"{key.toString()} twice"
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    for key, mode in ((Qt.Key.Key_2, "train"), (Qt.Key.Key_3, "inspect"), (Qt.Key.Key_1, "build")):
        qtbot.keyClick(window, key, Qt.KeyboardModifier.ControlModifier)
        assert window.modes.current == mode and a.modes[mode].isChecked()
        assert sum(act.isChecked() for act in a.modes.values()) == 1
    assert shown(window) == {"layersDock", "propertiesDock", "trainingDock"}


def test_each_mode_keeps_the_users_layout(qtbot, monkeypatch, window):
    w = window
    # Build: the user closes the palette and widens Properties.
    w.layers_dock.hide()
    qtbot.waitUntil(lambda: w.properties_dock.width() >= 340)  # the default (340), once the palette has gone
    w.resizeDocks([w.properties_dock], [420], Qt.Orientation.Horizontal)
    qtbot.waitUntil(lambda: abs(w.properties_dock.width() - 420) <= 2)
    build = shown(w)
    # Train: the user closes Results and Health and gives the Curves more height.
    w.acts.mode_train.trigger()
    assert {"curvesDock", "resultsDock", "healthDock", "trainingDock"} <= shown(w) and "layersDock" not in shown(w)
    w.results_dock.hide()
    w.panel_dock("health").hide()
    w.resizeDocks([w.curves_dock], [200], Qt.Orientation.Vertical)
    qtbot.waitUntil(lambda: abs(w.curves_dock.height() - 200) <= 2)
    curves_height = w.curves_dock.height()
    train = shown(w)
    w.acts.mode_inspect.trigger()
    assert shown(w) == {"kernelsDock"}

    w.acts.mode_build.trigger()
    assert shown(w) == build and w.layers_dock.isHidden()
    qtbot.waitUntil(lambda: abs(w.properties_dock.width() - 420) <= 2)
    w.acts.mode_train.trigger()
    assert shown(w) == train and w.results_dock.isHidden() and w.panel_dock("health").isHidden()
    qtbot.waitUntil(lambda: abs(w.curves_dock.height() - curves_height) <= 2)

    # The next session starts in the mode left, and each mode has its layout back.
    assert w.close()
    w.training.shutdown()
    assert QSettings().value("window/mode") == "train"
    again = shown_window(qtbot, monkeypatch)
    try:
        assert again.modes.current == "train" and shown(again) == train
        again.acts.mode_build.trigger()
        assert shown(again) == build
    finally:
        again.training.shutdown()


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_the_canvas_keeps_its_share_with_every_panel_open(qtbot, monkeypatch, size):
    w = shown_window(qtbot, monkeypatch, size)
    try:
        for key in INSPECT + ("curves", "results"):  # each asked for: ends in Train
            w.acts.show_panel[key].trigger()
        for mode in ("train", "inspect", "build"):
            w.modes.switch(mode)
            for dock in w.modes.docks():  # every dock open in every mode
                dock.show()
            qtbot.waitUntil(lambda: canvas_share(w)[0] >= 0.25 and canvas_share(w)[1] >= 250)  # noqa: B023
            assert w.size().width() == size[0] and w.size().height() == size[1]  # no dock grew the window
            # Every divider can be dragged: each dock is larger than its least size, and so is the canvas.
            for dock in w.modes.docks():
                if dock.isHidden() or not w.modes.in_front(dock):
                    continue
                least = dock.minimumSizeHint().expandedTo(dock.minimumSize())
                area = w.dockWidgetArea(dock)
                if area in (Qt.DockWidgetArea.TopDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea):
                    assert dock.height() > least.height(), dock.objectName()
                else:
                    assert dock.width() > least.width(), dock.objectName()
            assert w.canvas.height() > MIN_CANVAS_SIZE.height() and w.canvas.width() > MIN_CANVAS_SIZE.width()
    finally:
        w.training.shutdown()


def test_the_divider_above_the_panels_drags_both_ways(qtbot, window):
    w = window
    for key in INSPECT:
        w.acts.show_panel[key].trigger()
    w.modes.switch("train")
    for dock in w.modes.docks():
        dock.show()
    qtbot.waitUntil(lambda: canvas_share(w)[1] >= 250)
    x = w.canvas.geometry().center().x()
    below = w.canvas.geometry().bottom() + 3  # the separator between the canvas and the Curves
    for dy in (60, -40):  # down (the Curves have room above their least height), then up again
        before = w.curves_dock.height()
        qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=QPoint(x, below))
        qtbot.mouseMove(w, QPoint(x, below + dy // 2))
        qtbot.mouseMove(w, QPoint(x, below + dy))
        qtbot.waitUntil(lambda: abs(w.curves_dock.height() - (before - dy)) <= 2)  # noqa: B023
        qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=QPoint(x, below + dy))
        below = w.canvas.geometry().bottom() + 3


def test_the_default_size_is_nine_tenths_of_the_screen_centred(qtbot, monkeypatch):
    class Screen:
        @staticmethod
        def availableGeometry() -> QRect:
            return QRect(0, 0, 2560, 1440)

    monkeypatch.setattr(MainWindow, "screen", lambda self: Screen())
    w = MainWindow()
    qtbot.addWidget(w)
    try:
        assert (w.width(), w.height()) == (2304, 1296)
        assert w.geometry().center() == QRect(0, 0, 2560, 1440).center()
    finally:
        w.training.shutdown()


def test_starting_a_run_goes_to_train_and_quitting_asks_before_stopping_it(qtbot, window, monkeypatch):
    w = window
    config = TrainingConfig(epochs=100, batch_size=64, device="cpu", checkpoint_every=0)
    w.document.new(Project.new(graph=get_preset("lenet5").factory(), name="t", dataset=SMALL, training=config))
    assert w.modes.current == "build"
    w.acts.train.trigger()
    # The window takes the run's layout at once, while the data loads (before the run starts).
    assert w.training.session is None and w.modes.current == "train"
    assert not w.curves_dock.isHidden() and not w.results_dock.isHidden()
    with qtbot.waitSignal(w.training.events_arrived, timeout=120_000):
        pass
    assert w.modes.current == "train" and w.acts.mode_train.isChecked()
    assert w.modes.in_front(w.curves_dock) and w.modes.in_front(w.training_dock)

    asked: list[str] = []
    monkeypatch.setattr(w.files, "ask_stop_training", lambda: (asked.append("stop"), False)[1])
    assert not w.close()  # Cancel: the window stays and the run goes on
    assert asked == ["stop"] and w.isVisible() and w.training.running
    with qtbot.waitSignal(w.training.events_arrived, timeout=60_000):
        pass
    assert w.training.running

    monkeypatch.setattr(w.files, "ask_stop_training", lambda: (asked.append("stop"), True)[1])
    monkeypatch.setattr(w.files, "ask_save_changes",
                        lambda: (asked.append("save"), QMessageBox.StandardButton.Discard)[1])
    assert w.close()
    assert asked[:2] == ["stop", "stop"] and not w.training.running


@pytest.mark.parametrize("long_name", [False, True])
def test_the_shortcuts_dialog_shows_whole_keys(qtbot, window, long_name):
    if long_name:  # a long action name must not squeeze the keys beside it
        act = QAction("Train every variant of this network on every dataset, one after another", window)
        act.setShortcut("Ctrl+Alt+Shift+F12")
        window.menus["Train"].addAction(act)
    dialog = window.show_shortcuts()
    assert isinstance(dialog, ShortcutsDialog)
    tree = dialog.tree
    qtbot.waitExposed(dialog)
    metrics = tree.fontMetrics()
    widest = {0: 0, 1: 0}
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        for j in range(group.childCount()):
            for column in (0, 1):
                widest[column] = max(widest[column], metrics.horizontalAdvance(group.child(j).text(column)))
    assert widest[1] > metrics.horizontalAdvance("Ctrl+Shift+M")
    assert tree.columnWidth(1) >= widest[1]  # every key whole
    if not long_name:  # and every name, where the (800 px) screen has room
        assert tree.columnWidth(0) >= widest[0]
    assert tree.columnWidth(0) + tree.columnWidth(1) <= tree.viewport().width()  # no sideways scrolling
    dialog.close()
