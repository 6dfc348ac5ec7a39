"""Attribution maps: which pixels (or which regions of a feature map) a class score depends on.

Three classic gradient methods, all for the logit ``f_t`` of a target class ``t`` (the score
before the softmax, so that other classes do not enter the explanation):

* **Saliency** (Simonyan, Vedaldi & Zisserman 2013, "Deep inside convolutional networks"):
  ``|∂f_t/∂x|``, the size of the gradient at each pixel, maximized over the colour channels.
  Cheap (one backward pass) but noisy, and blind to saturation: a pixel that matters a lot but
  sits where the function is flat gets no credit.
* **Integrated gradients** (Sundararajan, Taly & Yan 2017, "Axiomatic attribution for deep
  networks"): the gradient averaged along the straight path from a baseline image ``x'`` (black
  by default) to the image ``x``, times ``x − x'``::

      IG_i(x) = (x_i − x'_i) · ∫₀¹ ∂f_t(x' + α (x − x')) / ∂x_i dα

  The integral is approximated with the midpoint rule over ``steps`` points. The attributions
  satisfy *completeness*: they add up to ``f_t(x) − f_t(x')``, up to the quadrature error,
  which :func:`integrated_gradients_delta` reports (the paper suggests checking it is within
  a few percent and adding steps otherwise).
* **Grad-CAM** (Selvaraju et al. 2017, "Grad-CAM: visual explanations from deep networks via
  gradient-based localization"): for a convolutional feature map ``A`` of shape ``(K, h, w)``,
  each channel is weighted by its average gradient ``w_k = mean_{ij} ∂f_t/∂A_kij`` and
  ``relu(Σ_k w_k A_k)`` shows where the evidence for the class lies, at the map's (coarse)
  resolution, upsampled to the image. The last convolutional map is the usual choice
  (:func:`default_cam_layer`): it has the most semantic channels and still a spatial layout.

Scales: images go in as pixels in ``[0, 1]``; the network sees them normalized
(``(x − mean) / std``) and gradients are taken through that normalization, so saliency and
integrated gradients are in pixel space. The model runs in eval mode (dropout off, batch-norm
statistics frozen) for the duration of a call and its previous mode is restored afterwards.
Only gradients with respect to the input (or a feature map) are computed: parameters keep
their ``requires_grad`` and get no ``.grad``. Every function also works when the caller is
inside ``torch.no_grad()``. The computation runs on the device of the model's parameters;
results come back on the CPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F

from ..core.progress import Progress, report
from ..data.augment import normalize


def _device(model) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


@contextmanager
def _evaluating(model) -> Iterator[None]:
    """Eval mode for the duration, then every submodule's own training flag back."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes:
            module.training = mode


def _images(x01: torch.Tensor, device: torch.device) -> torch.Tensor:
    if x01.dim() != 4:
        raise ValueError(f"need a batch of (N, C, H, W) images, got shape {tuple(x01.shape)}")
    return x01.detach().to(device=device, dtype=torch.float32)


