"""When something goes wrong inside the app: tell the user, keep their work, keep running.

An uncaught exception (in a slot, a timer, a thread) is written with its traceback to a
crash log in the app's data folder, the open project is saved to its recovery copy at
once (the autosave file, offered back at the next start if the app does die), and a
dialog says what happened in one line with the details folded away. The app goes on:
most exceptions in a slot leave the window usable. Fatal crashes (a segfault in a
library) are written to ``fatal.log`` by :mod:`faulthandler`.
"""

from __future__ import annotations

import faulthandler
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtWidgets import QApplication, QMessageBox

if TYPE_CHECKING:  # pragma: no cover
    from .main_window import MainWindow

_installed: list = []  # the handler and the fatal log's file object, kept alive


def crash_dir() -> Path:
    base = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    return base / "crashes"


class _Relay(QObject):
    """Lives in the GUI thread: an error in another thread is handled there (saving, dialogs)."""

    raised = Signal(object, object, object, object)  # type, exception, traceback, log


class CrashHandler:
    """``sys.excepthook`` and ``threading.excepthook`` of the app (see the module docstring)."""

    def __init__(self, window: MainWindow, folder: Path | None = None) -> None:
        self.window = window
        self.folder = folder or crash_dir()
        self.showing = False
        self.logs: list[Path] = []
        self._relay = _Relay()
        self._relay.raised.connect(self._in_gui_thread)

    def write_log(self, exc_type, exc, tb) -> Path | None:
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{len(self.logs)}.log"
            path.write_text(f"CNN Playground crash, {time.ctime()}\n\n{text}", encoding="utf-8")
        except OSError:
            return None
        self.logs.append(path)
        return path

    def emergency_save(self) -> bool:
        try:
            return self.window.autosaver.save_now(wait=True)
        except Exception:  # noqa: BLE001 - the handler itself must never raise
            return False

    def __call__(self, exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        sys.__excepthook__(exc_type, exc, tb)  # the terminal still gets the traceback
        log = self.write_log(exc_type, exc, tb)
        if threading.current_thread() is not threading.main_thread():
            self._relay.raised.emit(exc_type, exc, tb, log)  # saving and dialogs happen in the GUI thread
            return
        self._in_gui_thread(exc_type, exc, tb, log)

    def _in_gui_thread(self, exc_type, exc, tb, log) -> None:
        saved = self.emergency_save()
        if self.showing or QApplication.instance() is None:
            return  # an error while the dialog is up: logged and saved, not stacked
        self.show(exc_type, exc, tb, log, saved)

    def message(self, exc_type, exc, log: Path | None, saved: bool) -> str:
        first = (str(exc).strip().splitlines() or [""])[0]
        text = f"Something went wrong: {exc_type.__name__}{': ' + first if first else ''}."
        if saved:
            text += "\n\nYour work was saved to a recovery copy; it is offered back if the app has to restart."
        text += "\n\nThe app keeps running; if it misbehaves, save your project under a new name and restart."
        if log is not None:
            text += f"\n\nDetails were written to {log}."
        return text

    def show(self, exc_type, exc, tb, log: Path | None, saved: bool) -> None:
        self.showing = True
        try:
            box = QMessageBox(QMessageBox.Icon.Critical, "CNN Playground: unexpected error",
                              self.message(exc_type, exc, log, saved), QMessageBox.StandardButton.Ok, self.window)
            box.setDetailedText("".join(traceback.format_exception(exc_type, exc, tb)))
            self.present(box)
        finally:
            self.showing = False

    def present(self, box: QMessageBox) -> None:
        """Show the dialog (tests replace this)."""
        box.exec()


def install_crash_handler(window: MainWindow, folder: Path | None = None) -> CrashHandler:
    """Route uncaught exceptions to a :class:`CrashHandler`; fatal signals to ``fatal.log``.

    :func:`uninstall_crash_handler` puts the previous hooks back (the event loop has ended).
    """
    _installed.append((sys.excepthook, threading.excepthook))
    handler = CrashHandler(window, folder)
    sys.excepthook = handler
    threading.excepthook = lambda args: handler(args.exc_type, args.exc_value, args.exc_traceback)
    try:
        handler.folder.mkdir(parents=True, exist_ok=True)
        fatal = open(handler.folder / "fatal.log", "a", encoding="utf-8")  # noqa: SIM115 - open for the process
        faulthandler.enable(fatal)
        _installed.append(fatal)
    except OSError:
        faulthandler.enable()
    _installed.append(handler)
    return handler


def uninstall_crash_handler() -> None:
    """Restore the hooks :func:`install_crash_handler` replaced and close the fatal log."""
    hooks = [item for item in _installed if isinstance(item, tuple)]
    if hooks:
        sys.excepthook, threading.excepthook = hooks[0]
    faulthandler.disable()
    for item in _installed:
        close = getattr(item, "close", None)
        if close is not None:
            close()
    _installed.clear()
