"""The command line against hostile names, strict terminals, closed pipes and odd data folders (issue 21).

Names with terminal escapes (a project's, a node's, a class folder's) are printed escaped; file names that
are not UTF-8 print as ``\\xff`` on a strict UTF-8 stream; a closed stdout ends the output quietly while
``train`` still saves; weights that are not finite are named; a read-only data folder and a data root that
is a file are said to be what they are.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnplayground.cli import main
from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.core.text import printable
from cnnplayground.io.project import load_project, save_project, weights_from_module
from cnnplayground.project import DatasetChoice, Project, TrainingConfig

REPO = Path(__file__).resolve().parents[2]
#: A name that retitles the terminal, clears the screen, moves the cursor and reverses the text.
HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x1b[H\r\u202eTrain"
#: Every byte that a terminal acts on, in any of the outputs below.
CONTROL = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0))] + ["\u202e"]
SMALL = DatasetChoice(name="synthetic", options={"train_size": 200, "test_size": 100})


def _controls(text: str) -> list[str]:
    return sorted({c for c in text if c in CONTROL})


def _lenet_project(path: Path, name: str = "LeNet-5", weights: bool = False, fill: float | None = None) -> Path:
    graph = get_preset("lenet5").factory()
    project = Project.new(graph=graph, name=name, dataset=SMALL,
                          training=TrainingConfig(epochs=1, batch_size=50, device="cpu"))
    if weights:
        from cnnplayground.core.builder import build

        torch.manual_seed(0)
        model = build(graph)
        if fill is not None:
            with torch.no_grad():
                model.get_parameter("layers.fc1.weight").fill_(fill)
                model.get_parameter("layers.conv1.bias").fill_(fill)
        project.weights = weights_from_module(model)
    save_project(project, path)
    return path


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.update(extra)
    return env


def test_printable_escapes_what_a_terminal_acts_on_and_nothing_else():
    assert printable(HOSTILE) == "evil\\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\r\\u202eTrain"
    assert printable("bad_\udcff.cnnp") == "bad_\\xff.cnnp"  # the byte of a non-UTF-8 file name
    assert printable("a\tb\nc") == "a\\tb\\nc" and printable("a\nb", keep_newlines=True) == "a\nb"
    assert printable("Größe 3×3 — ok \\ C:\\x") == "Größe 3×3 — ok \\ C:\\x"
    every = "".join(map(chr, range(0x20000))) + "\ud800\udfff"
    once = printable(every)
    assert _controls(once) == [] and printable(once) == once
    once.encode("utf-8")  # no lone surrogate is left
    # C0 and C1 controls with DEL (65), 14 bidirectional controls and separators, 2048 + 2 surrogates
    assert sum(printable(c) != c for c in every) == 65 + 14 + 2050


def test_summary_prints_a_hostile_project_name_escaped(tmp_path, capsys):
    """Layer names cannot hold such characters (core/graph.py refuses them); a project's name can."""
    path = _lenet_project(tmp_path / "hostile.cnnp", name=HOSTILE)
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert _controls(out) == []
    assert out.splitlines()[0] == f"{printable(HOSTILE)} ({path})"


def test_train_prints_a_hostile_project_name_escaped(tmp_path, capsys):
    path = _lenet_project(tmp_path / "p.cnnp", name=HOSTILE)
    assert main(["train", str(path), "--epochs", "1", "--device", "cpu", "--no-save"]) == 0
    captured = capsys.readouterr()
    assert _controls(captured.out + captured.err) == []
    assert f"Training {printable(HOSTILE)} (" in captured.out


def test_evaluate_prints_hostile_class_folder_names_escaped(tmp_path, capsys):
    root = tmp_path / "images"
    classes = ["cat\x1b]0;pwned\x07", "dog\x1b[2J"]
    rng = np.random.default_rng(0)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(root / name / f"{i}.png")
    graph = Graph()
    graph.add_node("Input", {"channels": 1, "height": 8, "width": 8}, id="input")
    graph.add_node("Flatten", id="flat")
    graph.add_node("Linear", {"out_features": 2}, id="fc")
    graph.connect("input", "flat")
    graph.connect("flat", "fc")
    from cnnplayground.core.builder import build

    project = Project.new(graph=graph, name="Pets", dataset=DatasetChoice(
        name="folder", root=str(root), options={"size": 8, "channels": 1}))
    project.weights = weights_from_module(build(graph))
    path = tmp_path / "pets.cnnp"
    save_project(project, path)
    assert main(["evaluate", str(path), "--split", "train", "--device", "cpu", "--top", "2"]) == 0
    captured = capsys.readouterr()
    assert _controls(captured.out + captured.err) == []
    assert "  cat\\x1b]0;pwned\\x07 " in captured.out and "  dog\\x1b[2J " in captured.out
    assert "most confident mistakes:\n  cat\\x1b]0;pwned\\x07/" in captured.out \
        or "most confident mistakes:\n  dog\\x1b[2J/" in captured.out  # the files of the mistakes, escaped too


def test_a_hostile_name_in_an_error_is_escaped(tmp_path, capsys):
    assert main(["summary", str(tmp_path / "x\x1b[2J.cnnp")]) == 2
    err = capsys.readouterr().err
    assert _controls(err.rstrip("\n")) == [] and "x\\x1b[2J.cnnp" in err


