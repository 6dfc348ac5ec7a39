"""Layer health, measured while training on one sampled step per epoch.

:class:`HealthRecorder` watches one training step of each epoch (the last with a full batch):
forward hooks on the network's layers take each output's mean and standard deviation and, for
ReLU-like layers, which units fired; after the backward pass the layers' gradient norms are read.
At the end of the epoch the update-to-weight ratio ``‖w_end − w_start‖ / ‖w_start‖`` compares each
layer's weights with a CPU copy taken at the epoch's start. Everything stays on the device until
the epoch ends, then comes back in one read (no synchronisation inside the hot loop), and the hooks
are removed in ``finally`` as soon as the sampled forward pass is done.

Distributions (TensorBoard's "distributions" view): the percentiles
:data:`~cnnplayground.project.health.PERCENTILES` of each layer's output on the sampled step, and of its
weights at the epoch's end (``weight``, else all its trainable parameters), computed on the device by
one sort each. A tensor of more than :data:`MAX_PERCENTILE_VALUES` values is sampled first
(:func:`sample_values`: evenly spaced, every image and position of a feature map represented), so a
huge layer costs no more than a small one.

A layer is a node of a built :class:`~cnnplayground.core.builder.GraphModule` (named by the node id,
as the user sees it), or a leaf module of any other network (its qualified name). Only layers with
trainable parameters and activation layers are watched.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from ..project.health import PERCENTILES
from .events import LayerHealth

#: Layers whose units can die (output exactly 0 for every input): their ``dead_share`` is recorded.
RELU_LIKE = (nn.ReLU, nn.ReLU6)
#: Parameter-free layers that are watched too (activation statistics).
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
               nn.Hardsigmoid, nn.Mish, nn.PReLU, nn.Softplus)


#: Values a percentile summary sorts at most (a larger tensor is sampled: :func:`sample_values`); 2^14 values
#: sort in ~1-2 ms on a CPU core, so a LeNet-5's 18 summaries add tens of ms to an epoch, not hundreds.
MAX_PERCENTILE_VALUES = 16_384


def sample_values(values: torch.Tensor, limit: int | None = None) -> torch.Tensor:
    """``values`` flattened, or at most ``limit`` (default :data:`MAX_PERCENTILE_VALUES`) of them evenly
    spaced when there are more.

    The stride is the smallest ``≥ ceil(n / limit)`` that shares no factor with the size of one item of
    the batch (``values[0]``, e.g. ``C·H·W``): so the sample steps through every image and lands on every
    channel and position alike, instead of repeating the same column of a feature map.
    """
    limit = MAX_PERCENTILE_VALUES if limit is None else limit
    flat = values.reshape(-1)
    n = flat.numel()
    if n <= limit:
        return flat
    item = max(n // max(values.shape[0], 1), 1) if values.dim() >= 2 else 1
    stride = -(-n // limit)
    while math.gcd(stride, item) != 1:
        stride += 1
    return flat[::stride][:limit]


def percentiles(values: torch.Tensor) -> torch.Tensor:
    """The :data:`PERCENTILES` of ``values`` (any shape, sampled beyond :data:`MAX_PERCENTILE_VALUES`) as a
    float32 tensor of shape ``(len(PERCENTILES),)`` on ``values``' device; linear interpolation, as
    ``torch.quantile``; NaN when there is a NaN among them (a diverged run)."""
    sample = sample_values(values.detach()).float()
    q = torch.tensor([p / 100.0 for p in PERCENTILES], dtype=torch.float32, device=sample.device)
    return torch.quantile(sample, q)


def _weights(module: nn.Module) -> torch.Tensor | None:
    """The tensor a layer's weight distribution is of: its ``weight``, else all its trainable parameters."""
    weight = getattr(module, "weight", None)
    if isinstance(weight, nn.Parameter) and weight.requires_grad and weight.numel():
        return weight.detach()
    params = [p.detach().reshape(-1) for p in module.parameters() if p.requires_grad]
    return torch.cat(params) if params else None


def watched_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, module)`` of the layers health is recorded for, in the network's order."""
    layers = getattr(model, "layers", None)
    if isinstance(layers, nn.ModuleDict) and hasattr(model, "forward_all"):
        candidates = list(layers.items())
    else:
        candidates = [(name, m) for name, m in model.named_modules() if name and not any(True for _ in m.children())]
    return [(name, m) for name, m in candidates
            if isinstance(m, ACTIVATIONS) or any(p.requires_grad for p in m.parameters())]


