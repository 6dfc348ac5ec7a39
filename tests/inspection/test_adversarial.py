"""Adversarial attacks on a LeNet-5 trained for one epoch on the synthetic set."""

from __future__ import annotations

import pytest
import torch

from cnnplayground.data.augment import normalize
from cnnplayground.inspect.adversarial import compare, epsilon_sweep, fgsm, pgd


def accuracy(model, x, y, mean, std) -> float:
    from cnnplayground.data.augment import normalize

    with torch.no_grad():
        return float((model(normalize(x, mean, std)).argmax(1) == y).float().mean())


def test_epsilon_zero_changes_nothing(trained):
    model, x, y, mean, std = trained
    assert torch.equal(fgsm(model, x, y, 0.0, mean, std), x)
    assert torch.equal(pgd(model, x, y, 0.0, mean, std), x)
    c = compare(model, x, fgsm(model, x, y, 0.0, mean, std), mean, std)
    assert not c.flipped.any()


@pytest.mark.parametrize("epsilon", [0.02, 0.1, 0.25])
def test_perturbations_respect_the_bound_and_the_pixel_range(trained, epsilon):
    model, x, y, mean, std = trained
    for adv in (fgsm(model, x, y, epsilon, mean, std),
                pgd(model, x, y, epsilon, mean, std, steps=5, generator=torch.Generator().manual_seed(0))):
        assert float((adv - x).abs().max()) <= epsilon + 1e-6
        assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0
    adv = pgd(model, x, y, epsilon, mean, std, steps=5, norm="l2", generator=torch.Generator().manual_seed(0))
    assert float((adv - x).flatten(1).norm(dim=1).max()) <= epsilon + 1e-5
    assert float(adv.min()) >= 0.0 and float(adv.max()) <= 1.0


def test_accuracy_falls_with_epsilon_and_pgd_is_at_least_as_strong_as_fgsm(trained):
    model, x, y, mean, std = trained
    clean = accuracy(model, x, y, mean, std)
    assert clean > 0.8
    epsilons = [0.0, 0.05, 0.1, 0.2, 0.3]
    fg = dict(epsilon_sweep(model, x, y, epsilons, mean, std, attack="fgsm"))
    pg = dict(epsilon_sweep(model, x, y, epsilons, mean, std, attack="pgd", steps=10,
                            generator=torch.Generator().manual_seed(0)))
    assert fg[0.0] == pytest.approx(clean)
    values = [fg[e] for e in epsilons]
    assert all(b <= a + 0.03 for a, b in zip(values, values[1:]))  # monotone, up to a little noise
    assert fg[0.3] < clean - 0.3
    for e in epsilons[1:]:
        assert pg[e] <= fg[e] + 0.02
    assert pg[0.1] < fg[0.1]  # iterating finds more than one signed step


def test_targeted_fgsm_moves_towards_the_target(trained):
    model, x, y, mean, std = trained
    from cnnplayground.data.augment import normalize

    target = (y + 1) % 10
    adv = fgsm(model, x, y, 0.1, mean, std, target=target)
    with torch.no_grad():
        before = torch.softmax(model(normalize(x, mean, std)), 1).gather(1, target[:, None]).mean()
        after = torch.softmax(model(normalize(adv, mean, std)), 1).gather(1, target[:, None]).mean()
    assert after > 2 * before


def test_label_flips_are_images_classified_right_then_wrong(trained):
    from functools import partial

    from cnnplayground.inspect.adversarial import label_flips

    model, x, y, mean, std = trained
    attack = partial(_fgsm_attack, epsilon=0.25, mean=mean, std=std)
    updates = list(label_flips(model, x, y, mean, std, attack, limit=10, batch_size=50))
    fraction, flips = updates[-1]
    assert len(flips) == 10 and fraction <= 1.0
    assert [f.index for f in flips] == sorted(f.index for f in flips)
    with torch.no_grad():
        clean = model(normalize(x, mean, std)).argmax(1)
        again = model(normalize(torch.stack([f.image for f in flips]), mean, std)).argmax(1)
    for f, pred in zip(flips, again.tolist()):
        assert int(clean[f.index]) == f.true_class == int(y[f.index])  # it was right...
        assert pred == f.adversarial_class != f.true_class  # ...and the attack made it wrong
        assert float((f.image - x[f.index]).abs().max()) <= 0.25 + 1e-6
    none = list(label_flips(model, x, y, mean, std, partial(_fgsm_attack, epsilon=0.0, mean=mean, std=std)))
    assert none[-1] == (1.0, [])  # ε 0 fools nobody, and the whole set was searched


def _fgsm_attack(model, xb, yb, epsilon, mean, std):
    return fgsm(model, xb, yb, epsilon, mean, std)
