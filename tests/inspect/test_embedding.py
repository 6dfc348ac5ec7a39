"""The feature-space map: PCA recovers a known low-rank structure; t-SNE keeps clusters apart; features come
from the chosen layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.inspect.embedding import default_layer, embedding_steps, pca_2d, tsne_2d, usable_perplexity


def test_pca_recovers_a_plane_hidden_in_many_dimensions():
    rng = np.random.default_rng(0)
    n, d = 500, 40
    basis, _ = np.linalg.qr(rng.normal(size=(d, 2)))  # two orthonormal directions in 40-D
    raw = rng.normal(size=(n, 2))
    q, _ = np.linalg.qr(raw - raw.mean(axis=0))  # centred, uncorrelated columns of unit length
    coords = q * np.sqrt(n) * np.array([5.0, 2.0])  # variances exactly 25 and 4
    noise = rng.normal(size=(n, d)) * 0.01
    features = coords @ basis.T + noise + 7.0  # an offset PCA must remove
    points, (r1, r2) = pca_2d(features)
    assert points.shape == (n, 2)
    assert abs(points.mean(axis=0)).max() < 1e-9  # centred
    # Up to the sign of each axis, the coordinates are the hidden ones.
    for k in range(2):
        c = np.corrcoef(points[:, k], coords[:, k])[0, 1]
        assert abs(c) > 0.9999
    assert r1 + r2 == pytest.approx(1.0, abs=5e-4)  # all but the noise (40 × 0.01² of 29)
    var = coords.var(axis=0, ddof=0)
    assert r1 == pytest.approx(var[0] / var.sum(), abs=1e-3)
    assert np.var(points[:, 0]) == pytest.approx(var[0], rel=1e-3)


def test_pca_of_too_few_dimensions_or_images():
    points, explained = pca_2d(np.arange(5.0)[:, None])  # one dimension: the second axis is empty
    assert np.allclose(np.abs(points[:, 0]), np.abs(np.arange(5.0) - 2.0)) and np.all(points[:, 1] == 0)
    assert explained == (pytest.approx(1.0), 0.0)
    assert pca_2d(np.zeros((0, 3)))[0].shape == (0, 2)


def test_lenet_map_uses_the_input_of_the_last_linear_and_the_networks_answers():
    torch.manual_seed(0)
    model = build(get_preset("lenet5").factory())
    model.train()
    layer = default_layer(model)
    last_linear = [nid for nid in model.layer_ids if isinstance(model.layers[nid], torch.nn.Linear)][-1]
    assert model.sources_of(last_linear) == (layer,)
    images = torch.randint(0, 256, (300, *model.input_shape), dtype=torch.uint8)
    labels = torch.randint(0, 10, (300,))
    steps = list(embedding_steps(model, images, labels, (0.5,), (0.25,), limit=250, batch_size=100))
    assert [round(f, 3) for f, _ in steps] == [0.4, 0.8, 1.0]
    result = steps[-1][1]
    assert result is not None and result.layer == layer and result.points.shape == (250, 2)
    assert model.training  # left as it was
    model.eval()
    with torch.no_grad():
        x = (images[:250].float() / 255 - 0.5) / 0.25
        expected = model(x).argmax(1).numpy()
        feats = model.forward_all(x)[layer].flatten(1)
    assert np.array_equal(result.predictions, expected)
    assert np.array_equal(result.labels, labels[:250].numpy())
    assert result.dims == feats.shape[1]
    assert np.allclose(result.points, pca_2d(feats)[0], atol=1e-4)


def blobs(per_class: int = 100, dims: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian blobs (unit spread) whose centres lie 10 standard deviations apart or more, in ``dims``-D."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, dims) * 10.0 * np.sqrt(2)  # pairwise 20 apart
    labels = np.repeat(np.arange(3), per_class)
    return centres[labels] + rng.normal(size=(len(labels), dims)), labels


def neighbour_agreement(points: np.ndarray, labels: np.ndarray) -> float:
    """The share of points whose nearest other point (in the map) has their label."""
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(axis=1)] == labels).mean())


def test_tsne_keeps_well_separated_clusters_apart_and_repeats_itself_with_the_seed():
    features, labels = blobs()
    points, kept = tsne_2d(features, perplexity=30, seed=0, threads=1)
    assert points.shape == (300, 2) and np.isfinite(points).all()
    assert kept == pytest.approx(1.0)  # 50 components of 50-D features keep everything
    assert neighbour_agreement(points, labels) > 0.95
    # Each cluster is apart: every point is nearer its own cluster's centre in the map than any other's.
    centres = np.stack([points[labels == k].mean(axis=0) for k in range(3)])
    nearest_centre = ((points[:, None, :] - centres[None]) ** 2).sum(-1).argmin(axis=1)
    assert (nearest_centre == labels).mean() > 0.95
    again, _ = tsne_2d(features, perplexity=30, seed=0, threads=1)
    assert np.array_equal(points, again)  # the same seed: the same map, to the bit
    # PCA to 10 dimensions first (fewer than the data has) still separates them and says what it kept.
    reduced, kept10 = tsne_2d(features, perplexity=30, seed=0, pca_dims=10, threads=1)
    assert neighbour_agreement(reduced, labels) > 0.95 and 0.5 < kept10 < 1.0


def test_tsne_of_few_images_lowers_the_perplexity_or_falls_back_to_pca():
    assert usable_perplexity(30, 2000) == 30 and usable_perplexity(30, 31) == 10 and usable_perplexity(30, 2) == 1
    features, _labels = blobs(per_class=4)  # 12 images: perplexity 30 is more than there are neighbours
    points, _ = tsne_2d(features, perplexity=30, threads=1)
    assert points.shape == (12, 2) and np.isfinite(points).all()
    few = np.arange(8.0).reshape(4, 2)
    assert np.allclose(tsne_2d(few)[0], pca_2d(few)[0])  # 4 images: no t-SNE, the first two components


def test_lenet_tsne_map_says_when_it_starts_and_maps_the_same_features():
    torch.manual_seed(0)
    model = build(get_preset("lenet5").factory())
    images = torch.randint(0, 256, (90, *model.input_shape), dtype=torch.uint8)
    labels = torch.randint(0, 10, (90,))
    steps = list(embedding_steps(model, images, labels, (0.5,), (0.25,), batch_size=50, method="tsne",
                                 perplexity=20))
    assert [item if isinstance(item, str) else type(item).__name__ for _, item in steps] == \
        ["NoneType", "t-SNE", "Embedding"]
    result = steps[-1][1]
    model.eval()
    with torch.no_grad():
        feats = model.forward_all((images.float() / 255 - 0.5) / 0.25)[result.layer].flatten(1)
    assert result.method == "tsne" and result.perplexity == 20 and result.points.shape == (90, 2)
    assert np.allclose(result.points, tsne_2d(feats, perplexity=20)[0], atol=1e-3)
    with pytest.raises(ValueError, match="unknown projection"):
        next(embedding_steps(model, images, labels, (0.5,), (0.25,), method="umap"))
