"""The CLI tests that draw figures (``figure``, ``figures``, ``curves``, ``diagram``) make Qt widgets in this
process: panels built around one epoch's weights, with plots and background jobs. The command exits after
drawing; a test process goes on, and left to Python's garbage collector those widget trees were destroyed at
any later moment, inside another test's event loop, where a pyqtgraph scene torn down there crashed the
process now and then (a never-shown Adversarial panel's sweep plot crashes in ``QGraphicsScene::clear`` when
deleted). Each test's new top-level widgets stop their work and are kept until the process ends."""

from __future__ import annotations

import pytest

_KEPT: list = []


@pytest.fixture(autouse=True)
def _keep_the_figures_widgets():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    before = {id(w) for w in app.topLevelWidgets()} if app is not None else set()
    yield
    app = QApplication.instance()
    if app is None:
        return
    for widget in app.topLevelWidgets():
        if id(widget) in before:
            continue
        for job in widget.findChildren(object):  # a panel's analysis stops with its test
            if type(job).__name__ in ("GeneratorJob", "FunctionJob"):
                job.cancel()
        _KEPT.append(widget)
