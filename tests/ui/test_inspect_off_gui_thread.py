"""No analysis on the GUI thread: every Inspect panel computes in a background job.

On ResNet-18 at 224×224 (random weights, CPU), the analysis functions each panel calls are wrapped:
the wrapper records the thread it runs in and then waits for the test's go. The panel's request
returns and the GUI thread runs its event loop while the analysis waits (a zero-time timer fires),
so a slow analysis cannot freeze the window; every recorded call ran in a worker thread. Timing is
left to ``benchmarks/bench_inspect_latency.py``: on a shared machine a time limit would flake.
"""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QTimer

from cnnplayground.core.presets import resnet18
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.ui.inspect import (
    adversarial_panel,
    attribution_panel,
    feature_maps_panel,
    kernels_panel,
    maximize_panel,
    occlusion_panel,
    patches_panel,
    receptive_panel,
)
from cnnplayground.ui.shell.main_window import MainWindow

#: 3×224×224 synthetic images: what ResNet-18 takes; few of them, the analyses stay short.
DATA = DatasetChoice(name="synthetic", options={"train_size": 40, "test_size": 8, "size": 224, "channels": 3})

#: panel key → (module, names of the analysis functions it calls, is each a generator function)
ANALYSES = {
    "kernels": (kernels_panel, {"conv_weights": False, "kernel_images": False}),
    "feature_maps": (feature_maps_panel, {"feature_maps": False, "predict": False, "activation_stats": False}),
    "receptive": (receptive_panel, {"effective_field": False}),
    "occlusion": (occlusion_panel, {"predict": False, "occlusion_steps": True}),
    "adversarial": (adversarial_panel, {"fgsm": False, "compare": False}),
    "attribution": (attribution_panel, {"predict": False, "saliency": False, "grad_cam": False}),
    "patches": (patches_panel, {"layer_peaks": True}),
    "maximize": (maximize_panel, {"maximize_many": True}),
}


def done(panel, key: str) -> bool:
    """The panel shows its analysis' result."""
    if getattr(panel, "busy", False) or getattr(panel, "running", False):
        return False
    return {
        "kernels": lambda: panel.kernels is not None and len(panel.grid.images) == 64,
        "feature_maps": lambda: bool(panel.maps) and bool(getattr(panel, "layer_stats", None)),
        "receptive": lambda: panel.erf is not None,
        "occlusion": lambda: panel.result is not None and panel.progress.value() == 100,
        "adversarial": lambda: panel.adversarial is not None,
        "attribution": lambda: "ig" in panel.maps,
        "patches": lambda: len(panel.grid.images) > 0,
        "maximize": lambda: panel.last is not None,
    }[key]()


@pytest.fixture
def window(window, qtbot):
    """The shared window (tests/ui/conftest.py), holding a ResNet-18 project with its data loaded."""
    w = window
    config = TrainingConfig(epochs=1, batch_size=8, device="cpu", checkpoint_every=0)
    w.document.new(Project.new(graph=resnet18(num_classes=10), name="r18", dataset=DATA, training=config))
    w.model_source.ensure_data()
    qtbot.waitUntil(lambda: w.model_source.data is not None, timeout=120_000)
    assert w.model_source.input_shape == (3, 224, 224)
    return w


def _settings(window: MainWindow, key: str) -> None:
    """Small settings so that ResNet-18 at 224×224 answers in seconds on two cores (set quietly: the
    analysis starts when the panel is shown)."""
    panel = window.panel(key)
    values = {"receptive": ((lambda: panel.images, 2),),
              "occlusion": ((lambda: panel.patch, 64), (lambda: panel.stride, 32)),
              "attribution": ((lambda: panel.steps, 2),),
              "maximize": ((lambda: panel.steps, 2),)}.get(key, ())
    for spin, value in values:
        spin().blockSignals(True)
        spin().setValue(value)
        spin().blockSignals(False)


@pytest.mark.parametrize("key", list(ANALYSES))
def test_each_panels_analysis_of_resnet18_runs_in_a_worker_and_the_gui_thread_goes_on(qtbot, window,
                                                                                      monkeypatch, key):
    module, names = ANALYSES[key]
    calls: list[tuple[str, bool]] = []  # (function, ran in the GUI thread)
    gate = threading.Event()

    def wrap(name: str, real, generator: bool):
        if generator:
            def wrapped_generator(*args, **kwargs):
                calls.append((name, threading.current_thread() is threading.main_thread()))
                gate.wait(20)
                yield from real(*args, **kwargs)
            return wrapped_generator

        def wrapped(*args, **kwargs):
            calls.append((name, threading.current_thread() is threading.main_thread()))
            gate.wait(20)
            return real(*args, **kwargs)
        return wrapped

    for name, generator in names.items():
        monkeypatch.setattr(module, name, wrap(name, getattr(module, name), generator))
    _settings(window, key)
    panel = window.panel(key)
    getattr(window.acts, f"show_{key}").trigger()  # showing a panel requests its analysis
    if key == "maximize":
        panel.run_unit()  # this one runs when asked
    # The request has returned; the event loop runs while the analysis waits in its worker.
    ticked: list[int] = []
    QTimer.singleShot(0, lambda: ticked.append(1))
    qtbot.waitUntil(lambda: bool(ticked) and bool(calls), timeout=30_000)
    assert not done(panel, key)  # the result is not there yet: it is computed elsewhere
    gate.set()
    qtbot.waitUntil(lambda: done(panel, key), timeout=300_000)
    assert {name for name, _ in calls} <= set(names) and calls
    assert [name for name, in_gui in calls if in_gui] == []  # not one analysis in the GUI thread
