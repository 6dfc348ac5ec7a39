"""DeviceLoader: seeded epochs of index-slice batches, normalized on the device."""

from __future__ import annotations

import io

import pytest
import torch

from cnnplayground.data.base import Split
from cnnplayground.data.loader import DeviceLoader
from cnnplayground.project import AugmentConfig

N = 103
MEAN, STD = (0.3,), (0.2,)


def numbered_split(n: int = N, channels: int = 1) -> Split:
    """Image ``i`` has every pixel equal to ``i`` (so a batch tells which images it holds); label ``i % 7``."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, channels, 4, 4).contiguous()
    return Split(images, torch.arange(n) % 7)


def image_ids(x: torch.Tensor, mean=MEAN, std=STD) -> torch.Tensor:
    """Which numbered images a normalized batch holds."""
    pixels = x * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    return (pixels[:, 0, 0, 0] * 255).round().long()


def epoch_ids(loader: DeviceLoader) -> torch.Tensor:
    return torch.cat([image_ids(x) for x, _ in loader])


def test_each_image_appears_once_per_epoch_with_its_label():
    loader = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=10)
    assert len(loader) == 11 and loader.num_samples == N
    for _ in range(2):
        sizes, ids = [], []
        for x, y in loader:
            sizes.append(len(y))
            batch_ids = image_ids(x)
            assert torch.equal(y, batch_ids % 7)
            assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape[1:] == (1, 4, 4)
            ids.append(batch_ids)
        assert sizes == [10] * 10 + [3]
        assert sorted(torch.cat(ids).tolist()) == list(range(N))


def test_order_changes_between_epochs_and_follows_the_seed():
    a = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, seed=1)
    b = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, seed=1)
    c = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, seed=2)
    a1, a2 = epoch_ids(a), epoch_ids(a)
    assert not torch.equal(a1, a2)
    assert torch.equal(a1, epoch_ids(b)) and torch.equal(a2, epoch_ids(b))
    assert not torch.equal(a1, epoch_ids(c))
    # The order is the documented CPU permutation, the same on any device.
    g = torch.Generator().manual_seed(1)
    assert torch.equal(a1, torch.randperm(N, generator=g))


def test_without_shuffle_the_order_is_the_split_order():
    loader = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=32, shuffle=False)
    assert epoch_ids(loader).tolist() == list(range(N))
    assert epoch_ids(loader).tolist() == list(range(N))


def test_drop_last_skips_the_short_batch():
    loader = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=10, drop_last=True)
    assert len(loader) == 10
    batches = list(loader)
    assert len(batches) == 10 and all(len(y) == 10 for _, y in batches)
    assert len(DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=200, drop_last=True)) == 0
    assert len(DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=200)) == 1


def test_normalization_is_undone_by_std_and_mean():
    images = torch.randint(0, 256, (50, 3, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    split = Split(images, torch.zeros(50, dtype=torch.int64))
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.25)
    loader = DeviceLoader(split, mean=mean, std=std, batch_size=64, shuffle=False)
    (x, _), = list(loader)
    restored = x * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    assert torch.allclose(restored, images.float() / 255, atol=1e-6)
    # A configured but disabled augmentation is the same as none.
    off = DeviceLoader(split, mean=mean, std=std, batch_size=64, shuffle=False, augment=AugmentConfig())
    assert off.augment is None and torch.equal(next(iter(off))[0], x)


def test_augmentation_is_applied_in_pixel_space_before_normalizing():
    loader = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=N, shuffle=False,
                          augment=AugmentConfig(erasing=1.0))
    x, _ = next(iter(loader))
    # Erased pixels are black (0 in [0, 1]), i.e. -mean/std after normalizing.
    erased = x[1:] == (0 - MEAN[0]) / STD[0]
    assert erased.flatten(1).any(1).all() and not erased.flatten(1).all(1).any()


def _saved(state: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_state_dict_resumes_exactly():
    cfg = AugmentConfig(hflip=True, crop_padding=1, noise_std=0.1)
    kwargs = dict(mean=MEAN, std=STD, batch_size=16, augment=cfg, seed=4)
    uninterrupted = DeviceLoader(numbered_split(), **kwargs)
    for _ in range(2):
        list(uninterrupted)
    expected = list(uninterrupted)

    first = DeviceLoader(numbered_split(), **kwargs)
    for _ in range(2):
        list(first)
    state = _saved(first.state_dict())
    assert state["epochs"] == 2
    resumed = DeviceLoader(numbered_split(), **kwargs)
    resumed.load_state_dict(state)
    got = list(resumed)
    assert len(got) == len(expected)
    for (xa, ya), (xb, yb) in zip(got, expected):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    fresh = list(DeviceLoader(numbered_split(), **kwargs))
    assert not torch.equal(fresh[0][0], expected[0][0])


def test_state_from_another_device_kind_keeps_the_order():
    loader = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, seed=4)
    state = loader.state_dict()
    state["augment_rng"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state
    other = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, seed=4)
    other.load_state_dict(state)
    assert torch.equal(epoch_ids(other), epoch_ids(loader))


def test_channels_last_batches():
    split = numbered_split(channels=3)
    mean, std = MEAN * 3, STD * 3
    x, _ = next(iter(DeviceLoader(split, mean=mean, std=std, batch_size=8, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    x, _ = next(iter(DeviceLoader(split, mean=mean, std=std, batch_size=8)))
    assert x.is_contiguous()


def test_host_fallback_gives_the_same_batches():
    cfg = AugmentConfig(vflip=True, color_jitter=0.2)
    resident = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, augment=cfg, seed=9)
    streamed = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, augment=cfg, seed=9,
                            max_device_bytes=1)
    assert resident.on_device and not streamed.on_device
    for _ in range(2):
        for (xa, ya), (xb, yb) in zip(resident, streamed, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_empty_split_has_no_batches():
    split = Split(torch.zeros(0, 1, 4, 4, dtype=torch.uint8), torch.zeros(0, dtype=torch.int64))
    loader = DeviceLoader(split, mean=MEAN, std=STD, batch_size=8)
    assert len(loader) == 0 and list(loader) == []


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=0)
    with pytest.raises(ValueError, match=r"need one mean and std per channel \(1\), got 3 and 1"):
        DeviceLoader(numbered_split(), mean=(0.1, 0.2, 0.3), std=STD, batch_size=4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_match_the_cpu_order():
    cfg = AugmentConfig(hflip=True)
    gpu = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, device="cuda", seed=3, augment=cfg)
    cpu = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, seed=3)
    for (xg, yg), (_, yc) in zip(gpu, cpu, strict=True):
        assert xg.device.type == "cuda" and yg.device.type == "cuda"
        assert torch.equal(yg.cpu(), yc)
    streamed = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, device="cuda", seed=3,
                            augment=cfg, max_device_bytes=1)
    gpu2 = DeviceLoader(numbered_split(), mean=MEAN, std=STD, batch_size=16, device="cuda", seed=3, augment=cfg)
    for (xa, ya), (xb, yb) in zip(gpu2, streamed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
