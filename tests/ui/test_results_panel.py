"""The Results panel: how many images were wrong, not only how many are shown; cleared on demand."""

from __future__ import annotations

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
