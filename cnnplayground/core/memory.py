"""The memory guard: will a network fit in this machine before it is built?

A project file of a few hundred bytes can describe a network of two billion
parameters (8 GB of weights, 30 GB to train). Every place that builds a torch
model from a graph (training, evaluation, export, the Inspect panels) first calls
:func:`check_memory`, which compares what the network needs, by arithmetic on
the inferred shapes (nothing is allocated), with the memory the machine has
available now, and raises :class:`NotEnoughMemoryError` with both numbers when
it does not fit.

What a use needs (float32, ``BYTES_PER_VALUE`` bytes a value):

- ``"training"``: weights, their gradients, the optimizer's state (two values per
  weight, as Adam keeps) and every layer's activations at the batch size, once
  for the forward pass and once for their gradients
  (:meth:`~.inference.InferenceResult.memory_estimate`);
- ``"inference"``: weights and the largest set of activations alive at once in a
  forward pass without gradients (the built network frees each output after its
  last consumer);
- ``"inspection"``: weights and every layer's activations (the Inspect panels keep
  all feature maps of an image).

The available figure is ``MemAvailable`` from ``/proc/meminfo`` (what the kernel
can hand out without swapping), else ``os.sysconf``'s available or physical
pages, else unknown (no check). For a CUDA device it is the GPU's free memory.
Tests pass ``available`` instead of reading the machine.

Standard library only (torch only for a CUDA device's free memory): the command
line's ``summary`` and the window's status bar call it on every edit.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import UserError
from .graph import Graph
from .inference import BYTES_PER_VALUE, InferenceResult, infer
from .shapes import numel
from .summary import format_bytes

__all__ = ["NotEnoughMemoryError", "MemoryNeed", "Use", "available_memory", "check_memory", "memory_need"]

Use = Literal["training", "inference", "inspection"]

#: Where Linux says how much memory can be used now.
MEMINFO = Path("/proc/meminfo")


class NotEnoughMemoryError(UserError, MemoryError):
    """The network needs more memory than the machine has available; refused before anything is allocated."""


@dataclass(frozen=True)
class MemoryNeed:
    """Bytes a network needs for one use, by part."""

    use: Use
    batch_size: int
    weights: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def describe(self) -> str:
        """``about 29.9 GB to train at batch size 64 (weights 7.0 GB, gradients 7.0 GB, …)``."""
        purpose = {"training": f"to train at batch size {self.batch_size}",
                   "inference": f"to run at batch size {self.batch_size}",
                   "inspection": "to inspect (one image)" if self.batch_size == 1
                   else f"to inspect {self.batch_size} images"}[self.use]
        parts = [("weights", self.weights), ("gradients", self.gradients),
                 ("optimizer state", self.optimizer), ("activations", self.activations)]
        detail = ", ".join(f"{name} {format_bytes(n)}" for name, n in parts if n)
        return f"about {format_bytes(self.total)} {purpose}" + (f" ({detail})" if detail else "")


def memory_need(graph: Graph, use: Use = "inference", batch_size: int = 1,
                result: InferenceResult | None = None, optimizer_values: int = 2) -> MemoryNeed:
    """What ``graph`` needs for ``use`` with ``batch_size`` images, from its inferred shapes (no tensors).

    ``optimizer_values``: values of optimizer state per weight when training (Adam 2, SGD with
    momentum 1, plain SGD 0).
    """
    if result is None:
        result = infer(graph)
    if use == "training":
        estimate = result.memory_estimate(batch_size)
        return MemoryNeed(use, batch_size, estimate["weights"], estimate["gradients"],
                          optimizer_values * estimate["weights"], estimate["activations"])
    weights = result.total_params * BYTES_PER_VALUE
    values = result.activation_values() if use == "inspection" else _peak_activation_values(graph, result)
    return MemoryNeed(use, batch_size, weights, 0, 0, values * batch_size * BYTES_PER_VALUE)


def available_memory(device: str = "cpu") -> int | None:
    """Bytes that can be allocated now on ``device`` ("cpu" or "cuda[:N]"), or None when unknown.

    For the CPU: the kernel's estimate of memory available without swapping (``MemAvailable``),
    lowered by a container's limit (cgroup v2 ``memory.max`` − ``memory.current``, or v1) and by an
    address-space limit (``RLIMIT_AS``) when these are smaller; else the system's free page count.
    Read at each call, never cached. Tests replace this function rather than needing a small machine.
    """
    if device.startswith("cuda"):
        return _cuda_free(device)
    if device != "cpu":
        return None  # MPS shares the system's memory but says nothing of it
    found = [v for v in (_meminfo_available(), _cgroup_available(), _rlimit_available()) if v is not None]
    if not found:
        for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
            try:
                count, size = os.sysconf(pages), os.sysconf("SC_PAGE_SIZE")
            except (AttributeError, ValueError, OSError):
                continue
            if count > 0 and size > 0:
                return count * size
        return None
    return max(min(found), 0)


def fitting_batch_size(graph: Graph, batch_size: int, available: int | None, *, share: float = 0.5,
                       result: InferenceResult | None = None) -> int:
    """The largest of ``batch_size``, its half, its quarter, … (at least 1) whose training need is at most
    ``share`` of ``available`` bytes (``None``: unknown, ``batch_size`` is kept); 1 when none fits."""
    if available is None:
        return batch_size
    if result is None:
        result = infer(graph)
    size = batch_size
    while size > 1 and memory_need(graph, "training", size, result).total > share * available:
        size //= 2
    return max(size, 1)


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii", errors="replace")
    except OSError:
        return None


def _meminfo_available() -> int | None:
    for line in (_read(MEMINFO) or "").splitlines():
        if line.startswith("MemAvailable:"):
            try:
                return int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None


def _cgroup_available() -> int | None:
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        limit, usage = _read(limit_file), _read(usage_file)
        if limit is None or usage is None:
            continue
        try:
            limit_bytes, usage_bytes = int(limit.strip()), int(usage.strip())
        except ValueError:  # "max": no limit
            return None
        if limit_bytes >= 2**60:  # cgroup v1 writes "no limit" as a huge number
            return None
        return limit_bytes - usage_bytes
    return None


def _rlimit_available() -> int | None:
    if sys.platform == "win32":
        return None
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("VmSize:"):
            try:
                return soft - int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None


def check_memory(graph: Graph, use: Use = "inference", batch_size: int = 1, *,
                 result: InferenceResult | None = None, available: int | None = None,
                 device: str = "cpu", optimizer_values: int = 2) -> MemoryNeed:
    """Raise :class:`NotEnoughMemoryError` unless ``graph`` fits in the memory available for ``use``.

    ``available``: bytes (default: :func:`available_memory` of ``device``; when that is unknown
    nothing is refused). Returns the need, for a caller that wants to show it.
    """
    need = memory_need(graph, use, batch_size, result, optimizer_values)
    if available is None:
        available = available_memory(device)
    if available is not None and need.total > available:
        where = "this machine" if device == "cpu" else f"the {device.split(':')[0].upper()} device"
        advice = ("use a smaller batch size or smaller layers" if use == "training" and need.activations > need.weights
                  else "make the largest layers smaller")
        have = format_bytes(available)
        if have == format_bytes(need.total):  # "needs 8.6 MB; has 8.6 MB" would say nothing
            have = f"{available:,} bytes, short of the {need.total:,} needed,"
        raise NotEnoughMemoryError(f"this network needs {need.describe()}; {where} has {have} available: {advice}")
    return need


def _peak_activation_values(graph: Graph, result: InferenceResult) -> int:
    """The most activation values per image alive at once in a forward pass without gradients.

    Follows the built network's plan (``core/builder.py``): only layers the output depends on run,
    in topological order, and each output is released after its last consumer has run.
    """
    if result.output_id is None or result.input_id is None:
        return result.activation_values()
    needed, todo = {result.output_id}, [result.output_id]
    while todo:
        for source in graph.inputs_of(todo.pop()):
            if source not in needed:
                needed.add(source)
                todo.append(source)
    plan = [nid for nid in result.order if nid in needed and nid != result.input_id]
    last_use: dict[str, int] = {}
    for step, nid in enumerate(plan):
        for source in graph.inputs_of(nid):
            last_use[source] = step
    released: list[list[str]] = [[] for _ in plan]
    for source, step in last_use.items():
        if source != result.output_id:
            released[step].append(source)
    size = {nid: numel(info.shape) for nid, info in result.infos.items() if info.shape is not None}
    live = peak = size.get(result.input_id, 0)
    for step, nid in enumerate(plan):
        live += size.get(nid, 0)
        peak = max(peak, live)
        live -= sum(size.get(source, 0) for source in released[step])
    return peak


def _cuda_free(device: str) -> int | None:
    """Free bytes on a CUDA device (``cuda`` or ``cuda:N``), or None when there is none to ask."""
    try:
        import torch

        if not torch.cuda.is_available():
            return None
        index = int(device.split(":")[1]) if ":" in device else torch.cuda.current_device()
        free, _total = torch.cuda.mem_get_info(index)
        return int(free)
    except (ImportError, RuntimeError, ValueError, AssertionError):
        return None
