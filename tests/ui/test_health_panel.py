"""The Health panel lists the diagnoses of the project's last run and follows recording and undo."""

from __future__ import annotations

from cnnplayground.project import RunHistory, Series
from cnnplayground.project.health import PERCENTILES, LayerHealthSeries, RunHealth
from cnnplayground.ui.document.commands import RecordRun
from cnnplayground.ui.document.document import Document
from cnnplayground.ui.training.health_panel import EMPTY_CAPTION, HealthPanel


def dead_run() -> RunHistory:
    x = [1.0, 2.0]
    health = RunHealth(epochs=[1, 2], layers=[
        LayerHealthSeries(name="conv1", kind="Conv2d", activation_mean=[-3.0, -3.1], activation_std=[1.0, 1.0],
                          grad_norm=[0.0, 0.0], update_ratio=[0.0, 0.0]),
        LayerHealthSeries(name="relu1", kind="ReLU", activation_mean=[0.0, 0.0], activation_std=[0.0, 0.0],
                          dead_share=[0.9, 0.71]),
    ])
    return RunHistory(name="run 1", settings={"learning_rate": 0.01}, health=health, series={
        "train_accuracy": Series(x=x, y=[0.5, 0.6]), "val_accuracy": Series(x=x, y=[0.5, 0.6])})


def test_the_panel_shows_the_findings_of_the_last_run_and_follows_undo(qtbot):
    document = Document()
    panel = HealthPanel(document)
    qtbot.addWidget(panel)
    assert panel.caption.text() == EMPTY_CAPTION and panel.findings.topLevelItemCount() == 0
    document.push(RecordRun(document, None, dead_run()))
    assert panel.caption.text() == "run 1: 1 finding"
    item = panel.findings.topLevelItem(0)
    assert (item.text(0), item.text(1)) == ("relu1: 71% of units never fire",
                                            "lower the learning rate, use LeakyReLU, or add batch norm")
    rows = [[panel.layers.topLevelItem(i).text(c) for c in range(6)] for i in range(panel.layers.topLevelItemCount())]
    assert rows == [["conv1", "Conv2d", "-3.1 ± 1", "", "0", "0"], ["relu1", "ReLU", "0 ± 0", "71%", "", ""]]
    document.undo_stack.undo()
    assert panel.caption.text() == EMPTY_CAPTION and panel.layers.topLevelItemCount() == 0


# --- plots over the epochs and distributions ----------------------------------------------------------------------

NINE = [-1.0, -0.6, -0.3, -0.1, 0.0, 0.1, 0.3, 0.6, 1.0]


def distribution_run() -> RunHistory:
    """Three epochs of conv1 (weights) and relu1 (activations only), percentiles growing with the epoch."""
    def rows(scale: float, shift: float = 0.0) -> list[list[float]]:
        return [[shift + v * scale * epoch for v in NINE] for epoch in (1, 2, 3)]
    health = RunHealth(epochs=[1, 2, 3], layers=[
        LayerHealthSeries(name="conv1", kind="Conv2d", activation_mean=[0.1, 0.2, 0.3], activation_std=[1.0, 1.5, 2.0],
                          grad_norm=[0.5, 0.05, 0.0], update_ratio=[2e-2, 3e-3, 1e-3],
                          weight_percentiles=rows(0.1), activation_percentiles=rows(1.0)),
        LayerHealthSeries(name="relu1", kind="ReLU", activation_mean=[0.4, 0.5, 0.6], activation_std=[0.7, 0.8, 0.9],
                          dead_share=[0.0, 0.25, 0.5], activation_percentiles=rows(1.0, 1.0)),
    ])
    x = [1.0, 2.0, 3.0]
    return RunHistory(name="run 2", settings={"learning_rate": 0.001}, health=health, series={
        "train_accuracy": Series(x=x, y=[0.5, 0.6, 0.7]), "val_accuracy": Series(x=x, y=[0.5, 0.6, 0.7])})


def _panel(qtbot, run: RunHistory | None = None, size=(1000, 300)) -> HealthPanel:
    document = Document()
    panel = HealthPanel(document)
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    qtbot.waitExposed(panel)
    if run is not None:
        document.push(RecordRun(document, None, run))
    return panel


