"""A run keeps its epochs (issue 24): epoch 0 and every epoch in the project file, within a budget.

One small training run (LeNet-5 on 320 synthetic images, 3 epochs, through ``cnnplayground train``) is
shared by the module; the thinning rule is tested on its own with tensors of known sizes.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnplayground.cli import main
from cnnplayground.core.presets import get_preset
from cnnplayground.data.registry import load_dataset
from cnnplayground.io.project import ProjectError, load_project, project_from_bytes, save_project
from cnnplayground.io.project_epochs import snapshot_model, snapshot_weights, stored_epochs
from cnnplayground.io.recovery import save_recovery_copy
from cnnplayground.project import Project, RunHistory
from cnnplayground.project.epochs import MB, EpochCollector, RunEpochs, spaced, within_budget
from cnnplayground.train.setup import build_for_data

EPOCHS = 3
TRAIN = ["--dataset", "synthetic", "--train-size", "320", "--test-size", "0", "--batch-size", "64",
         "--epochs", str(EPOCHS), "--seed", "5"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A LeNet-5 project trained for 3 epochs by the command line (its epochs stored)."""
    folder = tmp_path_factory.mktemp("epochs")
    out = folder / "lenet.cnnp"
    assert main(["train", "--preset", "lenet5", *TRAIN, "--save", str(out)]) == 0
    return out


def test_a_trained_run_stores_epoch_0_and_every_epoch_in_the_project_file(trained):
    names = zipfile.ZipFile(trained).namelist()
    assert [n for n in names if n.startswith("runs/")] == [
        "runs/1/network.json", *(f"runs/1/epoch_{k}.safetensors" for k in range(EPOCHS + 1))]
    project = load_project(trained)
    assert stored_epochs(project, 0) == [0, 1, 2, 3]


def test_epoch_0_holds_the_initial_weights_exactly(trained):
    """The stored epoch 0 is the network built from the run's seed before any step, bit for bit."""
    project = load_project(trained)
    data = load_dataset(project.dataset, val_fraction=project.training.val_fraction, seed=project.training.seed)
    torch.manual_seed(project.training.seed)
    initial = build_for_data(get_preset("lenet5").factory(), data, project.training).state_dict()
    epoch0 = snapshot_weights(project, 0, 0)
    assert epoch0.keys() == initial.keys()
    assert all(torch.equal(epoch0[k], initial[k]) for k in initial)
    # and training moved them: epoch 1 is another set of weights
    assert not torch.equal(snapshot_weights(project, 0, 1)["layers.conv1.weight"], initial["layers.conv1.weight"])
    # the last epoch's are the weights the run ended with (keep-best kept epoch 3, the best here, or another)
    kept = project.history[0].kept_epoch or EPOCHS
    assert all(torch.equal(snapshot_weights(project, 0, kept)[k], project.weights[k]) for k in initial)


def test_the_model_at_a_run_and_epoch_is_the_runs_own_network(trained):
    project = load_project(trained)
    project.graph.remove_node("conv2")  # the canvas changed since the run: the run keeps its own network
    model = snapshot_model(project, 0, 2)
    assert torch.equal(model.layers["conv1"].weight, snapshot_weights(project, 0, 2)["layers.conv1.weight"])
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)
    with pytest.raises(ProjectError, match=r"^run 1 keeps no weights of epoch 9 \(stored epochs: 0, 1, 2, 3\)$"):
        snapshot_weights(project, 0, 9)


def test_an_old_project_without_snapshots_still_opens(trained):
    """A project written before runs kept epochs (no runs/ entries, no snapshot_budget_mb) opens as before."""
    with zipfile.ZipFile(trained) as zf:
        doc = json.loads(zf.read("project.json"))
        weights = zf.read("weights.safetensors")
    del doc["training"]["snapshot_budget_mb"]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("project.json", json.dumps(doc))
        zf.writestr("weights.safetensors", weights)
    project = project_from_bytes(buffer.getvalue())
    assert len(project.history) == 1 and project.history[0].epochs is None
    assert stored_epochs(project, 0) == [] and project.training.snapshot_budget_mb == 200
    assert project.weights is not None


