"""Compare with (issue 24) for Max Activation, Top Patches and Adversarial: the chosen (run, epoch)'s result
beside the panel's own, for the same unit / channel / attack, computed from that run's stored weights.

The project is test_compare_panels': run 1 LeNet-5, run 2 LeNet-5 with a BatchNorm "bn1" after conv1.
"""

from __future__ import annotations

import numpy as np
import torch

from cnnplayground.inspect.adversarial import compare, fgsm
from cnnplayground.inspect.maximize import maximize_many, objective_layer
from cnnplayground.inspect.patches import layer_peaks
from cnnplayground.io.project_epochs import snapshot_model

from .test_compare_panels import choose, open_two_networks


def last(generator):
    *_, item = generator
    return item


def test_max_activation_compares_the_same_unit_settings_and_seed(qtbot, window):  # noqa: F811
    project = open_two_networks(window)
    window.acts.show_maximize.trigger()
    panel = window.maximize
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.layer.findData("conv2") >= 0,
                    timeout=20_000)
    panel.layer.setCurrentIndex(panel.layer.findData("conv2"))
    panel.channel.setValue(3)
    panel.steps.setValue(6)
    panel.run_unit()
    qtbot.waitUntil(lambda: not panel.running and panel.last is not None, timeout=20_000)
    mine = panel.last.images.copy()
    data, model = window.model_source.data, window.model_source.model
    settings = panel.settings()
    for run, epoch in ((1, 2), (0, 0)):
        choose(panel, run, epoch)  # the finished optimization is redone through that epoch's network
        qtbot.waitUntil(lambda: panel.compare_job is not None and not panel.compare_job.running
                        and panel.compare_last is not None and panel.compare_last.step == 6, timeout=20_000)
        other = snapshot_model(project, run, epoch)
        expected = last(maximize_many(other, model.input_shape, objective_layer(other, "conv2"), [3], data.mean,
                                      data.std, settings))
        assert torch.allclose(torch.as_tensor(panel.compare_last.images), torch.as_tensor(expected.images),
                              atol=1e-6)
        np.testing.assert_allclose(panel.compare_last.activations, expected.activations, rtol=1e-5)
        assert not np.allclose(expected.images, mine, atol=1e-3)  # another network's image indeed
        assert panel.compare_area.isVisible() and panel.compare_view.image is not None
        np.testing.assert_array_equal(panel.last.images, mine)  # the panel's own image is not redone
        assert panel.channel.value() == 3 and panel.layer.currentData() == "conv2"
    panel.run_gallery()  # a gallery compares the same channels
    qtbot.waitUntil(lambda: not panel.running and panel.compare_job is not None and not panel.compare_job.running
                    and panel.compare_last is not None and len(panel.compare_last.images) == 16, timeout=30_000)
    expected = last(maximize_many(snapshot_model(project, 0, 0), model.input_shape, "conv2", list(range(16)),
                                  data.mean, data.std, settings))
    np.testing.assert_allclose(panel.compare_last.activations, expected.activations, rtol=1e-5, atol=1e-6)
    assert panel.compare_gallery.isVisible() and len(panel.compare_gallery.grid.images) == 16
    panel.compare.setCurrentIndex(0)
    assert not panel.compare_area.isVisible() and panel.compare_last is None


def test_max_activation_of_a_layer_the_other_network_lacks_says_why(qtbot, window):  # noqa: F811
    open_two_networks(window)
    window.model_source.select_epoch(1, 2)  # the batch-norm network...
    window.acts.show_maximize.trigger()
    panel = window.maximize
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.layer.findData("bn1") >= 0,
                    timeout=20_000)
    panel.layer.setCurrentIndex(panel.layer.findData("bn1"))
    panel.steps.setValue(3)
    panel.run_unit()
    choose(panel, 0, 2)  # ... compared with plain LeNet-5
    assert panel.compare_reason == "run 1, epoch 2's network has no layer bn1"
    assert panel.compare_job is None and panel.compare_label.text() == panel.compare_reason
    qtbot.waitUntil(lambda: not panel.running and panel.last is not None and panel.last.step == 3, timeout=20_000)


