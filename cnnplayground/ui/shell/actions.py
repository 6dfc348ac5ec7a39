"""The main window's actions, menus, tool bar and recent-files list.

Shortcuts use :class:`QKeySequence.StandardKey` where Qt has one, so they follow
the platform (Ctrl+Shift+Z or Ctrl+Y for Redo, F11 or Ctrl+Meta+F for Full
Screen). Single-key shortcuts (Delete, Backspace, F, Tab) act only while the
canvas has the focus, so they never steal keys from text fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence, QShortcut
from PySide6.QtWidgets import QMenu, QSizePolicy, QStyle, QToolBar, QToolButton, QWidget

from . import theme
from .panels import in_menu

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow

Key = QKeySequence.StandardKey
KeySpec = QKeySequence.StandardKey | str

#: Toolbar icons: (freedesktop theme name, fallback: a QStyle standard pixmap or a theme.line_icon name).
ICONS: dict[str, tuple[str, QStyle.StandardPixmap | str]] = {
    "new": ("document-new", QStyle.StandardPixmap.SP_FileIcon),
    "open": ("document-open", QStyle.StandardPixmap.SP_DialogOpenButton),
    "save": ("document-save", QStyle.StandardPixmap.SP_DialogSaveButton),
    "undo": ("edit-undo", "undo"),
    "redo": ("edit-redo", "redo"),
    "zoom_in": ("zoom-in", "zoom-in"),
    "zoom_out": ("zoom-out", "zoom-out"),
    "fit": ("zoom-fit-best", "zoom-fit"),
    "auto_layout": ("view-sort", "layout"),
    "train": ("media-playback-start", QStyle.StandardPixmap.SP_MediaPlay),
    "pause": ("media-playback-pause", QStyle.StandardPixmap.SP_MediaPause),
    "stop": ("media-playback-stop", QStyle.StandardPixmap.SP_MediaStop),
}


class WindowActions:
    """Every action of the main window, by name (``window.acts.save``).

    A registered panel's action is ``show_<key>`` (``acts.show_kernels``), also in ``show_panel[key]``:
    it brings the panel to the front, in its mode (see :mod:`.modes`). The modes' actions are
    ``mode_build``, ``mode_train`` and ``mode_inspect``, also in ``modes[name]``.
    """

    def __init__(self) -> None:
        self.show_panel: dict[str, QAction] = {}
        self.modes: dict[str, QAction] = {}

    new: QAction
    new_from_preset: QAction
    import_model: QAction
    open: QAction
    clear_recent: QAction
    save: QAction
    save_as: QAction
    export_figure: QAction
    export_diagram: QAction
    export_report: QAction
    export_figure_set: QAction
    export_model: QAction
    import_weights: QAction
    import_torchvision: QAction
    init_from_project: QAction
    quit: QAction
    undo: QAction
    redo: QAction
    history: QAction
    cut: QAction
    copy: QAction
    paste: QAction
    duplicate: QAction
    delete: QAction
    select_all: QAction
    zoom_in: QAction
    zoom_out: QAction
    actual_size: QAction
    fit: QAction
    show_layers: QAction
    show_properties: QAction
    show_toolbar: QAction
    full_screen: QAction
    add_layer: QAction
    auto_layout: QAction
    summary: QAction
    first_error: QAction
    train: QAction
    pause: QAction
    stop: QAction
    show_training: QAction
    show_curves: QAction
    show_results: QAction
    show_kernels: QAction
    show_feature_maps: QAction
    show_explorer: QAction
    show_receptive: QAction
    show_occlusion: QAction
    show_adversarial: QAction
    show_maximize: QAction
    show_patches: QAction
    show_attribution: QAction
    show_embedding: QAction
    train_terminal: QAction
    sweep: QAction
    lr_find: QAction
    experiments: QAction
    about: QAction
    layer_reference: QAction
    shortcuts: QAction
    mode_build: QAction
    mode_train: QAction
    mode_inspect: QAction


def key_sequences(*specs: KeySpec) -> list[QKeySequence]:
    """Key sequences for standard keys (all platform bindings) and portable strings."""
    out: list[QKeySequence] = []
    for spec in specs:
        seqs = QKeySequence.keyBindings(spec) if isinstance(spec, Key) else [QKeySequence(spec)]
        out += [s for s in seqs if not s.isEmpty() and s not in out]
    return out


def standard_or(key: QKeySequence.StandardKey, fallback: str) -> list[QKeySequence]:
    """The platform's binding for ``key``, or ``fallback`` where the platform has none."""
    return key_sequences(key) or key_sequences(fallback)


