"""FLOPs of a training step and the device's peak, for an achieved-FLOP/s (utilisation) estimate.

``training_flops_per_image`` counts one forward and backward pass with
``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix products
(2 FLOPs per multiply-add), their gradients included; element-wise layers (BatchNorm,
ReLU, pooling) are not counted, as in the usual MFU estimates. Multiply by images/s
to get the achieved FLOP/s, divide by the peak for the utilisation.

``PEAK_TFLOPS`` are datasheet figures of dense bf16 tensor-core throughput (no sparsity),
matched against ``torch.cuda.get_device_name()``; pass ``--peak-tflops`` to a benchmark to
use another figure (another GPU, fp32 runs, a CPU).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

#: (name fragment, dense bf16 TFLOP/s), first match wins (more specific names first).
PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM; the NVL is 835
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
    ("A10", 125.0),
)


def training_flops_per_image(model: nn.Module, input_shape: tuple[int, ...], batch: int = 8) -> float:
    """FLOPs of one forward + backward pass per image (a CPU copy of ``model``, train mode, float32)."""
    from torch.utils.flop_counter import FlopCounterMode

    probe = copy.deepcopy(model).to("cpu", memory_format=torch.contiguous_format).train()
    x = torch.randn(batch, *input_shape)
    counter = FlopCounterMode(display=False)
    with counter:
        probe(x).float().sum().backward()
    return counter.get_total_flops() / batch


def peak_tflops(device: torch.device, override: float | None = None) -> float | None:
    """The peak to compare with: ``override`` when given, else the table's figure for this CUDA GPU, else None."""
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((tflops for fragment, tflops in PEAK_TFLOPS if fragment in name), None)
