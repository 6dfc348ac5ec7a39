"""The Convolution explorer panel: the lecture example, stepping, editing, flip, pooling, 2-D."""

from __future__ import annotations

from PySide6.QtCore import Qt

from cnnplayground.ui.inspect.explorer_panel import ExplorerPanel


def row(table, r: int = 0) -> list[str]:
    return [table.item(r, c).text() for c in range(table.columnCount())]


def test_the_lecture_example_steps_with_products_and_sums(qtbot):
    panel = ExplorerPanel()
    qtbot.addWidget(panel)
    assert row(panel.input) == ["1", "4", "-1", "0", "2", "-2", "1", "3", "3", "1"]
    assert row(panel.kernel) == ["1", "2", "0", "-1"]
    assert row(panel.result) == ["9", "0", "1", "3", "-5", "-3", "6"]
    assert panel.arithmetic.text() == "output[0] = 1×1 + 4×2 + (-1)×0 + 0×(-1) = 9"
    assert not panel.previous_button.isEnabled()
    qtbot.mouseClick(panel.next_button, Qt.MouseButton.LeftButton)
    assert panel.arithmetic.text() == "output[1] = 4×1 + (-1)×2 + 0×0 + 2×(-1) = 0"
    window = [c for c in range(10) if panel.input.item(0, c).background().color().alpha() > 100]
    assert window == [1, 2, 3, 4]
    assert panel.result.item(0, 1).background().color().alpha() > 100
    for _ in range(10):
        panel.next_button.click()
    assert panel.current == 6 and not panel.next_button.isEnabled()


def test_editing_flip_stride_padding_and_pooling(qtbot):
    panel = ExplorerPanel()
    qtbot.addWidget(panel)
    panel.input.item(0, 0).setText("5")  # 5×1 + 4×2 − 0 = 13
    assert row(panel.result)[0] == "13"
    panel.input.item(0, 1).setText("four")
    assert "not a number" in panel.error.text() and row(panel.result)[0] == "13"
    panel.load_example()
    panel.flip.setChecked(True)
    assert row(panel.result) == ["-3", "-2", "3", "-3", "3", "11", "6"]
    panel.flip.setChecked(False)
    panel.stride.setValue(3)
    panel.padding.setValue(1)
    assert panel.input.columnCount() == 12 and panel.input.item(0, 0).text() == "0"  # padding shown
    # (10 + 2·1 − 4) // 3 + 1 = 3 outputs, windows at padded positions 0, 3, 6: 0+2+0+1, −1+0+0+2, −2+2+0−3
    assert row(panel.result) == ["3", "1", "-3"]
    assert panel.arithmetic.text() == "output[0] = 0×1 + 1×2 + 4×0 + (-1)×(-1) = 3"
    panel.padding.setValue(0)
    panel.stride.setValue(1)
    panel.operation.setCurrentIndex(panel.operation.findData("max"))
    assert panel.kernel.isHidden() and panel.dilation.isHidden() and panel.pool_size.isEnabled()
    panel.pool_size.setValue(2)
    panel.stride.setValue(2)
    assert row(panel.result) == ["4", "0", "2", "3", "3"]
    assert panel.arithmetic.text() == "output[0] = max(1, 4) = 4"
    panel.operation.setCurrentIndex(panel.operation.findData("avg"))
    assert row(panel.result) == ["2.5", "-0.5", "0", "2", "2"]


def test_two_d_edge_example_and_play(qtbot):
    panel = ExplorerPanel()
    qtbot.addWidget(panel)
    panel.dims.setCurrentIndex(1)
    assert panel.input.rowCount() == 6 and panel.kernel.rowCount() == 3 and panel.result.rowCount() == 4
    assert row(panel.result, 0) == ["0", "-27", "-27", "0"]
    panel.show_step(5)  # output (1, 1)
    highlighted = {(r, c) for r in range(6) for c in range(6)
                   if panel.input.item(r, c).background().color().alpha() > 100}
    assert highlighted == {(r, c) for r in (1, 2, 3) for c in (1, 2, 3)}
    panel.show_step(0)
    with qtbot.waitSignal(panel._timer.timeout, timeout=3000):
        panel.play_button.click()
    assert panel.current == 1 and panel.play_button.text() == "Pause"
    panel.play_button.click()
    assert not panel._timer.isActive()
