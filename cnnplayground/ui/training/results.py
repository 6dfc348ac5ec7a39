"""The Results panel: confusion matrix and per-class accuracy after each epoch,
the most confidently misclassified validation images after a run (for an image folder,
each image's tooltip and context menu name its file).

The mistakes are found by evaluating the trained network in the thread pool,
never on the GUI thread. :meth:`ResultsPanel.clear` empties every view (another
project, a run undone): nothing of an earlier model stays on show.
"""

from __future__ import annotations

import traceback

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QSplitter, QTabWidget, QVBoxLayout, QWidget

from ...data.base import ImageData
from ...data.loader import DeviceLoader
from ...train.evaluate import evaluate
from ...train.events import EpochFinished
from ..jobs import FunctionJob, describe_error
from .epoch_views import ConfusionMatrixView, PerClassAccuracyView
from .mistakes_grid import MistakesGrid

#: How many misclassified images the grid shows.
MISTAKES_SHOWN = 24
#: What the panel says before anything was evaluated.
EMPTY_CAPTION = "Train the network to see how it does on each class"


def _find_mistakes(model, data: ImageData, tta_flip: bool):
    """Evaluate ``model`` on the validation split (on the CPU): ``(evaluation, data)``."""
    loader = DeviceLoader(data.val, mean=data.mean, std=data.std, batch_size=512, device="cpu", shuffle=False)
    model.to("cpu")
    return evaluate(model, loader, data.num_classes, top_mistakes=MISTAKES_SHOWN, tta_flip=tta_flip), data


def _evaluation_failed(exc: BaseException) -> str:
    """An evaluation's failure is a bug, not the user's: its traceback goes to stderr."""
    traceback.print_exc()
    return describe_error(exc)


