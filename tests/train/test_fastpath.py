"""The fast path (issue 10): opt-in torch.compile with its fallback, optimizer kernels, cuDNN autotuning."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch
from helpers import synthetic_data as synthetic
from torch import nn

from cnnplayground.data.base import ImageData
from cnnplayground.project import TrainingConfig
from cnnplayground.train import fastpath
from cnnplayground.train.events import Compiled, EpochFinished, Finished, RunStarted, StepFinished
from cnnplayground.train.fastpath import compile_for_training, cudnn_autotune, optimizer_kernels
from cnnplayground.train.optim import make_optimizer
from cnnplayground.train.trainer import Trainer


@pytest.fixture(scope="module")
def data() -> ImageData:
    return synthetic(200, 64)  # 3 full batches of 64 and a last batch of 8


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 5, stride=2), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Dropout(0.2), nn.Linear(4 * 12 * 12, 10))


def cfg(**kw) -> TrainingConfig:
    return TrainingConfig(**{"epochs": 1, "batch_size": 64, "device": "cpu", "checkpoint_every": 0, **kw})


def metrics(events) -> list[tuple]:
    return [(e.train_loss, e.train_accuracy, e.val_loss, e.val_accuracy)
            for e in events if isinstance(e, EpochFinished)]


# --- torch.compile -----------------------------------------------------------------------------


@pytest.mark.slow
def test_compile_trains_a_tiny_model_on_the_cpu_or_falls_back_with_a_warning(data):
    """Compiling on the CPU needs inductor and a C++ compiler: either it compiles and trains, or the
    run goes on uncompiled and says why. Either way the run completes with finite losses."""
    events = list(Trainer(tiny_net(), data, cfg(compile=True, epochs=2), step_event_every=1).run())
    kinds = [type(e).__name__ for e in events]
    assert kinds[:2] == ["RunStarted", "Compiled"] and events[0].compiling
    compiled = events[1]
    assert isinstance(compiled, Compiled) and compiled.compile_seconds >= 0
    if compiled.compiled:
        assert compiled.message.startswith("compiled the network with torch.compile in ")
    else:
        assert compiled.message.startswith("torch.compile failed, training uncompiled: "), compiled.message
    assert "\n" not in compiled.message
    assert isinstance(events[-1], Finished) and events[-1].reason == "completed"
    steps = [e for e in events if isinstance(e, StepFinished)]
    epochs = [e for e in events if isinstance(e, EpochFinished)]
    assert len(epochs) == 2 and steps
    assert all(math.isfinite(v) for e in epochs for v in (e.train_loss, e.val_loss))
    assert all(math.isfinite(s.loss) for s in steps)


def test_a_compiler_failure_falls_back_to_the_same_uncompiled_run(data, monkeypatch):
    reference = list(Trainer(tiny_net(), data, cfg()).run())

    def broken(*args, **kwargs):
        raise RuntimeError("InductorError: no working C++ compiler found\nsecond line")

    monkeypatch.setattr(torch, "compile", broken)
    events = list(Trainer(tiny_net(), data, cfg(compile=True)).run())
    compiled = next(e for e in events if isinstance(e, Compiled))
    assert not compiled.compiled
    assert compiled.message == ("torch.compile failed, training uncompiled: RuntimeError: InductorError: no working "
                                "C++ compiler found second line")
    assert isinstance(events[-1], Finished) and events[-1].reason == "completed"
    assert metrics(events) == metrics(reference)  # the failed attempt left no trace


def test_the_trial_compile_step_leaves_weights_statistics_grads_and_rng_alone(data, monkeypatch):
    # An identity "compiler": the trial forward and backward run eagerly, which is what must leave no trace.
    monkeypatch.setattr(torch, "compile", lambda model, **kw: model)
    model = tiny_net().eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    result = compile_for_training(model, (64, 1, 28, 28), torch.device("cpu"))
    assert result.module is model and result.message.startswith("compiled the network")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # incl. BatchNorm running stats
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert not model.training


def test_only_full_batches_go_through_the_compiled_network(data, monkeypatch):
    calls: list[int] = []

    class Recording(nn.Module):
        def __init__(self, inner: nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            calls.append(len(x))
            return self.inner(x)

    monkeypatch.setattr(torch, "compile", lambda model, **kw: Recording(model))
    reference = list(Trainer(tiny_net(), data, cfg(), record_health=False).run())
    events = list(Trainer(tiny_net(), data, cfg(compile=True), record_health=False).run())
    assert calls == [64] * 4  # the trial batch, then the 3 full batches; the last 8 images run uncompiled
    assert metrics(events) == metrics(reference)
    calls.clear()  # layer health samples one full batch per epoch uncompiled, so that its hooks fire
    list(Trainer(tiny_net(), data, cfg(compile=True)).run())
    assert calls == [64] * 3


def test_cuda_compiles_with_cuda_graphs_and_marks_every_compiled_step(data, monkeypatch):
    from cnnplayground.train import fastpath

    assert fastpath.compile_mode(torch.device("cuda")) == "reduce-overhead"
    assert fastpath.compile_mode(torch.device("cpu")) == "default"
    modes: list[str] = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: modes.append(kw["mode"]) or model)
    from cnnplayground.train import trainer as trainer_module

    steps: list[str] = []
    monkeypatch.setattr(trainer_module, "mark_graph_step", lambda device: steps.append(device.type))
    list(Trainer(tiny_net(), data, cfg(compile=True), record_health=False).run())
    assert modes == ["default"]
    assert steps == ["cpu"] * 3  # each of the 3 full batches marked before the compiled network runs
    graphs: list[str] = []
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: graphs.append("step"))
    fastpath.mark_graph_step(torch.device("cpu"))
    fastpath.mark_graph_step(torch.device("cuda"))
    assert graphs == ["step"]  # only CUDA has graphs to tell


def test_compile_is_skipped_when_no_batch_is_full(data):
    events = list(Trainer(tiny_net(), data, cfg(compile=True, batch_size=256)).run())
    compiled = next(e for e in events if isinstance(e, Compiled))
    assert not compiled.compiled and compiled.compile_seconds == 0
    assert "smaller than one batch" in compiled.message
    assert isinstance(events[-1], Finished)


def test_without_compile_there_is_no_compiled_event(data):
    events = list(Trainer(tiny_net(), data, cfg()).run())
    assert isinstance(events[0], RunStarted) and not events[0].compiling
    assert not any(isinstance(e, Compiled) for e in events)


def test_compile_setting_is_documented_for_the_tooltip():
    for name in ("compile", "tta_flip"):
        assert len(TrainingConfig.model_fields[name].description) > 40
    assert TrainingConfig().compile is False and TrainingConfig().tta_flip is False


# --- optimizer kernels -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_fused_kernels_are_chosen_on_cuda_only(name):
    assert optimizer_kernels(name, "cuda") == {"fused": True}
    for device_type in ("cpu", "mps", "xpu"):
        assert optimizer_kernels(name, device_type) == {"foreach": True}


def test_rmsprop_has_no_fused_kernel_and_uses_foreach():
    assert optimizer_kernels("rmsprop", "cuda") == {"foreach": True}


def test_make_optimizer_passes_the_choice_on(monkeypatch):
    seen: list[tuple[str, str]] = []

    def spy(optimizer: str, device_type: str) -> dict[str, bool]:
        seen.append((optimizer, device_type))
        return {"foreach": True}

    monkeypatch.setattr("cnnplayground.train.optim.optimizer_kernels", spy)
    opt = make_optimizer(tiny_net(), TrainingConfig(optimizer="adamw"), torch.device("cuda"))
    assert seen == [("adamw", "cuda")] and opt.defaults["foreach"] is True
    cpu = make_optimizer(tiny_net(), TrainingConfig(optimizer="sgd"), torch.device("cpu"))
    assert cpu.defaults["foreach"] is True and not cpu.defaults.get("fused")


# --- cuDNN autotuning --------------------------------------------------------------------------


@pytest.mark.parametrize("previous", [False, True])
def test_cudnn_benchmark_is_on_during_a_cuda_run_and_restored_after(previous, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", previous)
    with cudnn_autotune(torch.device("cuda")):
        assert torch.backends.cudnn.benchmark is True
    assert torch.backends.cudnn.benchmark is previous
    with cudnn_autotune(torch.device("cpu")):
        assert torch.backends.cudnn.benchmark is previous
    with pytest.raises(ValueError), cudnn_autotune(torch.device("cuda")):
        raise ValueError("a failing run")
    assert torch.backends.cudnn.benchmark is previous


def test_the_trainer_restores_the_cudnn_flag_even_when_the_run_fails(data, monkeypatch):
    """A "CUDA" run on a machine without CUDA fails when the model moves to the device; the flag
    was on at that point and is back to its old value afterwards."""
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    seen: list[bool] = []

    class NoGpu(nn.Sequential):
        def to(self, *args, **kwargs):
            seen.append(torch.backends.cudnn.benchmark)
            raise RuntimeError("no GPU here")

    trainer = Trainer(NoGpu(nn.Flatten(), nn.Linear(784, 10)), data, cfg(), device=torch.device("cuda"))
    with pytest.raises(RuntimeError, match="no GPU here"):
        list(trainer.run())
    assert seen == [True] and torch.backends.cudnn.benchmark is False


def test_a_cpu_run_leaves_the_cudnn_flag_alone(data, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    list(Trainer(tiny_net(), data, cfg()).run())
    assert torch.backends.cudnn.benchmark is False


def test_fastpath_module_documents_what_is_automatic():
    doc = fastpath.__doc__ or ""
    assert "cudnn.benchmark" in doc and "fused" in doc and "compile" in doc


_THREAD_CPU = """
import threading, time, torch
torch.set_num_threads(1)
adopt = {adopt}
def work():
    if adopt:
        from cnnplayground.train.fastpath import adopt_thread_count
        assert adopt_thread_count() == 1
    a = torch.randn(768, 768)
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < 1.0:
        a @ a  # MKL's matrix product: the part of torch that ignored the thread count
    print((time.process_time() - cpu) / (time.perf_counter() - wall))
thread = threading.Thread(target=work)
thread.start()
thread.join()
"""


def _cores_used(adopt: bool) -> float:
    # Without the suite's OMP_NUM_THREADS=1 (tests/conftest.py): libraries' own defaults, as in the app.
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", _THREAD_CPU.format(adopt=adopt)], capture_output=True, text=True,
                         check=True, timeout=120, env=env)
    return float(out.stdout.split()[-1])


def test_a_worker_thread_keeps_to_the_process_thread_count():
    """A thread's torch uses the process's intra-op thread count (1 here), MKL's matrix products included."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: a thread cannot use more")
    before = _cores_used(adopt=False)
    if before < 1.5:
        pytest.skip(f"this MKL used {before:.2f} cores in a new thread by itself: nothing to correct here")
    assert _cores_used(adopt=True) < 1.3