def _targets(target, n: int, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(target, dtype=torch.long).reshape(-1)
    if t.numel() == 1 and n != 1:
        t = t.expand(n)
    if t.numel() != n:
        raise ValueError(f"need one target class per image: {n} images, {t.numel()} targets")
    return t.to(device)


def _baseline(baseline: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    if baseline is None:
        return torch.zeros_like(x)
    b = baseline.detach().to(device=x.device, dtype=x.dtype)
    if b.dim() == 3:
        b = b.unsqueeze(0)
    try:
        return b.expand_as(x)
    except RuntimeError:
        raise ValueError(f"the baseline's shape {tuple(baseline.shape)} does not fit the images' "
                         f"{tuple(x.shape)}") from None


def _target_gradient(model, x: torch.Tensor, target: torch.Tensor, mean, std) -> torch.Tensor:
    """∂f_t/∂x in pixel space for each image (the images are independent in eval mode)."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(normalize(x, mean, std))
        score = logits.gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(score, x)
    return grad


@torch.no_grad()
def _target_logits(model, x: torch.Tensor, target: torch.Tensor, mean, std) -> torch.Tensor:
    return model(normalize(x, mean, std)).gather(1, target[:, None])[:, 0].float()


def saliency(model, x01: torch.Tensor, target: torch.Tensor, mean: Sequence[float],
             std: Sequence[float]) -> torch.Tensor:
    """Vanilla gradient saliency ``max_c |∂f_t/∂x_c|`` per pixel: ``(N, H, W)``, at least 0."""
    device = _device(model)
    x = _images(x01, device)
    t = _targets(target, len(x), device)
    with _evaluating(model):
        grad = _target_gradient(model, x, t, mean, std)
    return grad.abs().amax(dim=1).cpu()


def integrated_gradients_steps(model, x01: torch.Tensor, target: torch.Tensor, mean: Sequence[float],
                               std: Sequence[float], baseline: torch.Tensor | None = None, steps: int = 32,
                               batch_size: int = 64,
                               progress: Progress | None = None) -> Iterator[tuple[float, torch.Tensor | None]]:
    """Integrated gradients computed ``batch_size`` path points at a time, yielding ``(fraction done,
    None)`` after each chunk (cancellable between chunks, and by ``progress``, told each chunk) and
    ``(1.0, attributions)`` last.

    See :func:`integrated_gradients` for the arguments and the result.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be at least 1")
    device = _device(model)
    x = _images(x01, device)
    t = _targets(target, len(x), device)
    base = _baseline(baseline, x)
    path = x - base
    total = torch.zeros_like(x)
    count = len(x) * steps
    with _evaluating(model):
        for start in range(0, count, batch_size):
            report(progress, start / count)
            index = torch.arange(start, min(start + batch_size, count), device=device)
            image = index // steps
            alpha = ((index % steps).to(x.dtype) + 0.5) / steps  # midpoint rule
            points = base[image] + alpha.view(-1, 1, 1, 1) * path[image]
            total.index_add_(0, image, _target_gradient(model, points, t[image], mean, std))
            done = int(index[-1]) + 1
            if done < count:
                yield done / count, None
    yield 1.0, (path * total / steps).cpu()


def integrated_gradients(model, x01: torch.Tensor, target: torch.Tensor, mean: Sequence[float],
                         std: Sequence[float], baseline: torch.Tensor | None = None, steps: int = 32,
                         batch_size: int = 64) -> torch.Tensor:
    """Integrated gradients of the target logit: ``(N, C, H, W)`` attributions in pixel space.

    ``baseline``: the reference image in pixel units, ``(C, H, W)`` or ``(N, C, H, W)``; ``None``
    is black (all zeros). ``steps`` path points per image (midpoint rule); the path points are
    sent through the network ``batch_size`` at a time. ``attributions.sum()`` per image is close
    to ``f_t(x) − f_t(baseline)`` (see :func:`integrated_gradients_delta`).
    """
    *_, (_, attributions) = integrated_gradients_steps(model, x01, target, mean, std, baseline, steps, batch_size)
    return attributions


def integrated_gradients_delta(model, x01: torch.Tensor, target: torch.Tensor, mean: Sequence[float],
                               std: Sequence[float], attributions: torch.Tensor,
                               baseline: torch.Tensor | None = None) -> torch.Tensor:
    """The completeness gap per image, ``Σ attributions − (f_t(x) − f_t(baseline))``: ``(N,)``."""
    device = _device(model)
    x = _images(x01, device)
    t = _targets(target, len(x), device)
    base = _baseline(baseline, x)
    with _evaluating(model):
        difference = _target_logits(model, x, t, mean, std) - _target_logits(model, base, t, mean, std)
    return attributions.detach().flatten(1).sum(1).float().cpu() - difference.cpu()


def grad_cam(model, x01: torch.Tensor, target: torch.Tensor, mean: Sequence[float], std: Sequence[float],
             layer: str) -> torch.Tensor:
    """Grad-CAM of the target class on the 4-D output of node ``layer``: ``(N, H, W)`` maps at the
    input's resolution (bilinear upsampling), each scaled to ``[0, 1]`` by its maximum (a map with
    no positive evidence stays all zero)."""
    if layer == model.input_id or layer not in model.layer_ids:
        raise ValueError(f"unknown layer {layer!r} for Grad-CAM: choose one of {', '.join(cam_layers(model))}")
    device = _device(model)
    x = _images(x01, device)
    t = _targets(target, len(x), device)
    with _evaluating(model), torch.enable_grad():
        outs = model.forward_all(normalize(x.clone().requires_grad_(True), mean, std))
        maps = outs[layer]
        if maps.dim() != 4:
            raise ValueError(f"layer {layer!r} outputs shape {tuple(maps.shape[1:])}: Grad-CAM needs a "
                             "(channels, height, width) feature map, i.e. a layer before the Flatten")
        score = outs[model.output_id].gather(1, t[:, None]).sum()
        (grad,) = torch.autograd.grad(score, maps, allow_unused=True)
    maps = maps.detach().float()
    grad = torch.zeros_like(maps) if grad is None else grad.float()
    weights = grad.mean(dim=(2, 3), keepdim=True)  # (N, K, 1, 1)
    cam = F.relu((weights * maps).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)[:, 0].clamp_min(0)
    peak = cam.flatten(1).amax(dim=1).view(-1, 1, 1)
    cam = torch.where(peak > 0, cam / peak.clamp_min(torch.finfo(cam.dtype).tiny), torch.zeros_like(cam))
    return cam.clamp(0.0, 1.0).cpu()


def _map_shapes(model) -> dict[str, tuple[int, ...]]:
    """Each layer's output shape (without the batch) from one zero batch of the input shape."""
    with _evaluating(model), torch.no_grad():
        outs = model.forward_all(torch.zeros((1, *model.input_shape), device=_device(model)))
    return {nid: tuple(out.shape[1:]) for nid, out in outs.items() if nid != model.input_id}


def cam_layers(model) -> list[str]:
    """The nodes whose outputs are ``(C, h, w)`` feature maps (the input excluded), in execution order."""
    return [nid for nid, shape in _map_shapes(model).items() if len(shape) == 3]


def default_cam_layer(model) -> str | None:
    """The conventional Grad-CAM layer: the last feature map before flattening, or ``None``.

    Maps of a single position (after global average pooling, say) carry no spatial layout and are
    passed over while a larger one exists.
    """
    shapes = {nid: shape for nid, shape in _map_shapes(model).items() if len(shape) == 3}
    spatial = [nid for nid, (_, h, w) in shapes.items() if h * w > 1]
    if spatial:
        return spatial[-1]
    return next(reversed(shapes), None)
