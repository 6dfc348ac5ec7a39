"""The feature-space map: a layer's features for many images, projected to 2-D by PCA.

Each image's output at one layer (by default the input of the last Linear layer, the
features the classifier separates) is flattened to a vector; the vectors of up to
:data:`MAX_IMAGES` validation images are centred and projected on their first two
principal components (an SVD). The map shows which classes the network keeps apart
and where the misclassified images lie. (t-SNE/UMAP are not offered: they would need
scikit-learn or openTSNE.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..data.augment import normalize

#: The most images a map projects (the first ones of the split).
MAX_IMAGES = 2000


@dataclass(frozen=True)
class Embedding:
    """``points``: ``(N, 2)`` coordinates on the first two principal components; ``labels`` and
    ``predictions``: ``(N,)`` class indices; ``explained``: the fraction of the features' variance each
    of the two components holds; ``layer``: the node whose output was projected; ``dims``: its length."""

    points: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    explained: tuple[float, float]
    layer: str
    dims: int

    @property
    def wrong(self) -> np.ndarray:
        """Indices of the misclassified images."""
        return np.flatnonzero(self.labels != self.predictions)


def default_layer(model) -> str:
    """The node whose output the last Linear layer takes (the layer before it); the last layer before the
    output when the network has no Linear layer."""
    ids = model.layer_ids
    for nid in reversed(ids):
        if isinstance(model.layers[nid], nn.Linear):
            sources = model.sources_of(nid)
            if sources and sources[0] != model.input_id:
                return sources[0]
    return ids[-2] if len(ids) >= 2 else ids[-1]


def pca_2d(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """``(N, D)`` features → ``(N, 2)`` coordinates on the first two principal components (centred data)
    and the fraction of the total variance each holds. Each axis's sign is fixed (its largest loading is
    positive) so the same features always give the same picture. Fewer than 2 dimensions or images: the
    missing axis is 0 (explaining nothing)."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float64)) if not isinstance(features, torch.Tensor) \
        else features.detach().double()
    n = x.shape[0]
    points = np.zeros((n, 2))
    if x.numel() == 0:
        return points, (0.0, 0.0)
    x = x.reshape(n, -1)
    x = x - x.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    k = min(2, vh.shape[0])
    axes = vh[:k]
    big = axes.abs().argmax(dim=1)
    signs = torch.sign(axes[torch.arange(k), big])
    axes = axes * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]
    points[:, :k] = (x @ axes.T).numpy()
    total = float((s ** 2).sum())
    ratios = [float(v ** 2) / total if total > 0 else 0.0 for v in s[:k]] + [0.0] * (2 - k)
    return points, (ratios[0], ratios[1])


@torch.no_grad()
def embedding_steps(model, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float],
                    std: Sequence[float], layer: str | None = None, limit: int = MAX_IMAGES,
                    batch_size: int = 256) -> Iterator[tuple[float, Embedding | None]]:
    """Yield ``(fraction done, None)`` after each batch, then ``(1.0, Embedding)`` of the first ``limit``
    images (uint8 or [0, 1] floats). ``model`` is put in eval mode (and left as it was)."""
    layer = layer or default_layer(model)
    n = min(limit, len(images))
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    was_training = model.training
    model.eval()
    features, predictions = [], []
    try:
        for start in range(0, n, batch_size):
            batch = images[start:min(start + batch_size, n)].to(device)
            batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
            outputs = model.forward_all(normalize(batch, mean, std))
            features.append(outputs[layer].float().flatten(1).cpu())
            predictions.append(outputs[model.output_id].argmax(dim=1).cpu())
            if start + batch_size < n:
                yield (start + batch_size) / n, None
    finally:
        model.train(was_training)
    flat = torch.cat(features) if features else torch.zeros((0, 1))
    points, explained = pca_2d(flat)
    yield 1.0, Embedding(points, labels[:n].numpy().astype(np.int64),
                         (torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.int64)).numpy(),
                         explained, layer, int(flat.shape[1]))
