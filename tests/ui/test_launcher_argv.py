"""The window's command line (issue 21): file names that are not UTF-8, and mistyped sub-commands.

``QApplication([program, *argv])`` crashed the process (SIGSEGV, exit code 139) on a file name that is
not UTF-8, even one that does not exist: ``sys.argv`` holds such bytes as lone surrogates, which Qt cannot
convert. A file manager's double-click on such a file would crash the app.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cnnplayground import app as launcher
from cnnplayground.core.presets import get_preset
from cnnplayground.io.project import save_project
from cnnplayground.project import Project

REPO = Path(__file__).resolve().parents[2]

#: Starts the app through the real entry point, reports what the window shows, then quits (exit code 5).
CHILD = textwrap.dedent("""
    import json, sys
    from PySide6.QtCore import QCoreApplication, QSettings, QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox
    import cnnplayground.ui.app as ui_app
    from cnnplayground.ui.shell.main_window import MainWindow

    errors = []
    QMessageBox.critical = lambda parent, title, text, *a, **k: errors.append(text) or QMessageBox.StandardButton.Ok
    create_app = ui_app.create_app

    def report_and_quit():
        titles = [w.windowTitle() for w in QApplication.topLevelWidgets()
                  if isinstance(w, MainWindow) and w.isVisible()]
        print(json.dumps({"titles": titles, "errors": errors, "recent": QSettings().value("recentFiles", [])}),
              flush=True)
        errors.clear()
        QCoreApplication.exit(5)

    def create_and_report(argv=None):
        app = create_app(argv)
        QTimer.singleShot(0, report_and_quit)
        return app

    ui_app.create_app = create_and_report
    from cnnplayground.app import main
    first = main(["-platform", "offscreen", sys.argv[1]])  # a new QApplication, which takes its option
    second = ui_app.run(sys.argv[2:3])  # the running one is used
    print(json.dumps({"codes": [first, second]}), flush=True)
""")


def test_a_file_name_that_is_not_utf8_opens_or_is_explained_without_a_crash(tmp_path):
    home = tmp_path / "home"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"),
               CNNPLAYGROUND_AUTOSAVE_DIR=str(home / "autosave"),
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    existing = tmp_path / os.fsdecode(b"bad_\xff.cnnp")
    save_project(Project.new(graph=get_preset("lenet5").factory(), name="LeNet-5"), existing)
    missing = os.fsencode(tmp_path / os.fsdecode(b"missing_\xfe.cnnp"))
    proc = subprocess.run([sys.executable, "-c", CHILD, missing, os.fsencode(existing)], env=env, cwd=tmp_path,
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr.decode(errors="replace")[-2000:])
    missing_run, existing_run, codes = (json.loads(line) for line in proc.stdout.decode().splitlines())
    assert codes == {"codes": [5, 5]}
    assert missing_run["titles"] == ["Untitled[*] — CNN Playground"]
    assert missing_run["errors"] == [f"{tmp_path}/missing_\\xfe.cnnp: no such file"]
    assert existing_run == {"titles": ["bad_\\xff.cnnp[*] — CNN Playground"], "errors": [], "recent": []}


def test_a_mistyped_subcommand_is_named_and_no_window_opens(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("cnnplayground.ui.app.run", lambda argv: pytest.fail("the window must not start"))
    for typed, meant in (("sumary", "summary"), ("trian", "train"), ("evalute", "evaluate"), ("exprot", "export"),
                         ("Presets", "presets"), ("experimnet", "experiment")):
        assert launcher.main([typed, "lenet5"]) == 2
        err = capsys.readouterr().err
        assert err == (f"cnnplayground: '{typed}' is not a command or a project file; did you mean "
                       f"'cnnplayground {meant}'? (cnnplayground --help lists the commands)\n")


@pytest.mark.parametrize("args", [["my.cnnp"], ["train.cnnp"], ["sumary"], ["lenet5"], ["projects/sumary"],
                                  ["-style", "fusion"]])
def test_a_project_or_anything_not_close_to_a_subcommand_still_opens_the_window(monkeypatch, tmp_path, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sumary").write_text("{}")  # an existing file is a project, whatever its name
    calls: list[list[str]] = []
    monkeypatch.setattr("cnnplayground.ui.app.run", lambda argv: calls.append(argv) or 0)
    assert launcher.main(args) == 0
    assert calls == [args]