def test_the_measures_have_one_point_per_epoch_and_layer_with_the_stored_values(qtbot):
    import numpy as np

    panel = _panel(qtbot, distribution_run())
    curves = panel.measures.curves
    assert {key: sorted(c) for key, c in curves.items()} == {
        "activation_std": ["conv1", "relu1"], "dead_share": ["relu1"], "grad_norm": ["conv1"],
        "update_ratio": ["conv1"]}
    for key, layer, want in (("activation_std", "conv1", [1.0, 1.5, 2.0]), ("activation_std", "relu1", [0.7, 0.8, 0.9]),
                             ("dead_share", "relu1", [0.0, 25.0, 50.0]), ("update_ratio", "conv1", [2e-2, 3e-3, 1e-3])):
        curve = curves[key][layer]
        assert list(curve.xData) == [1.0, 2.0, 3.0]
        assert list(curve.yData) == want
    grad = curves["grad_norm"]["conv1"].yData  # on a log axis a zero norm has no point (and no warning)
    assert list(grad[:2]) == [0.5, 0.05] and np.isnan(grad[2])
    plots = panel.measures.plots
    assert plots["grad_norm"].ctrl.logYCheck.isChecked() and plots["update_ratio"].ctrl.logYCheck.isChecked()
    assert not plots["activation_std"].ctrl.logYCheck.isChecked()
    assert not panel.measures.guide.isVisible()  # no steps per epoch recorded: no per-step guide
    assert [label.text for _, label in panel.measures.legend.items] == ["conv1", "relu1"]
    # A low panel (the Training dock at 1280×720) shows the four in one row; a high one 2×2.
    panel.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: panel.measures._columns == 4)
    panel.resize(700, 700)
    qtbot.waitUntil(lambda: panel.measures._columns == 2)


def test_the_distributions_are_bands_between_the_stored_percentiles(qtbot):
    import numpy as np

    run = distribution_run()
    panel = _panel(qtbot, run)
    view = panel.distributions
    assert [view.chooser.itemData(i) for i in range(view.chooser.count())] == ["conv1", "relu1"]
    stored = run.health.layer("conv1")
    for kind, rows in (("weights", stored.weight_percentiles), ("activations", stored.activation_percentiles)):
        table = np.array(rows)
        bands = view.bands[kind]
        assert [(low, high) for low, high, _ in bands] == [(0, 100), (7, 93), (16, 84), (31, 69)]
        for low, high, band in bands:
            lower, upper = band.curves
            assert list(lower.xData) == [1.0, 2.0, 3.0] and list(upper.xData) == [1.0, 2.0, 3.0]
            assert list(lower.yData) == list(table[:, PERCENTILES.index(low)])
            assert list(upper.yData) == list(table[:, PERCENTILES.index(high)])
        assert list(view.medians[kind].yData) == list(table[:, 4])
    view.show_layer("relu1")  # a ReLU has no weights: activations only
    assert view.bands["weights"] == [] and "weights" not in view.medians
    assert list(view.medians["activations"].yData) == [1.0, 1.0, 1.0]
    assert [round(v, 9) for v in view.bands["activations"][0][2].curves[1].yData] == [2.0, 3.0, 4.0]


def test_a_run_recorded_before_distributions_says_none_were_recorded(qtbot, tmp_path):
    from cnnplayground.core.presets import get_preset
    from cnnplayground.io.project import load_project, save_project
    from cnnplayground.project import Project

    project = Project.new(graph=get_preset("lenet5").factory(), name="old")
    project.history = [dead_run()]  # layer health without distributions, as saved before they were recorded
    save_project(project, tmp_path / "old.cnnp")
    document = Document()
    document.new(load_project(tmp_path / "old.cnnp"))
    panel = HealthPanel(document)
    qtbot.addWidget(panel)
    assert panel.caption.text() == "run 1: 1 finding"
    assert panel.distributions.chooser.count() == 0 and not panel.distributions.chooser.isEnabled()
    assert panel.distributions.note.text() == ("No distributions were recorded for this run (it was trained before "
                                               "they were)")
    assert all(not bands for bands in panel.distributions.bands.values())
    assert sorted(panel.measures.curves["activation_std"]) == ["conv1", "relu1"]  # its measures are still drawn