class ResultsPanel(QWidget):
    """Confusion matrix and per-class accuracy (tab 1), misclassified images (tab 2)."""

    mistakes_shown = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.confusion = ConfusionMatrixView(self)
        self.per_class = PerClassAccuracyView(self)
        self.mistakes = MistakesGrid(self)
        split = QSplitter(self)
        self.splitter = split
        split.addWidget(self.confusion)
        split.addWidget(self.per_class)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        #: Compare with (:meth:`attach_compare`): another (run, epoch)'s confusion matrix beside this one.
        self.compare = None
        self.compare_area: QWidget | None = None
        self.compare_confusion: np.ndarray | None = None
        self.compare_reason = ""
        self._compare_job: FunctionJob | None = None
        self._tta_flip = False
        self.tabs = QTabWidget(self)
        self.tabs.addTab(split, "Confusion matrix")
        self.tabs.addTab(self.mistakes, "Misclassified")
        self.caption = QLabel(EMPTY_CAPTION, self)
        self.caption.setContentsMargins(6, 2, 6, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.caption)
        layout.addWidget(self.tabs)
        self._evaluated_caption = ""  # set: the evaluation also fills the matrix (no run's epoch to show)
        self.class_names: tuple[str, ...] = ()
        self._job: FunctionJob | None = None  # the evaluation running for the grid, if any
        self._root: str | None = None  # the image folder of the data evaluated (its files are relative to it)
        self.clear()

    def clear(self) -> None:
        """Nothing evaluated: an empty matrix and grid, no class names, the first caption (a running
        evaluation's result is dropped)."""
        if self._job is not None and self._job.running:
            self._job.cancel()
        self._job = None
        self._evaluated_caption = ""
        self.class_names = ()
        self.confusion.set_matrix((), ())
        self.per_class.set_accuracy((), ())
        self.mistakes.set_mistakes(np.zeros((0, 1, 1, 1), np.uint8), (), (), (), ())
        self.mistakes.empty_label.setText("Nothing evaluated yet")
        self.tabs.setTabText(1, "Misclassified")
        self.tabs.setTabToolTip(1, "The most confident mistakes on the validation images, after a run")
        self.caption.setText(EMPTY_CAPTION)

    def figure_widget(self) -> QWidget:
        """What Export Figure draws: the tab in front (matrix and per-class accuracy, or the mistakes)."""
        return self.tabs.currentWidget()

    def set_class_names(self, names) -> None:
        self.class_names = tuple(names)

    def show_epoch(self, event: EpochFinished) -> None:
        self._evaluated_caption = ""
        names = self.class_names or tuple(str(i) for i in range(len(event.confusion)))
        self.confusion.set_matrix(event.confusion, names)
        self.per_class.set_accuracy(event.per_class_accuracy, names)
        total = sum(sum(row) for row in event.confusion)
        correct = sum(event.confusion[i][i] for i in range(len(event.confusion)))
        if total:
            self.caption.setText(f"Validation images after epoch {event.epoch}: {correct:,} of {total:,} "
                                 f"classified correctly ({correct / total:.1%}). Rows: true class; columns: "
                                 f"predicted class.")

    def evaluate(self, model, data: ImageData, what: str, tta_flip: bool = False, root: str | None = None) -> None:
        """Evaluate weights that no run of this session produced (an opened project): matrix and mistakes."""
        self._evaluated_caption = what
        self.find_mistakes(model, data, keep_caption=True, tta_flip=tta_flip, root=root)

    def find_mistakes(self, model, data: ImageData, keep_caption: bool = False, tta_flip: bool = False,
                      root: str | None = None) -> None:
        """Evaluate ``model`` on the validation split in the thread pool, then fill the grid.

        ``root``: the folder ``data`` was read from (``DatasetChoice.root``), where the split's files are.
        """
        self._root, self._tta_flip = root, tta_flip
        if not keep_caption:
            self._evaluated_caption = ""
        if len(data.val) == 0:
            return
        if self._job is not None and self._job.running:
            self._job.cancel()  # a newer request: the older result must not overwrite it
        job = FunctionJob(_find_mistakes, model, data, tta_flip, describe=_evaluation_failed, parent=self)
        job.returned.connect(self._on_mistakes_found)
        self._job = job
        job.start()

    # --- Compare with -------------------------------------------------------------------------
    def attach_compare(self, source) -> None:
        """Offer "Compare with" (the :class:`~..inspect.source.ModelSource`'s stored epochs): the chosen
        (run, epoch)'s confusion matrix on the same validation images, beside this one."""
        from ..inspect.compare import CompareChooser, ElidedLabel

        self.source = source
        self.compare = CompareChooser(source, self)
        self.compare.setToolTip("Evaluate a stored epoch of a run on the same validation images and show its "
                                "confusion matrix beside this one")
        self.compare_title = ElidedLabel(parent=self)
        self.compare_view = ConfusionMatrixView(self)
        self.compare_label = QLabel(self)
        self.compare_label.setWordWrap(True)
        self.compare_label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.compare_area = QWidget(self)
        column = QVBoxLayout(self.compare_area)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.compare_title)
        column.addWidget(self.compare_view, 1)
        column.addWidget(self.compare_label)
        self.compare_area.setVisible(False)
        self.splitter.insertWidget(1, self.compare_area)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        row = self.compare.row(self)
        row.setContentsMargins(6, 0, 6, 0)
        row.addStretch(1)
        layout = self.layout()
        assert isinstance(layout, QVBoxLayout)
        layout.insertLayout(layout.indexOf(self.tabs), row)
        self.compare.choice_changed.connect(self.start_compare)

    def start_compare(self) -> None:
        """Evaluate the chosen (run, epoch) on the validation images in the thread pool (a newer choice
        cancels it), or say in one line why it cannot be compared."""
        from ..inspect.compare import compared_unit

        if self._compare_job is not None and self._compare_job.running:
            self._compare_job.cancel()
        self._compare_job = None
        self.compare_confusion, self.compare_reason = None, ""
        if self.compare is None or self.compare_area is None:
            return
        chosen, label, data = self.compare.chosen(), self.compare.label, self.source.data
        self.compare_area.setVisible(chosen is not None)
        self.compare_view.set_matrix((), ())
        if chosen is None or data is None or len(data.val) == 0:
            self.compare_label.setText("")
            return
        self.compare_title.setText(label)
        model, _graph, reason = compared_unit(self.source, chosen, label, data.input_shape, None,
                                              [data.num_classes - 1])
        if model is None:
            self.compare_reason = reason
            self.compare_label.setText(reason)
            return
        self.compare_label.setText("Evaluating…")
        job = FunctionJob(_find_mistakes, model, data, self._tta_flip, describe=_evaluation_failed, parent=self)
        job.returned.connect(self._on_compare_evaluated)
        job.failed.connect(lambda message: self.compare_label.setText(f"The evaluation failed: {message}"))
        self._compare_job = job
        job.start()

    def _on_compare_evaluated(self, found) -> None:
        result, data = found
        self._compare_job = None
        self.compare_confusion = np.asarray(result.confusion)
        self.compare_view.set_matrix(result.confusion.tolist(), tuple(data.class_names))
        total = int(result.confusion.sum())
        correct = int(result.confusion.diagonal().sum())
        self.compare_label.setText("")
        self.compare_title.setText(f"{self.compare.label}: {correct:,} of {total:,} correct "
                                   f"({correct / max(total, 1):.1%})")  # the title: the dock may be short

    def _on_mistakes_found(self, found) -> None:
        result, data = found
        if self._evaluated_caption:  # no run's epoch to show: the evaluation fills the matrix too
            names = tuple(data.class_names)
            confusion = result.confusion.tolist()
            self.confusion.set_matrix(confusion, names)
            self.per_class.set_accuracy(result.per_class_accuracy, names)
            total = sum(sum(row) for row in confusion)
            correct = sum(confusion[i][i] for i in range(len(confusion)))
            self.caption.setText(f"Validation images with {self._evaluated_caption}: {correct:,} of {total:,} "
                                 f"classified correctly ({correct / max(total, 1):.1%}). Rows: true class; "
                                 "columns: predicted class.")
        self._job = None
        m = result.mistakes
        index = [x.index for x in m]
        images = data.val.images[index] if index else data.val.images[:0]
        files = None if data.val.files is None else [data.val.file_of(i) for i in index]
        self.mistakes.set_mistakes(images, [x.true for x in m], [x.predicted for x in m],
                                   [x.confidence for x in m], data.class_names, files=files, root=self._root,
                                   indices=index)
        self.mistakes.empty_label.setText("No mistakes")
        wrong = int(result.confusion.sum() - result.confusion.diagonal().sum())  # every mistake, not just those shown
        self.tabs.setTabText(1, f"Misclassified ({len(m)} of {wrong:,})" if len(m) < wrong
                             else f"Misclassified ({wrong:,})")
        self.tabs.setTabToolTip(1, f"The {len(m)} most confident of the {wrong:,} mistakes on the {len(data.val):,} "
                                   "validation images: true class → predicted class (confidence)"
                                   + ("; right-click an image to show its file" if files is not None else ""))
        self.mistakes_shown.emit(len(m))
