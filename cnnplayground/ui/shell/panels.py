"""The window's panels, declared in one table.

Each :class:`PanelSpec` says how to make a panel and where it goes: the main window
makes a dock for every spec in :data:`PANELS` (in that order, which is also the order
of their tabs), the Inspect, View and Train menus get a show/hide action for the specs
that name them, and Export Figure and Export Report offer every open panel whose spec
says ``figure=True``. Adding a panel is one module with its widget plus one row here
(or a :func:`register_panel` call before the window is made).

A dock's ``object_name`` keys its place in the layout that QSettings keeps between
sessions (``window/state``): never change an existing one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QScrollArea, QWidget

from ..inspect.adversarial_panel import AdversarialPanel
from ..inspect.attribution_panel import AttributionPanel
from ..inspect.embedding_panel import EmbeddingPanel
from ..inspect.epoch_bar import add_epoch_bar
from ..inspect.explorer_panel import ExplorerPanel
from ..inspect.feature_maps_panel import FeatureMapsPanel
from ..inspect.kernels_panel import KernelsPanel
from ..inspect.maximize_panel import MaximizePanel
from ..inspect.occlusion_panel import OcclusionPanel
from ..inspect.panel import InspectPanel
from ..inspect.patches_panel import PatchesPanel
from ..inspect.receptive_panel import ReceptiveFieldPanel
from ..training.health_panel import HealthPanel
from ..training.results import ResultsPanel
from ..training.runs import CurvesPanel

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow

Area = Qt.DockWidgetArea
#: The least a panel's dock shrinks to (its panel scrolls below its own minimum size).
PANEL_MIN_SIZE = QSize(240, 150)


@dataclass(frozen=True)
class PanelSpec:
    """One panel of the main window: what makes it, its dock, its menu action.

    ``factory(window)`` makes the widget (the window's ``model_source`` is there already).
    ``key`` names it for :meth:`MainWindow.panel` / ``panel_dock`` and names its action
    ``window.acts.show_<key>``. ``beside`` is the key of a panel earlier in the table whose
    tab group the dock joins (None: a dock of its own in ``area``). ``tip`` is the action's
    status tip. ``menus`` are the menus that list the action (Inspect, View, Train); within a
    menu, actions go by ``(menu_section, menu_rank)``, a separator between sections (equal
    places keep the table's order). ``figure``: Export Figure and Export Report offer it while
    it is open. ``shown``: open at the first start (later starts restore the saved layout).
    ``mode`` is the mode (:mod:`.modes`) that shows it: asking for the panel goes there, and each
    mode's panels are one group of tabs in that mode's layout (``area`` and ``beside`` place the dock
    only until a mode arranges the window).
    """

    key: str
    title: str
    object_name: str
    factory: Callable[[MainWindow], QWidget]
    shortcut: str = ""
    tip: str = ""
    beside: str | None = None
    area: Area = Area.BottomDockWidgetArea
    menus: tuple[str, ...] = ("Inspect",)
    menu_section: int = 0
    menu_rank: int = 100
    figure: bool = True
    shown: bool = False
    mode: str = "inspect"


def _inspect(panel: type[QWidget]) -> Callable[[MainWindow], QWidget]:
    """The factory of an Inspect panel: it looks at the window's model source, at the epoch its bar shows."""
    def make(window: MainWindow) -> QWidget:
        widget = panel(window.model_source, window)
        add_epoch_bar(widget, window.model_source)
        return widget
    return make


#: The panels a click on the Feature Space map sends its image to (each picks a validation image).
IMAGE_TARGETS = ("feature_maps", "attribution", "adversarial")


def _embedding(window: MainWindow) -> QWidget:
    """The Feature Space panel: a click on a point shows that image in the :data:`IMAGE_TARGETS` panels."""
    widget = EmbeddingPanel(window.model_source, window)
    add_epoch_bar(widget, window.model_source)

    def send(index: int) -> None:
        titles = {spec.key: spec.title for spec in window.panel_specs}
        sent = [titles[key] for key in IMAGE_TARGETS if key in titles and isinstance(panel := window.panel(key),
                                                                                      InspectPanel)
                and panel.show_validation_image(index)]
        if sent:
            names = sent[0] if len(sent) == 1 else ", ".join(sent[:-1]) + " and " + sent[-1]
            window.statusBar().showMessage(f"Validation image {index} is on show in {names}", 8000)
    widget.image_chosen.connect(send)
    return widget


def _results(window: MainWindow) -> QWidget:
    """The Results panel, with the epoch bar: its confusion matrix is evaluated at the epoch chosen."""
    widget = ResultsPanel(window)
    add_epoch_bar(widget, window.model_source).setContentsMargins(6, 2, 6, 0)  # as the panel's caption
    widget.attach_compare(window.model_source)
    return widget


#: Every panel, in the order their docks are made (and tabbed).
PANELS: list[PanelSpec] = [
    PanelSpec("curves", "Curves", "curvesDock", CurvesPanel, "Ctrl+Shift+C",
              "Loss, accuracy, learning rate and throughput of each run", menus=("View", "Train"), mode="train"),
    PanelSpec("results", "Results", "resultsDock", _results, "Ctrl+Shift+R",
              "Confusion matrix, per-class accuracy, misclassified images", beside="curves", menus=("View", "Train"),
              mode="train"),
    PanelSpec("health", "Health", "healthDock", lambda window: HealthPanel(window.document, window), "",
              "What is wrong with the last run, and its layers' health", beside="results", menus=("View", "Train"),
              mode="train"),
    PanelSpec("kernels", "Kernels", "kernelsDock", _inspect(KernelsPanel), "Ctrl+Shift+K",
              "The filters of each convolution layer, their numbers and weight histogram", beside="results",
              menu_rank=10),
    PanelSpec("feature_maps", "Feature Maps", "featureMapsDock", _inspect(FeatureMapsPanel), "Ctrl+Shift+M",
              "Draw or pick an input; see every channel of a layer and the prediction", beside="kernels",
              menu_rank=20),
    PanelSpec("receptive", "Receptive Fields", "receptiveDock", _inspect(ReceptiveFieldPanel), "Ctrl+Shift+F",
              "Click a unit: its theoretical and effective receptive field on the input", beside="feature_maps",
              menu_rank=30),
    PanelSpec("occlusion", "Occlusion", "occlusionDock", _inspect(OcclusionPanel), "Ctrl+Shift+O",
              "Slide a grey patch over an image: where does hiding it change the answer?", beside="receptive",
              menu_rank=40),
    PanelSpec("adversarial", "Adversarial", "adversarialDock", _inspect(AdversarialPanel), "Ctrl+Shift+A",
              "Fool the network with a tiny perturbation; accuracy against its size", beside="occlusion",
              menu_rank=80),
    PanelSpec("maximize", "Max Activation", "maximizeDock", _inspect(MaximizePanel), "Ctrl+Shift+X",
              "Grow an image that makes a channel (or a class) fire hardest; a gallery of a layer",
              beside="adversarial", menu_rank=50),
    PanelSpec("patches", "Top Patches", "patchesDock", _inspect(PatchesPanel), "Ctrl+Shift+D",
              "The dataset images, and the parts of them, that excite a channel most", beside="maximize",
              menu_rank=60),
    PanelSpec("attribution", "Attribution", "attributionDock", _inspect(AttributionPanel), "Ctrl+Shift+G",
              "Saliency, Grad-CAM and integrated gradients: which pixels the answer depends on", beside="patches",
              menu_rank=70),
    PanelSpec("embedding", "Feature Space", "embeddingDock", _embedding, "",
              "Up to 2,000 validation images as points: a layer's features projected by PCA or t-SNE, by class",
              beside="attribution", menu_rank=75),
    PanelSpec("explorer", "Convolution Explorer", "explorerDock", ExplorerPanel, "Ctrl+Shift+E",
              "Step a kernel along a 1-D or 2-D input: products, sums, pooling", beside="feature_maps",
              menu_section=1),
]


def register_panel(spec: PanelSpec) -> PanelSpec:
    """Add ``spec`` at the end of :data:`PANELS`; windows made from now on show it."""
    if any(s.key == spec.key or s.object_name == spec.object_name for s in PANELS):
        raise ValueError(f"a panel {spec.key!r} (dock {spec.object_name!r}) is registered already")
    if spec.beside is not None and spec.beside not in {s.key for s in PANELS}:
        raise ValueError(f"{spec.key!r} is to be tabbed beside {spec.beside!r}, which is not registered")
    PANELS.append(spec)
    return spec


def panel_specs() -> tuple[PanelSpec, ...]:
    """The registered panels, in table order (a new window takes this snapshot)."""
    return tuple(PANELS)


def in_menu(specs: tuple[PanelSpec, ...], menu: str) -> list[PanelSpec | None]:
    """The specs that ``menu`` lists, in menu order, with None where a separator goes."""
    chosen = sorted((s for s in specs if menu in s.menus), key=lambda s: (s.menu_section, s.menu_rank))
    out: list[PanelSpec | None] = []
    for spec in chosen:
        if out and spec.menu_section != out[-1].menu_section:
            out.append(None)
        out.append(spec)
    return out


def scrolling(panel: QWidget) -> QScrollArea:
    """``panel`` in a frameless scroll area: a dock holding it may be smaller than the panel's minimum
    size (the panel scrolls), so a panel never forces its size on the window or on the canvas."""
    scroll = QScrollArea(panel.parentWidget())
    scroll.setObjectName(f"{panel.objectName() or type(panel).__name__}Scroll")
    scroll.setWidget(panel)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setMinimumSize(PANEL_MIN_SIZE.boundedTo(panel.minimumSizeHint().expandedTo(QSize(1, 1))))
    return scroll


def offer_figure_export(dock: QDockWidget, widget: QWidget, export: Callable[[str], object]) -> None:
    """Right-click on the dock's panel ``widget`` (and pyqtgraph's own Export… entry) calls ``export(title)``."""
    act = QAction("Export Figure…", widget)
    act.triggered.connect(lambda _checked=False: export(dock.windowTitle()))
    widget.addAction(act)
    widget.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
    for view in widget.findChildren(pg.GraphicsView):
        menu = getattr(view.scene(), "contextMenu", None)
        if not menu:
            continue
        item = menu[0]  # pyqtgraph's "Export..." (its SVG exporter fails on PySide6 6.12)
        item.triggered.disconnect()
        item.setText("Export Figure…")
        item.triggered.connect(lambda _checked=False: export(dock.windowTitle()))


class PanelAttribute:
    """``window.kernels`` for ``window.panel("kernels")``; with ``dock=True``, its dock."""

    def __init__(self, key: str, dock: bool = False) -> None:
        self.key, self.dock = key, dock

    def __get__(self, window: MainWindow | None, owner: type | None = None):
        if window is None:
            return self
        return window.panel_dock(self.key) if self.dock else window.panel(self.key)