def is_media_key(seq: QKeySequence) -> bool:
    """Keys of multimedia keyboards (a "Save" or "Zoom In" key), part of Qt's standard bindings."""
    key = seq[0].key().value
    return Qt.Key.Key_Back.value <= key < Qt.Key.Key_unknown.value


def shortcut_text(action: QAction) -> str:
    """``"Ctrl+S"``; several bindings are joined with commas (native text, media keys left out)."""
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts()
                     if not is_media_key(s))


def set_tooltip(action: QAction, text: str) -> None:
    """Tool tip ``"Save (Ctrl+S)"``: the plain action text and its first shortcut."""
    first = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
    action.setToolTip(f"{text} ({first})" if first else text)


def build_actions(w: MainWindow) -> WindowActions:
    """Create the actions and connect them to the window and its canvas."""
    a = WindowActions()
    canvas = w.canvas

    def make(text: str, slot: Callable[[], object] | None, keys: Sequence[QKeySequence] = (),
             tip: str = "", canvas_only: bool = False) -> QAction:
        act = QAction(text, w)
        if keys:
            act.setShortcuts(list(keys))
        if slot is not None:
            act.triggered.connect(lambda _checked=False: slot())
        if canvas_only:
            act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            canvas.addAction(act)
        else:
            w.addAction(act)  # shortcuts work while the menu bar is hidden (full screen)
        set_tooltip(act, text.replace("&", "").rstrip("…"))
        if tip:
            act.setStatusTip(tip)
        return act

    a.new = make("&New", w.new_project, key_sequences(Key.New), "Start a new network with just an Input layer")
    a.new_from_preset = make("New from &Preset…", w.new_from_preset, key_sequences("Ctrl+Shift+N"),
                             "Start from a classic network: LeNet-5, AlexNet, VGG, ResNet…")
    a.import_model = make("Import Mo&del…", w.import_model, (),
                          "Put a PyTorch network on the canvas with its weights: a file.py:Class, torchvision or .pt2")
    a.open = make("&Open…", w.open_project, key_sequences(Key.Open))
    a.clear_recent = make("&Clear Recent", w.clear_recent_files)
    a.save = make("&Save", w.save, key_sequences(Key.Save))
    a.save_as = make("Save &As…", w.save_as, standard_or(Key.SaveAs, "Ctrl+Shift+S"))
    a.export_figure = make("Export &Figure…", w.export_figure, key_sequences("Ctrl+E"),
                           "The network or an open panel as PNG, SVG or PDF; plotted data as CSV")
    a.export_diagram = make("Export Dia&gram…", w.export_diagram, (),
                            "The network as an architecture diagram: SVG, PDF, PNG or TikZ for LaTeX")
    a.export_model = make("Export &Model…", w.export_model, key_sequences("Ctrl+Alt+E"),
                          "PyTorch code and weights, a training script for torchrun, ONNX, torch.export, a card")
    a.import_weights = make("&Import Weights…", w.import_weights, (),
                            "Load a safetensors weights file into the network (the shapes are checked)")
    a.init_from_project = make("Initialize from &Project…", w.init_from_project, (),
                               "Start from another project's trained weights for the layers that match")
    a.import_torchvision = make("Import &torchvision Weights…", w.import_torchvision_weights, (),
                                "Pretrained VGG or ResNet weights already on this computer, as a starting point")
    a.export_report = make("Export &Report…", w.export_report, (),
                           "One HTML page: architecture, settings, runs and a figure of each open panel")
    a.export_figure_set = make("Export Figure S&et…", w.export_figure_set, key_sequences("Ctrl+Alt+F"),
                               "A run's figures in a folder: diagram, curves, confusion matrix, every panel, "
                               "with an index.html")
    a.quit = make("&Quit", w.close, standard_or(Key.Quit, "Ctrl+Q"))
    a.quit.setMenuRole(QAction.MenuRole.QuitRole)

    stack = w.document.undo_stack
    a.undo = stack.createUndoAction(w, "&Undo")
    a.undo.setShortcuts(key_sequences(Key.Undo))
    a.redo = stack.createRedoAction(w, "&Redo")
    a.redo.setShortcuts(key_sequences(Key.Redo))
    for act, text in ((a.undo, "Undo"), (a.redo, "Redo")):
        w.addAction(act)
        set_tooltip(act, text)
    a.history = w.history_dock.toggleViewAction()
    a.history.setText("&History")
    a.cut = make("Cu&t", canvas.cut_selection, key_sequences(Key.Cut))
    a.copy = make("&Copy", canvas.copy_selection, key_sequences(Key.Copy))
    a.paste = make("&Paste", canvas.paste, key_sequences(Key.Paste))
    a.duplicate = make("D&uplicate", canvas.duplicate_selection, key_sequences("Ctrl+D"))
    a.delete = make("&Delete", canvas.delete_selection, key_sequences(Key.Delete, "Backspace"),
                    canvas_only=True)
    a.select_all = make("Select &All", canvas.select_all, key_sequences(Key.SelectAll))

    a.zoom_in = make("Zoom &In", canvas.zoom_in, key_sequences(Key.ZoomIn, "Ctrl+="))
    a.zoom_out = make("Zoom &Out", canvas.zoom_out, key_sequences(Key.ZoomOut))
    a.actual_size = make("&Actual Size", canvas.reset_zoom, key_sequences("Ctrl+0"))
    a.fit = make("&Fit to View", canvas.fit_to_view, key_sequences("F"), canvas_only=True)
    a.show_layers = w.layers_dock.toggleViewAction()
    a.show_properties = w.properties_dock.toggleViewAction()
    a.show_toolbar = QAction("&Tool Bar", w)  # bound to the tool bar in build_toolbar
    a.full_screen = make("F&ull Screen", None, standard_or(Key.FullScreen, "F11"))
    a.full_screen.setCheckable(True)
    a.full_screen.toggled.connect(w.set_full_screen)

    a.add_layer = make("&Add Layer…", canvas.quick_add, key_sequences("Ctrl+K"),
                       "Type a layer name to add it at the mouse (Tab on the canvas)")
    # Tab adds a layer only on the canvas: elsewhere it keeps moving the focus.
    tab = QShortcut(QKeySequence(Qt.Key.Key_Tab), canvas, context=Qt.ShortcutContext.WidgetShortcut)
    tab.activated.connect(canvas.quick_add)
    a.auto_layout = make("Auto &Layout", canvas.auto_layout, key_sequences("Ctrl+L"),
                         "Arrange the layers top to bottom in the order data flows")
    a.summary = make("Network &Summary…", w.show_summary, key_sequences("Ctrl+I"),
                     "Layer table: output shapes, parameters, receptive fields, memory")
    a.first_error = make("Go to First &Error", w.go_to_first_error, (),
                         "Select the first layer that has a problem")

    a.train = make("&Train", w.training.start, key_sequences("Ctrl+Return"),
                   "Train the network on the chosen dataset, in the background")
    a.pause = make("&Pause", w.training.toggle_pause, key_sequences("Ctrl+P"),
                   "Pause or resume between two steps")
    a.stop = make("&Stop", w.training.stop, key_sequences("Ctrl+."),
                  "Stop after the current step; the weights and curves are kept")
    a.show_training = w.training_dock.toggleViewAction()
    a.show_training.setShortcut(QKeySequence("Ctrl+Shift+T"))
    a.show_training.setStatusTip("Dataset, settings and the Train controls")
    for spec in w.panel_specs:  # the registry's panels: acts.show_kernels, ... (made by the modes)
        act = w.modes.panel_actions[spec.key]
        a.show_panel[spec.key] = act
        setattr(a, f"show_{spec.key}", act)
    for name, act in w.modes.actions.items():  # acts.mode_build, ...
        a.modes[name] = act
        setattr(a, f"mode_{name}", act)
    a.sweep = make("S&weep…", w.show_sweep, key_sequences("Ctrl+Shift+W"),
                   "Train variants that differ in one or two settings (grid or random search) and compare them")
    a.lr_find = make("Find &Learning Rate…", w.show_lr_find, (),
                     "Train a copy of the network while the rate grows, and suggest a rate (Smith's range test)")
    a.experiments = make("&Experiments…", w.show_experiments, key_sequences("Ctrl+Shift+L"),
                         "Ready-made experiments from the literature, run with one click and compared in Curves")
    a.train_terminal = make("Train in the &Terminal…", w.show_train_command, (),
                            "The command that trains this project from a terminal")
    a.about = make("&About CNN Playground", w.show_about)
    a.about.setMenuRole(QAction.MenuRole.AboutRole)
    a.layer_reference = make("&Layer Reference…", w.show_layer_reference, (),
                             "Every layer kind with its parameters and their ranges")
    a.shortcuts = make("&Keyboard Shortcuts…", w.show_shortcuts)
    return a


