"""The command line: summary of presets and project files, new projects, the demo."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cnnplayground.cli import main


def test_summary_lenet5_prints_the_table(capsys):
    assert main(["summary", "lenet5"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("Layer"))
    assert header.split() == ["Layer", "Kind", "Settings", "Output", "shape", "Params", "Receptive", "field"]
    shapes = [s for s in ("6×28×28", "6×14×14", "16×10×10", "16×5×5", "400", "120", "84", "10")]
    positions = [out.index(f" {s} ") for s in shapes]
    assert positions == sorted(positions), "shapes must appear in layer order"
    assert "Total parameters: 61,706" in out
    assert "48,120" in out  # fc1: 400·120 + 120


def test_python_dash_m_runs_the_same_cli():
    proc = subprocess.run([sys.executable, "-m", "cnnplayground", "summary", "alexnet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "Total parameters: 60,965,224" in proc.stdout


def test_unknown_target_is_one_clear_line(capsys):
    assert main(["summary", "lenet6"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cnnplayground: 'lenet6' is neither a project file nor a preset (presets: ")
    assert "lenet5" in err and "\n" not in err


def test_new_then_summary_of_the_project_file(tmp_path, capsys):
    path = tmp_path / "r18.cnnp"
    assert main(["new", "resnet18", str(path)]) == 0
    assert main(["summary", str(path)]) == 0
    assert "Total parameters: 11,689,512" in capsys.readouterr().out
    assert main(["new", "resnet18", str(path)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err


def test_summary_of_a_broken_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "broken.cnnp"
    path.write_bytes(b"PK\x03\x04 this is not a zip")
    assert main(["summary", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "broken.cnnp" in err


def test_summary_reports_errors_and_exit_code_1(tmp_path, capsys):
    from cnnplayground.core.graph import Graph
    from cnnplayground.io.project import Project, save_project

    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input")
    g.add_node("Linear", {"out_features": 10}, id="fc")
    g.connect("input", "fc")
    path = tmp_path / "bad.json"
    save_project(Project.new(graph=g, name="bad"), path)
    assert main(["summary", str(path)]) == 1
    assert "fc: Linear expects a flat input, got 1×28×28: insert Flatten" in capsys.readouterr().out


def test_presets_lists_every_preset_with_its_size(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "138,357,544 params" in out and "61,706 params" in out


@pytest.mark.slow
def test_demo_trains_lenet5_on_the_synthetic_set(capsys):
    assert main(["demo", "--epochs", "2", "--train-size", "2000", "--device", "cpu"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Training LeNet-5 (61,706 parameters) on the synthetic set")
    epochs = [line for line in out if line.startswith("epoch ")]
    assert len(epochs) == 2
    # Validation accuracy after two short epochs is far above chance (10 %).
    val = float(epochs[-1].split("val acc")[1].split("%")[0])
    assert val > 40.0, epochs
