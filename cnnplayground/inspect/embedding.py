"""The feature-space map: a layer's features for many images, projected to 2-D by PCA or t-SNE.

Each image's output at one layer (by default the input of the last Linear layer, the
features the classifier separates) is flattened to a vector; the vectors of up to
:data:`MAX_IMAGES` validation images are centred and projected on their first two
principal components (an SVD), or mapped by t-SNE (van der Maaten and Hinton 2008,
scikit-learn's Barnes-Hut implementation) after PCA to :data:`TSNE_PCA_DIMS` dimensions,
as is usual. PCA keeps distances along its two axes (a linear view); t-SNE keeps each
point's neighbours together (clusters show, distances between them mean little). The
map shows which classes the network keeps apart and where the misclassified images lie.
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
#: The projections offered: ``(key, name)``.
METHODS = (("pca", "PCA"), ("tsne", "t-SNE"))
#: t-SNE's perplexity (about the number of neighbours each point keeps close) unless chosen.
DEFAULT_PERPLEXITY = 30.0
#: The features go through PCA to this many dimensions before t-SNE (noise out, and 10× faster).
TSNE_PCA_DIMS = 50
#: The seed of t-SNE's random start and optimisation: the same features always give the same map.
TSNE_SEED = 0


@dataclass(frozen=True)
class Embedding:
    """``points``: ``(N, 2)`` coordinates on the first two principal components (``method`` "pca") or
    t-SNE's map ("tsne"); ``labels`` and ``predictions``: ``(N,)`` class indices; ``explained``: the
    fraction of the features' variance each of the first two principal components holds; ``layer``: the
    node whose output was projected; ``dims``: its length. t-SNE only: ``perplexity`` used (lowered for
    few images) and ``kept``, the fraction of the variance the :data:`TSNE_PCA_DIMS` components it maps keep."""

    points: np.ndarray
    labels: np.ndarray
    predictions: np.ndarray
    explained: tuple[float, float]
    layer: str
    dims: int
    method: str = "pca"
    perplexity: float = 0.0
    kept: float = 1.0

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
    points, ratios = pca(features, 2)
    return points, (ratios[0], ratios[1])


def pca(features: torch.Tensor | np.ndarray, dims: int) -> tuple[np.ndarray, list[float]]:
    """``(N, D)`` features → ``(N, dims)`` coordinates on the first ``dims`` principal components and the
    fraction of the total variance each holds (axes beyond the data's rank are 0), signs fixed as in
    :func:`pca_2d`."""
    x = torch.as_tensor(np.asarray(features, dtype=np.float64)) if not isinstance(features, torch.Tensor) \
        else features.detach().double()
    n = x.shape[0]
    points = np.zeros((n, dims))
    if x.numel() == 0:
        return points, [0.0] * dims
    x = x.reshape(n, -1)
    x = x - x.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    k = min(dims, vh.shape[0])
    axes = vh[:k]
    big = axes.abs().argmax(dim=1)
    signs = torch.sign(axes[torch.arange(k), big])
    axes = axes * torch.where(signs == 0, torch.ones_like(signs), signs)[:, None]
    points[:, :k] = (x @ axes.T).numpy()
    total = float((s ** 2).sum())
    return points, [float(v ** 2) / total if total > 0 else 0.0 for v in s[:k]] + [0.0] * (dims - k)


def usable_perplexity(perplexity: float, n: int) -> float:
    """``perplexity`` lowered for few images: t-SNE looks at 3 × perplexity neighbours, so at most (N − 1) / 3."""
    return float(max(1.0, min(perplexity, (n - 1) / 3)))


def tsne_2d(features: torch.Tensor | np.ndarray, perplexity: float = DEFAULT_PERPLEXITY, seed: int = TSNE_SEED,
            pca_dims: int = TSNE_PCA_DIMS, threads: int | None = None) -> tuple[np.ndarray, float]:
    """``(N, D)`` features → ``(N, 2)`` t-SNE map (scikit-learn, Barnes-Hut, PCA start) of their first
    ``pca_dims`` principal components, and the fraction of the variance those keep. Deterministic for a
    seed and thread count (on one machine). ``threads``: its OpenMP/BLAS threads (None: torch's thread
    count, the process's). Fewer than 5 images: their first two principal components."""
    reduced, ratios = pca(features, pca_dims)
    n = len(reduced)
    if n < 5:
        return reduced[:, :2].copy() if pca_dims >= 2 else np.zeros((n, 2)), float(sum(ratios))
    from sklearn.manifold import TSNE  # 1-2 s to import: only when a t-SNE map is asked for
    from threadpoolctl import threadpool_limits

    count = threads or torch.get_num_threads()
    tsne = TSNE(n_components=2, perplexity=usable_perplexity(perplexity, n), init="pca", learning_rate="auto",
                random_state=seed, n_jobs=count)
    scale = float(reduced.std()) or 1.0  # the units of the features do not matter to the map
    with threadpool_limits(limits=count):
        points = tsne.fit_transform(reduced / scale)
    return np.asarray(points, dtype=np.float64), float(sum(ratios))


@torch.no_grad()
def embedding_steps(model, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float],
                    std: Sequence[float], layer: str | None = None, limit: int = MAX_IMAGES,
                    batch_size: int = 256, method: str = "pca", perplexity: float = DEFAULT_PERPLEXITY,
                    seed: int = TSNE_SEED) -> Iterator[tuple[float, Embedding | str | None]]:
    """Yield ``(fraction done, None)`` after each batch, then ``(1.0, Embedding)`` of the first ``limit``
    images (uint8 or [0, 1] floats) mapped by ``method`` ("pca" or "tsne"); before t-SNE's one long step
    ``(1.0, "t-SNE")``. ``model`` is put in eval mode (and left as it was)."""
    if method not in dict(METHODS):
        raise ValueError(f"unknown projection {method!r}: choose one of {', '.join(dict(METHODS))}")
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
    answers = (torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.int64)).numpy()
    truth = labels[:n].numpy().astype(np.int64)
    if method == "pca":
        yield 1.0, Embedding(points, truth, answers, explained, layer, int(flat.shape[1]))
        return
    yield 1.0, "t-SNE"
    mapped, kept = tsne_2d(flat, perplexity, seed)
    yield 1.0, Embedding(mapped, truth, answers, explained, layer, int(flat.shape[1]), "tsne",
                         usable_perplexity(perplexity, n), kept)
