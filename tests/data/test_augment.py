"""On-device batch augmentation: each operation alone, with exact expectations."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from cnnplayground.data.augment import augment_batch
from cnnplayground.project import AugmentConfig


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def shifted(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``img`` (C, H, W) moved down by ``dy`` and right by ``dx``, zeros coming in."""
    out = torch.zeros_like(img)
    h, w = img.shape[1:]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = img[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def test_config_defaults_are_off_and_values_are_checked():
    cfg = AugmentConfig()
    assert not cfg.enabled
    for change in ({"hflip": True}, {"vflip": True}, {"crop_padding": 4}, {"rotate_degrees": 5.0},
                   {"translate": 0.1}, {"color_jitter": 0.2}, {"erasing": 0.5}, {"noise_std": 0.1}):
        assert AugmentConfig(**change).enabled
    with pytest.raises(ValidationError, match="crop_padding"):
        AugmentConfig(crop_padding=17)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        AugmentConfig(mixup=0.2)
    with pytest.raises(ValidationError, match="rotate_degrees"):
        cfg.rotate_degrees = 90
    assert AugmentConfig.model_validate_json(AugmentConfig(erasing=0.25).model_dump_json()).erasing == 0.25


def test_no_augmentation_is_the_identity():
    x = torch.rand(8, 3, 10, 12, generator=gen(1))
    assert torch.equal(augment_batch(x, AugmentConfig(), gen()), x)
    # Rotation 0 and translation 0 (the affine op is skipped), colour jitter 0: identity too.
    assert torch.equal(augment_batch(x, AugmentConfig(rotate_degrees=0.0, translate=0.0, color_jitter=0.0), gen()), x)


@pytest.mark.parametrize(("field", "dim"), [("hflip", 3), ("vflip", 2)])
def test_flip_mirrors_about_half_the_images(field, dim):
    x = torch.zeros(200, 1, 5, 7)
    x[:, 0, 1, 2] = 1.0
    out = augment_batch(x, AugmentConfig(**{field: True}), gen())
    mirrored = (1, 7 - 1 - 2) if dim == 3 else (5 - 1 - 1, 2)
    moved = out[:, 0, mirrored[0], mirrored[1]] == 1.0
    kept = out[:, 0, 1, 2] == 1.0
    assert torch.equal(moved, ~kept)
    assert 70 < int(moved.sum()) < 130
    assert torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(200))  # one bright pixel each, nothing else


def test_random_crop_is_a_shifted_copy_with_zeros():
    x = torch.rand(32, 3, 6, 6, generator=gen(2)) + 0.5  # no zeros in the input
    out = augment_batch(x, AugmentConfig(crop_padding=2), gen())
    assert out.shape == x.shape
    shifts = []
    for b in range(32):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if torch.equal(out[b], shifted(x[b], dy, dx))]
        assert len(found) == 1
        shifts.append(found[0])
    assert len(set(shifts)) > 10  # offsets differ between images
    # Sample 0 by hand: rebuild the expected crop from the offset drawn for it.
    dy, dx = shifts[0]
    padded = torch.nn.functional.pad(x[0], (2, 2, 2, 2))
    oy, ox = 2 - dy, 2 - dx
    assert torch.equal(out[0], padded[:, oy : oy + 6, ox : ox + 6])


def test_rotation_keeps_the_centre_and_translation_moves_it():
    x = torch.zeros(16, 1, 9, 9)
    x[:, 0, 4, 4] = 1.0
    rotated = augment_batch(x, AugmentConfig(rotate_degrees=45.0), gen())
    assert torch.allclose(rotated[:, 0, 4, 4], torch.ones(16), atol=1e-5)
    # Bilinear sampling spreads the turned pixel over its neighbours only.
    rotated[:, 0, 3:6, 3:6] = 0
    assert (rotated == 0).all()
    big = torch.ones(64, 1, 9, 9)
    corners = augment_batch(big, AugmentConfig(rotate_degrees=45.0), gen())[:, 0, 0, 0]
    assert (corners < 0.5).sum() > 20  # turned images leave the corners (partly) empty
    moved = augment_batch(x, AugmentConfig(translate=0.5), gen())
    assert (moved[:, 0, 4, 4] < 0.5).sum() > 8
    assert (moved <= 1.0 + 1e-6).all() and (moved >= 0).all()


