"""Starting the desktop application: the QApplication, its identity, theme and main window."""

from __future__ import annotations

import argparse
import sys
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

import cnnplayground

from .shell import theme
from .shell.crash import install_crash_handler, uninstall_crash_handler

APP_NAME = "CNN Playground"
ORGANIZATION = "CNN Playground"
DOMAIN = "cnnplayground.invalid"
DESKTOP_FILE = "io.github.cnnplayground.CNNPlayground"


def resources_dir() -> Path:
    """``cnnplayground/resources/``: package data, installed with the package (editable or not)."""
    return Path(cnnplayground.__file__).resolve().parent / "resources"


def app_icon() -> QIcon:
    """The application icon, or an empty icon when the resources are not installed."""
    path = resources_dir() / "icons" / "cnnplayground.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()


def set_app_metadata(app: QCoreApplication) -> None:
    """Names used by QSettings, the desktop environment and the About box."""
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANIZATION)
    app.setOrganizationDomain(DOMAIN)
    app.setApplicationVersion(cnnplayground.__version__)
    if isinstance(app, QGuiApplication):
        app.setApplicationDisplayName(APP_NAME)
        app.setDesktopFileName(DESKTOP_FILE)


def create_app(argv: Sequence[str] | None = None) -> QApplication:
    """The running QApplication, or a new one for ``argv`` (arguments after the program name),
    with the app's names, icon and theme applied."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        app = existing
    else:
        # Qt 6 scales for high-DPI screens by itself; keep fractional factors (150 %) exact.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
        program = sys.argv[0] if sys.argv and sys.argv[0] and _qt_can_take(sys.argv[0]) else "cnnplayground"
        app = QApplication([program, *(arg for arg in argv or [] if _qt_can_take(arg))])
    set_app_metadata(app)
    if getattr(app, "gc_collector", None) is None:
        from .shell.collector import GuiThreadCollector

        app.gc_collector = GuiThreadCollector(parent=app)  # cycles are freed in the GUI thread only
    from .training.worker import reserve_gui_core

    reserve_gui_core()  # before any training: a run leaves the GUI a core
    icon = app_icon()
    if not icon.isNull():
        app.setWindowIcon(icon)
    theme.apply_theme(app)
    return app


def _qt_can_take(text: str) -> bool:
    """False for a string holding lone surrogates (a file name that is not UTF-8, as ``sys.argv`` decodes
    it): QApplication cannot convert those and crashes the process (SIGSEGV)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _qt_arguments(argv: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """``argv`` with each argument Qt cannot take replaced by a placeholder, and the placeholders'
    originals: Qt still removes its own options (``-style``, ``-platform``…) from the rest."""
    held: dict[str, str] = {}
    safe = []
    for i, arg in enumerate(argv):
        if _qt_can_take(arg):
            safe.append(arg)
        else:
            placeholder = f"cnnplayground-argument-{uuid.uuid4().hex}-{i}"
            held[placeholder] = arg
            safe.append(placeholder)
    return safe, held


def _parse(arguments: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cnnplayground", description="Start the CNN Playground window.")
    parser.add_argument("project", nargs="?", type=Path, metavar="PROJECT.cnnp", help="open this project")
    return parser.parse_args(list(arguments))


def run(argv: Sequence[str] | None = None) -> int:
    """Start the GUI; ``argv`` are the arguments after the program name (an optional
    ``PROJECT.cnnp`` to open). Returns the exit code of the event loop."""
    fresh = QApplication.instance() is None
    safe, held = _qt_arguments(list(argv or []))
    app = create_app(safe)
    # A new QApplication removed the options Qt understands (-style, -platform...); the rest is ours.
    args = _parse([held.get(arg, arg) for arg in (app.arguments()[1:] if fresh else safe)])

    from .shell.main_window import MainWindow

    window = MainWindow()
    window.show()
    install_crash_handler(window)
    restored = window.offer_recovery()  # work a crashed session left behind comes first
    if args.project is not None and not restored:
        window.open_path(args.project, ask=False)
    from ..train.fastpath import warm_up_imports

    # Once the window has started (not competing with it for the GIL), before the first Train.
    def warm_up() -> None:
        warm_up_imports()
        # Back in the GUI thread (never collect in another one): start-up's objects are frozen.
        QTimer.singleShot(0, app, app.gc_collector.freeze_startup)

    QTimer.singleShot(0, lambda: threading.Thread(target=warm_up, name="warm-up imports", daemon=True).start())
    code = app.exec()
    uninstall_crash_handler()
    # pyqtgraph widgets still alive when Python exits can crash the interpreter's
    # shutdown: delete the window (and its plots) while Qt is still running.
    import shiboken6

    if shiboken6.isValid(window):
        window.training.shutdown()
        window.deleteLater()
    del window
    app.processEvents()
    return code
