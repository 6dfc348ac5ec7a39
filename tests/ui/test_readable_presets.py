"""Readable presets (issue 20, item 3 and item 9): Fit to View shows ResNet-20 at ≥ 60 % zoom,
node headers never run into each other, and every preset opens with a dataset its input fits."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QRectF
from PySide6.QtGui import QFont, QFontMetricsF, QImage, QPainter
from PySide6.QtWidgets import QStyleOptionGraphicsItem

from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer
from cnnplayground.core.layout import NODE_HEIGHT, NODE_WIDTH
from cnnplayground.core.presets import list_presets
from cnnplayground.data.base import ImageData, Split
from cnnplayground.data.registry import dataset_info, input_shape_of
from cnnplayground.project import Project
from cnnplayground.train import setup
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.editor.canvas.items import HEADER_HEIGHT, HEADER_SPACING, PADDING, NodeItem
from cnnplayground.ui.editor.canvas.view import CanvasView
from cnnplayground.ui.shell.files import ProjectFiles
from cnnplayground.ui.shell.main_window import MainWindow

#: The Build mode's canvas at 1280×800 (window less palette, Properties dock, tool and status bars).
BUILD_CANVAS = (690, 640)


@pytest.fixture
def canvas(qtbot) -> CanvasView:
    view = CanvasView(Document())
    qtbot.addWidget(view)
    view.resize(*BUILD_CANVAS)
    view.show()
    qtbot.waitExposed(view)
    # The viewport (without scroll bars) is the Build canvas.
    extra = view.size() - view.viewport().size()
    view.resize(BUILD_CANVAS[0] + extra.width(), BUILD_CANVAS[1] + extra.height())
    qtbot.waitUntil(lambda: (view.viewport().width(), view.viewport().height()) == BUILD_CANVAS)
    return view


def visible_nodes(view: CanvasView) -> list[str]:
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    return [nid for nid, item in view.graph_scene.nodes.items()
            if shown.contains(QRectF(item.pos().x(), item.pos().y(), NODE_WIDTH, NODE_HEIGHT))]


@pytest.mark.parametrize("preset", ["resnet20_cifar", "resnet18"])
def test_fit_to_view_shows_a_whole_resnet_at_60_percent_on_the_build_canvas(canvas, preset):
    from cnnplayground.core.presets import get_preset

    assert (canvas.viewport().width(), canvas.viewport().height()) == BUILD_CANVAS
    canvas.document.new(Project.new(graph=get_preset(preset).factory()))
    canvas.fit_to_view()
    assert canvas.zoom >= 0.6
    assert sorted(visible_nodes(canvas)) == sorted(canvas.document.graph.nodes)


def test_arrange_wraps_to_the_canvas_and_fits_at_60_percent(canvas):
    from cnnplayground.core.presets import get_preset

    graph = get_preset("resnet20_cifar").factory()
    for i, nid in enumerate(graph.nodes):
        graph.move_node(nid, (0.0, 200.0 * i))  # one tall column, as before issue 20
    canvas.document.new(Project.new(graph=graph))
    canvas.fit_to_view()
    assert canvas.zoom < 0.2
    canvas.auto_layout()
    assert canvas.zoom >= 0.6 and len(visible_nodes(canvas)) == len(graph.nodes)


def test_new_resnet20_in_the_window_at_1280x800_fits_at_60_percent(qtbot, monkeypatch):
    """Measured in the real window: Properties/Training on the right, Curves and Results hidden."""
    monkeypatch.setattr(ProjectFiles, "choose_preset", lambda self: "resnet20_cifar")
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    window.curves_dock.hide()
    window.results_dock.hide()
    qtbot.waitUntil(lambda: window.canvas.viewport().width() > 500)
    assert window.files.new_from_preset()
    size = window.canvas.viewport().size()
    # Opened whole (readable at ≥ 60 %), and so after Fit to View.
    assert window.canvas.zoom >= 0.6, (size.width(), size.height())
    assert len(visible_nodes(window.canvas)) == len(window.document.graph.nodes)
    window.canvas.zoom_in()
    window.canvas.fit_to_view()
    assert window.canvas.zoom >= 0.6, (size.width(), size.height())
    assert len(visible_nodes(window.canvas)) == len(window.document.graph.nodes)


class RecordingPainter(QPainter):
    """Records every text a node draws, with the font it is drawn in."""

    def __init__(self, image: QImage) -> None:
        super().__init__(image)
        self.texts: list[tuple[QRectF, str, QFont]] = []

    def drawText(self, rect, flags, text):  # noqa: N802 (Qt's name)
        self.texts.append((QRectF(rect), text, QFont(self.font())))
        super().drawText(rect, flags, text)


def header_texts_drawn(item: NodeItem) -> list[tuple[str, float]]:
    image = QImage(int(NODE_WIDTH) + 8, int(NODE_HEIGHT) + 8, QImage.Format.Format_ARGB32)
    painter = RecordingPainter(image)
    try:
        item.paint(painter, QStyleOptionGraphicsItem())
    finally:
        painter.end()
    return [(text, QFontMetricsF(font).horizontalAdvance(text)) for rect, text, font in painter.texts
            if rect.top() < HEADER_HEIGHT / 2 and text]


@pytest.mark.parametrize(("kind", "node_id"), [
    ("BatchNorm2d", "layer2_1_bn1"),
    ("Conv2d", "layer3_0_downsample_conv"),
    ("AdaptiveAvgPool2d", "avgpool"),
    ("LocalResponseNorm", "norm1_with_a_very_long_name"),
    ("ReLU", "relu1"),
])
def test_node_headers_are_elided_to_the_header_with_the_full_text_in_the_tool_tip(qapp, kind, node_id):
    graph = Graph()
    node = graph.add_node(kind, id=node_id)
    item = NodeItem(node)
    drawn = header_texts_drawn(item)
    assert len(drawn) == 2
    (kind_shown, kind_width), (id_shown, id_width) = drawn
    # Kind on the left, id on the right: together they fit the header with a space between.
    assert kind_width + HEADER_SPACING + id_width <= NODE_WIDTH - 2 * PADDING + 0.5
    assert kind_shown == kind or kind_shown.endswith("…")
    assert id_shown == node_id or id_shown.startswith("…")
    assert kind_shown.rstrip("…") and id_shown.lstrip("…")  # something of each stays
    if id_shown != node_id:  # the end of an id tells blocks apart
        assert node_id.endswith(id_shown.lstrip("…"))
    assert node_id in item.toolTip() and kind in item.toolTip()


def test_short_headers_are_shown_whole(qapp):
    graph = Graph()
    drawn = header_texts_drawn(NodeItem(graph.add_node("ReLU", id="relu1")))
    assert [text for text, _ in drawn] == ["ReLU", "relu1"]


@pytest.mark.parametrize("preset", [p.name for p in list_presets()])
def test_every_preset_opens_with_a_dataset_its_input_fits(qtbot, monkeypatch, preset):
    """New from Preset: the dataset's images are the network's input and Train's checks pass."""
    monkeypatch.setattr(ProjectFiles, "choose_preset", lambda self: preset)
    window = MainWindow()
    qtbot.addWidget(window)
    assert window.files.new_from_preset()
    project = window.document.project
    result = infer(window.document.graph)
    assert result.ok, result.first_error()
    shape = input_shape_of(project.dataset)
    assert result.input_shape == shape
    info = dataset_info(project.dataset.name)
    if info.offline:
        assert project.dataset.name in ("synthetic", "synthetic-rgb")
    # The dock's own check (build_for_data), on images of the dataset's shape and classes; building the
    # weights of the ImageNet networks is left out (a second or more each, and not what is tested here).
    images = torch.zeros((2, *shape), dtype=torch.uint8)
    split = Split(images, torch.zeros(2, dtype=torch.int64))
    data = ImageData(info.name, tuple(f"c{i}" for i in range(info.num_classes or 10)), split, split, None,
                     (0.5,) * shape[0], (0.25,) * shape[0])
    monkeypatch.setattr(setup, "build", lambda graph, result=None: "built")
    assert setup.build_for_data(window.document.graph, data) == "built"
