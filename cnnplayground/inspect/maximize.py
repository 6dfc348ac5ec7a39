"""What a unit wants to see: activation maximization by gradient ascent on the input.

Starting from faint noise, the input image is changed step by step to make one unit large:
a channel of a layer (its mean activation over the map) or one output (a class logit).
Regularizers keep the image natural-looking (Olah et al., "Feature Visualization", Distill
2017): an L2 pull towards grey, total variation, random jitter, scale and rotation at every
step, occasional blur, and optionally a decorrelated Fourier parameterization (the image is
the inverse FFT of coefficients scaled by 1/frequency, so low frequencies move first).

:func:`maximize` is a generator: each step yields the image so far and the unit's value, so
the GUI can show the image forming and stop at any step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..core.progress import Progress, report
from ..data.augment import normalize


@dataclass(frozen=True)
class MaximizeSettings:
    """Optimization and regularization of :func:`maximize` (weights 0 turn a term off)."""

    steps: int = 128
    learning_rate: float = 0.1
    l2: float = 1e-4  # pull towards grey
    total_variation: float = 1e-3  # smoothness
    jitter: int = 2  # random shift in pixels each step
    scale: float = 0.05  # random zoom ± this fraction
    rotate: float = 5.0  # random rotation ± degrees
    blur_every: int = 0  # blur the image every this many steps (0 = never)
    blur_sigma: float = 0.5
    fourier: bool = True  # decorrelated (1/f) Fourier parameterization
    seed: int = 0


@dataclass(frozen=True)
class MaximizeStep:
    step: int
    image: np.ndarray  # (C, H, W) in [0, 1]
    activation: float  # the unit's value on the un-jittered image


def unit_value(model, x01: torch.Tensor, layer: str | None, channel: int | torch.Tensor, mean, std) -> torch.Tensor:
    """The unit for each image of a batch: a layer channel's mean activation, or output ``channel``.

    ``channel`` is one index for the whole batch, or a ``(N,)`` tensor of one index per image
    (a gallery optimizes many channels at once).
    """
    x = normalize(x01, mean, std)
    out = model(x) if layer is None else model.forward_all(x)[layer]
    if isinstance(channel, torch.Tensor):
        out = out[torch.arange(len(out), device=out.device), channel.to(out.device)]
    else:
        out = out[:, channel]
    return out.flatten(1).mean(dim=1) if out.dim() > 1 else out


def objective_layer(model, layer: str | None) -> str | None:
    """The layer to optimize for ``layer``: a ReLU's input instead of the ReLU.

    Starting from faint noise, a ReLU channel that is 0 everywhere passes no gradient and
    would never move; its input (the convolution before it) always has one, and raising it
    raises the ReLU (which is monotone).
    """
    if layer is None or not hasattr(model, "sources_of"):
        return layer
    sources = model.sources_of(layer)
    if isinstance(model.layers[layer], torch.nn.ReLU) and len(sources) == 1 and sources[0] != model.input_id:
        return sources[0]
    return layer


def _frequencies(h: int, w: int) -> torch.Tensor:
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    return torch.sqrt(fx**2 + fy**2).clamp_min(1.0 / max(h, w))


def _transform(x: torch.Tensor, s: MaximizeSettings, g: torch.Generator) -> torch.Tensor:
    if s.jitter:
        dy, dx = (int(v) for v in torch.randint(-s.jitter, s.jitter + 1, (2,), generator=g))
        x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    if s.scale or s.rotate:
        angle = math.radians(float(torch.empty(1).uniform_(-s.rotate, s.rotate, generator=g))) if s.rotate else 0.0
        zoom = 1.0 + float(torch.empty(1).uniform_(-s.scale, s.scale, generator=g)) if s.scale else 1.0
        cos, sin = math.cos(angle) / zoom, math.sin(angle) / zoom
        theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=x.dtype, device=x.device)[None]
        grid = F.affine_grid(theta.expand(len(x), -1, -1), list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)
    return x


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(2 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


@dataclass(frozen=True)
class GalleryStep:
    step: int
    images: np.ndarray  # (K, C, H, W) in [0, 1], one per channel
    activations: np.ndarray  # (K,)


def maximize(model, input_shape: Sequence[int], layer: str | None, channel: int, mean: Sequence[float],
             std: Sequence[float], settings: MaximizeSettings | None = None) -> Iterator[MaximizeStep]:
    """Optimize an input ``(C, H, W)`` to maximize one unit (``layer`` None: output ``channel``)."""
    for step in maximize_many(model, input_shape, layer, [channel], mean, std, settings):
        yield MaximizeStep(step.step, step.images[0], float(step.activations[0]))


def maximize_many(model, input_shape: Sequence[int], layer: str | None, channels: Sequence[int],
                  mean: Sequence[float], std: Sequence[float],
                  settings: MaximizeSettings | None = None,
                  progress: Progress | None = None) -> Iterator[GalleryStep]:
    """Optimize one image per channel of ``channels``, all in one batch (a gallery of a layer);
    ``progress`` is told each step and stops the optimization when cancelled.

    The images do not interact: every loss term is a sum over images and Adam's update is
    per element, so each image follows its own optimization (they share the random jitter,
    scale and rotation of each step). The work runs on the model's device; the model's
    parameters are neither changed nor given gradients.
    """
    s = settings or MaximizeSettings()
    c, h, w = (int(v) for v in input_shape)
    k = len(channels)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    g = torch.Generator().manual_seed(s.seed)
    which = torch.as_tensor(list(channels), dtype=torch.long, device=device)
    if s.fourier:
        scale = (1.0 / _frequencies(h, w))[None, None]
        scale = (scale / scale.max()).to(device)
        param = (torch.randn((k, c, h, w // 2 + 1, 2), generator=g) * 0.01).to(device).requires_grad_(True)

        def image() -> torch.Tensor:
            coeffs = torch.view_as_complex(param) * scale
            return torch.sigmoid(torch.fft.irfft2(coeffs, s=(h, w), norm="ortho") * 4.0)
    else:
        param = (torch.randn((k, c, h, w), generator=g) * 0.01).to(device).requires_grad_(True)

        def image() -> torch.Tensor:
            return torch.sigmoid(param)
    optimizer = torch.optim.Adam([param], lr=s.learning_rate)
    for step in range(1, s.steps + 1):
        report(progress, (step - 1) / s.steps)
        with torch.enable_grad():
            x = image()
            value = unit_value(model, _transform(x, s, g), layer, which, mean, std).sum()
            loss = -value
            if s.l2:
                loss = loss + s.l2 * ((x - 0.5) ** 2).sum()
            if s.total_variation:
                tv = (x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum()
                loss = loss + s.total_variation * tv
            (grad,) = torch.autograd.grad(loss, [param])
        param.grad = grad
        optimizer.step()
        param.grad = None
        if s.blur_every and step % s.blur_every == 0 and not s.fourier:
            with torch.no_grad():
                blurred = _blur(torch.sigmoid(param), s.blur_sigma).clamp(1e-4, 1 - 1e-4)
                param.copy_(torch.log(blurred / (1 - blurred)))
        with torch.no_grad():
            shown = image()
            current = unit_value(model, shown, layer, which, mean, std)
        yield GalleryStep(step, shown.cpu().numpy(), current.float().cpu().numpy())
