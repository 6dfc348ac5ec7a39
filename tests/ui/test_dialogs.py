"""Dialogs, the application set-up, the theme and the launcher."""

from __future__ import annotations

import html
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from PySide6.QtCore import QSize, Qt, qVersion
from PySide6.QtGui import QAction, QKeySequence, QPalette
from PySide6.QtWidgets import QDialog, QDialogButtonBox

import cnnplayground
import cnnplayground.app as launcher
from cnnplayground.core.presets import PRESETS, lenet5
from cnnplayground.core.registry import all_kinds
from cnnplayground.project import Project
from cnnplayground.ui.app import app_icon, create_app
from cnnplayground.ui.dialogs import (
    AboutDialog,
    LayerReferenceDialog,
    PresetGallery,
    ShortcutsDialog,
    SummaryDialog,
    TrainCommandDialog,
    compact_count,
    graph_thumbnail,
    layer_reference_html,
    shortcut_rows,
    train_command,
)
from cnnplayground.ui.shell import theme


@pytest.fixture
def keep_app_look(qapp):
    """Tests that change the application theme give the shared QApplication its look back."""
    sheet, palette = qapp.styleSheet(), qapp.palette()
    yield
    theme.apply_theme(qapp, "light")
    qapp.setStyleSheet(sheet)
    qapp.setPalette(palette)


def test_about_dialog_lists_versions_and_device(qtbot, qapp):
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    text = dialog.label.text()
    for expected in (cnnplayground.__version__, platform.python_version(), qVersion(), torch.__version__,
                     torchvision.__version__, "MIT License"):
        assert html.escape(expected) in text
    rows = dict(dialog.info)
    if torch.cuda.is_available():
        assert rows["CUDA"] == torch.version.cuda
        assert rows["Training device"] == f"{torch.cuda.get_device_name(0)} (CUDA)"
    else:
        assert rows["CUDA"] == "not available"
        assert rows["Training device"] == f"CPU ({os.cpu_count()} cores)"
    assert rows["PyTorch"] == torch.__version__ and rows["PySide6 / Qt"].endswith(f"/ {qVersion()}")
    dialog.copy_button.click()
    assert qapp.clipboard().text() == dialog.text()
    assert dialog.text().splitlines()[0] == f"CNN Playground: {cnnplayground.__version__}"


def test_preset_gallery_lists_every_preset(qtbot):
    gallery = PresetGallery()
    qtbot.addWidget(gallery)
    assert gallery.names() == list(PRESETS)
    assert gallery.list.item(0).text() == "LeNet-5\n1×28×28 · 61.7 K params"
    assert gallery.list.item(gallery.names().index("resnet18")).text() == "ResNet-18\n3×224×224 · 11.7 M params"
    assert gallery.selected_name() == "lenet5"
    assert "Parameters: 61,706" in gallery.details.text() and "Layers: 13" in gallery.details.text()
    gallery.select("vgg16")
    assert "Parameters: 138,357,544" in gallery.details.text()
    assert gallery.list.iconSize() == QSize(96, 160)
    gallery.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert gallery.result() == QDialog.DialogCode.Accepted and gallery.selected_name() == "vgg16"


