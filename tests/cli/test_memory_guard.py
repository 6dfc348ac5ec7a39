"""The command line and a tiny file that asks for any amount of memory (issue 21, item 2).

The 800-byte project describes 1.87·10⁹ parameters. ``train``, ``evaluate`` and ``export`` refuse it
(or any network that does not fit) with the memory needed and the memory there is, before loading
data or building anything; ``summary`` prints it from its shapes. The machine's available memory is
injected (a 6 GB laptop); a network beyond 10 million parameters built on a real device fails the test
before it is allocated (``memory_guard.forbid_large_builds``), which is how these tests fail on code
without the guard.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
import torch
from memory_guard import LAPTOP, forbid_large_builds, huge_graph, write_huge_project

from cnnplayground.cli import main
from cnnplayground.core import memory
from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.data import registry
from cnnplayground.io.project import save_project, weights_from_module
from cnnplayground.project import Project, TrainingConfig

#: A refusal takes milliseconds; the bound only catches work done before it (data, weights).
SECONDS = 5.0


@pytest.fixture
def huge(tmp_path):
    return write_huge_project(tmp_path / "huge.cnnp")


@pytest.fixture
def laptop(monkeypatch) -> list[int]:
    """6 GB available, no data loaded, no large network built; returns the builds that happened."""
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": LAPTOP)

    def no_data(*args, **kwargs):
        raise AssertionError("the dataset was loaded before the memory check")

    monkeypatch.setattr(registry, "load_dataset", no_data)
    return forbid_large_builds(monkeypatch)


def _run(argv: list[str], capsys) -> tuple[int, str, str, float]:
    t0 = time.perf_counter()
    code = main(argv)
    seconds = time.perf_counter() - t0
    captured = capsys.readouterr()
    return code, captured.out, captured.err, seconds


def test_the_huge_project_is_an_800_byte_file(huge):
    assert huge.stat().st_size < 1000


def test_train_refuses_the_huge_network_with_both_numbers_before_loading_data(huge, laptop, capsys):
    code, out, err, seconds = _run(["train", str(huge), "--epochs", "1"], capsys)
    assert code == 2 and out == "" and seconds < SECONDS
    assert err == ("cnnplayground: this network needs about 28.9 GB to train at batch size 128 (weights 7.0 GB, "
                   "gradients 7.0 GB, optimizer state 13.9 GB, activations 1.0 GB); this machine has 6.0 GB "
                   "available: make the largest layers smaller\n")
    # The options given on the command line are the ones counted: SGD with momentum keeps one value a weight.
    code, _, err, _ = _run(["train", str(huge), "--batch-size", "8", "--optimizer", "sgd"], capsys)
    assert code == 2 and ("needs about 21.0 GB to train at batch size 8 (weights 7.0 GB, gradients 7.0 GB, "
                          "optimizer state 7.0 GB, activations 64.2 MB)") in err
    assert laptop == []


def test_train_of_a_small_network_refused_or_not_at_the_exact_byte(tmp_path, monkeypatch, capsys):
    # LeNet-5 at batch 64 with Adam needs 9,069,728 bytes (tests/core/test_memory.py): one byte less is refused
    # before the data is loaded; exactly that much trains.
    config = TrainingConfig(epochs=1, batch_size=64, device="cpu", checkpoint_every=0)
    path = tmp_path / "lenet.cnnp"
    save_project(Project.new(graph=get_preset("lenet5").factory(), name="lenet", training=config), path)
    loads: list[str] = []
    real_load = registry.load_dataset

    def load(choice, *args, **kwargs):
        loads.append(choice.name)
        return real_load(choice.model_copy(update={"options": {"train_size": 200, "test_size": 50}}), *args, **kwargs)

    monkeypatch.setattr(registry, "load_dataset", load)
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 9_069_727)
    code, _, err, _ = _run(["train", str(path), "--no-save"], capsys)
    assert code == 2 and loads == []
    assert "needs about 8.6 MB to train at batch size 64" in err and "9,069,727 bytes" in err
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 9_069_728)
    code, out, err, _ = _run(["train", str(path), "--no-save"], capsys)
    assert code == 0, err
    assert loads == ["synthetic"] and "epoch 1/1" in out


def test_evaluate_refuses_a_network_that_does_not_fit_before_loading_data(tmp_path, laptop, monkeypatch, capsys):
    torch.manual_seed(0)
    graph = get_preset("lenet5").factory()
    project = Project.new(graph=graph, name="lenet")
    project.weights = weights_from_module(build(graph))
    path = tmp_path / "lenet.cnnp"
    save_project(project, path)
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 8 * 2**20)  # 8 MB
    code, out, err, seconds = _run(["evaluate", str(path)], capsys)
    assert code == 2 and out == "" and seconds < SECONDS
    assert err == ("cnnplayground: this network needs about 18.6 MB to run at batch size 512 (weights 241.0 KB, "
                   "activations 18.4 MB); this machine has 8.0 MB available: make the largest layers smaller\n")


def test_export_refuses_to_build_the_huge_network_and_writes_nothing(huge, laptop, tmp_path, capsys):
    out_dir = tmp_path / "onnx"
    code, out, err, seconds = _run(["export", str(huge), "--format", "onnx", "--out", str(out_dir)], capsys)
    assert code == 2 and out == "" and seconds < SECONDS
    assert err == ("cnnplayground: the network cannot be exported as onnx: this network needs about 7.0 GB to run "
                   "at batch size 2 (weights 7.0 GB, activations 8.0 MB); this machine has 6.0 GB available: make "
                   "the largest layers smaller\n")
    assert not out_dir.exists()
    code, _, err, _ = _run(["export", str(huge), "--format", "pt2", "--out", str(out_dir)], capsys)
    assert code == 2 and "exported as pt2: this network needs about 7.0 GB" in err
    assert laptop == []


def test_export_all_writes_what_needs_no_built_network_and_says_what_it_skipped(huge, laptop, tmp_path, capsys):
    out_dir = tmp_path / "all"
    code, out, err, _ = _run(["export", str(huge), "--format", "all", "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["MODEL_CARD.md", "config.json", "model.py", "train.py"]
    assert "class Net(nn.Module)" in (out_dir / "model.py").read_text()
    skipped = [line for line in err.splitlines() if line.startswith("skipped")]
    assert [line.split(" (")[0] for line in skipped] == ["skipped onnx", "skipped pt2"]
    assert all("(not enough memory: this network needs about 7.0 GB to run" in line for line in skipped)
    assert [p for p in laptop if p > 10_000_000] == []


def test_summary_prints_the_huge_network_from_its_shapes_without_building_it(huge, laptop, capsys):
    tracemalloc.start()
    try:
        code, out, err, seconds = _run(["summary", str(huge)], capsys)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 0, err
    assert "Total parameters: 1,871,719,170" in out and "Weights: 7.0 GB (float32)" in out
    assert seconds < SECONDS and peak < 16 * 2**20  # Python objects: the file and the table, nothing more
    assert laptop == []


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_the_exporters_given_the_graph_refuse_it_with_their_one_error(fmt, laptop, tmp_path):
    from cnnplayground.export import formats

    with pytest.raises(formats.ExportError) as info:
        getattr(formats, f"export_{fmt}")(huge_graph(), tmp_path / f"huge.{fmt}")
    assert str(info.value) == ("cannot export: this network needs about 7.0 GB to run at batch size 2 (weights 7.0 GB, "
                               "activations 8.0 MB); this machine has 6.0 GB available: make the largest layers "
                               "smaller")
    assert laptop == [] and list(tmp_path.iterdir()) == []
