"""The Feature Space panel: one point per validation image, coloured by class, the misclassified outlined."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from cnnplayground.inspect import embedding
from cnnplayground.inspect.embedding import pca_2d, tsne_2d
from cnnplayground.inspect.snapshot import prepare
from cnnplayground.io.project_epochs import snapshot_model
from cnnplayground.ui.inspect.embedding_panel import HOVER_HINT, class_color
from tests.ui.test_epoch_slider import EPOCHS
from tests.ui.test_epoch_slider import open_project as open_project_with_epochs
from tests.ui.test_inspect_panels import open_project, trained_lenet


@pytest.fixture
def window_size() -> tuple[int, int]:
    return (1280, 720)


def test_the_map_shows_every_image_by_class_and_outlines_exactly_the_misclassified(qtbot, window):
    _, weights = trained_lenet()  # random weights: many answers are wrong
    open_project(window, weights)
    window.acts.show_embedding.trigger()
    panel = window.embedding
    qtbot.waitUntil(lambda: panel.result is not None, timeout=20_000)
    model, data, split = window.model_source.model, window.model_source.data, window.model_source.split()
    n = len(split)
    assert n == 60 and panel.layer.currentText() == panel.result.layer
    with torch.no_grad():
        x = prepare(split.images, data.mean, data.std)
        predictions = model(x).argmax(1).numpy()
        features = model.forward_all(x)[panel.result.layer].flatten(1)
    labels = split.labels.numpy()
    wrong = predictions != labels
    assert 0 < wrong.sum() < n

    shown, outlined, colours = [], [], {}
    for item in panel.scatters:
        for spot in item.points():
            index = int(spot.data())
            shown.append(index)
            colours[index] = spot.brush().color().name()
            if spot.pen().style() != Qt.PenStyle.NoPen:
                assert spot.pen().color().name() == "#000000"
                outlined.append(index)
            assert np.allclose([spot.pos().x(), spot.pos().y()], panel.result.points[index])
    assert sorted(shown) == list(range(n))
    assert all(colours[i] == class_color(int(labels[i])) for i in range(n))
    assert sorted(outlined) == list(np.flatnonzero(wrong))
    assert np.allclose(panel.result.points, pca_2d(features)[0], atol=1e-4)
    assert len(panel.legend.items) == len(np.unique(labels))
    assert f"{int(wrong.sum())} misclassified" in panel.summary.text()

    # Hovering a point names it: its index, class and the network's answer.
    i = int(np.flatnonzero(wrong)[0])
    assert panel.hover.text() == HOVER_HINT  # on no point yet
    at = hover_on(qtbot, panel, i)
    nearest = panel.point_near(at)
    assert nearest is not None and np.allclose(panel.result.points[nearest], panel.result.points[i])
    assert panel.hover.text() == panel.describe(nearest)
    assert f"class {labels[nearest]}" in panel.hover.text() and "(wrong)" in panel.hover.text()


def hover_on(qtbot, panel, i: int) -> QPointF:
    """Move the mouse onto image ``i``'s point until the panel hovers it (the map's place on screen settles
    once the legend beside it is laid out: a position taken before that missed); its scene position."""
    view = panel.plot.getPlotItem().getViewBox()
    where: list[QPointF] = []

    def on() -> bool:
        at = view.mapViewToScene(QPointF(*panel.result.points[i]))
        where[:] = [at]
        qtbot.mouseMove(panel.plot.viewport(), panel.plot.mapFromScene(at))
        near = panel.point_near(at)
        return (near is not None and np.allclose(panel.result.points[near], panel.result.points[i])
                and panel.hover.text() == panel.describe(near))

    qtbot.waitUntil(on, timeout=5_000)
    return where[0]


def isolated_point(panel) -> tuple[int, QPointF]:
    """An image (not the first: every spin box starts there) whose point is the nearest to its own position."""
    view = panel.plot.getPlotItem().getViewBox()
    for i in range(len(panel.result.points) - 1, 0, -1):
        at = view.mapViewToScene(QPointF(*panel.result.points[i]))
        if panel.point_near(at) == i:
            return i, at
    raise AssertionError("every point lies on another")


def test_a_click_on_a_point_shows_its_image_in_feature_maps_attribution_and_adversarial(qtbot, window):
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_feature_maps.trigger()
    window.feature_maps.input_kind.setCurrentIndex(window.feature_maps.input_kind.findData("draw"))
    window.acts.show_embedding.trigger()
    panel = window.embedding
    qtbot.waitUntil(lambda: panel.result is not None, timeout=20_000)
    i, at = isolated_point(panel)
    targets = {"feature_maps": window.feature_maps, "attribution": window.attribution,
               "adversarial": window.adversarial}
    assert all(p.index.value() != i for p in targets.values())
    with qtbot.waitSignal(panel.image_chosen, timeout=5_000) as chosen:
        qtbot.mouseClick(panel.plot.viewport(), Qt.MouseButton.LeftButton, pos=panel.plot.mapFromScene(at))
    assert chosen.args == [i]
    for p in targets.values():
        assert p.index.value() == i and p.index.maximum() == len(window.model_source.split()) - 1
    assert window.statusBar().currentMessage() == \
        f"Validation image {i} is on show in Feature Maps, Attribution and Adversarial"
    # Feature Maps switched from the drawing to the dataset image, and computes that image's maps when shown.
    maps = window.feature_maps
    assert maps.input_kind.currentData() == "dataset"
    window.acts.show_feature_maps.trigger()
    split = window.model_source.split()
    assert np.array_equal(maps._dataset_image, split.images[i].float().numpy() / 255.0)
    model = window.model_source.model
    with torch.no_grad():
        expected = torch.softmax(model(maps.input_tensor()), dim=1)[0]
        x = prepare(split.images[i:i + 1], window.model_source.data.mean, window.model_source.data.std)
    assert torch.allclose(maps.input_tensor(), x)
    qtbot.waitUntil(lambda: maps.prediction and maps.prediction[0][0] == int(expected.argmax()), timeout=10_000)
    # Attribution and Adversarial compute for that image when shown.
    window.acts.show_adversarial.trigger()
    qtbot.waitUntil(lambda: window.adversarial.adversarial is not None, timeout=20_000)
    assert window.adversarial.index.value() == i


def layer_features(model, window, layer: str) -> torch.Tensor:
    data, split = window.model_source.data, window.model_source.split()
    with torch.no_grad():
        return model.forward_all(prepare(split.images, data.mean, data.std))[layer].flatten(1)


def test_the_map_follows_the_epoch_slider(qtbot, window):
    project = open_project_with_epochs(window)
    window.acts.show_embedding.trigger()
    panel, bar = window.embedding, window.embedding.epoch_bar
    qtbot.waitUntil(lambda: panel.result is not None, timeout=20_000)
    layer = panel.result.layer
    latest = pca_2d(layer_features(window.model_source.model, window, layer))[0]
    assert np.allclose(panel.result.points, latest, atol=1e-4)
    for epoch in (1, 4):
        shown = panel.result
        bar.slider.setValue(EPOCHS.index(epoch))
        assert window.model_source.selected_epoch == (0, epoch)
        qtbot.waitUntil(lambda shown=shown: panel.result is not None and panel.result is not shown, timeout=20_000)
        expected = pca_2d(layer_features(snapshot_model(project, 0, epoch), window, layer))[0]
        assert np.allclose(panel.result.points, expected, atol=1e-4)  # that epoch's stored weights
        assert not np.allclose(panel.result.points, latest, atol=1e-2)  # not the latest ones
        assert f"after epoch {epoch}" in panel.caption.text()


def test_tsne_is_computed_in_the_background_and_a_newer_request_drops_it(qtbot, window, monkeypatch):
    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_embedding.trigger()
    panel = window.embedding
    qtbot.waitUntil(lambda: panel.result is not None, timeout=20_000)
    assert panel.method.currentText() == "PCA" and not panel.perplexity.isVisible()
    assert panel.perplexity.value() == 30 and "perplexity" in panel.perplexity.toolTip()
    release, calls = threading.Event(), []

    def held_tsne(*args, **kwargs):  # t-SNE waits for the test: its "computing" state can be seen
        calls.append(kwargs)
        release.wait(20)
        return tsne_2d(*args, **kwargs)
    monkeypatch.setattr(embedding, "tsne_2d", held_tsne)
    panel.method.setCurrentText("t-SNE")
    assert panel.perplexity.isVisible()
    assert panel.plot.getPlotItem().getAxis("bottom").labelText == "t-SNE 1"
    qtbot.waitUntil(lambda: panel.state.text() == "computing t-SNE…", timeout=20_000)
    assert panel.running and panel.result.method == "pca"  # the PCA map stays until t-SNE's is there
    panel.method.setCurrentText("PCA")  # a newer request: the held t-SNE's map must never show
    qtbot.waitUntil(lambda: not panel.running and panel.result.method == "pca", timeout=20_000)
    pca_result = panel.result
    release.set()
    stale = panel.job
    panel.method.setCurrentText("t-SNE")  # and now to its end
    assert panel.job is not stale
    qtbot.waitUntil(lambda: panel.result.method == "tsne", timeout=60_000)
    assert panel.result is not pca_result and panel.state.text() == ""
    features = layer_features(window.model_source.model, window, panel.result.layer)
    assert len(calls) == 2  # the dropped request and this one
    assert np.allclose(panel.result.points, tsne_2d(features, 30)[0], atol=1e-3)
    # 60 images: perplexity 30 lowered to (60 − 1) / 3, and said so
    assert panel.result.perplexity == pytest.approx(59 / 3) and "t-SNE (perplexity 20)" in panel.summary.text()


def test_hovering_a_point_shows_its_image(qtbot, window):
    """Issue 25's "hover for the image": a real mouse move onto a point shows that validation image (a
    64 px thumbnail, its pixels the split's) beside its index, class and prediction; off the points, none."""
    from cnnplayground.ui.inspect.embedding_panel import HOVER_THUMB_PX

    _, weights = trained_lenet()
    open_project(window, weights)
    window.acts.show_embedding.trigger()
    panel = window.embedding
    qtbot.waitUntil(lambda: panel.result is not None, timeout=20_000)
    split = window.model_source.split()
    i, _ = isolated_point(panel)
    assert not panel.hover_image.isVisible()
    hover_on(qtbot, panel, i)
    assert panel.hover_image.isVisible()
    assert panel.hover_index == i and panel.hover.text().startswith(f"validation image {i}: class ")
    thumb = panel.hover_image.pixmap().toImage()
    assert thumb.width() == thumb.height() == HOVER_THUMB_PX
    image = split.images[i].numpy()[0].astype(int)  # (28, 28) uint8
    h, w = image.shape
    scale = HOVER_THUMB_PX / w
    shown = np.array([[thumb.pixelColor(int((c + 0.5) * scale), int((r + 0.5) * scale)).red()
                       for c in range(w)] for r in range(h)])
    assert np.array_equal(shown, image)  # every pixel of that image
    assert not np.array_equal(shown, split.images[(i + 1) % len(split)].numpy()[0].astype(int))
    # off every point: the hint, no image
    from PySide6.QtCore import QPoint

    rect = panel.plot.viewport().rect()
    empties = iter([p for p in (QPoint(x, y) for y in range(20, rect.height(), 15) for x in range(20, rect.width(), 15))
                    if panel.point_near(panel.plot.mapToScene(p)) is None])

    def off() -> bool:  # a new empty place each try (a move to where the pointer already is sends nothing)
        qtbot.mouseMove(panel.plot.viewport(), next(empties))
        return not panel.hover_image.isVisible()

    qtbot.waitUntil(off, timeout=5_000)
    assert panel.hover.text() == HOVER_HINT and panel.hover_index is None