def test_preset_gallery_double_click_chooses(qtbot):
    gallery = PresetGallery()
    qtbot.addWidget(gallery)
    gallery.show()
    qtbot.waitExposed(gallery)
    item = gallery.list.item(gallery.names().index("mlp"))
    gallery.list.setCurrentItem(item)
    rect = gallery.list.visualItemRect(item)
    qtbot.mouseClick(gallery.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(gallery.accepted, timeout=2000):
        qtbot.mouseDClick(gallery.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert gallery.selected_name() == "mlp"


def test_preset_gallery_choose(monkeypatch):
    def pick(self):
        self.select("resnet20_cifar")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(PresetGallery, "exec", pick)
    assert PresetGallery.choose() == "resnet20_cifar"
    monkeypatch.setattr(PresetGallery, "exec", lambda self: QDialog.DialogCode.Rejected)
    assert PresetGallery.choose() is None


def test_thumbnail_draws_one_block_per_layer_in_category_colours(qapp):
    pixmap = graph_thumbnail(lenet5())
    assert pixmap.deviceIndependentSize().toSize() == QSize(96, 160)
    image = pixmap.toImage()
    # 13 rows of 152/13 px from y = 4: row r's block is centred at 4 + (r + 0.5)·152/13, x = 48.
    row_centre = [round(2 * (4 + (r + 0.5) * 152 / 13)) for r in range(13)]
    assert image.pixelColor(96, row_centre[0]).name() == "#78909c"  # Input
    assert image.pixelColor(96, row_centre[1]).name() == "#1e88e5"  # conv1: Convolution
    assert image.pixelColor(96, row_centre[3]).name() == "#00acc1"  # pool1: Pooling
    assert image.pixelColor(96, row_centre[12]).name() == "#43a047"  # fc3: Dense
    assert image.pixelColor(0, 0).alpha() == 0
    # Wider blocks where the output holds more values: conv1 (6×28×28) is wider than fc3 (10).
    width = [sum(image.pixelColor(x, row_centre[r]).alpha() > 0 for x in range(image.width())) for r in (1, 12)]
    assert width[0] > width[1]


def test_compact_count():
    assert [compact_count(n) for n in (850, 61_706, 11_689_512, 2_500_000_000)] == [
        "850", "61.7 K", "11.7 M", "2.5 G"]


def test_layer_reference_covers_every_kind_and_parameter(qtbot):
    text = layer_reference_html()
    for kind in all_kinds():
        assert f'<a name="{kind.name}"></a>{kind.name}</h4>' in text
        assert html.escape(kind.summary) in text
        for spec in kind.params:
            assert html.escape(spec.help) in text and html.escape(spec.describe_range()) in text
    only = layer_reference_html("dropout2d")
    assert '<a name="Dropout2d">' in only and '<a name="Conv2d">' not in only
    assert "No layer matches “zzz”." in layer_reference_html("zzz")
    dialog = LayerReferenceDialog()
    qtbot.addWidget(dialog)
    dialog.search.setText("PReLU")
    assert "PReLU" in dialog.browser.toPlainText() and "Conv2d" not in dialog.browser.toPlainText()


def test_shortcuts_dialog_lists_actions_with_keys(qtbot):
    save = QAction("&Save")
    save.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Save))
    plain = QAction("&Nothing")
    zoom = QAction("Zoom &In")
    zoom.setShortcuts([QKeySequence("Ctrl++"), QKeySequence("Ctrl+=")])
    rows = shortcut_rows([("File", [save, plain]), ("View", [zoom])])
    assert rows[:2] == [("File", "Save", "Ctrl+S"), ("View", "Zoom In", "Ctrl++, Ctrl+=")]
    assert rows[2] == ("Canvas", "Add a layer at the mouse", "Tab")
    dialog = ShortcutsDialog([("File", [save, plain]), ("View", [zoom])])
    qtbot.addWidget(dialog)
    tree = dialog.tree
    assert [tree.topLevelItem(i).text(0) for i in range(tree.topLevelItemCount())] == ["File", "View", "Canvas"]
    assert (tree.topLevelItem(0).child(0).text(0), tree.topLevelItem(0).child(0).text(1)) == ("Save", "Ctrl+S")


def test_summary_dialog_shows_text_and_copies_it(qtbot, qapp):
    text = "Layer  Kind\nconv1  Conv2d"
    dialog = SummaryDialog(text)
    qtbot.addWidget(dialog)
    assert dialog.text_edit.toPlainText() == text and dialog.text_edit.isReadOnly()
    assert dialog.text_edit.font().fixedPitch()
    dialog.copy_button.click()
    assert qapp.clipboard().text() == text and dialog.copy_button.text() == "Copied"


