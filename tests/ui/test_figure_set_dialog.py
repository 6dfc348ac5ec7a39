"""File → Export Figure Set… (issue 26): the dialog draws a run's figure set with a progress bar, Cancel and
Open Folder; the folder is remembered. A tiny LeNet-5 trained 2 epochs on synthetic shapes (3 stored)."""

from __future__ import annotations

import contextlib
import dataclasses
import io

import pytest
from PySide6.QtCore import QSettings, Qt

from cnnplayground.cli import main
from cnnplayground.io.project import load_project
from cnnplayground.ui.export import figure_set_dialog
from cnnplayground.ui.export.figure_set_dialog import FigureSetDialog

TRAIN = ["--dataset", "synthetic", "--train-size", "256", "--test-size", "0", "--batch-size", "64", "--epochs", "2",
         "--seed", "5"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("set-dialog") / "lenet.cnnp"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--preset", "lenet5", *TRAIN, "--save", str(path)]) == 0
    return path


@pytest.fixture
def dialog(qtbot, trained, monkeypatch):
    QSettings().remove(figure_set_dialog.SETTINGS_KEY)
    request = FigureSetDialog.request

    def cheap(self):  # two panels: the test is about the dialog, the set's figures are tested in tests/cli
        return dataclasses.replace(request(self), kinds=("confusion", "kernels"))

    monkeypatch.setattr(FigureSetDialog, "request", cheap)
    d = FigureSetDialog(load_project(trained))
    qtbot.addWidget(d)
    d.show()
    return d


def _check(d: FigureSetDialog, *epochs: int) -> None:
    for k in range(d.epochs.count()):
        item = d.epochs.item(k)
        item.setCheckState(Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in epochs
                           else Qt.CheckState.Unchecked)


def test_the_dialog_writes_the_set_with_progress_and_opens_the_folder(qtbot, dialog, tmp_path, monkeypatch):
    assert dialog.run.currentText() == "run 1"
    assert [dialog.epochs.item(k).text() for k in range(dialog.epochs.count())] == \
        ["epoch 0 (before training)", "epoch 1", "epoch 2"]
    assert dialog.chosen_epochs() == [2]  # the last, checked first
    monkeypatch.setattr(dialog, "choose_folder", lambda start: str(tmp_path / "figs"))
    qtbot.mouseClick(dialog.browse_button, Qt.MouseButton.LeftButton)
    assert dialog.folder.text() == str(tmp_path / "figs")
    _check(dialog, 0, 2)
    dialog.style_choice.setCurrentIndex(dialog.style_choice.findData("slide"))
    seen: list[tuple[int, int]] = []
    dialog.progressed.connect(lambda done, total: seen.append((done, total)))
    with qtbot.waitSignal(dialog.set_finished, timeout=120_000) as finished:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
        assert dialog.running and not dialog.export_button.isEnabled() and dialog.cancel_button.text() == "Cancel"
    assert finished.args == ["done"]
    assert seen == [(k, 4) for k in range(1, 5)]
    assert (dialog.progress.value(), dialog.progress.maximum()) == (4, 4)
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == sorted([f"{s}.{f}" for s in ("01_confusion_epoch0", "02_confusion_epoch2",
                                                  "03_kernels_conv1_epoch0", "04_kernels_conv1_epoch2")
                            for f in ("svg", "png", "pdf")] + ["index.html", "index.md", "figures.json"])
    assert "Figure style: slide" in (tmp_path / "figs" / "index.html").read_text(encoding="utf-8")
    assert dialog.status.text() == f"4 figures written to {tmp_path / 'figs'}."
    assert dialog.open_button.isVisible() and dialog.cancel_button.text() == "Close"
    opened = []
    monkeypatch.setattr(dialog, "open_url", lambda url: opened.append(url.toLocalFile()) or True)
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert opened == [str((tmp_path / "figs").resolve())]
    # The folder is remembered for the next time.
    assert QSettings().value(figure_set_dialog.SETTINGS_KEY) == str(tmp_path / "figs")
    again = FigureSetDialog(dialog.project)
    qtbot.addWidget(again)
    assert again.folder.text() == str(tmp_path / "figs")


def test_cancel_stops_after_the_figure_being_drawn(qtbot, dialog, tmp_path):
    dialog.folder.setText(str(tmp_path / "figs"))
    _check(dialog, 0, 1, 2)
    dialog.progressed.connect(lambda done, total: qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
                              if done == 1 else None)
    with qtbot.waitSignal(dialog.set_finished, timeout=120_000) as finished:
        dialog.start()
    assert finished.args == ["cancelled"]
    assert dialog.progress.value() == 1 and dialog.progress.maximum() == 6
    names = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert names == sorted([f"01_confusion_epoch0.{f}" for f in ("svg", "png", "pdf")]
                           + ["index.html", "index.md", "figures.json"])
    assert dialog.status.text() == f"Cancelled: 1 figures written to {tmp_path / 'figs'}, with an index.html."
    assert dialog.isVisible()  # Cancel stopped the set; Close (now) closes
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()


def test_an_epoch_choice_that_cannot_be_made_is_said_in_the_dialog(qtbot, dialog, tmp_path, monkeypatch):
    dialog.folder.setText("")
    assert not dialog.start() and dialog.status.text() == "Choose a folder for the figures."
    dialog.folder.setText(str(tmp_path / "figs"))
    monkeypatch.setattr(FigureSetDialog, "chosen_epochs", lambda self: [7])
    assert not dialog.start()
    assert dialog.status.text() == "run 1 keeps no weights of epoch 7; it keeps epochs 0, 1, 2"
    assert not (tmp_path / "figs").exists() and not dialog.running


def test_the_file_menu_opens_it(qtbot, window):  # noqa: F811
    assert window.acts.export_figure_set.shortcut().toString() == "Ctrl+Alt+F"
    window.acts.export_figure_set.trigger()
    [shown] = window.findChildren(FigureSetDialog)
    assert shown.isVisible()
    assert shown.run.count() == 1 and shown.run.currentText() == "the project's weights"
    shown.close()
