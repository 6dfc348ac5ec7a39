"""Test helpers shared by several test folders (``tests/`` is on ``sys.path`` through its conftest)."""

from __future__ import annotations

import torch

from cnnplayground.data.base import ImageData, Split, channel_stats
from cnnplayground.data.synthetic import CLASS_NAMES, make_synthetic


def synthetic_data(n_train: int, n_val: int, seed: int = 0, **options) -> ImageData:
    """``n_train`` + ``n_val`` synthetic images as a dataset (statistics of the training part), in memory."""
    x, y = make_synthetic(n_train + n_val, seed=seed, **options)
    images = (x * 255).round().to(torch.uint8)
    train, val = Split(images[:n_train], y[:n_train]), Split(images[n_train:], y[n_train:])
    mean, std = channel_stats(train.images)
    return ImageData("synthetic", CLASS_NAMES, train, val, None, mean, std)


def install_halting_hooks(monkeypatch, local) -> None:
    """Wrap the trainer's evaluation, checkpoint writes and optimizer so the stress tests can halt there.

    ``local.sequence`` (a thread-local) is the trainer thread's sequence: it is told ``reach(("eval", n))``
    before each evaluation and ``reach(("ckpt", epoch))`` before each checkpoint write, and gets
    ``last_stepped`` (the weights after every optimizer step).
    """
    from cnnplayground.train import trainer as trainer_module

    real_evaluate, real_save, real_make = (trainer_module.evaluate, trainer_module.save_checkpoint,
                                           trainer_module.make_optimizer)

    def evaluate(*args, **kwargs):
        seq = getattr(local, "sequence", None)
        if seq is not None:
            seq.evaluations += 1
            seq.reach(("eval", seq.evaluations))
        return real_evaluate(*args, **kwargs)

    def save_checkpoint(state, path):
        seq = getattr(local, "sequence", None)
        if seq is not None:
            seq.reach(("ckpt", state["epoch"]))
        return real_save(state, path)

    def make_optimizer(model, *args, **kwargs):
        opt = real_make(model, *args, **kwargs)
        seq = getattr(local, "sequence", None)
        if seq is not None:
            def stepped(_opt, _args, _kwargs):
                seq.last_stepped = {k: v.detach().clone() for k, v in model.state_dict().items()}
            opt.register_step_post_hook(stepped)
        return opt

    monkeypatch.setattr(trainer_module, "evaluate", evaluate)
    monkeypatch.setattr(trainer_module, "save_checkpoint", save_checkpoint)
    monkeypatch.setattr(trainer_module, "make_optimizer", make_optimizer)


#: What the figure documents need from a LaTeX installation (issue 26's TikZ diagrams and pgfplots curves).
LATEX_FILES = ("standalone.cls", "tikz.sty", "pgfplots.sty", "fix-cm.sty")


def latex_missing() -> str | None:
    """Why the TikZ/pgfplots documents cannot be compiled here (None: pdflatex and every package they need are
    installed). ``.ci/run`` installs a small TeX Live where it can; elsewhere the compile tests skip."""
    import functools
    import shutil
    import subprocess

    @functools.cache
    def check() -> str | None:
        if shutil.which("pdflatex") is None or shutil.which("kpsewhich") is None:
            return ("pdflatex is not installed (apt-get install texlive-latex-base texlive-pictures "
                    "texlive-latex-extra): the documents are checked for structure only")
        found = subprocess.run(["kpsewhich", *LATEX_FILES], capture_output=True, text=True).stdout.split()
        missing = [f for f in LATEX_FILES if not any(p.endswith("/" + f) for p in found)]
        return f"LaTeX lacks {', '.join(missing)}: the documents are checked for structure only" if missing else None

    return check()


def delete_what_was_closed() -> None:
    """Delete now the widgets a test closed: pytest-qt closes them with ``deleteLater()``, and outside an event
    loop nothing deletes them until the next test runs one. A window or dialog torn down there, in the middle
    of another test, after the collector had freed the Python side of some of its items, crashed now and then
    (a list item's freed wrapper, met in the experiments dialog's tests)."""
    import sys

    if "PySide6.QtCore" not in sys.modules:
        return
    from PySide6.QtCore import QCoreApplication, QEvent

    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def shown_window(qtbot, monkeypatch, size: tuple[int, int] = (1280, 720)):
    """A main window shown at ``size`` that discards unsaved changes without asking (closed with the test)."""
    from PySide6.QtWidgets import QMessageBox

    from cnnplayground.ui.shell.main_window import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    monkeypatch.setattr(w.files, "ask_save_changes", lambda: QMessageBox.StandardButton.Discard)
    w.resize(*size)
    w.show()
    qtbot.waitExposed(w)
    return w
