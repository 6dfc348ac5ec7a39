"""Layering rules from docs/ARCHITECTURE.md, enforced."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_import_linter_contracts_hold():
    """Only cnnplayground.ui imports Qt; the core imports no other package of ours; train imports no
    analysis or interface."""
    lint = Path(sys.executable).with_name("lint-imports")
    cmd = [str(lint)] if lint.exists() else [sys.executable, "-m", "importlinter.cli"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 3 kept, 0 broken." in proc.stdout


@pytest.mark.parametrize(
    "module",
    ["cnnplayground.core.builder", "cnnplayground.core.summary", "cnnplayground.cli",
     "cnnplayground.data.synthetic", "cnnplayground.train.trainer", "cnnplayground.export.formats",
     "cnnplayground.export.card", "cnnplayground.io.weights_import", "cnnplayground.export.code",
     "cnnplayground.export.script", "cnnplayground.cli.export", "cnnplayground.experiments.gallery",
     "cnnplayground.cli.experiment"],
)
def test_headless_modules_do_not_load_qt(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{module} loaded Qt: {proc.stdout}{proc.stderr}"