def build_menus(w: MainWindow, a: WindowActions) -> dict[str, QMenu]:
    """File, Edit, View, Network, Train, Inspect and Help, in that order."""
    bar = w.menuBar()
    menus: dict[str, QMenu] = {}

    def menu(title: str, *items: QAction | QMenu | None) -> QMenu:
        m = bar.addMenu(title)
        m.setObjectName(f"{title.replace('&', '').lower()}Menu")
        for item in items:
            if item is None:
                m.addSeparator()
            elif isinstance(item, QMenu):
                m.addMenu(item)
            else:
                m.addAction(item)
        menus[title.replace("&", "")] = m
        return m

    recent = QMenu("Open &Recent", w)
    recent.setObjectName("recentMenu")
    recent.aboutToShow.connect(w.update_recent_menu)
    menus["Open Recent"] = recent
    menu("&File", a.new, a.new_from_preset, a.import_model, a.open, recent, None, a.save, a.save_as, None,
         a.export_model, a.export_figure, a.export_diagram, a.export_figure_set, a.export_report, None,
         a.import_weights, a.init_from_project, a.import_torchvision, None, a.quit)
    menu("&Edit", a.undo, a.redo, a.history, None, a.cut, a.copy, a.paste, a.duplicate, a.delete, None,
         a.select_all)

    def panels(title: str) -> list[QAction | None]:
        """The show/hide actions of the panels whose spec lists this menu (None: a separator)."""
        return [None if spec is None else a.show_panel[spec.key] for spec in in_menu(w.panel_specs, title)]

    menu("&View", *a.modes.values(), None, a.zoom_in, a.zoom_out, a.actual_size, a.fit, None, a.show_layers,
         a.show_properties,
         a.show_training, *panels("View"), a.history, a.show_toolbar, None, a.full_screen)
    menu("&Network", a.add_layer, a.auto_layout, None, a.summary, a.first_error)
    menu("&Train", a.train, a.pause, a.stop, None, a.sweep, a.lr_find, None, a.show_training, *panels("Train"),
         None, a.train_terminal)
    menu("&Inspect", a.summary, None, *panels("Inspect"))
    menu("&Help", a.experiments, None, a.layer_reference, a.shortcuts, None, a.about)
    return menus