class HealthRecorder:
    """Records :class:`~.events.LayerHealth` for each layer of ``model``, one sampled step per epoch.

    The trainer calls :meth:`start_epoch` before an epoch's first step, wraps the sampled step's
    forward pass in :meth:`sampling`, calls :meth:`after_backward` before the optimizer step and
    :meth:`end_epoch` when the epoch is over. ``grad_scale`` undoes a float16 loss scaling.
    ``distributions=False`` leaves out the percentiles (the benchmark measures what they cost).
    """

    def __init__(self, model: nn.Module, distributions: bool = True) -> None:
        self.distributions = distributions
        self.layers = watched_layers(model)
        self._params = [[p for p in m.parameters() if p.requires_grad] for _, m in self.layers]
        self._start: list[list[torch.Tensor]] = []
        # layer index → (3 + len(PERCENTILES),): mean, std, dead share (or NaN), the output's percentiles
        self._acts: dict[int, torch.Tensor] = {}
        self._grads: torch.Tensor | None = None

    def start_epoch(self) -> None:
        """Keep a CPU copy of the weights (the update ratio's start)."""
        with torch.no_grad():
            self._start = [[p.detach().to("cpu", copy=True) for p in params] for params in self._params]
        self._acts.clear()
        self._grads = None

    @contextlib.contextmanager
    def sampling(self) -> Iterator[None]:
        """Hooks on the watched layers for one forward pass; removed on leaving, whatever happens."""
        handles = []
        try:
            for index, (_, module) in enumerate(self.layers):
                handles.append(module.register_forward_hook(self._hook(index, isinstance(module, RELU_LIKE))))
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _hook(self, index: int, relu_like: bool) -> Callable[[nn.Module, object, object], None]:
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if not isinstance(output, torch.Tensor) or output.numel() == 0:
                return
            with torch.no_grad():  # few, whole-tensor operations: this runs inside a training step
                out = output.detach()
                # Sum and norm rather than std_mean: ~30× faster on the CPU; the precision is ample here.
                n = out.numel()
                mean = out.sum(dtype=torch.float32) / n
                square = torch.linalg.vector_norm(out, dtype=torch.float32) ** 2 / n
                std = (square - mean * mean).clamp_min(0.0).sqrt()
                if relu_like and out.dim() >= 2:
                    # A unit is a channel (dim 1) for conv outputs, a feature for (N, F) outputs; it never
                    # fired when its largest output on the sample is not above 0.
                    peak = out.amax(dim=(0, *range(2, out.dim())))
                    dead = (peak <= 0).float().mean()
                else:
                    dead = torch.full((), float("nan"), device=out.device)
                row = torch.stack([mean, std, dead])
                self._acts[index] = torch.cat([row, percentiles(out)]) if self.distributions else row
        return hook

    def after_backward(self, grad_scale: float = 1.0) -> None:
        """Read the gradient norms of the sampled step (call after ``backward``, before the step)."""
        norms = []
        with torch.no_grad():
            for params in self._params:
                grads = [p.grad.detach().float() for p in params if p.grad is not None]
                if grads:
                    norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
                                 / grad_scale)
                else:
                    norms.append(torch.full((), float("nan")))
            if norms:
                device = next((n.device for n in norms if n.device.type != "cpu"), torch.device("cpu"))
                self._grads = torch.stack([n.to(device) for n in norms])

    def end_epoch(self) -> tuple[LayerHealth, ...]:
        """The epoch's :class:`LayerHealth` per watched layer (one read from the device)."""
        if not self._acts:
            return ()
        acts = {i: v.tolist() for i, v in zip(self._acts, torch.stack(list(self._acts.values())).cpu())}
        grads = self._grads.cpu().tolist() if self._grads is not None else [float("nan")] * len(self.layers)
        result = []
        with torch.no_grad():
            # The weights' percentiles at the epoch's end, on the device, read back at once.
            weights = {i: _weights(module) for i, (_, module) in enumerate(self.layers)
                       if i in acts and self.distributions}
            summaries = {i: percentiles(w) for i, w in weights.items() if w is not None}
            if summaries:
                device = next(iter(summaries.values())).device
                rows = torch.stack([v.to(device) for v in summaries.values()]).cpu().tolist()
                weight_pcts = dict(zip(summaries, rows))
            else:
                weight_pcts = {}
            for index, ((name, module), params) in enumerate(zip(self.layers, self._params)):
                if index not in acts:
                    continue  # not run in this forward pass (a branch not taken)
                mean, std, dead, *act_pcts = acts[index]
                ratio = None
                if params and self._start:
                    start = self._start[index]
                    moved = sum(float(torch.sum((p.detach().cpu().float() - w.float()) ** 2))
                                for p, w in zip(params, start))
                    size = sum(float(torch.sum(w.float() ** 2)) for w in start)
                    ratio = (moved ** 0.5) / max(size ** 0.5, 1e-12)
                result.append(LayerHealth(
                    name=name, kind=type(module).__name__, activation_mean=mean, activation_std=std,
                    dead_share=dead if isinstance(module, RELU_LIKE) and dead == dead else None,
                    grad_norm=grads[index] if params else None, update_ratio=ratio,
                    weight_percentiles=tuple(weight_pcts[index]) if index in weight_pcts else None,
                    activation_percentiles=tuple(act_pcts) if act_pcts else None,
                ))
        self._acts.clear()
        self._grads = None
        return tuple(result)
