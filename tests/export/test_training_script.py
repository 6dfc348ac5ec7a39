"""Training-script export: train.py runs alone with python and under torchrun (DDP on the CPU with gloo)."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.export.code import exported_state_dict
from cnnplayground.export.script import export_training_script, training_config
from cnnplayground.io.project import weights_from_module
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.optim import lr_factor

#: Small synthetic sets keep every run to a few seconds of CPU.
QUICK = ["--dataset", "synthetic", "--synthetic-train", "96", "--synthetic-test", "32", "--device", "cpu",
         "--log-every", "1"]


def _graph() -> Graph:
    """A small residual network with BatchNorm and Dropout (buffers and per-process randomness)."""
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 16, "width": 16}, id="input")
    for nid, kind, params in (
        ("conv1", "Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False}),
        ("bn1", "BatchNorm2d", {}),
        ("relu1", "ReLU", {}),
        ("conv2", "Conv2d", {"out_channels": 8, "kernel_size": 3, "padding": 1}),
        ("add", "Add", {}),
        ("pool", "MaxPool2d", {"kernel_size": 2, "stride": 2}),
        ("flatten", "Flatten", {}),
        ("drop", "Dropout", {"p": 0.2}),
        ("fc", "Linear", {"out_features": 10}),
    ):
        g.add_node(kind, params, id=nid)
    g.chain("input", "conv1", "bn1", "relu1", "conv2", "add", "pool", "flatten", "drop", "fc")
    g.connect("relu1", "add")
    return g


def _project(with_weights: bool = True) -> Project:
    training = TrainingConfig(optimizer="sgd", learning_rate=0.05, momentum=0.9, nesterov=True, schedule="cosine",
                              warmup_epochs=0.5, weight_decay=1e-4, label_smoothing=0.1, batch_size=32, epochs=2,
                              seed=3, grad_clip=5.0)
    project = Project.new(_graph(), name="Residual toy", training=training,
                          dataset=DatasetChoice(name="mnist"))
    if with_weights:
        torch.manual_seed(1)
        project.weights = weights_from_module(build(project.graph))
    return project


def _run(cmd: list[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    """Run ``cmd`` in its own session; on a timeout the whole group (torchrun's workers too) is killed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"{' '.join(cmd[:4])}... did not finish in {timeout} s:\n{out}\n{err}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _differs(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())


def test_export_writes_script_model_config_and_initial_weights(tmp_path):
    project = _project()
    paths = export_training_script(project, tmp_path)
    assert sorted(p.name for p in paths) == ["config.json", "model.py", "model.safetensors", "train.py"]
    config = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert config == training_config(project) | {"generated": config["generated"]}
    t = config["training"]
    assert (t["optimizer"], t["learning_rate"], t["schedule"], t["weight_decay"], t["batch_size"], t["epochs"],
            t["label_smoothing"], t["seed"], t["nesterov"], t["warmup_epochs"]) == \
        ("sgd", 0.05, "cosine", 1e-4, 32, 2, 0.1, 3, True, 0.5)
    assert config["dataset"]["name"] == "mnist" and config["input_shape"] == [1, 16, 16]
    assert config["output_shape"] == [10]
    # The initial weights are the project's, under model.py's keys.
    initial = load_file(tmp_path / "model.safetensors")
    expected = exported_state_dict(project.graph, project.weights)
    assert initial.keys() == expected.keys() and all(torch.equal(initial[k], expected[k]) for k in initial)

    source = (tmp_path / "train.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    compile(source, "train.py", "exec")
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(m.startswith("cnnplayground") for m in imported)
    for needed in ("torch.distributed", "torch.nn.parallel", "torch.utils.data"):
        assert needed in imported
    for text in ("DistributedDataParallel(", "DistributedSampler(", 'backend="nccl" if cuda else "gloo"',
                 "sampler.set_epoch(epoch)", "--save-all-ranks", "--steps", "--data-root", "download=False"):
        assert text in source
    assert "Residual toy" in source


def test_settings_the_script_cannot_follow_are_listed():
    project = _project(with_weights=False)
    project.dataset = DatasetChoice(name="synthetic", options={"random_labels": 0.5})
    project.training.schedule = "plateau"
    project.training.adversarial = "fgsm"
    project.training.augment.rotate_degrees = 10.0
    project.training.augment.hflip = True
    first = next(n.id for n in project.graph.iter_nodes() if n.layer.has_weights)
    project.graph.set_attributes(first, {"frozen": True})
    config = training_config(project)
    notes = " | ".join(config["not_reproduced"])
    for text in ("plateau", "fgsm", "rotate_degrees", "'synthetic'", "random_labels", "validation",
                 f"frozen layers and per-layer learning-rate factors ({first})"):
        assert text in notes
    assert config["training"]["schedule"] == "constant" and config["dataset"]["name"] == "synthetic"
    assert config["training"]["augment"] == {"hflip": True, "crop_padding": 0}


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "onecycle"])
def test_script_schedule_equals_the_app_schedule(tmp_path, monkeypatch, schedule):
    project = _project(with_weights=False)
    project.training = TrainingConfig(schedule=schedule, epochs=7, warmup_epochs=1.5, step_size=2, step_gamma=0.5)
    export_training_script(project, tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    namespace = {"__name__": "train_script", "__file__": str(tmp_path / "train.py")}
    sys.modules.pop("model", None)
    try:  # train.py imports model.py as "model", from its own folder
        exec(compile((tmp_path / "train.py").read_text(encoding="utf-8"), "train.py", "exec"), namespace)  # noqa: S102
    finally:
        sys.modules.pop("model", None)
    t = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))["training"]
    for step in range(0, 7 * 13):
        assert namespace["lr_factor"](t, step, 13) == pytest.approx(lr_factor(project.training, step, 13), abs=1e-12)


