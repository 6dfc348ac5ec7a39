"""The panel registry: one PanelSpec gives a panel its dock, its menu action and its figure export.

The recipe a new Inspect panel follows: a widget in its own module, one row in ``ui/shell/panels.py``
(here: :func:`register_panel`, undone after the test). Everything else comes from that row.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMessageBox, QVBoxLayout, QWidget

from cnnplayground.export.style import figure_style
from cnnplayground.ui.export.figure_dialog import ExportFigureDialog
from cnnplayground.ui.shell import panels
from cnnplayground.ui.shell.main_window import MainWindow
from cnnplayground.ui.shell.panels import PanelSpec, in_menu, register_panel

SHORTCUT = "Ctrl+Alt+Shift+Y"
TIP = "A panel made for this test: one label"


class DummyPanel(QWidget):
    """The smallest panel: a label, looking at nothing but knowing its window."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.source = window.model_source
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("A dummy panel", self))
        self.setMinimumSize(120, 80)


DUMMY = PanelSpec("dummy", "Dummy Panel", "dummyDock", DummyPanel, SHORTCUT, TIP, beside="kernels",
                  menus=("Inspect", "View"))


@pytest.fixture
def registered(monkeypatch):
    """DUMMY registered on a copy of the table: the real one is back after the test."""
    monkeypatch.setattr(panels, "PANELS", list(panels.PANELS))
    register_panel(DUMMY)
    return DUMMY


@pytest.fixture
def window(qtbot, registered, monkeypatch):
    w = MainWindow()
    qtbot.addWidget(w)
    monkeypatch.setattr(w.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.training.shutdown()


def _texts(menu) -> list[str]:
    return [a.text() if not a.isSeparator() else "|" for a in menu.actions()]


def test_a_registered_panel_has_an_inspect_action_a_dock_and_a_figure(qtbot, window, tmp_path, monkeypatch):
    # (a) Inspect menu: its action with its shortcut and tips, after the other panels of its section.
    act = next(a for a in window.menus["Inspect"].actions() if a.text() == "Dummy Panel")
    assert act is window.acts.show_dummy is window.acts.show_panel["dummy"]
    assert act.shortcut() == QKeySequence(SHORTCUT) and act.statusTip() == TIP and act.toolTip() == "Dummy Panel"
    inspect = _texts(window.menus["Inspect"])
    assert inspect.index("Dummy Panel") == inspect.index("Adversarial") + 1 < inspect.index("Convolution Explorer")
    assert "Dummy Panel" in _texts(window.menus["View"]) and "Dummy Panel" not in _texts(window.menus["Train"])

    # (b) a hidden dock, tabbed with the other Inspect panels right of the canvas; its action opens it.
    dock = window.findChild(QDockWidget, "dummyDock")
    assert dock is window.panel_dock("dummy") and dock.windowTitle() == "Dummy Panel"
    assert isinstance(window.panel("dummy"), DummyPanel) and window.panel("dummy").source is window.model_source
    assert dock.isHidden() and window.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea
    act.trigger()
    window.acts.show_kernels.trigger()
    assert dock.isVisible() and dock in window.tabifiedDockWidgets(window.kernels_dock)

    # (c) Export Figure offers it while it is open, and writes it: in the paper column's width at its dpi, in the
    # panel's proportions.
    assert dock in window.figure_docks()
    monkeypatch.setattr(ExportFigureDialog, "choose_path", lambda self, *a: str(tmp_path / "dummy.png"))
    dialog = window.export_figure("Dummy Panel")
    names = [dialog.target.itemText(i) for i in range(dialog.target.count())]
    assert "Dummy Panel" in names and dialog.current.name == "Dummy Panel"
    dialog.format.setCurrentIndex(dialog.format.findData("png"))
    dialog.preset.setCurrentIndex(dialog.preset.findData("paper"))
    dialog.export()
    assert dialog.written == tmp_path / "dummy.png", dialog.note.text()
    image = QImage(str(dialog.written))
    style = figure_style("paper")
    assert image.width() == round(style.width_in * style.dpi)
    assert abs(image.height() / image.width() - dock.widget().height() / dock.widget().width()) < 0.01
    assert "Export Figure…" in [a.text() for a in window.panel("dummy").actions()]  # and on right-click
    dialog.close()


def test_the_registry_keeps_every_docks_name_menu_place_and_tab(qtbot, window):
    """The built-in panels come from the table, with the dock names saved layouts know them by."""
    names = [s.object_name for s in panels.panel_specs() if s.key != "dummy"]
    assert names == ["curvesDock", "resultsDock", "healthDock", "kernelsDock", "featureMapsDock", "receptiveDock",
                     "occlusionDock", "adversarialDock", "maximizeDock", "patchesDock", "attributionDock",
                     "embeddingDock", "explorerDock"]
    assert [d.objectName() for d in window.figure_docks()] == names + ["dummyDock"]  # Health's plots too
    assert _texts(window.menus["Inspect"]) == [
        "Network &Summary…", "|", "Kernels", "Feature Maps", "Receptive Fields", "Occlusion", "Max Activation",
        "Top Patches", "Attribution", "Feature Space", "Adversarial", "Dummy Panel", "|", "Convolution Explorer"]
    assert [s and s.key for s in in_menu(panels.panel_specs(), "Train")] == ["curves", "results", "health"]
    assert window.kernels is window.panel("kernels") and window.curves_dock is window.panel_dock("curves")
    for spec in panels.panel_specs():
        assert window.findChild(QDockWidget, spec.object_name).windowTitle() == spec.title


def test_a_panel_is_registered_once_and_beside_a_known_one(registered):
    with pytest.raises(ValueError, match="registered already"):
        register_panel(DUMMY)
    with pytest.raises(ValueError, match="not registered"):
        register_panel(PanelSpec("other", "Other", "otherDock", DummyPanel, beside="nowhere"))
