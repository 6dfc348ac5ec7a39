"""The layer palette: generated from the registry, searchable, draggable, activatable."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, Qt

from cnnplayground.core.registry import CATEGORIES, kinds_by_category
from cnnplayground.ui.editor.mime import LAYER_MIME, kind_from_mime, layer_mime_data
from cnnplayground.ui.editor.palette import CATEGORY_COLORS, KIND_ROLE, LayerPalette

pytestmark = pytest.mark.gui


@pytest.fixture
def palette(qtbot) -> LayerPalette:
    widget = LayerPalette()
    qtbot.addWidget(widget)
    widget.resize(260, 700)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def _tree_contents(palette: LayerPalette) -> list[tuple[str, list[str]]]:
    tree = palette.tree
    out = []
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        out.append((group.text(0), [group.child(j).text(0) for j in range(group.childCount())]))
    return out


def test_every_registered_kind_is_listed_under_its_category_in_order(palette):
    expected = [(cat, [k.name for k in kinds]) for cat, kinds in kinds_by_category()]
    assert _tree_contents(palette) == expected
    assert [cat for cat, _ in expected] == list(CATEGORIES)
    assert _tree_contents(palette)[1] == ("Convolution", ["Conv2d"])
    assert _tree_contents(palette)[2] == ("Pooling", ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"])
    assert all(palette.group_item(cat).isExpanded() for cat in CATEGORIES)


def test_groups_are_bold_and_not_draggable_layers_are(palette):
    group = palette.group_item("Pooling")
    assert group.font(0).bold() and not group.flags() & Qt.ItemFlag.ItemIsDragEnabled
    assert group.data(0, KIND_ROLE) is None
    item = palette.layer_item("MaxPool2d")
    assert item.flags() & Qt.ItemFlag.ItemIsDragEnabled and not item.font(0).bold()
    assert palette.tree.mimeData([group]) is None


def test_every_category_has_a_colour():
    assert list(CATEGORY_COLORS) == list(CATEGORIES)
    assert len(set(CATEGORY_COLORS.values())) == len(CATEGORIES)


def test_search_pool_shows_only_the_pooling_layers(palette, qtbot):
    qtbot.keyClicks(palette.search, "POOL")
    assert palette.visible_kinds() == ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]
    hidden = [cat for cat in CATEGORIES if palette.group_item(cat).isHidden()]
    assert hidden == [cat for cat in CATEGORIES if cat != "Pooling"]
    qtbot.keyClick(palette.search, Qt.Key.Key_Escape)
    assert palette.search.text() == ""
    assert len(palette.visible_kinds()) == sum(len(k) for _, k in kinds_by_category())
    assert not any(palette.group_item(cat).isHidden() for cat in CATEGORIES)


def test_search_matches_the_summary_and_expands_collapsed_groups(palette):
    palette.group_item("Normalization").setExpanded(False)
    palette.set_filter("lateral inhibition")  # words of LocalResponseNorm's summary only
    assert palette.visible_kinds() == ["LocalResponseNorm"]
    assert palette.group_item("Normalization").isExpanded()
    palette.set_filter("zzz-nothing")
    assert palette.visible_kinds() == [] and all(palette.group_item(c).isHidden() for c in CATEGORIES)


def test_tooltip_has_summary_parameters_and_hint(palette):
    tip = palette.layer_item("Conv2d").toolTip(0)
    assert "<b>Conv2d</b>" in tip
    assert "Slides learned k×k filters over the input" in tip
    assert "Parameters: out_channels, kernel_size, stride, padding, dilation, groups, bias" in tip
    assert "Drag onto the canvas or double-click to add" in tip
    assert "Parameters: none" in palette.layer_item("ReLU").toolTip(0)


def test_dragged_items_carry_the_layer_kind(palette):
    tree = palette.tree
    assert LAYER_MIME in tree.mimeTypes()
    md = tree.mimeData([palette.layer_item("Conv2d")])
    assert kind_from_mime(md) == "Conv2d"
    assert md.text() == "Conv2d"
    assert tree.supportedDropActions() == Qt.DropAction.CopyAction


def test_mime_helpers_round_trip_and_refuse_foreign_data():
    assert kind_from_mime(layer_mime_data("MaxPool2d")) == "MaxPool2d"
    assert kind_from_mime(None) is None
    plain = QMimeData()
    plain.setText("Conv2d")
    assert kind_from_mime(plain) is None


def test_double_click_activates_the_layer(palette, qtbot):
    tree = palette.tree
    item = palette.layer_item("Conv2d")
    tree.scrollToItem(item)
    center = tree.visualItemRect(item).center()
    # A real double-click is press, release, double-click; Qt 6's QTest.mouseDClick sends only the
    # last, and item views ignore a double-click on an item that was not pressed first.
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=center)
    with qtbot.waitSignal(palette.layer_activated) as blocker:
        qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert blocker.args == ["Conv2d"]


def test_enter_activates_the_current_layer_and_not_a_group(palette, qtbot):
    tree = palette.tree
    tree.setCurrentItem(palette.group_item("Dense"))
    with qtbot.assertNotEmitted(palette.layer_activated):
        qtbot.keyClick(tree, Qt.Key.Key_Return)
    tree.setCurrentItem(palette.layer_item("Linear"))
    with qtbot.waitSignal(palette.layer_activated) as blocker:
        qtbot.keyClick(tree, Qt.Key.Key_Return)
    assert blocker.args == ["Linear"]


def test_enter_in_the_search_box_adds_the_first_match(palette, qtbot):
    qtbot.keyClicks(palette.search, "relu")
    # GELU: "a smooth ReLU"; ReLU6, Hardswish ("x·ReLU6(x + 3)/6") and Hardsigmoid by their summaries
    assert palette.visible_kinds() == ["ReLU", "LeakyReLU", "PReLU", "GELU", "ReLU6", "Hardswish", "Hardsigmoid"]
    with qtbot.waitSignal(palette.layer_activated) as blocker:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert blocker.args == ["ReLU"]
    qtbot.keyClick(palette.search, Qt.Key.Key_Down)
    assert palette.tree.currentItem() is palette.layer_item("ReLU")
