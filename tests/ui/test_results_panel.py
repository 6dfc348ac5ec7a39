"""The Results panel: how many images were wrong, not only how many are shown; cleared on demand."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.data.base import ImageData, Split
from cnnplayground.train.evaluate import Evaluation, Mistake
from cnnplayground.ui.training.results import EMPTY_CAPTION, ResultsPanel


def _data(n: int) -> ImageData:
    images = torch.zeros((n, 1, 4, 4), dtype=torch.uint8)
    labels = torch.zeros(n, dtype=torch.long)
    return ImageData(name="t", train=Split(images, labels), val=Split(images, labels), test=None,
                     class_names=("a", "b"), mean=(0.5,), std=(0.5,))


def test_the_misclassified_tab_says_24_of_206_and_clear_empties_every_view(qtbot):
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    confusion = torch.tensor([[400, 106], [100, 394]])  # 206 wrong of 1,000
    mistakes = tuple(Mistake(index=i, true=0, predicted=1, confidence=0.9) for i in range(24))
    result = Evaluation(count=1000, loss=0.5, accuracy=0.794, per_class_accuracy=(0.79, 0.8),
                        confusion=confusion, mistakes=mistakes)
    panel._evaluated_caption = "the weights stored in the project"
    panel._on_mistakes_found((result, _data(1000)))
    assert panel.tabs.tabText(1) == "Misclassified (24 of 206)"
    assert "24 most confident of the 206 mistakes on the 1,000" in panel.tabs.tabToolTip(1)
    assert len(panel.mistakes.captions()) == 24 and panel.confusion.class_count() == 2

    few = Evaluation(count=1000, loss=0.5, accuracy=0.997, per_class_accuracy=(1.0, 0.99),
                     confusion=torch.tensor([[500, 0], [3, 497]]), mistakes=mistakes[:3])
    panel._on_mistakes_found((few, _data(1000)))
    assert panel.tabs.tabText(1) == "Misclassified (3)"  # every mistake is shown

    panel.clear()
    assert panel.tabs.tabText(1) == "Misclassified" and panel.mistakes.captions() == []
    assert panel.confusion.class_count() == 0 and panel.caption.text() == EMPTY_CAPTION


# Issue 22: the misclassified images of an image folder name their file (tooltip, Show in Folder, Copy File Path).
#: Grey level of each image, by file: 8 right in each class, 5 mistakes (dark images in bright/, bright in dark/).
LEVELS = {
    **{f"bright/{i:02d}.png": 255 for i in range(8)},
    **{f"dark/{i:02d}.png": 0 for i in range(8)},
    "bright/shadow_5.png": 5, "bright/shadow_60.png": 60,
    "dark/glare_200.png": 200, "dark/glare_230.png": 230, "dark/glare_250.png": 250,
}
PLANTED = {"bright/shadow_5.png", "bright/shadow_60.png", "dark/glare_200.png", "dark/glare_230.png",
           "dark/glare_250.png"}


def _lights_graph():
    """Input 1×8×8 → Flatten → Linear(2)."""
    from cnnplayground.core.graph import Graph

    graph = Graph()
    graph.add_node("Input", {"channels": 1, "height": 8, "width": 8}, id="input")
    graph.add_node("Flatten", id="flat")
    graph.add_node("Linear", {"out_features": 2}, id="fc")
    graph.connect("input", "flat")
    graph.connect("flat", "fc")
    return graph


def _lights(tmp_path):
    """(model, data, root): an image folder of uniform 8×8 grey images and a network that calls an image
    "bright" (class 0) when it is brighter than the training mean, else "dark"; half the images validate."""
    from PIL import Image

    from cnnplayground.core.builder import build
    from cnnplayground.data.registry import load_dataset
    from cnnplayground.project import DatasetChoice

    root = tmp_path / "lights"
    for name, level in LEVELS.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), level).save(root / name)
    model = build(_lights_graph())
    with torch.no_grad():
        model.layers.fc.weight.copy_(torch.tensor([[0.02] * 64, [-0.02] * 64]))
        model.layers.fc.bias.zero_()
    data = load_dataset(DatasetChoice(name="folder", root=str(root), options={"size": 8, "channels": 1}),
                        val_fraction=0.5, seed=2)
    assert data.class_names == ("bright", "dark")
    return model, data, root


def test_each_misclassified_image_of_a_folder_names_its_file(qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices, QGuiApplication

    model, data, root = _lights(tmp_path)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.mistakes_shown, timeout=10_000) as shown:
        panel.find_mistakes(model, data, root=str(root))
    expected = PLANTED & set(data.val.files)  # the planted mistakes that fell in the validation split
    assert shown.args == [len(expected)] and len(expected) >= 2
    grid = panel.mistakes
    tips = grid.tooltips()
    files = [tip.split("<b>", 1)[1].split("</b>", 1)[0] for tip in tips]
    assert sorted(files) == sorted(expected)
    for file, tip in zip(files, tips):
        true = file.split("/")[0]  # the class folder
        other = "dark" if true == "bright" else "bright"
        assert f"true: {true} → predicted: {other} (" in tip
    assert "right-click an image to show its file" in panel.tabs.tabToolTip(1)

    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    menu = grid.tile_menu(0)
    assert menu is not None
    show, copy = menu.actions()[:2]
    assert (show.text(), copy.text(), show.isEnabled()) == ("Show in Folder", "Copy File Path", True)
    show.trigger()
    assert opened == [QUrl.fromLocalFile(str((root / files[0]).parent))]
    assert opened[0].toLocalFile() == str(root / files[0].split("/")[0])
    copy.trigger()
    assert QGuiApplication.clipboard().text() == str(root / files[0])


@pytest.mark.qt_log_ignore("This plugin does not support raise", "This plugin does not support grabbing the keyboard")
def test_hover_and_right_click_on_a_tile_name_its_file_and_a_set_without_files_has_no_menu(qtbot, tmp_path):
    """The tooltip and menu pop up on the offscreen platform (which cannot raise them or grab the keyboard)."""
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QContextMenuEvent, QHelpEvent
    from PySide6.QtWidgets import QApplication, QMenu, QToolTip

    from cnnplayground.ui.training.mistakes_grid import MistakesGrid

    grid = MistakesGrid()
    qtbot.addWidget(grid)
    grid.resize(600, 300)
    grid.show()
    qtbot.waitExposed(grid)
    images = torch.zeros((2, 1, 8, 8), dtype=torch.uint8)
    grid.set_mistakes(images, [0, 1], [1, 0], [0.9, 0.8], ("cat", "dog"), files=["cat/a.png", "dog/b.png"],
                      root=tmp_path)
    tiles = grid._tiles

    def right_click(pos: QPoint) -> list[list[str]]:
        """The entries of each context menu on show after a right-click at ``pos`` (then closed)."""
        QApplication.sendEvent(tiles, QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, tiles.mapToGlobal(pos)))
        menus = [m for m in tiles.findChildren(QMenu) if m.isVisible()]
        entries = [[a.text() for a in m.actions()] for m in menus]
        for m in menus:
            m.close()
        return entries

    pos = tiles.tile_rect(1).center().toPoint()
    QApplication.sendEvent(tiles, QHelpEvent(QEvent.Type.ToolTip, pos, tiles.mapToGlobal(pos)))  # hovering
    assert QToolTip.text() == "<nobr><b>dog/b.png</b></nobr><br><nobr>true: dog → predicted: cat (80 %)</nobr>"
    QToolTip.hideText()
    assert right_click(pos) == [["Show in Folder", "Copy File Path"]]
    assert not grid.tile_menu(1).actions()[0].isEnabled()  # tmp_path/dog does not exist: nothing to show

    grid.set_mistakes(images, [0, 1], [1, 0], [0.9, 0.8], ("cat", "dog"))  # a set without files
    assert right_click(tiles.tile_rect(0).center().toPoint()) == [] and grid.tile_menu(0) is None
    assert grid.tooltips() == ["<nobr>true: cat → predicted: dog (90 %)</nobr>",
                               "<nobr>true: dog → predicted: cat (80 %)</nobr>"]
    grid.set_mistakes(images, [0, 1], [1, 0], [0.9, 0.8], ("cat", "dog"), files=["cat/a.png", "dog/b.png"],
                      root=tmp_path)
    assert right_click(QPoint(3, 3)) == []  # between the tiles: no menu


def test_after_a_run_on_a_folder_the_window_shows_the_files_of_its_mistakes(qtbot, window, tmp_path, monkeypatch):
    """The whole path: a run on an image folder, its mistakes in Results, Show in Folder under the project's
    folder (DatasetChoice.root)."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices

    from cnnplayground.project import DatasetChoice, Project, TrainingConfig

    model, data, root = _lights(tmp_path)
    config = TrainingConfig(epochs=1, batch_size=8, device="cpu", checkpoint_every=0, val_fraction=0.5, seed=2)
    project = Project.new(graph=_lights_graph(), name="lights",
                          dataset=DatasetChoice(name="folder", root=str(root), options={"size": 8, "channels": 1}),
                          training=config)
    window.document.new(project)
    window.acts.show_results.trigger()
    with qtbot.waitSignal(window.results.mistakes_shown, timeout=60_000) as shown, \
            qtbot.waitSignal(window.training.run_ended, timeout=60_000):
        window.acts.train.trigger()
    assert shown.args[0] > 0  # an untrained-for-long network on 10 images: some are wrong
    grid = window.results.mistakes
    files = [tip.split("<b>", 1)[1].split("</b>", 1)[0] for tip in grid.tooltips()]
    assert set(files) <= set(data.val.files)  # validation images, named by their path in the folder
    for file, tip in zip(files, grid.tooltips()):
        assert f"true: {file.split('/')[0]} → predicted: " in tip
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    menu = grid.tile_menu(0)
    assert [a.text() for a in menu.actions() if not a.isSeparator()] == ["Show in Folder", "Copy File Path",
                                                                         "Export Figure…"]
    menu.actions()[0].trigger()
    assert opened == [QUrl.fromLocalFile(str(root / files[0].split("/")[0]))]


def test_export_figure_of_the_misclassified_tab_writes_a_csv_with_each_images_file(qtbot, tmp_path):
    import csv
    import io

    from cnnplayground.ui.export.figures import FigureError, FigureTarget, csv_text, export_figure

    model, data, root = _lights(tmp_path)
    panel = ResultsPanel()
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.mistakes_shown, timeout=10_000):
        panel.find_mistakes(model, data, root=str(root))
    panel.tabs.setCurrentIndex(1)
    path = export_figure(FigureTarget("Results", panel.figure_widget()), tmp_path / "mistakes.csv")
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["index", "file", "true", "predicted", "confidence"]
    assert sorted(r["file"] for r in rows) == sorted(PLANTED & set(data.val.files))
    for row in rows:
        assert data.val.files[int(row["index"])] == row["file"]  # the index is the image's place in the split
        assert row["true"] == row["file"].split("/")[0] != row["predicted"]
    confidence = [float(r["confidence"]) for r in rows]
    assert confidence == sorted(confidence, reverse=True) and all(0.5 < c < 1 for c in confidence)

    panel.clear()
    with pytest.raises(FigureError, match="Results has no images to write as CSV"):
        csv_text(FigureTarget("Results", panel.figure_widget()))