def test_train_command_names_the_file(qtbot):
    project = Project.new()
    assert train_command(Path("/data/my net.cnnp"), project) == "cnnplayground train '/data/my net.cnnp' --epochs 5"
    assert train_command(None, project) == "cnnplayground train PROJECT.cnnp --epochs 5"
    unsaved = TrainCommandDialog(None, project, True)
    qtbot.addWidget(unsaved)
    assert unsaved.note.text().startswith("Save the project first")
    changed = TrainCommandDialog(Path("/data/a.cnnp"), project, True)
    qtbot.addWidget(changed)
    assert changed.note.text().startswith("The project has unsaved changes")
    assert changed.command.isReadOnly() and changed.command.text() == "cnnplayground train /data/a.cnnp --epochs 5"


# --- application and theme ------------------------------------------------------------------


def test_create_app_reuses_the_running_app_and_names_it(qapp, keep_app_look):
    app = create_app()
    assert app is qapp
    assert (app.applicationName(), app.organizationName(), app.organizationDomain()) == (
        "CNN Playground", "CNN Playground", "cnnplayground.invalid")
    assert app.applicationVersion() == cnnplayground.__version__
    assert app.desktopFileName() == "io.github.cnnplayground.CNNPlayground"
    assert app.style().name().lower() == "fusion"
    assert not app_icon().isNull() and not app.windowIcon().isNull()


def test_theme_switches_palettes_and_announces_it(qapp, qtbot, keep_app_look):
    theme.apply_theme(qapp, "light")
    assert not theme.is_dark() and theme.error_color() == theme.ERROR_LIGHT
    with qtbot.waitSignal(theme.theme_changed(), timeout=1000) as blocker:
        theme.apply_theme(qapp, "dark")
    assert blocker.args == [True]
    assert theme.is_dark() and theme.error_color() == theme.ERROR_DARK
    assert qapp.palette().color(QPalette.ColorRole.Window).name() == "#2b2b2e"
    with qtbot.waitSignal(theme.theme_changed(), timeout=1000) as blocker:
        theme.apply_theme(qapp, "light")
    assert blocker.args == [False]
    assert qapp.palette().color(QPalette.ColorRole.Window) == theme.light_palette().color(QPalette.ColorRole.Window)
    assert theme.notifier() is theme.notifier()


def test_line_icons_are_drawn(qapp):
    for name in theme.LINE_ICONS:
        pixmap = theme.line_icon(name).pixmap(32, 32)
        image = pixmap.toImage()
        assert any(image.pixelColor(x, y).alpha() for x in range(32) for y in range(32)), name


# --- launcher ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["presets"], ["summary", "lenet5"], ["train", "--epochs", "1"], ["--help"],
                                  ["--version"], ["-h"], ["new", "lenet5", "x.cnnp"], ["evaluate", "x.cnnp"]])
def test_launcher_sends_subcommands_to_the_cli(monkeypatch, args):
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr("cnnplayground.cli.main", lambda argv: calls.append(("cli", argv)) or 0)
    monkeypatch.setattr("cnnplayground.ui.app.run", lambda argv: calls.append(("gui", argv)) or 0)
    assert launcher.main(args) == 0
    assert calls == [("cli", args)]


@pytest.mark.parametrize("args", [[], ["my.cnnp"]])
def test_launcher_starts_the_window_otherwise(monkeypatch, args):
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr("cnnplayground.cli.main", lambda argv: calls.append(("cli", argv)) or 0)
    monkeypatch.setattr("cnnplayground.ui.app.run", lambda argv: calls.append(("gui", argv)) or 0)
    assert launcher.main(args) == 0
    assert calls == [("gui", args)]


def test_launcher_without_display_explains(monkeypatch, capsys):
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr("cnnplayground.ui.app.run", lambda argv: pytest.fail("the window must not start"))
    assert launcher.main([]) == 1
    assert "no display found" in capsys.readouterr().err


def test_launcher_imports_no_qt():
    code = ("import sys, cnnplayground.app\n"
            "sys.exit(any(m.split('.')[0] in ('PySide6', 'shiboken6') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