def test_top_patches_compare_the_same_channel_over_the_same_images(qtbot, window):  # noqa: F811
    project = open_two_networks(window)
    window.acts.show_patches.trigger()
    panel = window.patches
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.layer.findData("conv2") >= 0,
                    timeout=20_000)
    panel.layer.setCurrentIndex(panel.layer.findData("conv2"))
    panel.channel.setValue(5)
    panel.k.setValue(8)
    qtbot.waitUntil(lambda: "conv2" in panel.cache and not panel.running, timeout=20_000)
    mine = (panel.top.indices.copy(), panel.top.values.copy())
    data, split = window.model_source.data, window.model_source.split()
    for run, epoch in ((1, 2), (0, 0)):
        choose(panel, run, epoch)
        qtbot.waitUntil(lambda: panel.compare_top is not None, timeout=20_000)
        *_, (_, peaks) = layer_peaks(snapshot_model(project, run, epoch), split.images, data.mean, data.std, "conv2")
        expected = peaks.top(5, 8)
        np.testing.assert_array_equal(panel.compare_top.indices, expected.indices)
        assert torch.allclose(torch.as_tensor(panel.compare_top.values), torch.as_tensor(expected.values), atol=1e-5)
        assert not np.allclose(expected.values, mine[1], atol=1e-3)
        assert len(panel.compare_tiles.grid.images) == 8 and panel.compare_area.isVisible()
        np.testing.assert_array_equal(panel.top.indices, mine[0])  # the panel's own top images stay
        np.testing.assert_array_equal(panel.top.values, mine[1])
    panel.channel.setValue(2)  # another channel: from the compared pass at once
    assert panel.compare_top is not None
    np.testing.assert_array_equal(panel.compare_top.indices, peaks.top(2, 8).indices)


def test_top_patches_of_a_layer_the_other_network_lacks_say_why(qtbot, window):  # noqa: F811
    open_two_networks(window)
    window.model_source.select_epoch(1, 0)
    window.acts.show_patches.trigger()
    panel = window.patches
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.layer.findData("bn1") >= 0,
                    timeout=20_000)
    panel.layer.setCurrentIndex(panel.layer.findData("bn1"))
    qtbot.waitUntil(lambda: "bn1" in panel.cache and not panel.running, timeout=20_000)
    choose(panel, 0, 2)
    assert panel.compare_reason == "run 1, epoch 2's network has no layer bn1"
    assert panel.compare_top is None and panel.compare_label.text() == panel.compare_reason
    assert panel.compare_tiles.grid.images == []


def test_adversarial_runs_the_same_attack_against_the_other_network(qtbot, window):  # noqa: F811
    project = open_two_networks(window)
    window.acts.show_adversarial.trigger()
    panel = window.adversarial
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.adversarial is not None
                    and not panel.busy, timeout=20_000)
    panel.index.setValue(4)
    panel.epsilon.setValue(0.2)
    qtbot.waitUntil(lambda: not panel.busy and panel.shown_attack is not None and panel.shown_attack[3] == 4
                    and float((panel.adversarial - panel.shown_attack[1]).abs().max()) > 0.19, timeout=20_000)
    mine = panel.adversarial.clone()
    data, split = window.model_source.data, window.model_source.split()
    x, y = split.images[4:5].float() / 255.0, split.labels[4:5]
    for run, epoch in ((1, 2), (0, 0)):
        choose(panel, run, epoch)
        qtbot.waitUntil(lambda: panel.compare_found is not None and not panel.busy, timeout=20_000)
        other = snapshot_model(project, run, epoch)
        expected = fgsm(other, x, y, 0.2, data.mean, data.std)
        adv, c = panel.compare_found
        assert torch.allclose(adv, expected, atol=1e-6)
        assert not torch.equal(expected, mine)  # its own gradient's signs
        e = compare(other, x, expected, data.mean, data.std)
        assert int(c.clean_class) == int(e.clean_class) and int(c.adversarial_class) == int(e.adversarial_class)
        assert torch.allclose(c.adversarial_probability, e.adversarial_probability, atol=1e-5)
        assert panel.compare_area.isVisible() and panel.compare_views[2].image is not None
        assert torch.equal(panel.adversarial, mine) and panel.index.value() == 4