def test_export_figure_draws_the_health_plots_as_png_and_svg(qtbot):
    from xml.etree import ElementTree

    from PySide6.QtGui import QImage

    from cnnplayground.ui.export.figures import FigureTarget, plot_items, png_bytes, svg_bytes

    panel = _panel(qtbot, distribution_run(), size=(1200, 320))
    assert panel.figure_widget() is panel.measures.graphics  # the findings in front: the measures are the figure
    for tab, titles in ((1, ["Activation std", "Never fire", "Gradient norm (log)", "Update / weight per epoch (log)"]),
                        (2, ["Weights", "Activations"])):
        panel.tabs.setCurrentIndex(tab)
        target = FigureTarget("Health", panel.figure_widget())
        assert [p.titleLabel.text for p in plot_items(target.widget)] == titles
        image = QImage.fromData(png_bytes(target, 1200, 320))
        assert (image.width(), image.height()) == (1200, 320)
        assert len({image.pixel(x, 200) for x in range(0, 1200, 4)}) > 3  # drawn, not one flat colour
        root = ElementTree.fromstring(svg_bytes(target))
        texts = " ".join(t for el in root.iter() for t in [el.text or ""])
        assert all(title in texts for title in titles)
        paths = [el for el in root.iter() if el.tag.endswith(("path", "polyline", "polygon"))]
        assert len(paths) > 20 and not [el for el in root.iter() if el.tag.endswith("image")]  # vectors, no bitmap


def test_the_update_ratio_is_per_epoch_and_its_guide_is_the_per_step_rule_over_an_epoch(qtbot):
    """The ratio is measured over an epoch (LeNet sits at 0.05–0.1): a known epoch's update is plotted as
    it is, on an axis that says "per epoch", and the 1e-3 rule of thumb (per step) is drawn at 1e-3 × the
    run's steps per epoch, labelled so, with a tool tip that says why (issue 25)."""
    import math

    import torch

    from cnnplayground.ui.training.health_plots import MEASURE_PLOTS

    start = torch.tensor([3.0, 4.0])  # ‖w‖ = 5
    end = start + torch.tensor([0.3, 0.4])  # moved by 0.5 in the epoch: ratio 0.1
    ratio = float((end - start).norm() / start.norm())
    run = distribution_run()
    run.health.layers[0].update_ratio = [ratio, ratio / 2, ratio / 4]
    run.settings["steps_per_epoch"] = 469  # MNIST's 60,000 images in batches of 128
    panel = _panel(qtbot, run)
    curve = panel.measures.curves["update_ratio"]["conv1"]
    assert list(curve.yData) == [ratio, ratio / 2, ratio / 4] and math.isclose(ratio, 0.1, rel_tol=1e-6)
    guide = panel.measures.guide
    assert guide.isVisible() and math.isclose(10 ** guide.value(), 1e-3 * 469)  # log axis
    assert guide.label.format == "1e-3 × 469"
    assert "per epoch" in MEASURE_PLOTS["update_ratio"][0] and "per epoch" in MEASURE_PLOTS["update_ratio"][1]
    tip = panel.measures.plots["update_ratio"].toolTip()
    assert "per epoch" in tip and "1e-3 × 469 steps per epoch" in tip
    assert panel.layers.headerItem().text(5) == "Update / weight per epoch"


def test_the_epoch_axes_tick_whole_epochs_only(qtbot):
    """A short run's epoch axis read 1.0, 1.5, 2.0: epochs are whole numbers."""
    panel = _panel(qtbot, distribution_run())
    axes = [p.getAxis("bottom") for p in (*panel.measures.plots.values(), *panel.distributions.plots.values())]
    for axis in axes:
        for low, high in ((1, 2), (1, 3), (0, 40)):
            ticks = [v for _spacing, values in axis.tickValues(low, high, 400) for v in values]
            assert ticks and all(float(v).is_integer() for v in ticks), (low, high, ticks)