def build_toolbar(w: MainWindow, a: WindowActions) -> QToolBar:
    """New, Open, Save | Undo, Redo | Zoom In, Zoom Out, Fit | Auto Layout | Train, Pause, Stop, and at the
    right end the modes: Build, Train, Inspect (text buttons, one of them checked)."""
    bar = QToolBar("Tool Bar", w)
    bar.setObjectName("mainToolBar")
    bar.setMovable(False)
    groups = ((a.new, a.open, a.save), (a.undo, a.redo), (a.zoom_in, a.zoom_out, a.fit), (a.auto_layout,),
              (a.train, a.pause, a.stop))
    for i, group in enumerate(groups):
        if i:
            bar.addSeparator()
        for act in group:
            bar.addAction(act)
    spacer = QWidget(bar)
    spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
    bar.addWidget(spacer)
    for act in a.modes.values():
        bar.addAction(act)
        button = bar.widgetForAction(act)
        if isinstance(button, QToolButton):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            button.setObjectName(f"{act.iconText().lower()}ModeButton")
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    a.show_toolbar.setCheckable(True)
    a.show_toolbar.setChecked(True)
    a.show_toolbar.toggled.connect(bar.setVisible)
    bar.visibilityChanged.connect(a.show_toolbar.setChecked)
    apply_icons(w, a)
    return bar


