"""Max Activation and Top Patches panels: run, cancel mid-way, rerun, switch layer and channel."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from cnnplayground.data.augment import normalize
from cnnplayground.ui.inspect import attribution_panel
from cnnplayground.ui.inspect.maximize_panel import OUTPUT

from .test_inspect_panels import open_project, trained_lenet


def _done(panel) -> bool:
    return panel.job is not None and panel.job.outcome == "done"


def test_max_activation_runs_stops_reruns_and_switches_units(qtbot, window):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_maximize.trigger()
    panel = window.maximize
    qtbot.waitUntil(lambda: panel.layer.count() > 0 and window.model_source.data is not None, timeout=30_000)
    panel.refresh()  # the dataset arrived: the panel now measures units against it
    layers = [panel.layer.itemData(i) for i in range(panel.layer.count())]
    assert layers == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", OUTPUT]
    panel.layer.setCurrentIndex(layers.index("relu2"))
    assert panel.channel.maximum() == 15 and panel.channel.isVisibleTo(panel) and not panel.target.isVisibleTo(panel)

    panel.steps.setValue(5000)
    panel.channel.setValue(3)
    panel.run_button.click()
    assert panel.running and not panel.run_button.isEnabled() and panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: len(panel.history) >= 5, timeout=30_000)
    panel.stop_button.click()  # cancel mid-way
    assert not panel.running and panel.run_button.isEnabled()
    assert 5 <= len(panel.history) < 5000 and panel.status.text().startswith("Stopped after")

    panel.steps.setValue(200)
    panel.run_button.click()  # rerun to the end
    qtbot.waitUntil(lambda: _done(panel), timeout=60_000)
    assert len(panel.history) == 200 and panel.last.step == 200
    first_image = panel.last.images[0].copy()
    assert panel.reference is not None
    assert panel.history[-1] > panel.history[0] + 0.2
    assert panel.history[-1] > float(panel.reference.max[0])  # above every one of the reference images
    assert "dataset images: mean" in panel.status.text()
    # A ReLU is optimized through its input (no gradient where it is 0); the image shown really drives it.
    assert "relu2 through its input conv2" in panel.status.text()
    model, data = window.model_source.model, window.model_source.data
    with torch.no_grad():
        out = model.forward_all(normalize(torch.from_numpy(first_image)[None], data.mean, data.std))
    assert abs(float(out["conv2"][0, 3].mean()) - panel.history[-1]) < 1e-4
    assert float(out["relu2"][0, 3].mean()) > float(panel.reference.max[0])

    panel.channel.setValue(7)  # switch channel: another image
    panel.run_button.click()
    qtbot.waitUntil(lambda: _done(panel), timeout=60_000)
    assert len(panel.history) == 200 and not np.allclose(panel.last.images[0], first_image)

    panel.layer.setCurrentIndex(layers.index(OUTPUT))  # switch to a class score
    assert panel.target.isVisibleTo(panel) and not panel.channel.isVisibleTo(panel)
    assert panel.target.count() == 10
    panel.target.setCurrentIndex(4)
    panel.run_button.click()
    qtbot.waitUntil(lambda: _done(panel), timeout=60_000)
    with torch.no_grad():
        logits = model(normalize(torch.from_numpy(panel.last.images[0])[None], data.mean, data.std))
    assert int(logits.argmax()) == 4  # the image grown for class 4 is read as class 4


def test_max_activation_gallery_fills_a_grid_and_a_tile_opens_its_channel(qtbot, window):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_maximize.trigger()
    panel = window.maximize
    qtbot.waitUntil(lambda: panel.layer.count() > 0, timeout=30_000)
    panel.layer.setCurrentIndex(panel.layer.findData("conv1"))
    panel.steps.setValue(40)
    panel.gallery_button.click()
    assert panel.views.currentIndex() == 1
    qtbot.waitUntil(lambda: _done(panel), timeout=60_000)
    assert len(panel.grid.images) == 6 and panel.last.images.shape == (6, 1, 28, 28)
    assert [c.split(":")[0] for c in panel.grid.captions] == ["0", "1", "2", "3", "4", "5"]
    assert "images after 40 steps" in panel.status.text()
    panel.steps.setValue(5000)
    panel.gallery_button.click()
    qtbot.waitUntil(lambda: panel.last is not None, timeout=30_000)
    panel.stop_button.click()  # a gallery stops mid-way too, keeping its images so far
    assert not panel.running and len(panel.grid.images) == 6 and panel.last.step < 5000
    panel.steps.setValue(40)
    qtbot.mouseClick(panel.grid, Qt.MouseButton.LeftButton, pos=panel.grid.tile_rect(2).center().toPoint())
    assert panel.channel.value() == 2 and panel.mode == "unit" and panel.views.currentIndex() == 0
    qtbot.waitUntil(lambda: _done(panel), timeout=60_000)
    assert len(panel.history) == 40


def test_top_patches_search_once_per_layer_stop_rerun_and_switch_channels(qtbot, window):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_patches.trigger()
    panel = window.patches
    qtbot.waitUntil(lambda: "relu2" in panel.cache or panel.layer.count() > 0, timeout=30_000)
    qtbot.waitUntil(lambda: panel.layer.currentData() in panel.cache, timeout=30_000)  # found on its own
    panel.layer.setCurrentIndex(panel.layer.findData("relu2"))
    # (the search's last result can arrive a frame before the job has ended: wait for both)
    qtbot.waitUntil(lambda: "relu2" in panel.cache and not panel.running, timeout=30_000)
    panel.find_button.click()  # cached: nothing to run
    assert not panel.running
    split = window.model_source.split()
    data = window.model_source.data
    model = window.model_source.model
    with torch.no_grad():
        maps = model.forward_all(normalize(split.images.float() / 255.0, data.mean, data.std))["relu2"]
    for channel in (0, 9):
        panel.channel.setValue(channel)  # instant: from the cache
        peaks = maps[:, channel].flatten(1).max(dim=1).values.numpy()
        assert panel.top.indices.tolist() == np.argsort(-peaks, kind="stable")[:16].tolist()
        assert len(panel.grid.images) == 16
        assert all(im.width() <= 14 and im.height() <= 14 for im in panel.grid.images)  # receptive-field crops
    panel.show_as.setCurrentIndex(panel.show_as.findData("whole"))
    assert all(im.width() == 28 for im in panel.grid.images)
    qtbot.mouseClick(panel.grid, Qt.MouseButton.LeftButton, pos=panel.grid.tile_rect(1).center().toPoint())
    assert panel.image_view.rect_cells is not None
    assert f"#{int(panel.top.indices[1])}" in panel.image_label.text()

    panel.cache.clear()  # search again: stop mid-way, then to the end
    panel.find_button.click()
    assert panel.running
    panel.stop_button.click()
    assert not panel.running and panel.find_button.isEnabled()
    panel.find_button.click()
    qtbot.waitUntil(lambda: "relu2" in panel.cache, timeout=30_000)
    panel.layer.setCurrentIndex(panel.layer.findData(model.output_id))  # a flat layer: classes
    qtbot.waitUntil(lambda: model.output_id in panel.cache, timeout=30_000)
    assert panel.channel.prefix() == "class " and panel.channel.maximum() == 9


def test_attribution_maps_follow_image_class_and_layer_and_a_new_choice_cancels(qtbot, window, monkeypatch):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_attribution.trigger()
    panel = window.attribution
    qtbot.waitUntil(lambda: "ig" in panel.maps, timeout=60_000)
    assert panel.layer.currentData() == "pool2"  # the last map before Flatten
    assert set(panel.maps) == {"saliency", "gradcam", "ig"}
    for values in panel.maps.values():
        assert values.shape == (28, 28) and values.min() >= 0 and values.max() <= 1
    gap, total = panel.ig_gap
    assert abs(gap) <= 0.05 * max(abs(total - gap), 1e-3)  # integrated gradients add up to the score change
    assert "fine" in panel.labels["ig"].text()
    assert all(view.overlay is not None for view in panel.views.values())

    gate, real = threading.Event(), attribution_panel._work

    def held(*args):  # the worker waits after each item until the test lets it go
        for item in real(*args):
            yield item
            gate.wait(10)

    monkeypatch.setattr(attribution_panel, "_work", held)
    panel.steps.setValue(256)  # a computation, then a new choice before it ends: cancelled at once, restarted
    qtbot.waitUntil(lambda: panel.running and "saliency" in panel.maps, timeout=10_000)
    first_job = panel.job
    panel.target.setCurrentIndex(panel.target.findData(7))
    assert first_job.outcome == "cancelled" and not panel.running
    gate.set()
    qtbot.waitUntil(lambda: panel.job is not first_job and "ig" in panel.maps, timeout=60_000)
    assert first_job.outcome == "cancelled"
    names = window.model_source.data.class_names
    assert panel.target_class == 7 and f"explaining: {names[7]}" in panel.prediction.text()
    model, data, split = window.model_source.model, window.model_source.data, window.model_source.split()
    from cnnplayground.inspect.attribution import saliency

    expected = saliency(model, split.images[:1].float() / 255, torch.tensor([7]), data.mean, data.std)[0].numpy()
    assert np.allclose(panel.maps["saliency"], expected / expected.max(), atol=1e-5)

    panel.layer.setCurrentIndex(panel.layer.findData("relu1"))  # switch layer: a full-resolution Grad-CAM
    qtbot.waitUntil(lambda: "relu1" in panel.labels["gradcam"].text(), timeout=60_000)
    panel.index.setValue(5)  # switch image
    truth = f"true: {data.class_names[int(split.labels[5])]}"
    qtbot.waitUntil(lambda: truth in panel.prediction.text() and "ig" in panel.maps, timeout=60_000)
    panel.opacity.setValue(30)
    assert all(view.overlay_opacity == 0.3 for view in panel.views.values())


def test_adversarial_gallery_shows_fooled_images_and_sweeps_of_two_models_share_the_plot(qtbot, window):  # noqa: F811
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_adversarial.trigger()
    panel = window.adversarial
    qtbot.waitUntil(lambda: panel.adversarial is not None, timeout=30_000)
    panel.attack.setCurrentIndex(panel.attack.findData("fgsm"))
    panel.epsilon.setValue(0.3)
    panel.gallery_button.click()
    assert panel.searching
    panel.gallery_stop.click()  # cancel mid-way
    assert not panel.searching and panel.gallery_button.isEnabled()
    panel.gallery_button.click()  # and again, to the end
    qtbot.waitUntil(lambda: not panel.searching, timeout=60_000)
    assert len(panel.flips) > 0 and len(panel.gallery.grid.images) == len(panel.flips)
    names = [name.split(" - ")[0] for name in window.model_source.data.class_names]
    f = panel.flips[0]
    assert panel.gallery.grid.captions[0] == f"{names[f.true_class]} → {names[f.adversarial_class]}"
    qtbot.mouseClick(panel.gallery.grid, Qt.MouseButton.LeftButton,
                     pos=panel.gallery.grid.tile_rect(0).center().toPoint())
    qtbot.waitUntil(lambda: not panel.busy, timeout=30_000)  # the attack runs in the background
    assert panel.index.value() == f.index and "fooled" in panel.adversarial_label.text()

    panel.sweep_button.click()
    qtbot.waitUntil(lambda: not panel.sweeping, timeout=120_000)
    first_label = panel.sweep_label
    assert len(panel.sweep["pgd"]) == 7 and panel._kept_curves == []
    torch.manual_seed(11)  # other weights: the finished sweep stays in the plot, under its own name
    other = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in weights.items()}
    window.document.set_weights(other)
    panel.sweep_button.click()
    qtbot.waitUntil(lambda: not panel.sweeping, timeout=120_000)
    kept = f"{first_label} (earlier)"  # the same kind of weights: told apart as the earlier ones
    assert list(panel.kept) == [kept] and len(panel._kept_curves) == 2
    legend = [label.text for _, label in panel.plot.getPlotItem().legend.items]
    assert f"FGSM, {kept}" in legend and f"PGD-10, {kept}" in legend and f"FGSM, {first_label}" in legend
    panel.clear_button.click()
    assert panel.kept == {} and panel._kept_curves == []


def test_top_patches_skip_a_channel_0_that_never_fires_and_say_so(qtbot, window):
    """Top Patches opened on channel 0 even where it never fires: sixteen crops labelled "0". A search that ends on
    a dead channel 0 now shows the strongest channel and says why; the user can still pick channel 0."""
    _, weights = trained_lenet()
    weights = dict(weights)
    weights["layers.conv2.weight"] = weights["layers.conv2.weight"].clone()
    weights["layers.conv2.bias"] = weights["layers.conv2.bias"].clone()
    weights["layers.conv2.weight"][0] = 0.0
    weights["layers.conv2.bias"][0] = -1.0  # relu2's channel 0 is 0 on every image
    open_project(window, weights)
    window.acts.show_patches.trigger()
    panel = window.patches
    qtbot.waitUntil(lambda: panel.layer.count() > 0, timeout=30_000)
    panel.layer.setCurrentIndex(panel.layer.findData("relu2"))
    qtbot.waitUntil(lambda: "relu2" in panel.cache and not panel.running, timeout=30_000)
    peaks = panel.cache["relu2"]
    assert peaks.constant(0) and float(peaks.values[:, 0].max()) == 0.0
    strongest = int(np.argmax(peaks.values.max(axis=0)))
    assert strongest != 0 and panel.channel.value() == strongest
    assert panel.top.values[0] == pytest.approx(float(peaks.values.max()))
    said = panel.image_label.text()
    assert "Channel 0 of relu2 is 0 on every image" in said and f"showing channel {strongest}, the strongest" in said
    panel.channel.setValue(0)  # asked for: shown, without the note
    assert panel.channel.value() == 0 and float(panel.top.values.max()) == 0.0
    assert "on every image" not in panel.image_label.text()
    panel.cache.clear()  # searched again with channel 0 chosen: it stays
    panel.find_button.click()
    qtbot.waitUntil(lambda: "relu2" in panel.cache and not panel.running, timeout=30_000)
    assert panel.channel.value() == 0 and "on every image" not in panel.image_label.text()
