"""On-device data augmentation of whole batches.

:func:`augment_batch` works on a float batch ``(B, C, H, W)`` where it lives
(CPU or GPU) with vectorized tensor operations only: every image gets its own
random flip, crop offset, rotation, colour change and erased rectangle, but no
Python loop runs over the images. All randomness comes from the
``torch.Generator`` passed in (on the batch's device), so a seeded generator
gives the same augmented batch every time.

Order of the operations, all in ``[0, 1]`` pixel space: flips, random crop
with zero padding, rotation/translation, colour jitter (then clamped to
``[0, 1]``), random erasing. Then, when ``mean``/``std`` are given, the batch
is normalized, and Gaussian noise is added last, so ``noise_std`` is measured
in units of the normalized input (one dataset standard deviation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..project import AugmentConfig

#: Random erasing: share of the image area a rectangle covers, and its aspect-ratio range
#: (the defaults of torchvision's ``RandomErasing``).
ERASE_AREA = (0.02, 0.33)
ERASE_RATIO = (0.3, 3.3)


def _uniform(b: int, lo: float, hi: float, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(b, generator=g, device=device)


def _flip(x: torch.Tensor, dim: int, g: torch.Generator) -> torch.Tensor:
    """Flip each image along ``dim`` with probability 1/2."""
    mask = torch.rand(x.shape[0], generator=g, device=x.device) < 0.5
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(dim), x)


def random_crop(x: torch.Tensor, padding: int, g: torch.Generator) -> torch.Tensor:
    """Zero-pad ``(B, C, H, W)`` by ``padding`` pixels and cut one random ``H×W`` window per image.

    The offset of image ``b`` is ``(oy, ox)`` in ``[0, 2·padding]``; output pixel
    ``(i, j)`` is input pixel ``(i + oy - padding, j + ox - padding)`` (zero outside).
    Two ``gather`` calls do it for the whole batch.
    """
    b, c, h, w = x.shape
    p = padding
    padded = F.pad(x, (p, p, p, p))
    oy = torch.randint(0, 2 * p + 1, (b,), generator=g, device=x.device)
    ox = torch.randint(0, 2 * p + 1, (b,), generator=g, device=x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device)).view(b, 1, h, 1).expand(b, c, h, w + 2 * p)
    out = padded.gather(2, rows)
    cols = (ox[:, None] + torch.arange(w, device=x.device)).view(b, 1, 1, w).expand(b, c, h, w)
    return out.gather(3, cols)


def random_affine(x: torch.Tensor, degrees: float, translate: float, g: torch.Generator) -> torch.Tensor:
    """Rotate each image by up to ``±degrees`` and shift it by up to ``±translate`` of its size.

    One ``affine_grid`` + bilinear ``grid_sample`` for the batch; pixels that come
    from outside the image are zero. The rotation is a true rotation in pixel
    space also for non-square images.
    """
    b, _, h, w = x.shape
    dev = x.device
    angle = _uniform(b, -degrees, degrees, g, dev) * (math.pi / 180)
    # A shift by a fraction t of the size is 2t in grid_sample's [-1, 1] coordinates.
    tx = _uniform(b, -translate, translate, g, dev) * 2
    ty = _uniform(b, -translate, translate, g, dev) * 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [torch.stack([cos, -sin * (h / w), tx], 1), torch.stack([sin * (w / h), cos, ty], 1)], 1
    ).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def color_jitter(x: torch.Tensor, strength: float, g: torch.Generator) -> torch.Tensor:
    """Per image: brightness ×(1±s), contrast around the image's mean grey ×(1±s), and for
    three channels saturation toward grey ×(1±s); the result is clamped to ``[0, 1]``."""
    b, c = x.shape[:2]
    dev = x.device
    brightness = _uniform(b, 1 - strength, 1 + strength, g, dev).view(b, 1, 1, 1)
    contrast = _uniform(b, 1 - strength, 1 + strength, g, dev).view(b, 1, 1, 1)
    x = x * brightness
    grey = _grey(x)
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast + mean
    if c == 3:
        saturation = _uniform(b, 1 - strength, 1 + strength, g, dev).view(b, 1, 1, 1)
        grey = _grey(x)
        x = (x - grey) * saturation + grey
    return x.clamp(0.0, 1.0)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` luma of RGB images (ITU-R 601 weights), or the image itself for one channel."""
    if x.shape[1] != 3:
        return x.mean(dim=1, keepdim=True)
    weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def random_erasing(x: torch.Tensor, probability: float, g: torch.Generator, value: float = 0.0) -> torch.Tensor:
    """With ``probability`` per image, set one random rectangle (2–33 % of the area,
    aspect ratio 0.3–3.3) of all channels to ``value``."""
    b, _, h, w = x.shape
    dev = x.device
    apply = torch.rand(b, generator=g, device=dev) < probability
    area = _uniform(b, *ERASE_AREA, g, dev)
    log_ratio = _uniform(b, math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1]), g, dev)
    ratio = torch.exp(log_ratio)
    eh = (torch.sqrt(area * ratio) * h).round().clamp(1, h)
    ew = (torch.sqrt(area / ratio) * w).round().clamp(1, w)
    top = (torch.rand(b, generator=g, device=dev) * (h - eh + 1)).floor()
    left = (torch.rand(b, generator=g, device=dev) * (w - ew + 1)).floor()
    rows = torch.arange(h, device=dev, dtype=top.dtype).view(1, h, 1)
    cols = torch.arange(w, device=dev, dtype=left.dtype).view(1, 1, w)
    inside = (
        (rows >= top.view(b, 1, 1)) & (rows < (top + eh).view(b, 1, 1))
        & (cols >= left.view(b, 1, 1)) & (cols < (left + ew).view(b, 1, 1))
        & apply.view(b, 1, 1)
    )
    return x.masked_fill(inside.unsqueeze(1), value)


def augment_batch(
    x: torch.Tensor,
    cfg: AugmentConfig,
    generator: torch.Generator,
    *,
    mean: Sequence[float] | torch.Tensor | None = None,
    std: Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Augment a float batch ``x`` of shape ``(B, C, H, W)`` with values in ``[0, 1]``.

    Returns a new tensor of the same shape, dtype and device. With ``mean`` and
    ``std`` (per channel, ``[0, 1]`` units) the result is normalized,
    ``(x - mean) / std``, before the Gaussian noise is added; without them the
    noise is added to the ``[0, 1]`` result (and not clamped). ``generator``
    must live on ``x.device``; only the enabled operations draw from it.
    """
    if x.dim() != 4 or not x.is_floating_point():
        raise ValueError(f"need a float (B, C, H, W) batch, got {tuple(x.shape)} {x.dtype}")
    if cfg.hflip:
        x = _flip(x, 3, generator)
    if cfg.vflip:
        x = _flip(x, 2, generator)
    if cfg.crop_padding:
        x = random_crop(x, cfg.crop_padding, generator)
    if cfg.rotate_degrees > 0 or cfg.translate > 0:
        x = random_affine(x, cfg.rotate_degrees, cfg.translate, generator)
    if cfg.color_jitter > 0:
        x = color_jitter(x, cfg.color_jitter, generator)
    if cfg.erasing > 0:
        x = random_erasing(x, cfg.erasing, generator)
    if mean is not None and std is not None:
        x = normalize(x, mean, std)
    if cfg.noise_std > 0:
        x = x + cfg.noise_std * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x


def normalize(
    x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """``(x - mean) / std`` per channel for ``x`` of shape ``(B, C, H, W)`` in ``[0, 1]`` units."""
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s