def test_color_jitter_scales_brightness_and_keeps_grey_grey():
    x = torch.full((128, 3, 4, 4), 0.5)
    out = augment_batch(x, AugmentConfig(color_jitter=0.5), gen())
    # A flat grey image: contrast and saturation change nothing, brightness scales it.
    per_image = out.flatten(1)
    assert torch.allclose(per_image, per_image[:, :1].expand_as(per_image), atol=1e-6)
    values = per_image[:, 0]
    assert values.min() >= 0.25 - 1e-6 and values.max() <= 0.75 + 1e-6 and values.std() > 0.05
    colour = torch.rand(64, 3, 8, 8, generator=gen(3))
    jittered = augment_batch(colour, AugmentConfig(color_jitter=1.0), gen())
    assert jittered.min() >= 0.0 and jittered.max() <= 1.0 and not torch.equal(jittered, colour)


def test_erasing_blanks_one_rectangle_per_image():
    x = torch.ones(64, 3, 16, 16)
    out = augment_batch(x, AugmentConfig(erasing=1.0), gen())
    for b in range(64):
        erased = out[b] == 0
        assert torch.equal(erased[0], erased[1]) and torch.equal(erased[0], erased[2])
        rows, cols = erased[0].any(1).nonzero().flatten(), erased[0].any(0).nonzero().flatten()
        h, w = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
        assert int(erased[0].sum()) == h * w  # a full rectangle
        assert 0.015 <= h * w / 256 <= 0.4
    assert torch.equal(augment_batch(x, AugmentConfig(erasing=0.0), gen()), x)
    half = augment_batch(torch.ones(400, 1, 16, 16), AugmentConfig(erasing=0.5), gen())
    assert 160 < int((half == 0).flatten(1).any(1).sum()) < 240


def test_noise_is_added_after_normalization():
    x = torch.zeros(256, 1, 28, 28)
    out = augment_batch(x, AugmentConfig(noise_std=0.5), gen())
    assert abs(out.mean().item()) < 0.01 and abs(out.std().item() - 0.5) < 0.01
    norm = augment_batch(x, AugmentConfig(noise_std=0.5), gen(), mean=[0.25], std=[0.5])
    # Same draws; the noise is added to (0 - 0.25) / 0.5 = -0.5, in normalized units.
    assert torch.allclose(norm, out - 0.5, atol=1e-6)
    plain = augment_batch(torch.full((2, 3, 2, 2), 0.5), AugmentConfig(), gen(), mean=[0.5, 0.25, 0.0],
                          std=[0.5, 0.25, 1.0])
    assert torch.allclose(plain[0, :, 0, 0], torch.tensor([0.0, 1.0, 0.5]))


def test_everything_at_once_is_deterministic_and_keeps_device_and_dtype():
    cfg = AugmentConfig(hflip=True, vflip=True, crop_padding=4, rotate_degrees=15, translate=0.1, color_jitter=0.4,
                        erasing=0.5, noise_std=0.1)
    x = torch.rand(256, 3, 32, 32, generator=gen(4))
    a = augment_batch(x, cfg, gen(7), mean=[0.5] * 3, std=[0.25] * 3)
    b = augment_batch(x, cfg, gen(7), mean=[0.5] * 3, std=[0.25] * 3)
    c = augment_batch(x, cfg, gen(8), mean=[0.5] * 3, std=[0.25] * 3)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.dtype == torch.float32 and a.device == x.device
    assert torch.isfinite(a).all()
    x64 = x[:8].double()
    assert augment_batch(x64, cfg, gen()).dtype == torch.float64
    grey = augment_batch(torch.rand(256, 1, 28, 28, generator=gen(5)), cfg, gen())
    assert grey.shape == (256, 1, 28, 28)


def test_augmentation_needs_a_float_batch():
    with pytest.raises(ValueError, match=r"need a float \(B, C, H, W\) batch"):
        augment_batch(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), AugmentConfig(hflip=True), gen())
    with pytest.raises(ValueError, match=r"need a float \(B, C, H, W\) batch"):
        augment_batch(torch.zeros(1, 4, 4), AugmentConfig(hflip=True), gen())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_augmentation_runs_on_the_gpu():
    cfg = AugmentConfig(hflip=True, crop_padding=2, rotate_degrees=10, color_jitter=0.3, erasing=0.5, noise_std=0.1)
    x = torch.rand(64, 3, 32, 32, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    out = augment_batch(x, cfg, g, mean=[0.5] * 3, std=[0.25] * 3)
    assert out.device == x.device and out.shape == x.shape
    g2 = torch.Generator(device="cuda").manual_seed(0)
    assert torch.equal(out, augment_batch(x, cfg, g2, mean=[0.5] * 3, std=[0.25] * 3))