def _rewritten(path, change) -> bytes:
    """The archive at ``path`` with ``change(entries)`` applied to its ``{name: bytes}``."""
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    change(entries)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _other_weights(entries):  # epoch 2 holds a network with 8 filters in conv1
    graph = get_preset("lenet5").factory()
    graph.set_params("conv1", {"out_channels": 8})
    import safetensors.torch

    from cnnplayground.core.builder import build
    entries["runs/1/epoch_2.safetensors"] = safetensors.torch.save(build(graph).state_dict())


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: e.update({"runs/2/epoch_0.safetensors": e["runs/1/epoch_0.safetensors"]}),
     "the project archive holds 'runs/2/epoch_0.safetensors', but the project has no run 2"),
    (lambda e: e.pop("runs/1/network.json"),
     "the project archive holds the epochs of run 1 but not runs/1/network.json"),
    (lambda e: e.update({"runs/1/epoch_01.safetensors": b"x"}),  # refused with or without the weights
     "the project archive holds an unknown file 'runs/1/epoch_01.safetensors'"),
    (lambda e: e.update({"runs/1/epoch_1.safetensors": e["runs/1/epoch_1.safetensors"][:100]}),
     "runs/1/epoch_1.safetensors is damaged (its header claims"),
    (_other_weights,
     "runs/1/epoch_2.safetensors: weights for layers.conv1.weight have shape 8×1×5×5, the network needs 6×1×5×5"),
    (lambda e: e.update({"runs/1/network.json": b'{"nodes": 3}'}),
     "runs/1/network.json: nodes: input should be a valid list"),
    (lambda e: e.update({"runs/1/epoch_1.safetensors": b"\xff" * 8 + b"{}"}),
     "runs/1/epoch_1.safetensors is damaged (its header claims"),
])
def test_a_hostile_archive_with_bad_epoch_entries_is_refused(trained, change, message):
    data = _rewritten(trained, change)
    with pytest.raises(ProjectError) as info:
        project_from_bytes(data)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)
    if "unknown file" not in message:  # the structure still opens without the weights
        assert len(project_from_bytes(data, load_weights=False).history) == 1


def test_too_many_or_too_large_epochs_are_refused_before_any_is_inflated(trained, monkeypatch):
    """The limits (2,000 epochs, 2 GiB) are checked from the archive's directory; lowered here to the
    file's own 4 epochs of 247,656 bytes, nothing is read (read_weights is never called)."""
    import cnnplayground.io.project_epochs as epochs_module

    data = trained.read_bytes()
    calls = []
    monkeypatch.setattr(epochs_module, "read_weights", lambda *a: calls.append(a))
    monkeypatch.setattr(epochs_module, "MAX_SNAPSHOTS", 3)
    with pytest.raises(ProjectError, match=r"^the project archive holds the weights of 4 epochs; at most 3 are "
                                           r"allowed$"):
        project_from_bytes(data)
    monkeypatch.setattr(epochs_module, "MAX_SNAPSHOTS", 4)
    monkeypatch.setattr("cnnplayground.io.project.MAX_WEIGHTS_BYTES", 4 * 247_656 - 1)
    with pytest.raises(ProjectError, match=r"^the weights of the runs' epochs in the archive are 990,624 bytes; "
                                           r"at most 990,623 are allowed$"):
        project_from_bytes(data)
    assert calls == []


def test_autosave_and_recovery_keep_the_epochs(trained, tmp_path):
    project = load_project(trained)
    copy = save_recovery_copy(project, trained, folder=tmp_path)
    again = load_project(copy)
    assert stored_epochs(again, 0) == [0, 1, 2, 3]
    assert again.history == project.history  # epochs compared tensor by tensor


# --- the budget ----------------------------------------------------------------------------


def _run(epochs, size_mb: float = 1.0) -> RunEpochs:
    """A run whose epochs each weigh ``size_mb`` (float32 zeros: 262,144 per MB)."""
    numel = int(size_mb * MB) // 4
    return RunEpochs(get_preset("lenet5").factory(), {k: {"w": torch.full((numel,), float(k))} for k in epochs})


