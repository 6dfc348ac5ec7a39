"""A sweep checks each variant's memory before loading its data or building it (issue 21, item 2): a batch
size too large for the memory there is fails that variant, with both numbers, and the others train."""

from __future__ import annotations

from memory_guard import forbid_large_builds

from cnnplayground.core import memory
from cnnplayground.core.presets import get_preset
from cnnplayground.data.base import ImageData
from cnnplayground.project import DatasetChoice, Project, TrainingConfig
from cnnplayground.train.sweep import Axis, Sweep, SweepSpec, VariantFinished, default_data_loader, variants


def test_a_variant_too_large_for_the_memory_fails_alone_with_both_numbers(monkeypatch):
    built = forbid_large_builds(monkeypatch)
    # LeNet-5 with Adam: 4 × 246,824 bytes of weights, gradients and state, plus 2 × 15,786 activation values
    # of 4 bytes per image: 3,007,904 bytes at batch 16, 33,317,024 at batch 256. 16 MB are available.
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 16 * 2**20)
    config = TrainingConfig(epochs=1, batch_size=16, device="cpu", checkpoint_every=0, val_fraction=0.2)
    dataset = DatasetChoice(name="synthetic", options={"train_size": 64, "test_size": 0})
    project = Project.new(get_preset("lenet5").factory(), name="sweep", dataset=dataset, training=config)
    loads: list[int] = []

    def loader(choice: DatasetChoice, cfg: TrainingConfig) -> ImageData:
        loads.append(cfg.batch_size)
        return default_data_loader(choice, cfg)

    vs = variants(SweepSpec((Axis.grid("batch_size", 16, 256),)), project)
    finished = [e for e in Sweep(vs, loader).run() if isinstance(e, VariantFinished)]
    assert [f.outcome for f in finished] == ["completed", "failed"]
    assert finished[1].message == (
        "this network needs about 31.8 MB to train at batch size 256 (weights 241.0 KB, gradients 241.0 KB, "
        "optimizer state 482.1 KB, activations 30.8 MB); this machine has 16.0 MB available: use a smaller batch "
        "size or smaller layers")
    assert built == [61_706] and loads == [16]  # the variant that fits, only: the other loaded no data
