"""Corrupted training data for the "fitting random labels" experiment.

Zhang et al. (2017), "Understanding deep learning requires rethinking
generalization", show that a network can fit a training set whose labels, or
pixels, are partly or wholly random, while the test accuracy falls to chance.
These pure functions produce such sets; :func:`~.registry.load_dataset`
applies them to the training part only (validation and test stay clean).

Both choose exactly ``round(fraction · N)`` images with a seeded permutation.
"Random pixels" here means the chosen images are replaced by uniform random
``uint8`` noise (each pixel and channel independent), the paper's "random
pixels" variant without structure; pixel *shuffling* is not implemented.
"""

from __future__ import annotations

import torch


def _chosen(n: int, fraction: float, generator: torch.Generator) -> torch.Tensor:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be between 0 and 1, got {fraction}")
    k = round(fraction * n)
    return torch.randperm(n, generator=generator)[:k]


def randomize_labels(
    labels: torch.Tensor, fraction: float, num_classes: int, generator: torch.Generator
) -> torch.Tensor:
    """Give ``round(fraction · N)`` randomly chosen images a uniformly random label.

    ``labels``: ``(N,)`` int64 on the CPU; returns a new tensor. A new label may
    equal the old one by chance, so the share of labels that actually change is
    about ``fraction · (1 - 1/num_classes)``.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    index = _chosen(labels.shape[0], fraction, generator)
    out = labels.clone()
    out[index] = torch.randint(0, num_classes, (index.shape[0],), generator=generator, dtype=labels.dtype)
    return out


def randomize_pixels(images: torch.Tensor, fraction: float, generator: torch.Generator, *,
                     in_place: bool = False) -> torch.Tensor:
    """Replace ``round(fraction · N)`` randomly chosen images by uniform random noise.

    ``images``: ``(N, C, H, W)`` uint8 on the CPU; returns a new tensor whose chosen
    images have independent pixel values uniform in ``0..255`` (``in_place``: ``images``
    itself, changed; the same values either way).
    """
    index = _chosen(images.shape[0], fraction, generator)
    out = images if in_place else images.clone()
    noise_shape = (index.shape[0], *images.shape[1:])
    out[index] = torch.randint(0, 256, noise_shape, generator=generator, dtype=torch.uint8)
    return out