def test_thinning_keeps_evenly_spaced_epochs_and_never_drops_0_the_last_or_the_kept_one():
    assert spaced(range(11), {0, 10}, 3) == [0, 5, 10]
    assert spaced(range(11), {0, 10}, 5) == [0, 2, 5, 7, 10]
    assert spaced(range(11), {0, 10}, 6) == [0, 2, 4, 6, 8, 10]
    assert spaced(range(11), {0, 10, 7}, 4) == [0, 3, 7, 10]
    assert spaced(range(11), {0, 10, 7}, 1) == [0, 7, 10]  # the essential epochs stay, even beyond the count
    assert spaced(range(4), {0, 3}, 9) == [0, 1, 2, 3]  # all of them when they fit
    # every budget from one snapshot to all 31: never more than fits, always epoch 0, the last (30) and the
    # kept one (17); a budget too small for those three keeps none (the file stays within its budget)
    run = _run(range(31), 0.25)
    for budget in range(1, 33):
        kept = within_budget([(run, 17)], budget * MB // 4)[0]
        if budget < 3:
            assert kept == []
        else:
            assert {0, 17, 30} <= set(kept) and len(kept) == min(budget, 31), (budget, kept)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.sets(st.integers(0, 60), min_size=1, max_size=40), st.integers(0, 45), st.data())
def test_thinning_keeps_the_count_and_the_essential_epochs_of_any_run(stored, count, data):
    essential = data.draw(st.sets(st.sampled_from(sorted(stored)), max_size=3))
    kept = spaced(stored, essential, count)
    assert set(kept) <= stored and essential <= set(kept)
    assert len(kept) == min(len(stored), max(count, len(essential)))
    if count >= len(essential) + 2:
        assert min(stored) in kept and max(stored) in kept


def test_the_project_budget_is_shared_by_the_runs_and_the_oldest_give_way():
    old, new = _run(range(21)), _run(range(11))
    # 12 MB: each run keeps up to 6 epochs (6 + 6), evenly spaced, with its kept epoch
    assert within_budget([(old, 4), (new, None)], 12 * MB) == [[0, 4, 8, 12, 16, 20], [0, 2, 4, 6, 8, 10]]
    # 4 MB cannot hold both runs' essential epochs (3 + 2): the older run gives its epochs up
    assert within_budget([(old, 4), (new, None)], 4 * MB) == [[], [0, 3, 7, 10]]
    assert within_budget([(old, 4), (new, None)], 0) == [[], []]
    assert within_budget([(old, 4), None], 2 * MB) == [[], []]  # its essential epochs alone are over


def test_a_run_in_progress_holds_its_budget_and_ends_with_its_essential_epochs():
    """The collector keeps the planned evenly spaced epochs plus the newest and the best so far."""

    class Epoch:
        def __init__(self, epoch, best=False):
            self.epoch, self.best = epoch, best

    class Snap:
        def __init__(self, epoch, state):
            self.epoch, self.state = epoch, state

    collector = EpochCollector(get_preset("lenet5").factory(), planned_epochs=20, budget_bytes=5 * MB)
    collector.start({"w": torch.zeros(MB // 4)})
    most = 0
    for k in range(1, 16):  # stopped early after epoch 15; epoch 6 was the best
        collector.epoch_finished(Epoch(k, best=k in (1, 6)))
        collector.snapshot(Snap(k, {"w": torch.full((MB // 4,), float(k))}))
        most = max(most, len(collector.weights))
    collector.snapshot(Snap(15, {"w": torch.ones(1)}))  # asked for again: not a second epoch 15
    collector.epoch_finished(Epoch(16))
    assert most <= 5 + 2  # the budget's 5, the newest and the best
    run = collector.result()
    assert len(run.epochs()) <= 5 and {0, 6, 15} <= set(run.epochs())
    assert torch.equal(run.weights[6]["w"], torch.full((MB // 4,), 6.0))


def test_saving_writes_the_epochs_within_the_projects_budget(tmp_path):
    graph = get_preset("lenet5").factory()
    project = Project.new(graph)
    from cnnplayground.core.builder import build

    state = build(graph).state_dict()
    size = sum(t.numel() * t.element_size() for t in state.values())  # 247,128 bytes
    record = RunHistory(name="run 1", kept_epoch=9).keep_epochs(RunEpochs(graph, {k: state for k in range(21)}))
    project.history.append(record)
    project.training = project.training.model_copy(update={"snapshot_budget_mb": 1})  # 4 of LeNet-5's epochs
    save_project(project, tmp_path / "p.cnnp")
    assert size * 4 <= MB < size * 5
    assert stored_epochs(load_project(tmp_path / "p.cnnp"), 0) == [0, 9, 14, 20]
    assert stored_epochs(project, 0) == list(range(21))  # memory keeps the run whole
