"""Layering rules from docs/ARCHITECTURE.md, enforced."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


STACK = ["ui | cli", "experiments", "inspect | export", "train", "io", "data", "project", "core"]


def _lint_imports(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    cmd = [str(lint)] if lint.exists() else [sys.executable, "-m", "importlinter.cli"]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300, env=env)


def test_one_layers_contract_states_the_whole_stack():
    """pyproject.toml has one ``layers`` contract from ``ui | cli`` down to ``core`` (and the Qt rule)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = [c for c in config if c["type"] == "layers"]
    assert len(layers) == 1 and layers[0]["containers"] == ["cnnplayground"]
    assert layers[0]["layers"] == STACK
    assert sorted(c["type"] for c in config) == ["forbidden", "layers"]
    packages = {p.name for p in (REPO / "cnnplayground").iterdir() if (p / "__init__.py").exists()}
    named = {name.strip() for layer in STACK for name in layer.split("|")}
    assert packages == named, f"packages outside the stack: {packages ^ named}"


def test_import_linter_contracts_hold():
    """The layers contract and the Qt rule are kept by the code as it is."""
    proc = _lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 2 kept, 0 broken." in proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("module", "upward"),
    [("core/shapes.py", "cnnplayground.project"), ("project/settings.py", "cnnplayground.io.atomic"),
     ("data/base.py", "cnnplayground.io.atomic"), ("io/atomic.py", "cnnplayground.train.events"),
     ("train/events.py", "cnnplayground.inspect.kernels"), ("export/card.py", "cnnplayground.inspect.kernels"),
     ("inspect/kernels.py", "cnnplayground.experiments.base"), ("cli/common.py", "cnnplayground.ui.jobs")],
)
def test_an_upward_import_breaks_the_layers_contract(tmp_path, module, upward):
    """A copy of the package with one import from a higher (or sibling) layer fails ``lint-imports``."""
    shutil.copytree(REPO / "cnnplayground", tmp_path / "cnnplayground",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "cnnplayground" / module
    target.write_text(target.read_text() + f"\n\nimport {upward}  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = _lint_imports(tmp_path, env)
    assert proc.returncode != 0, proc.stdout
    assert "BROKEN" in proc.stdout and upward in proc.stdout, proc.stdout


def _project_modules() -> list[str]:
    return ["cnnplayground.project"] + sorted(
        f"cnnplayground.project.{p.stem}" for p in (REPO / "cnnplayground" / "project").glob("*.py")
        if p.stem != "__init__")


@pytest.mark.parametrize("module", _project_modules())
def test_the_project_description_loads_neither_torch_nor_qt(module):
    code = (
        f"import sys, {module}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'PySide6', 'pyqtgraph', 'shiboken6'))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{module} loaded: {proc.stdout}{proc.stderr}"


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