def test_adversarial_sweep_draws_the_other_network_as_a_second_line(qtbot, window, monkeypatch):  # noqa: F811
    from cnnplayground.ui.inspect import adversarial_panel
    monkeypatch.setattr(adversarial_panel, "SWEEP_IMAGES", 16)
    monkeypatch.setattr(adversarial_panel, "SWEEP_EPSILONS", (0.0, 0.2))
    project = open_two_networks(window)
    window.acts.show_adversarial.trigger()
    panel = window.adversarial
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.adversarial is not None, timeout=20_000)
    choose(panel, 1, 2)
    panel.start_sweep()
    qtbot.waitUntil(lambda: not panel.sweeping and panel.compare_sweep_job is not None
                    and not panel.compare_sweep_job.running, timeout=30_000)
    data, split = window.model_source.data, window.model_source.split()
    x, y = split.images[:16].float() / 255.0, split.labels[:16]
    expected = list(adversarial_panel._sweep_work(snapshot_model(project, 1, 2), x, y, data.mean, data.std))
    got = [(a, e, acc) for a in ("fgsm", "pgd") for e, acc in panel.compare_sweep[a]]
    assert got == expected
    names = [item.text for _sample, item in panel.plot.getPlotItem().legend.items]
    assert "FGSM, run 2, epoch 2" in names and "PGD-10, run 2, epoch 2" in names


def test_adversarial_says_why_when_the_epoch_is_no_longer_stored(qtbot, window, monkeypatch):  # noqa: F811
    open_two_networks(window)
    window.acts.show_adversarial.trigger()
    panel = window.adversarial
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.adversarial is not None, timeout=20_000)
    monkeypatch.setattr(window.model_source, "compared_model", lambda run, epoch: (_ for _ in ()).throw(
        ValueError("gone")))  # the epoch was dropped since the list was filled
    choose(panel, 1, 2)
    assert panel.compare_reason == "run 2, epoch 2 is no longer stored"
    assert panel.compare_labels[0].text() == panel.compare_reason and panel.compare_found is None


def test_cancel_stops_the_compared_optimization_too(qtbot, window):  # noqa: F811
    open_two_networks(window)
    window.acts.show_maximize.trigger()
    panel = window.maximize
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.layer.count() > 0, timeout=20_000)
    panel.steps.setValue(5000)
    choose(panel, 1, 2)
    panel.run_unit()
    qtbot.waitUntil(lambda: panel.compare_last is not None, timeout=20_000)
    job = panel.compare_job
    assert panel.cancel_work()  # Cancel in the progress strip, or Esc
    qtbot.waitUntil(lambda: not job.running and not panel.running, timeout=20_000)
    assert panel.compare_last.step < 5000


def test_results_compare_the_other_epochs_confusion_matrix(qtbot, window):  # noqa: F811
    from cnnplayground.ui.training.results import _find_mistakes

    project = open_two_networks(window)
    window.model_source.select_epoch(0, 2)
    window.results_dock.show()
    panel = window.results
    qtbot.waitUntil(lambda: window.model_source.data is not None and panel.confusion.class_count() > 0,
                    timeout=20_000)
    mine = panel.confusion._counts.copy()
    data = window.model_source.data
    for run, epoch in ((1, 2), (1, 0)):
        choose(panel, run, epoch)
        qtbot.waitUntil(lambda: panel.compare_confusion is not None, timeout=20_000)
        expected, _ = _find_mistakes(snapshot_model(project, run, epoch), data, False)
        np.testing.assert_array_equal(panel.compare_confusion, expected.confusion)
        np.testing.assert_array_equal(panel.compare_view._counts, expected.confusion)
        assert panel.compare_area.isVisible()
        assert panel.compare_title.text().startswith(f"run {run + 1}, epoch {epoch}: ")
        np.testing.assert_array_equal(panel.confusion._counts, mine)  # this epoch's matrix stays
    expected_mine, _ = _find_mistakes(snapshot_model(project, 0, 2), data, False)
    np.testing.assert_array_equal(mine, expected_mine.confusion)
    panel.compare.setCurrentIndex(0)
    assert not panel.compare_area.isVisible() and panel.compare_confusion is None


def test_results_say_why_an_epoch_cannot_be_compared(qtbot, window, monkeypatch):  # noqa: F811
    open_two_networks(window)
    window.results_dock.show()
    qtbot.waitUntil(lambda: window.model_source.data is not None, timeout=20_000)
    monkeypatch.setattr(window.model_source, "compared_model", lambda run, epoch: (_ for _ in ()).throw(
        ValueError("gone")))  # the epoch was dropped since the list was filled
    choose(window.results, 1, 0)
    assert window.results.compare_reason == "run 2, epoch 0 is no longer stored"
    assert window.results.compare_label.text() == window.results.compare_reason