def apply_icons(w: MainWindow, a: WindowActions) -> None:
    """(Re)set the toolbar icons: the desktop's icon theme first, else our own (again after a theme change)."""
    for name, (theme_name, fallback) in ICONS.items():
        if isinstance(fallback, str):
            icon = QIcon.fromTheme(theme_name) if QIcon.hasThemeIcon(theme_name) else theme.line_icon(fallback)
        else:
            icon = QIcon.fromTheme(theme_name, w.style().standardIcon(fallback))
        getattr(a, name).setIcon(icon)


# --- recent files ----------------------------------------------------------------------------


class RecentFiles:
    """The most recently opened or saved projects, newest first, kept in QSettings."""

    KEY = "recentFiles"
    MAX = 10

    def paths(self) -> list[Path]:
        value = QSettings().value(self.KEY, [])
        if isinstance(value, str):  # INI files give back a one-element list as a string
            value = [value]
        return [Path(str(v)) for v in (value or []) if str(v)][: self.MAX]

    def add(self, path: Path) -> None:
        path = Path(path).resolve()
        if any("\ud800" <= c <= "\udfff" for c in str(path)):
            return  # not UTF-8: QSettings would keep the name without its odd bytes, an entry that opens nothing
        self._write([path, *(p for p in self.paths() if p != path)])

    def remove(self, path: Path) -> None:
        self._write([p for p in self.paths() if p != Path(path)])

    def clear(self) -> None:
        self._write([])

    def _write(self, paths: list[Path]) -> None:
        settings = QSettings()
        settings.setValue(self.KEY, [str(p) for p in paths[: self.MAX]])
        settings.sync()


def fill_recent_menu(menu: QMenu, paths: list[Path], open_path: Callable[[Path], object],
                     clear: QAction) -> None:
    """``&1 name.cnnp`` … (full path in the tool tip), then Clear Recent."""
    menu.clear()
    for i, path in enumerate(paths, 1):
        mnemonic = f"&{i}" if i < 10 else "1&0"
        act = menu.addAction(f"{mnemonic} {path.name.replace('&', '&&')}")
        act.setToolTip(str(path))
        act.setStatusTip(str(path))
        act.setData(str(path))
        act.triggered.connect(lambda _checked=False, p=path: open_path(p))
    if not paths:
        menu.addAction("No recent projects").setEnabled(False)
    menu.setToolTipsVisible(True)
    menu.addSeparator()
    menu.addAction(clear)
    clear.setEnabled(bool(paths))