def test_names_that_are_not_utf8_print_escaped_on_a_strict_utf8_terminal(tmp_path):
    """``PYTHONIOENCODING=utf-8`` (strict, as on en_US.UTF-8 desktops): ``summary`` and ``train``'s "saved"
    line used to end in UnicodeEncodeError."""
    name = os.fsdecode(b"bad_\xff.cnnp")
    path = _lenet_project(tmp_path / name)
    env = _env(PYTHONIOENCODING="utf-8")
    summary = subprocess.run([sys.executable, "-m", "cnnplayground", "summary", name], cwd=tmp_path, env=env,
                             capture_output=True, timeout=300)
    assert summary.returncode == 0, summary.stderr.decode(errors="replace")
    assert summary.stdout.decode("utf-8").startswith("LeNet-5 (bad_\\xff.cnnp)\n")
    train = subprocess.run([sys.executable, "-m", "cnnplayground", "train", name, "--epochs", "1"], cwd=tmp_path,
                           env=env, capture_output=True, timeout=300)
    assert train.returncode == 0, train.stderr.decode(errors="replace")
    assert train.stdout.decode("utf-8").rstrip().endswith("saved bad_\\xff.cnnp") and not train.stderr
    assert len(load_project(path).history) == 1


def _closed_pipe_run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run the CLI with stdout a pipe whose reader has already gone (as after ``| head -1``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([sys.executable, "-m", "cnnplayground", *args], cwd=cwd, env=_env(), stdout=write_end,
                              stderr=subprocess.PIPE, timeout=300)
    finally:
        os.close(write_end)


def test_a_closed_stdout_ends_summary_quietly(tmp_path):
    proc = _closed_pipe_run(["summary", "lenet5"], tmp_path)
    assert (proc.returncode, proc.stderr) == (0, b"")


@pytest.mark.parametrize("json_events", [False, True])
def test_a_closed_stdout_ends_train_quietly_and_it_still_saves(tmp_path, json_events):
    path = _lenet_project(tmp_path / "p.cnnp")
    out = tmp_path / "out.cnnp"
    proc = _closed_pipe_run(["train", str(path), "--epochs", "2", "--save", str(out)]
                            + (["--json"] if json_events else []), tmp_path)
    assert (proc.returncode, proc.stderr) == (0, b"")
    trained = load_project(out)
    assert trained.weights is not None and [len(r.series["val_accuracy"].y) for r in trained.history] == [2]


def test_weights_that_are_not_finite_are_named(tmp_path, capsys):
    path = _lenet_project(tmp_path / "nan.cnnp", weights=True, fill=float("nan"))
    assert main(["evaluate", str(path), "--device", "cpu", "--json"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: the weights are not finite (NaN or infinite values in conv1.bias, fc1.weight)")
    assert "meaningless" in err

    assert main(["train", str(path), "--epochs", "1", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "the starting weights are not finite (NaN or infinite values in conv1.bias, fc1.weight)" in err
    assert "learning rate" not in err and err.count("\n") == 1

    inf = _lenet_project(tmp_path / "inf.cnnp", weights=True, fill=float("inf"))
    assert main(["train", str(inf), "--epochs", "1", "--no-save"]) == 2
    assert "the starting weights are not finite" in capsys.readouterr().err
    good = _lenet_project(tmp_path / "good.cnnp", weights=True)
    assert main(["evaluate", str(good), "--device", "cpu", "--json"]) == 0
    assert capsys.readouterr().err == ""


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the test must not reach the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)


def test_download_into_a_read_only_folder_says_so(tmp_path, monkeypatch, capsys, no_network):
    """Tests run as root, which writes anywhere: ``os.access`` is told the data folder is read-only."""
    root = tmp_path / "data"
    root.mkdir()
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: (
        not mode & os.W_OK or not Path(p).is_relative_to(root)) and access(p, mode, *a, **k))
    assert main(["train", "--dataset", "mnist", "--data-root", str(root), "--download", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert f"MNIST cannot be downloaded to {root / 'MNIST' / 'raw'}: the folder is not writable ({root} is " \
           "not writable)" in err
    assert "internet" not in err


def test_download_refused_by_the_file_system_says_the_folder_is_not_writable(tmp_path, monkeypatch, capsys,
                                                                            no_network):
    """The folder looks writable (as root) but creating in it fails, as on a read-only mount or with ACLs."""
    root = tmp_path / "data"
    root.mkdir()
    makedirs = os.makedirs

    def read_only(name, *args, **kwargs):
        if Path(name).is_relative_to(root):
            raise PermissionError(13, "Permission denied", str(name))
        return makedirs(name, *args, **kwargs)

    monkeypatch.setattr(os, "makedirs", read_only)
    assert main(["train", "--dataset", "cifar10", "--data-root", str(root), "--download", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "CIFAR-10 cannot be downloaded to" in err and "the folder is not writable (Permission denied)" in err
    assert "internet" not in err


@pytest.mark.parametrize("dataset", ["folder", "mnist"])
def test_a_data_root_that_is_a_file_is_called_a_file(tmp_path, capsys, dataset):
    file = tmp_path / "passwd"
    file.write_text("root:x:0:0::/root:/bin/sh\n")
    for root, where in ((file, ""), (file / "inside", f" is inside {file}, which")):
        assert main(["train", "--dataset", dataset, "--data-root", str(root), "--epochs", "1"]) == 2
        err = capsys.readouterr().err
        assert f"{root}{where} is a file, not a folder" in err and "does not exist" not in err
        assert "not found" not in err
