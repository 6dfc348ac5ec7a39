"""Any Inspect panel's figure without a window, one per frame: :func:`panel_figure`.

``PANEL_DRAWERS`` maps a panel's command-line name to its drawer. Kernels, feature maps and the confusion
matrix are drawn from their analyses by the panels' tile and matrix code (:mod:`.headless`); the other
panels are built for real around a :class:`FixedSource` (the weights of one frame and the project's
dataset), set to the options, and run their own analysis job as in the window (:func:`_settle` waits for
it): the figure is the panel's own ``figure_widget()``. No second copy of any drawing.

With ``frame_scale="shared"`` the frames of an animation share one colour scale: every frame is drawn
first, the smallest and largest value over all frames are taken, and each frame is drawn again with that
range (the panels' fixed-range attributes: ``drop_scale``, ``peaks``, ``map_range``/``field_peak``,
``perturbation_scale``). The title's second line says the range.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from PySide6.QtCore import QEventLoop, QObject, Signal
from PySide6.QtWidgets import QApplication, QWidget

from ...core.builder import build
from ...core.inference import infer
from ...export.panel_options import ATTACKS, METHODS, FigureOptions, FigureWeights
from ...export.style import figure_style
from .figures import FigureError
from .headless import (
    _laid_out,
    _titled,
    application,
    confusion_figure,
    feature_maps_figure,
    kernels_figure,
)
from .styled import LOGICAL_DPI, font

#: Longest a panel's analysis may run for one frame before the figure gives up.
ANALYSIS_TIMEOUT_S = 600.0


class FigureFrame(NamedTuple):
    """One frame: the widget to draw, its title (already drawn above it), and the numbers it shows."""

    widget: QWidget
    title: str
    values: dict[str, Any]


@dataclass
class _Context:
    """What the drawers share: the project, its dataset (loaded once, when a panel needs images)."""

    project: Any
    options: FigureOptions
    app: QApplication
    _data: Any = field(default=None)

    def data(self, what: str):
        """The project's dataset as its runs saw it (hold-out and seed), with validation images."""
        if self._data is None:
            from ...data.base import DatasetError
            from ...data.registry import load_dataset

            training = self.project.training
            try:
                self._data = load_dataset(self.project.dataset, val_fraction=training.val_fraction,
                                          seed=training.seed)
            except DatasetError as exc:
                raise FigureError(str(exc)) from None
        if len(self._data.val) == 0:
            raise FigureError(f"the project holds out no validation images (val_fraction 0): there is no {what} "
                              "to draw")
        return self._data

    def image_index(self, what: str) -> int:
        data = self.data(what)
        i = self.options.image
        if not 0 <= i < len(data.val):
            raise FigureError(f"there is no validation image {i}: there are {len(data.val):,} (0 to "
                              f"{len(data.val) - 1:,})")
        return i

    def target(self, what: str) -> int | None:
        names = self.data(what).class_names
        c = self.options.target
        if c is not None and not 0 <= c < len(names):
            raise FigureError(f"there is no class {c}: the dataset has {len(names)} (0 to {len(names) - 1})")
        return c


def model_of(weights: FigureWeights):
    """The network of ``weights`` with its state dict, in eval mode (built on the meta device, then assigned)."""
    with torch.device("meta"):
        model = build(weights.graph)
    model.load_state_dict(weights.state, assign=True)
    return model.eval()


