"""Modes: one layout of the window's docks for each thing people do here — build, train, inspect.

As with Qt Creator's modes and Blender's workspaces, a mode is not another window: it is an
arrangement of the same docks suited to the task. **Build** gives the canvas most of the window,
with the Layers palette and Properties beside it; **Train** the Curves (and Results) under a smaller
canvas, with the Training dock at the side; **Inspect** the chosen Inspect panel, large, with the
canvas beside it to pick layers. The tool bar's three buttons and Ctrl+1/2/3 switch; starting a run
goes to Train (from Build: in Inspect the panels watched go on following it), and asking for a
panel (``acts.show_<key>``) goes to that panel's mode and brings the panel to the front of its tabs.

Each mode keeps the user's own changes: switching away saves the layout (``QMainWindow.saveState``)
of the mode left, switching back restores it, and QSettings keeps them between sessions
(``window/mode``, ``window/modes/<name>``). A mode never seen yet gets its default arrangement
(:meth:`Modes.arrange`).

The canvas stays usable in every layout: the panels scroll inside their docks rather than force
their size on the window (:func:`.panels.scrolling`), the canvas has a minimum size that no divider
can squeeze, and whenever a mode is entered, a dock is shown or the window is resized, the docks
give up room until the canvas has :data:`CANVAS_SHARE` of the window's area and
:data:`MIN_CANVAS_HEIGHT` pixels of height (where the window is big enough for that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QObject, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget

from .panels import PanelSpec

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow

Area = Qt.DockWidgetArea
Orientation = Qt.Orientation

#: The canvas's own minimum size: no divider squeezes it below this.
MIN_CANVAS_SIZE = QSize(200, 250)
#: The share of the window's area and the height (px) the canvas gets back when docks open.
CANVAS_SHARE = 0.26
MIN_CANVAS_HEIGHT = 256
#: The version stamped on saved layouts: a layout saved before modes existed is not restored.
LAYOUT_VERSION = 2


@dataclass(frozen=True)
class Mode:
    """A mode: its name in settings and in ``PanelSpec.mode``, its button text, shortcut and tip."""

    name: str
    title: str
    shortcut: str
    tip: str


MODES: tuple[Mode, ...] = (
    Mode("build", "Build", "Ctrl+1", "Build the network: the canvas large, with the Layers palette and Properties"),
    Mode("train", "Train", "Ctrl+2", "Train it: the curves large, the canvas smaller, the Training dock"),
    Mode("inspect", "Inspect", "Ctrl+3", "Look inside: the chosen Inspect panel large, the canvas beside it"),
)

#: Where a mode's panels go (as one group of tabs): the curves under the canvas, Inspect panels beside it.
PANEL_AREA = {"build": Area.BottomDockWidgetArea, "train": Area.BottomDockWidgetArea,
              "inspect": Area.RightDockWidgetArea}


class Modes(QObject):
    """The window's modes: their actions, layouts (one saved state per mode) and the canvas's share.

    ``actions[name]`` are the three exclusive mode actions (tool bar, View menu);
    ``panel_actions[key]`` the show/raise/hide action of each registered panel.
    """

    changed = Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.current = ""
        self._states: dict[str, QByteArray] = {}
        window.canvas.setMinimumSize(MIN_CANVAS_SIZE)

        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        for mode in MODES:
            act = QAction(f"&{mode.title} Mode", window)
            act.setIconText(mode.title)  # the tool bar's button
            act.setCheckable(True)
            act.setShortcut(QKeySequence(mode.shortcut))
            act.setStatusTip(mode.tip)
            act.setToolTip(f"{mode.title} mode ({mode.shortcut}): {mode.tip}")
            act.triggered.connect(lambda _checked=False, name=mode.name: self.switch(name))
            self.group.addAction(act)
            window.addAction(act)  # the shortcut works while the menu bar is hidden
            self.actions[mode.name] = act

        self.panel_actions: dict[str, QAction] = {}
        for spec in window.panel_specs:
            self.panel_actions[spec.key] = self._panel_action(spec)

        self._guard = QTimer(self)  # one check of the canvas's share after a burst of changes
        self._guard.setSingleShot(True)
        self._guard.setInterval(0)
        self._guard.timeout.connect(self.keep_canvas_share)
        for dock in self.docks():
            dock.visibilityChanged.connect(lambda visible: visible and self._guard.start())
            dock.topLevelChanged.connect(lambda _floating: self._guard.start())
        window.installEventFilter(self)
        # A run goes to Train before the panels hear of it (they then show in Train's layout); but not
        # from Inspect, where the panels being watched follow the run live (hidden, they would stop).
        window.training.run_started.connect(lambda _session: self.current != "inspect" and self.switch("train"))

    # --- the docks -------------------------------------------------------------------------------
    def docks(self) -> list[QDockWidget]:
        """Every dock of the window: Layers, Properties, History, Training, then the registered panels."""
        w = self.window
        return [w.layers_dock, w.properties_dock, w.history_dock, w.training_dock,
                *(w.panel_dock(spec.key) for spec in w.panel_specs)]

    def _specs(self, mode: str) -> list[PanelSpec]:
        return [spec for spec in self.window.panel_specs if spec.mode == mode]

    @staticmethod
    def in_front(dock: QDockWidget) -> bool:
        """Shown and not behind another tab (nor scrolled away, nor minimized)."""
        return not dock.isHidden() and not dock.visibleRegion().isEmpty()

    # --- switching -------------------------------------------------------------------------------
    def switch(self, name: str, chosen: str | None = None) -> None:
        """Go to mode ``name``: the layout left is kept, the mode's own is restored (or arranged,
        with the panel ``chosen`` in front, the first time)."""
        if name not in self.actions:
            raise ValueError(f"no mode {name!r}: the modes are {', '.join(self.actions)}")
        w = self.window
        if name != self.current:
            if self.current:
                self._states[self.current] = w.saveState(LAYOUT_VERSION)
            self.current = name
            size = w.size()
            self._set_corners(name)
            state = self._states.get(name)
            if state is None or not w.restoreState(state, LAYOUT_VERSION):
                self.arrange(name, chosen)
            self._keep_size(size)
            self.save_settings()
            self.changed.emit(name)
        self.actions[name].setChecked(True)
        self._guard.start()

    def _set_corners(self, name: str) -> None:
        """Train: the bottom docks (the curves) run the window's full width. Build and Inspect: the side
        docks run its full height, the bottom ones sit under the canvas only. (Not part of a saved state.)"""
        w = self.window
        full_width = name == "train"
        for corner, side in ((Qt.Corner.BottomLeftCorner, Area.LeftDockWidgetArea),
                             (Qt.Corner.BottomRightCorner, Area.RightDockWidgetArea)):
            w.setCorner(corner, Area.BottomDockWidgetArea if full_width else side)

    def show_panel(self, key: str) -> QDockWidget:
        """The registered panel ``key`` in front of the user: its mode, its dock shown, its tab raised."""
        spec = next(s for s in self.window.panel_specs if s.key == key)
        if self.current != spec.mode:
            self.switch(spec.mode, chosen=key)
        dock = self.window.panel_dock(key)
        dock.show()
        dock.raise_()  # a tab among others: brought to the front
        self._guard.start()
        return dock

    def show_if_in_mode(self, dock: QDockWidget) -> None:
        """Show a hidden panel of the current mode, in front (a run's Curves in Train). An open one stays as
        the user left it (a run must not pull the Curves tab over the Results being read), and another
        mode's layout is left alone (a project's recorded runs do not open the Curves in Build)."""
        spec = next(s for s in self.window.panel_specs if self.window.panel_dock(s.key) is dock)
        if dock.isHidden() and spec.mode == self.current:
            self.show_panel(spec.key)

    def _panel_action(self, spec: PanelSpec) -> QAction:
        """Checked while the panel's dock is open; triggered, it brings the panel to the front (in its
        mode), or closes it when it is in front already."""
        dock = self.window.panel_dock(spec.key)
        act = QAction(spec.title, self.window)
        act.setCheckable(True)
        act.setChecked(not dock.isHidden())
        if spec.shortcut:
            act.setShortcut(QKeySequence(spec.shortcut))
        act.setStatusTip(spec.tip)

        def triggered(_checked: bool) -> None:
            if self.current == spec.mode and self.in_front(dock):
                dock.hide()
            else:
                self.show_panel(spec.key)
            act.setChecked(not dock.isHidden())

        act.triggered.connect(triggered)
        dock.visibilityChanged.connect(lambda _visible: act.setChecked(not dock.isHidden()))
        self.window.addAction(act)
        return act

    # --- default layouts -------------------------------------------------------------------------
    def arrange(self, name: str, chosen: str | None = None) -> None:
        """Mode ``name``'s default layout. Every dock goes to its place (the same in every mode: Layers
        left; Properties, Training and History tabbed right; each mode's panels one group of tabs in
        :data:`PANEL_AREA`), then the mode's docks are shown and sized."""
        w = self.window
        size = w.size()
        groups: list[tuple[Area, list[QDockWidget]]] = [
            (Area.LeftDockWidgetArea, [w.layers_dock]),
            (Area.RightDockWidgetArea, [w.properties_dock, w.training_dock, w.history_dock])]
        for mode in ("build", "train", "inspect"):
            docks = [w.panel_dock(spec.key) for spec in self._specs(mode)]
            if docks:
                groups.append((PANEL_AREA[mode], docks))
        for area, docks in groups:
            # Each tabbed as it is placed (side by side for a moment, they would stretch the window). A
            # hidden dock stays hidden: shown, its panel would start its work only to be hidden again.
            for i, dock in enumerate(docks):
                dock.setFloating(False)
                if i == 0:
                    w.addDockWidget(area, dock)
                else:
                    w.tabifyDockWidget(docks[0], dock)

        inspect = self._specs("inspect")
        chosen = chosen or (inspect[0].key if inspect else None)
        train = [w.panel_dock(spec.key) for spec in self._specs("train")]
        shown, front = {
            "build": ([w.layers_dock, w.training_dock, w.properties_dock], [w.properties_dock]),
            "train": ([w.properties_dock, w.training_dock, *train], [w.training_dock, *train[:1]]),
            "inspect": ([w.panel_dock(chosen)] if chosen else [], [w.panel_dock(chosen)] if chosen else []),
        }[name]
        for dock in self.docks():
            dock.setVisible(dock in shown)
        for dock in front:
            dock.raise_()
        self._keep_size(size)
        self._size_defaults(name, train[:1] if name == "train" else front)

    def _keep_size(self, size: QSize) -> None:
        """The window's size back, where moving docks about grew it for a moment (a dock placed beside
        others before it joins their tabs): a layout never resizes the window."""
        w = self.window
        if w.size() != size and not (w.isMaximized() or w.isFullScreen()):
            w.layout().activate()
            w.resize(size.expandedTo(w.minimumSizeHint()))

    def _size_defaults(self, name: str, panels: list[QDockWidget]) -> None:
        """The default sizes of a mode's docks (``panels``: its panels' group, if shown), from the window's size."""
        w = self.window
        if name == "build":
            self._resize([w.layers_dock, w.properties_dock], [220, 340], Orientation.Horizontal)
        elif name == "train":
            self._resize([w.training_dock], [360], Orientation.Horizontal)
            if panels:
                height = self.content_height()
                canvas = max(MIN_CANVAS_HEIGHT + 44, round(0.45 * height))  # room for its scroll bar
                self._resize(panels, [max(160, height - canvas)], Orientation.Vertical)
        elif panels:
            self._resize(panels, [round(0.64 * w.width())], Orientation.Horizontal)

    def _resize(self, docks: list[QDockWidget], sizes: list[int], orientation: Orientation) -> None:
        """``resizeDocks``, made to stick: docks just shown or hidden take their places first, and the
        sizes are set again once the layout has placed the first setting (which it may pare)."""
        layout = self.window.layout()
        for _ in range(2):
            layout.activate()
            self.window.resizeDocks(docks, sizes, orientation)

    def content_height(self) -> int:
        """The height between the tool bar and the status bar: the canvas's and the bottom docks'."""
        w = self.window
        bars = w.menuBar().height() if w.menuBar().isVisible() else 0
        bars += sum(bar.height() for bar in (w.toolbar, w.statusBar()) if bar.isVisible())
        return max(0, w.height() - bars)

    # --- the canvas's share ----------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self.window and event.type() in (QEvent.Type.Resize, QEvent.Type.Show,
                                                       QEvent.Type.LayoutRequest):
            self._guard.start()
        return False

    def keep_canvas_share(self) -> None:
        """Shrink the docks around the canvas until it has MIN_CANVAS_HEIGHT px of height and
        CANVAS_SHARE of the window's area (as far as the docks' minimum sizes allow)."""
        w = self.window
        if not w.isVisible() or w.isMinimized():
            return
        w.layout().activate()  # the sizes of the layout as it is now, not before the last change
        view = w.canvas.viewport()
        docked = [d for d in self.docks() if not d.isHidden() and not d.isFloating()]

        def in_area(*areas: Area) -> list[QDockWidget]:
            return [d for d in docked if w.dockWidgetArea(d) in areas]

        height = view.height()
        rows = in_area(Area.TopDockWidgetArea, Area.BottomDockWidgetArea)
        if height < MIN_CANVAS_HEIGHT and rows:
            self._shrink(rows, MIN_CANVAS_HEIGHT - height, Orientation.Vertical)
            height = MIN_CANVAS_HEIGHT
        needed = math.ceil(CANVAS_SHARE * w.width() * w.height() / max(1, height))
        columns = in_area(Area.LeftDockWidgetArea, Area.RightDockWidgetArea)
        if view.width() < needed and columns:
            self._shrink(columns, needed - view.width(), Orientation.Horizontal)

    def _shrink(self, docks: list[QDockWidget], by: int, orientation: Orientation) -> None:
        """Take ``by`` pixels from the docks' areas, in proportion to what each can give."""
        w = self.window
        horizontal = orientation == Orientation.Horizontal

        def extent(dock: QDockWidget) -> int:
            return dock.width() if horizontal else dock.height()

        def least(dock: QDockWidget) -> int:
            hint = dock.minimumSizeHint().expandedTo(dock.minimumSize())
            return hint.width() if horizontal else hint.height()

        # Docks of one area share its extent across the orientation (tabs and docks side by side alike).
        by_area: dict[Area, list[QDockWidget]] = {}
        for dock in docks:
            by_area.setdefault(w.dockWidgetArea(dock), []).append(dock)
        # (A dock behind another tab keeps the size it had when last in front: not a measure.)
        extents = {area: max((extent(d) for d in ds if self.in_front(d)), default=0) for area, ds in by_area.items()}
        spare = {area: max(0, extents[area] - max(map(least, ds))) for area, ds in by_area.items()}
        total = sum(spare.values())
        if total <= 0:
            return
        sized: list[QDockWidget] = []
        sizes: list[int] = []
        for area, ds in by_area.items():
            cut = min(spare[area], math.ceil(by * spare[area] / total))
            sized += ds
            sizes += [extents[area] - cut] * len(ds)
        self._resize(sized, sizes, orientation)

    # --- settings --------------------------------------------------------------------------------
    def restore_settings(self, settings: QSettings) -> None:
        """The mode and the layouts of the last session (a mode without one is arranged)."""
        for mode in MODES:
            state = settings.value(f"window/modes/{mode.name}")
            if isinstance(state, QByteArray) and not state.isEmpty():
                self._states[mode.name] = state
        name = str(settings.value("window/mode", "build"))
        self.switch(name if name in self.actions else "build")

    def save_settings(self, settings: QSettings | None = None) -> None:
        """Every mode's layout (the current one as it is now) and the current mode."""
        settings = settings or QSettings()
        if self.current:
            self._states[self.current] = self.window.saveState(LAYOUT_VERSION)
            settings.setValue("window/mode", self.current)
        for name, state in self._states.items():
            settings.setValue(f"window/modes/{name}", state)
