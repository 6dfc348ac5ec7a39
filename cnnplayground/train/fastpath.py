"""The trainer's fast path: cuDNN autotuning, optimizer kernels, and the opt-in ``torch.compile``.

What is automatic (no setting): on CUDA, ``torch.backends.cudnn.benchmark`` for the
length of a run (:func:`cudnn_autotune`, the previous value restored afterwards),
channels-last tensors, bf16 autocast (``mixed_precision``), fused optimizer kernels
(:func:`optimizer_kernels`); everywhere, device-resident batches and metrics read
back only when an event is due (see :mod:`.trainer`).

What is opt-in: ``TrainingConfig.compile``. :func:`compile_for_training` wraps the
network in ``torch.compile`` and compiles it at once, on a random batch of the
training shape, so the compilation time is measured on its own (the trainer reports
it in a :class:`~.events.Compiled` event) and is not part of any epoch's time or
images/s. The trial step leaves no trace: weights, buffers (BatchNorm statistics),
gradients and random-generator states are put back. Only full training batches go
through the compiled network (``dynamic=False``: one shape, one compilation); the
last, smaller batch of an epoch, validation and adversarial crafting use the same
module uncompiled (same parameters), so no shape or mode ever recompiles. On CUDA the
compilation uses ``mode="reduce-overhead"``: with the one static shape, the network's
forward and backward kernels are replayed as CUDA graphs (one launch instead of one per
kernel, which is most of a small network's step time on a GPU). The trainer marks each
step's start (:func:`mark_graph_step`), declaring the last step's graph outputs free to be
overwritten: that is safe because it never keeps them (logits become the loss and the correct
count within the step; the metrics accumulate in tensors of their own).
This path has not been measured yet: no GPU was available (see docs/PERFORMANCE.md). When
compiling fails (no C++ compiler for the CPU backend, an unsupported layer, an old
GPU), the run goes on uncompiled and the event says why in one line.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypedDict, cast

import torch
from torch import nn

from ..core.errors import one_line

#: Optimizers that have a fused CUDA kernel (``fused=True``) in every PyTorch we support (>= 2.4).
FUSED_ON_CUDA = frozenset({"sgd", "adam", "adamw"})


class OptimizerKernels(TypedDict, total=False):
    """The kernel-choosing keyword arguments of torch's optimizers (one of them is given)."""

    fused: bool
    foreach: bool


def optimizer_kernels(optimizer: str, device_type: str) -> OptimizerKernels:
    """Keyword arguments choosing the optimizer's kernel: ``{"fused": True}`` for SGD, Adam and
    AdamW on CUDA (one kernel for all parameters), else ``{"foreach": True}`` (one kernel per
    operation over all parameters: faster than the per-tensor loop on the CPU too).

    Not fused on the CPU, though it is 3x faster there (0.10 against 0.33 ms for LeNet-5's Adam
    step): the fused CPU kernel does not check the optimizer state it is given, and a damaged
    checkpoint's state crashed the process (tests/io/test_faults.py) where ``foreach`` raises.
    """
    if device_type == "cuda" and optimizer in FUSED_ON_CUDA:
        return {"fused": True}
    return {"foreach": True}


def adopt_thread_count() -> int:
    """Give the calling thread the process's intra-op thread count (``torch.set_num_threads``); returns it.

    Call it first thing in every thread that runs torch (a GUI run, an analysis in the pool). The
    count lives per thread in OpenMP and MKL: ``set_num_threads`` sets it for its caller, and torch
    gives another thread the process's count only at that thread's first parallel loop. MKL's matrix
    products (``nn.Linear``, ``matmul``) run before that on MKL's default, one thread per core: on a
    2-core machine with the count at 1, a new thread multiplying 1024×1024 matrices kept 1.98 cores
    busy (1.00 after this call) and a 5 ms GUI timer beside it was 3.7 ms late at p99 (0.3 idle).
    ``torch.get_num_threads`` runs torch's own per-thread initialisation (the one it runs later
    anyway), which sets both.
    """
    return torch.get_num_threads()


def warm_up_imports() -> None:
    """Import what the first optimizer imports (``torch._dynamo``: about a second of Python holding the GIL).

    Called from a background thread when the window opens, so the first Train does not spend that
    second importing beside the GUI thread, nor hold the import lock a GUI handler may need.
    """
    import torch._dynamo  # noqa: F401


@contextlib.contextmanager
def cudnn_autotune(device: torch.device) -> Iterator[None]:
    """Turn on cuDNN's per-shape algorithm search on CUDA for the block; restore the previous value after.

    The shapes of a run are fixed (one batch size, plus the last batch and the validation
    batches), so the one-time search pays for itself within the first epoch.
    """
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous


@dataclass(frozen=True)
class CompileResult:
    """What :func:`compile_for_training` did: ``module`` is the compiled network, or ``None`` when
    the run must go on uncompiled (``message`` says why)."""

    module: nn.Module | None
    seconds: float
    message: str


def compile_mode(device: torch.device) -> str:
    """``torch.compile``'s mode for ``device``: CUDA graphs (``"reduce-overhead"``) on CUDA, else the default."""
    return "reduce-overhead" if device.type == "cuda" else "default"


def mark_graph_step(device: torch.device) -> None:
    """Tell the CUDA-graph runtime that a new training step begins (outputs of the last one may be reused)."""
    if device.type == "cuda":
        torch.compiler.cudagraph_mark_step_begin()


def compile_for_training(
    model: nn.Module,
    batch_shape: tuple[int, ...],
    device: torch.device,
    *,
    autocast_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> CompileResult:
    """``torch.compile(model)``, compiled now by one forward and backward pass on a random batch.

    ``batch_shape`` is ``(B, C, H, W)`` of a full training batch. The model is left exactly as
    it was (weights, buffers, ``.grad``, train/eval mode), and so are the global CPU and CUDA
    random generators. Never raises for a compilation problem: the result then has
    ``module=None`` and a one-line message.
    """
    t0 = time.perf_counter()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    grads = {p: p.grad for p in model.parameters()}
    rng_cpu = torch.get_rng_state()
    rng_cuda = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    was_training = model.training
    compiled: nn.Module | None
    try:
        mode = compile_mode(device)
        # A compiled Module is a Module (an OptimizedModule); torch's stub only says Callable.
        compiled = cast(nn.Module, torch.compile(model, dynamic=False, mode=mode))
        gen = torch.Generator(device=device).manual_seed(0)
        x = torch.randn(batch_shape, generator=gen, device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        model.train()
        ctx = torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
        mark_graph_step(device)
        with ctx:
            out = compiled(x)
        out.float().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        graphs = " (CUDA graphs)" if mode == "reduce-overhead" else ""
        message = f"compiled the network with torch.compile{graphs} in {time.perf_counter() - t0:.1f} s"
    except Exception as exc:  # noqa: BLE001 - any compiler problem: go on uncompiled, say why
        compiled = None
        message = f"torch.compile failed, training uncompiled: {one_line(exc, 200, lines=None, with_type=True)}"
    finally:
        with torch.no_grad():
            model.load_state_dict(state)
        for p, g in grads.items():
            p.grad = g
        torch.set_rng_state(rng_cpu)
        if rng_cuda is not None:
            torch.cuda.set_rng_state_all(rng_cuda)
        model.train(was_training)
    return CompileResult(compiled, time.perf_counter() - t0, message)