class FixedSource(QObject):
    """A :class:`~..inspect.source.ModelSource` for one fixed model: what a panel asks of its source."""

    changed = Signal()
    replaced = Signal()
    epoch_changed = Signal()

    def __init__(self, weights: FigureWeights, data, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model = model_of(weights)
        self.graph = weights.graph
        self.data = data
        self.description = weights.label
        self.weights_label = weights.label
        self.problem = ""
        self.data_problem = ""
        self.device = torch.device("cpu")
        self._shapes = {nid: tuple(info.shape) for nid, info in infer(self.graph).infos.items()
                        if info.shape is not None}
        if data is not None and tuple(data.input_shape) != tuple(self.model.input_shape):
            fmt = "×".join
            raise FigureError(f"the network takes {fmt(map(str, self.model.input_shape))} images but "
                              f"{data.name} has {fmt(map(str, data.input_shape))}")

    @property
    def has_model(self) -> bool:
        return True

    def ensure_data(self) -> None:
        """The data is loaded already."""

    def split(self):
        return self.data.val if self.data is not None else None

    def layer_shape(self, node_id: str) -> tuple[int, ...] | None:
        return self._shapes.get(node_id)

    def map_layers(self) -> list[str]:
        return [nid for nid in self.model.layer_ids if len(self._shapes.get(nid, ())) == 3]

    def model_on(self, _device: torch.device):
        return self.model

    def stored_runs(self) -> list[tuple[int, str, list[int]]]:
        """No other epochs to compare with: a figure shows one model."""
        return []

    def compared_model(self, run: int, epoch: int):
        raise ValueError(f"a figure compares nothing (run index {run}, epoch {epoch})")


def _busy(panel: QWidget) -> bool:
    return bool(getattr(panel, "jobs", None)) or bool(getattr(panel, "running", False))


def _settle(panel: QWidget, app: QApplication, what: str) -> None:
    """Let the panel's analysis job run to its end (its results arrive through the event loop)."""
    deadline = time.monotonic() + ANALYSIS_TIMEOUT_S
    while _busy(panel):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if time.monotonic() > deadline:
            raise FigureError(f"{what} took longer than {ANALYSIS_TIMEOUT_S:.0f} s")
        time.sleep(0.002)
    app.processEvents()
    job = getattr(panel, "job", None)
    if job is not None and job.outcome == "failed":
        raise FigureError(f"{what} failed")


def _combo_choose(combo, value, what: str) -> None:
    """Choose the item whose data is ``value`` (signals blocked: the caller starts the analysis)."""
    index = combo.findData(value)
    if index < 0:
        have = [str(combo.itemData(i)) for i in range(combo.count())]
        raise FigureError(f"no {what} {value!r}; the network has {', '.join(have)}")
    combo.blockSignals(True)
    combo.setCurrentIndex(index)
    combo.blockSignals(False)


def _set_value(spin, value: int | float) -> None:
    spin.blockSignals(True)
    spin.setValue(value)
    spin.blockSignals(False)


def _check_unit(unit: int | None, count: int, layer: str) -> None:
    if unit is not None and not 0 <= unit < count:
        raise FigureError(f"{layer} has no channel {unit}: it has {count} (0 to {count - 1})")


def _framed(panel: QWidget, body: QWidget, title: str, width: int, height: int | None = None) -> QWidget:
    """The panel's figure widget taken out of the panel, under its title (the panel lives as long as it)."""
    frame = _titled(title, body)
    body.setHidden(False)  # a new parent hides a widget
    frame._panel = panel  # type: ignore[attr-defined]  # keeps the panel (its state and signals) alive
    return _laid_out(frame, width, height)


def _grid_copy(grid, tile: int) -> QWidget:
    """The tiles of a panel's grid (which lives in a scroll area) in a grid of their own, at ``tile`` pixels."""
    from ..inspect.imaging import ImageGrid

    copy = ImageGrid(tile)
    copy.set_images(grid.images, grid.captions)
    return copy


def _range_line(text: str) -> str:
    return f"\nColours: {text}"


def _shared(ctx: _Context, frames: Sequence[Any]) -> bool:
    return ctx.options.frame_scale == "shared" and len(frames) > 1


# --- the drawers --------------------------------------------------------------------------------------------
def _kernels(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ...inspect.kernels import conv_weights, kernel_images

    o = ctx.options
    chosen = []
    for source in sources:
        layers = conv_weights(model_of(source))
        if not layers:
            raise FigureError("this network has no convolution layer: it has no kernels to draw")
        name = o.layer if o.layer is not None else next(iter(layers))
        if name not in layers:
            raise FigureError(f"no convolution layer {name!r}; the network has {', '.join(layers)}")
        chosen.append((source, name, layers[name]))
    magnitude = None
    if _shared(ctx, sources) and o.scale == "shared":
        mode = o.mode if o.mode != "rgb" else "auto"
        magnitude = max(float(kernel_images(w, mode, "shared").scale.max(initial=0.0)) for _, _, w in chosen)
    out = []
    for source, name, w in chosen:
        title = f"{source.label} · {name}: {w.shape[0]} filters of {w.shape[1]}×{w.shape[2]}×{w.shape[3]}"
        if magnitude is not None:
            title += _range_line(f"one scale for all frames, ±{magnitude:.3g}")
        out.append(FigureFrame(kernels_figure(w, title, o.mode, o.scale, magnitude=magnitude,
                                                  style=figure_style(o.style)), title,
                               {"weight": w}))
    return out


def _feature_maps(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ...inspect.activations import feature_maps
    from ...inspect.snapshot import prepare

    o = ctx.options
    data = ctx.data("input image")
    i = ctx.image_index("input image")
    image = data.val.images[i]
    label = data.class_names[int(data.val.labels[i])]
    found = []
    for source in sources:
        model = model_of(source)
        try:
            maps = feature_maps(model, prepare(image, data.mean, data.std))
        except RuntimeError as exc:  # a network whose input does not fit the dataset's images
            raise FigureError(f"the network cannot run on {data.name}'s images: "
                              f"{' '.join(str(exc).split())[:200]}") from None
        spatial = [nid for nid, v in maps.items() if v.ndim == 3 and nid != model.input_id]
        if not spatial:
            raise FigureError("this network has no layer with feature maps")
        name = o.layer if o.layer is not None else spatial[0]
        if name not in spatial:
            raise FigureError(f"no layer with feature maps {name!r}; the network has {', '.join(spatial)}")
        found.append((source, name, maps[name]))
    value_range = None
    if _shared(ctx, sources):
        value_range = (min(float(m.min()) for *_, m in found), max(float(m.max()) for *_, m in found))
    out = []
    for source, name, m in found:
        title = (f"{source.label} · {name}: {m.shape[0]} maps of {m.shape[1]}×{m.shape[2]} for validation image "
                 f"{i} ({label})")
        if value_range is not None:
            title += _range_line(f"one scale for all maps and frames, {value_range[0]:.3g} to {value_range[1]:.3g}")
        widget = feature_maps_figure(m, title, image.float().numpy() / 255.0, value_range=value_range,
                                     style=figure_style(o.style))
        out.append(FigureFrame(widget, title, {"maps": m}))
    return out


def _confusion(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ...data.loader import DeviceLoader
    from ...train.evaluate import evaluate

    data = ctx.data("confusion matrix")
    out = []
    for source in sources:
        loader = DeviceLoader(data.val, mean=data.mean, std=data.std, batch_size=512, device="cpu", shuffle=False)
        try:
            result = evaluate(model_of(source), loader, data.num_classes, tta_flip=ctx.project.training.tta_flip)
        except RuntimeError as exc:  # a network whose input does not fit the dataset's images
            raise FigureError(f"the network cannot run on {data.name}'s images: "
                              f"{' '.join(str(exc).split())[:200]}") from None
        widget = confusion_figure(result.confusion.tolist(), result.per_class_accuracy, tuple(data.class_names),
                                  source.epoch or 0, source.label, style=figure_style(ctx.options.style))
        out.append(FigureFrame(widget, source.label, {"confusion": np.asarray(result.confusion)}))
    return out


def _receptive_field(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ..inspect.receptive_panel import ReceptiveFieldPanel

    o = ctx.options
    data = ctx.data("input image")
    i = ctx.image_index("input image")
    panels = []
    for source in sources:
        panel = ReceptiveFieldPanel(FixedSource(source, data))
        panel.refresh()
        if panel.layer.count() == 0:
            raise FigureError("this network has no layer with a spatial output: it has no receptive field")
        if o.layer is not None:
            layers = [panel.layer.itemText(k) for k in range(panel.layer.count())]
            if o.layer not in layers:
                raise FigureError(f"no layer with a spatial output {o.layer!r}; the network has {', '.join(layers)}")
            panel.layer.blockSignals(True)
            panel.layer.setCurrentText(o.layer)
            panel.layer.blockSignals(False)
        name = panel.layer.currentText()
        channels, h, w = panel.source.layer_shape(name)
        _check_unit(o.unit, channels, name)
        panel._layer_shown = ""
        panel._on_layer()  # the layer's channels; then the choices below
        if o.unit is not None:
            panel.channel.blockSignals(True)
            panel.channel.setCurrentIndex(o.unit + 1)
            panel.channel.blockSignals(False)
        _set_value(panel.image_index, i)
        if o.position is not None:
            row, col = o.position
            if not (0 <= row < h and 0 <= col < w):
                raise FigureError(f"{name}'s output is {h}×{w}: there is no unit at ({row}, {col})")
            panel.position = (row, col)
        panel.compute()
        _settle(panel, ctx.app, "the effective receptive field")
        if panel.erf is None or panel.unit_map is None:
            raise FigureError(f"the effective receptive field failed: {panel.summary.text()}")
        panels.append((source, panel, name))
    if _shared(ctx, sources):
        low = min(float(p.unit_map.min()) for _, p, _ in panels)
        high = max(float(p.unit_map.max()) for _, p, _ in panels)
        peak = max(float(p.erf.max()) for _, p, _ in panels)
        for _, panel, name in panels:
            panel.map_range, panel.field_peak = (low, high), peak
            panel._show_fields((panel.unit_map, panel.erf), name, *panel.position, panel.images.value())
    style = figure_style(o.style)
    column = round(style.width_in * LOGICAL_DPI)
    out = []
    for source, panel, _name in panels:
        row, col = panel.position
        title = f"{source.label} · {panel.summary.text()}"
        if panel.map_range is not None:
            title += _range_line(f"one scale for all frames: layer output {panel.map_range[0]:.3g} to "
                                 f"{panel.map_range[1]:.3g}, effective field 0 to {panel.field_peak:.3g}")
        panel.unit_heading.setText("Layer output")  # (the window's "click a unit" is no help on paper)
        if style.height_in is None and column < 1100:
            # A column (a paper's 3.5 in): the two images side by side, the plot of sizes below them, drawn
            # at the column's width (three parts side by side needed 11.5 in, its text 3 pt in the column).
            # (the plot goes below the images in the panel's own figure widget, which stacks its parts in a
            # narrow column: it stays inside the widgets the panel's figure is made of)
            panel.figure.box.insertWidget(1, panel.sizes_area, 0)
            panel.sizes_area.setHidden(False)  # a new parent hides a widget
            frame = _titled(title, panel.figure_widget())
            panel.figure_widget().setHidden(False)
            frame._panel = panel  # type: ignore[attr-defined]  # keeps the panel alive with the figure
            frame.setFont(font(style, style.font_size))
            frame.layout().activate()
            # (the wrapped lines at the column's width: a label's least height is for a guessed width; the
            # images ask for their preferred side, about half the column)
            layout = frame.layout()
            height = max(layout.totalHeightForWidth(column) if layout.hasHeightForWidth()
                         else layout.sizeHint().height(), frame.minimumSizeHint().height())
            widget = _laid_out(frame, column, height)
        else:  # the plot of sizes beside the images, as wide as both (its layers' names need the room)
            panel.sizes_area.parentWidget().layout().setStretchFactor(panel.sizes_area, 2)
            widget = _framed(panel, panel.figure_widget(), title, 1100, 460)
        out.append(FigureFrame(widget, title, {"field": panel.erf, "map": panel.unit_map, "unit": (row, col)}))
    return out


def _occlusion(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ..inspect.occlusion_panel import OcclusionPanel

    data = ctx.data("image to occlude")
    i = ctx.image_index("image to occlude")
    target = ctx.target("image to occlude")
    panels = []
    for source in sources:
        panel = OcclusionPanel(FixedSource(source, data))
        panel.refresh()  # starts the map of image 0: replaced by the chosen one below
        _set_value(panel.index, i)
        cls = target if target is not None else int(data.val.labels[i])
        panel.target.blockSignals(True)
        panel.target.setCurrentIndex(cls)
        panel.target.blockSignals(False)
        panel.start()
        _settle(panel, ctx.app, "the occlusion map")
        if panel.result is None:
            raise FigureError(f"the occlusion map failed: {panel.summary.text()}")
        panels.append((source, panel))
    _, h, w = data.input_shape
    if _shared(ctx, sources):
        top = max(float(p.result.heat(h, w).max()) for _, p in panels)
        for _, panel in panels:
            panel.drop_scale = top
            panel._show(final=True)
    out = []
    for source, panel in panels:
        title = f"{source.label} · validation image {i}. {panel.summary.text()}"
        if panel.drop_scale is not None:
            title += _range_line(f"one scale for all frames, drop in probability 0 to {panel.drop_scale:.1%}")
        widget = _framed(panel, panel.figure_widget(), title, 900, 520)
        out.append(FigureFrame(widget, title, {"probability": panel.result.probability,
                                               "drop": panel.result.heat(h, w)}))
    return out


def _attribution(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ..inspect.attribution_panel import METHODS as PANEL_METHODS
    from ..inspect.attribution_panel import PREDICTED, AttributionPanel

    o = ctx.options
    if o.method not in METHODS:
        raise FigureError(f"no attribution method {o.method!r}; there are {', '.join(METHODS)}")
    data = ctx.data("image to explain")
    i = ctx.image_index("image to explain")
    target = ctx.target("image to explain")
    panels = []
    for source in sources:
        panel = AttributionPanel(FixedSource(source, data))
        panel.refresh()
        panel._cancel()  # refresh started image 0 with the defaults: the chosen settings follow
        _set_value(panel.index, i)
        _combo_choose(panel.target, PREDICTED if target is None else target, "class")
        if o.layer is not None:
            _combo_choose(panel.layer, o.layer, "layer with feature maps for Grad-CAM")
        if panel.layer.count() == 0:
            raise FigureError("this network has no layer with feature maps: Grad-CAM has no layer to look at")
        if o.steps is not None:
            _set_value(panel.steps, max(2, min(o.steps, panel.steps.maximum())))
        if o.method != "all":
            grid = panel.maps_area.layout()
            for column, (key, *_rest) in enumerate(PANEL_METHODS, start=1):
                for row in range(3):
                    grid.itemAtPosition(row, column).widget().setVisible(key == o.method)
                grid.setColumnStretch(column, 1 if key == o.method else 0)
        panel.compute()
        _settle(panel, ctx.app, "the attribution maps")
        if "ig" not in panel.raw_maps:
            raise FigureError(f"the attribution maps failed: {panel.caption.text()}")
        panels.append((source, panel))
    keys = [key for key, *_ in PANEL_METHODS if o.method in ("all", key)]
    if _shared(ctx, sources):
        peaks = {key: max(float(p.raw_maps[key].max()) for _, p in panels) for key in keys}
        for _, panel in panels:
            panel.peaks = dict(peaks)
            panel._show_maps()
    out = []
    for source, panel in panels:
        title = f"{source.label} · validation image {i}: {' · '.join(panel.prediction.text().splitlines())}"
        if panel.peaks:
            title += _range_line("one scale for all frames, brightest = " + ", ".join(
                f"{key} {panel.peaks[key]:.3g}" for key in keys))
        width = 1100 if o.method == "all" else 520
        widget = _framed(panel, panel.figure_widget(), title, width, 420 if o.method == "all" else 560)
        out.append(FigureFrame(widget, title, {key: panel.raw_maps[key] for key in keys}))
    return out


def _adversarial(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ..inspect.adversarial_panel import AdversarialPanel

    o = ctx.options
    if o.attack not in ATTACKS:
        raise FigureError(f"no attack {o.attack!r}; there are {', '.join(ATTACKS)}")
    if not 0.0 <= o.epsilon <= 1.0:
        raise FigureError(f"ε is in pixel units, from 0 to 1, not {o.epsilon:g}")
    data = ctx.data("image to attack")
    i = ctx.image_index("image to attack")
    target = ctx.target("image to attack")
    if o.attack == "fgsm_targeted" and target is None:
        raise FigureError("a targeted attack needs the class it pushes the image towards: --class C")
    panels = []
    for source in sources:
        panel = AdversarialPanel(FixedSource(source, data))
        panel.refresh()  # starts the attack on image 0: replaced by the chosen one below
        _set_value(panel.index, i)
        _combo_choose(panel.attack, o.attack, "attack")
        if target is not None:
            panel.target.blockSignals(True)
            panel.target.setCurrentIndex(target)
            panel.target.blockSignals(False)
        _set_value(panel.epsilon, o.epsilon)
        if o.steps is not None:
            _set_value(panel.steps, max(1, min(o.steps, panel.steps.maximum())))
        panel.run_attack()
        _settle(panel, ctx.app, "the attack")
        if panel.adversarial is None or panel.shown_attack is None:
            raise FigureError(f"the attack failed: {panel.adversarial_label.text()}")
        panels.append((source, panel))
    if _shared(ctx, sources):
        largest = max(float((p.adversarial - p.shown_attack[1]).abs().max()) for _, p in panels)
        for _, panel in panels:
            panel.perturbation_scale = largest
            panel._show_attack(*panel.shown_attack)
    out = []
    for source, panel in panels:
        kind = panel.attack.currentText()
        title = f"{source.label} · {kind}, ε {o.epsilon:g}, validation image {i}"
        if panel.perturbation_scale is not None:
            title += _range_line(f"one perturbation scale for all frames, ±{panel.perturbation_scale:.3f}")
        widget = _framed(panel, panel.images_row, title, 900)
        out.append(FigureFrame(widget, title, {"adversarial": panel.adversarial}))
    return out


def _max_activation(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ..inspect.maximize_panel import GALLERY_MAX, OUTPUT, MaximizePanel

    o = ctx.options
    data = ctx.data("reference image")
    target = ctx.target("class score")
    out = []
    for source in sources:
        panel = MaximizePanel(FixedSource(source, data))
        panel.refresh()
        layer = OUTPUT if o.layer in (None, "output") and target is not None else o.layer
        if layer is None:
            layers = panel.source.map_layers()
            if not layers:
                raise FigureError("this network has no layer with feature maps: give --class C to maximize a "
                                  "class score")
            layer = layers[-1]
        if layer == panel.source.model.output_id:
            layer = OUTPUT
        _combo_choose(panel.layer, layer, "layer with feature maps")
        panel._on_layer_changed()
        if o.steps is not None:
            _set_value(panel.steps, max(1, min(o.steps, panel.steps.maximum())))
        torch.manual_seed(0)  # the same start (faint noise) in every frame
        if layer == OUTPUT:
            if target is not None:
                panel.target.setCurrentIndex(target)
                panel.run_unit()
            else:
                panel.run_gallery()
        else:
            count = panel.source.layer_shape(layer)[0]
            _check_unit(o.unit, count, layer)
            if o.unit is not None:
                _set_value(panel.channel, o.unit)
                panel.run_unit()
            else:
                panel.run_gallery()
        _settle(panel, ctx.app, "the activation maximization")
        panel._on_done()
        if panel.last is None:
            raise FigureError(f"the activation maximization failed: {panel.status.text()}")
        shown = "output" if layer == OUTPUT else layer
        what = (f"{shown}, first {min(len(panel.channels), GALLERY_MAX)} channels" if panel.mode == "gallery"
                else f"{shown} {'class' if layer == OUTPUT else 'channel'} {panel.channels[0]}")
        status = panel.status.text().replace("; click one to look closer", "")
        title = f"{source.label} · maximum activation of {what}. {status}"
        body = _grid_copy(panel.grid, 96) if panel.mode == "gallery" else panel.views.currentWidget()
        widget = _framed(panel, body, title, 900, None if panel.mode == "gallery" else 440)
        out.append(FigureFrame(widget, title, {"images": np.asarray(panel.last.images),
                                               "activations": np.asarray(panel.last.activations)}))
    return out


def _top_patches(ctx: _Context, sources: Sequence[FigureWeights]) -> list[FigureFrame]:
    from ..inspect.patches_panel import PatchesPanel

    o = ctx.options
    data = ctx.data("image to search")
    target = ctx.target("image to search")
    out = []
    for source in sources:
        panel = PatchesPanel(FixedSource(source, data))
        panel.refresh()  # starts the pass of the first layer: replaced by the chosen one below
        panel.stop()
        model = panel.source.model
        layer = o.layer if o.layer is not None else (model.output_id if target is not None else None)
        if layer is None:
            layers = panel.source.map_layers()
            layer = layers[-1] if layers else model.output_id
        if layer == "output":
            layer = model.output_id
        _combo_choose(panel.layer, layer, "layer")
        count = panel.source.layer_shape(layer)[0]
        unit = target if layer == model.output_id and target is not None else o.unit
        _check_unit(unit, count, layer)
        panel.channel.setRange(0, count - 1)
        _set_value(panel.channel, unit or 0)
        panel.skip_dead_first_channel = False  # the channel asked for (or 0), the same in every frame
        panel.find()
        _settle(panel, ctx.app, "the search for the top images")
        if panel.top is None:
            raise FigureError(f"the search for the top images failed: {panel.image_label.text()}")
        what = "class" if layer == model.output_id else "channel"
        title = (f"{source.label} · the {len(panel.top.indices)} validation images that excite {layer} {what} "
                 f"{panel.channel.value()} most (receptive-field crops, value under each)")
        widget = _framed(panel, _grid_copy(panel.figure_widget(), 96), title, 900)
        out.append(FigureFrame(widget, title, {"indices": np.asarray(panel.top.indices),
                                               "values": np.asarray(panel.top.values)}))
    return out


#: A panel's command-line name → its drawer: ``(context, the frames' weights) -> frames``.
PANEL_DRAWERS: dict[str, Callable[[_Context, Sequence[FigureWeights]], list[FigureFrame]]] = {
    "kernels": _kernels,
    "feature-maps": _feature_maps,
    "receptive-field": _receptive_field,
    "occlusion": _occlusion,
    "max-activation": _max_activation,
    "top-patches": _top_patches,
    "attribution": _attribution,
    "adversarial": _adversarial,
    "confusion": _confusion,
}


def panel_figure(project, panel: str, weights: Sequence[FigureWeights],
                 options: FigureOptions | None = None) -> list[FigureFrame]:
    """``panel``'s figure for each of ``weights`` (one frame each, in order), drawn by the panel's own code.

    ``project``: the loaded project (its dataset and training settings give the images). Raises
    :class:`FigureError` (one line) for a choice the network or the data cannot meet.
    """
    if panel not in PANEL_DRAWERS:
        raise FigureError(f"no panel {panel!r}; there are {', '.join(PANEL_DRAWERS)}")
    if not weights:
        raise FigureError("there are no weights to draw")
    options = options or FigureOptions()
    if options.frame_scale not in ("shared", "per-frame"):
        raise FigureError(f"--frame-scale is 'shared' or 'per-frame', not {options.frame_scale!r}")
    context = _Context(project, options, application())
    return PANEL_DRAWERS[panel](context, weights)
