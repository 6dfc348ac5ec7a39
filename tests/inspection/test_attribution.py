"""Saliency, integrated gradients and Grad-CAM against closed forms and hand-built networks."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.presets import get_preset
from cnnplayground.data.augment import normalize
from cnnplayground.inspect.attribution import (
    cam_layers,
    default_cam_layer,
    grad_cam,
    integrated_gradients,
    integrated_gradients_delta,
    integrated_gradients_steps,
    saliency,
)

MEAN, STD = (0.5, 0.2), (0.25, 0.5)


def _chain(shape, *layers):
    """A network: Input of ``shape``, then ``(id, kind, params)`` layers in a line."""
    c, h, w = shape
    g = Graph()
    prev = g.add_node("Input", {"channels": c, "height": h, "width": w}, id="input").id
    for nid, kind, params in layers:
        g.add_node(kind, params, id=nid)
        g.connect(prev, nid)
        prev = nid
    return build(g)


@pytest.fixture
def linear():
    """f(x) = W · normalize(x) + b on 2×4×4 images, 3 classes; its pixel gradient is W / std."""
    torch.manual_seed(1)
    model = _chain((2, 4, 4), ("flatten", "Flatten", {}), ("fc", "Linear", {"out_features": 3}))
    std = torch.tensor(STD).view(2, 1, 1)
    grad = model.layers["fc"].weight.detach().view(3, 2, 4, 4) / std
    return model.eval(), grad


def _logits(model, x01, mean, std):
    with torch.no_grad():
        return model(normalize(x01, mean, std))


def test_saliency_of_linear_model_is_the_largest_weight_over_channels(linear):
    model, grad = linear
    x = torch.rand(5, 2, 4, 4)
    target = torch.tensor([0, 1, 2, 1, 0])
    result = saliency(model, x, target, MEAN, STD)
    assert result.shape == (5, 4, 4)
    torch.testing.assert_close(result, grad[target].abs().amax(dim=1))


def test_saliency_on_trained_net_is_the_absolute_logit_gradient(trained):
    model, x, labels, mean, std = trained
    xb, tb = x[:6], labels[:6]
    xg = xb.clone().requires_grad_(True)
    model(normalize(xg, mean, std)).gather(1, tb[:, None]).sum().backward()
    expected = xg.grad.abs().amax(dim=1)
    result = saliency(model, xb, tb, mean, std)
    assert result.shape == (6, 28, 28) and result.min() >= 0 and result.max() > 0
    torch.testing.assert_close(result, expected)


def test_integrated_gradients_of_linear_model_is_input_minus_baseline_times_weight(linear):
    model, grad = linear
    torch.manual_seed(2)
    x, baseline = torch.rand(4, 2, 4, 4), torch.rand(2, 4, 4)
    target = torch.tensor([2, 0, 1, 2])
    # batch_size 5 does not divide 4 images × 3 steps: chunks straddle images.
    attr = integrated_gradients(model, x, target, MEAN, STD, baseline=baseline, steps=3, batch_size=5)
    assert attr.shape == x.shape
    torch.testing.assert_close(attr, (x - baseline) * grad[target])
    black = integrated_gradients(model, x, target, MEAN, STD, steps=1)
    torch.testing.assert_close(black, x * grad[target])
    gap = integrated_gradients_delta(model, x, target, MEAN, STD, attr, baseline=baseline)
    assert gap.shape == (4,) and gap.abs().max() < 1e-4


def test_integrated_gradients_completeness_on_trained_net(trained):
    model, x, labels, mean, std = trained
    xb, tb = x[:8], labels[:8]
    change = _logits(model, xb, mean, std).gather(1, tb[:, None])[:, 0] - \
        _logits(model, torch.zeros_like(xb), mean, std).gather(1, tb[:, None])[:, 0]
    assert change.abs().mean() > 2.0  # the test means something: the logits move along the path
    gaps = {}
    for steps in (2, 8, 64, 128):
        attr = integrated_gradients(model, xb, tb, mean, std, steps=steps, batch_size=256)
        gaps[steps] = integrated_gradients_delta(model, xb, tb, mean, std, attr).abs()
        torch.testing.assert_close(gaps[steps], (attr.flatten(1).sum(1) - change).abs(), atol=1e-4, rtol=1e-4)
    # Measured over several trainings: 0.1-0.3 % of the total change at 64 steps, at most 0.6 % per image
    # at 128 steps (per-image gaps are relative to the change, or to 1 where the logit barely moves).
    assert gaps[64].sum() / change.abs().sum() < 0.01, gaps[64]
    assert (gaps[128] / change.abs().clamp_min(1.0)).max() < 0.02, gaps[128]
    means = [float(gaps[steps].mean()) for steps in (2, 8, 64, 128)]
    assert means == sorted(means, reverse=True) and means[0] > 20 * means[-1], means


def test_integrated_gradients_chunks_and_progress(trained):
    model, x, labels, mean, std = trained
    xb, tb = x[:3], labels[:3]
    reports = list(integrated_gradients_steps(model, xb, tb, mean, std, steps=10, batch_size=7))
    fractions = [done for done, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(reports) == 5  # ceil(30 / 7)
    assert all(attr is None for _, attr in reports[:-1])
    whole = integrated_gradients(model, xb, tb, mean, std, steps=10, batch_size=1000)
    torch.testing.assert_close(reports[-1][1], whole, atol=1e-5, rtol=1e-4)


def test_grad_cam_finds_the_quadrant_holding_each_class_evidence():
    # Two colour channels; class k sums channel k minus the other channel over the (pooled) map.
    # Channel 0 is lit in the top-left quadrant only, channel 1 in the bottom-right: each class's
    # map must sit on its own blob, and the other blob (negative evidence) must be cut by the ReLU.
    model = _chain((2, 8, 8), ("conv", "Conv2d", {"out_channels": 2, "kernel_size": 1}),
                   ("relu", "ReLU", {}), ("pool", "MaxPool2d", {"kernel_size": 2, "stride": 2}),
                   ("flatten", "Flatten", {}), ("fc", "Linear", {"out_features": 2}))
    with torch.no_grad():
        model.layers["conv"].weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        model.layers["conv"].bias.zero_()
        model.layers["fc"].weight.copy_((2 * torch.eye(2) - 1).repeat_interleave(16, dim=1))
        model.layers["fc"].bias.zero_()
    x = torch.zeros(1, 2, 8, 8)
    x[0, 0, :4, :4] = 1.0
    x[0, 1, 4:, 4:] = 0.7
    both = x.expand(2, -1, -1, -1)
    cam = grad_cam(model, both, torch.tensor([0, 1]), (0.0, 0.0), (1.0, 1.0), "pool")
    assert cam.shape == (2, 8, 8) and cam.min() >= 0 and torch.allclose(cam.amax(dim=(1, 2)), torch.ones(2))
    # Bilinear upsampling blurs the 4×4 map a pixel across the quadrant's edge, no further.
    assert cam[0, :4, :4].sum() / cam[0].sum() > 0.8 and cam[0, 5:, 5:].max() == 0
    assert cam[1, 4:, 4:].sum() / cam[1].sum() > 0.8 and cam[1, :3, :3].max() == 0
    # The unpooled map is exact: all of the mass in the quadrant.
    exact = grad_cam(model, both, torch.tensor([0, 1]), (0.0, 0.0), (1.0, 1.0), "relu")
    torch.testing.assert_close(exact[0], x[0, 0])
    torch.testing.assert_close(exact[1], x[0, 1] / 0.7)
    # No positive evidence (class 0 on a dark image): the map stays zero instead of dividing by zero.
    dark = grad_cam(model, torch.zeros(1, 2, 8, 8), torch.tensor([0]), (0.0, 0.0), (1.0, 1.0), "pool")
    assert torch.equal(dark, torch.zeros(1, 8, 8))


def test_grad_cam_on_trained_net(trained):
    model, x, labels, mean, std = trained
    for layer in ("conv2", "pool2", "relu1"):
        cam = grad_cam(model, x[:6], labels[:6], mean, std, layer)
        assert cam.shape == (6, 28, 28)
        assert cam.min() >= 0 and cam.max() <= 1
        peaks = cam.amax(dim=(1, 2))
        assert torch.all((peaks == 0) | torch.isclose(peaks, torch.ones(6)))
        assert (peaks > 0).sum() >= 5  # the true class has evidence somewhere on nearly every image


def test_grad_cam_rejects_unknown_and_flat_layers(trained):
    model, x, labels, mean, std = trained
    with pytest.raises(ValueError, match="'nope'"):
        grad_cam(model, x[:2], labels[:2], mean, std, "nope")
    with pytest.raises(ValueError, match="'input'"):
        grad_cam(model, x[:2], labels[:2], mean, std, "input")
    with pytest.raises(ValueError, match="'fc1'.*Flatten"):
        grad_cam(model, x[:2], labels[:2], mean, std, "fc1")


def test_cam_layers_and_default_layer():
    lenet = build(get_preset("lenet5").factory())
    assert cam_layers(lenet) == ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2"]
    assert default_cam_layer(lenet) == "pool2"
    mlp = build(get_preset("mlp").factory())
    assert cam_layers(mlp) == [] and default_cam_layer(mlp) is None
    dilated = build(get_preset("dilated").factory())
    assert cam_layers(dilated)[-1] == "avgpool"
    assert default_cam_layer(dilated) == "relu3"  # the 1×1 map after global pooling has no layout


@pytest.mark.parametrize("frozen", [False, True])
def test_parameters_and_mode_untouched_under_no_grad(frozen):
    torch.manual_seed(3)
    model = build(get_preset("lenet5").factory())  # training mode, parameters requiring gradients
    for p in model.parameters():
        p.requires_grad_(not frozen)
    before = [p.detach().clone() for p in model.parameters()]
    x, target = torch.rand(2, 1, 28, 28), torch.tensor([3, 7])
    mean, std = (0.1307,), (0.3081,)
    with torch.no_grad():
        s = saliency(model, x, target, mean, std)
        attr = integrated_gradients(model, x, target, mean, std, steps=4)
        gap = integrated_gradients_delta(model, x, target, mean, std, attr)
        cam = grad_cam(model, x, target, mean, std, "pool2")
        layers = cam_layers(model), default_cam_layer(model)
        assert not torch.is_grad_enabled()  # the caller's mode is left as it was
    assert s.abs().sum() > 0 and attr.abs().sum() > 0 and gap.shape == (2,) and cam.shape == (2, 28, 28)
    assert layers[1] == "pool2"
    assert model.training and all(m.training for m in model.modules())
    for p, old in zip(model.parameters(), before, strict=True):
        assert p.requires_grad is not frozen and p.grad is None
        assert torch.equal(p.detach(), old)
    assert all(t.device.type == "cpu" for t in (s, attr, gap, cam))


def test_target_checks(linear):
    model, _ = linear
    x = torch.rand(3, 2, 4, 4)
    torch.testing.assert_close(saliency(model, x, torch.tensor(1), MEAN, STD),
                               saliency(model, x, torch.tensor([1, 1, 1]), MEAN, STD))
    with pytest.raises(ValueError, match="3 images, 2 targets"):
        saliency(model, x, torch.tensor([0, 1]), MEAN, STD)


def test_runs_in_eval_mode_and_leaves_batch_norm_statistics_alone():
    torch.manual_seed(4)
    model = _chain((1, 8, 8), ("conv", "Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}),
                   ("bn", "BatchNorm2d", {}), ("relu", "ReLU", {}), ("flatten", "Flatten", {}),
                   ("drop", "Dropout", {"p": 0.5}), ("fc", "Linear", {"out_features": 3}))
    x, target, mean, std = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 0]), (0.5,), (0.5,)
    stats = [b.clone() for b in model.buffers()]
    in_training = (saliency(model, x, target, mean, std), integrated_gradients(model, x, target, mean, std, steps=4),
                   grad_cam(model, x, target, mean, std, "bn"))
    assert model.training and all(torch.equal(b, old) for b, old in zip(model.buffers(), stats, strict=True))
    model.eval()
    in_eval = (saliency(model, x, target, mean, std), integrated_gradients(model, x, target, mean, std, steps=4),
               grad_cam(model, x, target, mean, std, "bn"))
    for a, b in zip(in_training, in_eval, strict=True):
        torch.testing.assert_close(a, b)