def test_single_process_run_trains_and_saves(tmp_path):
    project = _project()
    export_training_script(project, tmp_path)
    started = time.perf_counter()
    proc = _run([sys.executable, "train.py", *QUICK, "--steps", "5", "--out", "out/final.safetensors"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seconds = time.perf_counter() - started
    out = proc.stdout
    assert "1 process(es) on cpu, batch 32 × 1" in out and "initial weights:" in out
    assert "  step 5: loss " in out and "  step 6:" not in out and "saved out/final.safetensors" in out
    assert "note: not reproduced here: the validation hold-out" in out
    final = load_file(tmp_path / "out" / "final.safetensors")
    initial = load_file(tmp_path / "model.safetensors")
    assert final.keys() == initial.keys() and _differs(final, initial)
    assert final["bn1.num_batches_tracked"].item() == 5
    print(f"single process: {seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="this PyTorch build has no torch.distributed")
def test_torchrun_with_two_processes_keeps_the_replicas_identical(tmp_path):
    """DDP on the CPU (gloo): both ranks finish, with identical weights that moved away from the initial ones."""
    export_training_script(_project(), tmp_path)
    started = time.perf_counter()
    proc = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", "train.py",
                 *QUICK, "--steps", "5", "--save-all-ranks", "--out", "out/final.safetensors"], tmp_path, timeout=240)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "2 process(es) on cpu, batch 16 × 2" in out  # the configured 32 is the global batch
    assert out.count("saved out/final.safetensors") == 1 and out.count("initial weights:") == 1  # rank 0 only
    ranks = [load_file(tmp_path / "out" / f"rank{r}.safetensors") for r in (0, 1)]
    final = load_file(tmp_path / "out" / "final.safetensors")
    initial = load_file(tmp_path / "model.safetensors")
    assert ranks[0].keys() == ranks[1].keys() == final.keys() == initial.keys()
    for key in final:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
        assert torch.equal(ranks[0][key], final[key]), key
    assert _differs(final, initial)
    assert final["bn1.num_batches_tracked"].item() == 5
    print(f"torchrun, 2 processes: {seconds:.1f} s")
