"""The feature-space map: PCA recovers a known low-rank structure; features come from the chosen layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.presets import get_preset
from cnnplayground.inspect.embedding import default_layer, embedding_steps, pca_2d


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
