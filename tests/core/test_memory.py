"""The memory guard (issue 21, item 2): a network's memory need, by arithmetic, against what the machine has.

The "available" figure is always injected (a parameter, a monkeypatched ``available_memory`` or
``/proc/meminfo``): no test depends on the memory of the machine it runs on, and none builds the huge
network (``memory_guard.forbid_large_builds``).
"""

from __future__ import annotations

import os

import pytest
from memory_guard import HUGE_PARAMS, LAPTOP, forbid_large_builds, huge_graph

from cnnplayground.core import memory
from cnnplayground.core.errors import UserError
from cnnplayground.core.graph import Graph
from cnnplayground.core.memory import NotEnoughMemoryError, available_memory, check_memory, memory_need
from cnnplayground.core.presets import get_preset
from cnnplayground.project import TrainingConfig
from cnnplayground.train.setup import (
    TrainingMemoryError,
    build_for_data,
    check_training_memory,
    optimizer_values,
    training_memory_problem,
)
from cnnplayground.train.trainer import TrainingSetupError

GB = 2**30
#: LeNet-5 (61,706 parameters; 15,786 activation values per image, input included) at batch 64:
#: weights 246,824 B; training 4 × weights + 2 × 15,786 × 64 × 4 B; inference keeps at most conv1's and
#: relu1's outputs (2 × 4,704 values) alive; inspection keeps all 15,786.
LENET_TRAINING_64 = 4 * 246_824 + 2 * 15_786 * 64 * 4
LENET_INFERENCE_64 = 246_824 + 2 * 4_704 * 64 * 4
LENET_INSPECTION_64 = 246_824 + 15_786 * 64 * 4


def test_the_800_byte_network_needs_28_gb_to_train_and_says_so_in_one_line():
    graph = huge_graph()
    need = memory_need(graph, "training", 64)
    activations = 784 + 784 + 1_048_576 + 1000 + 10  # values per image: input, flatten, fc1, fc2, fc3
    assert (need.weights, need.gradients, need.optimizer) == (4 * HUGE_PARAMS, 4 * HUGE_PARAMS, 8 * HUGE_PARAMS)
    assert need.activations == 2 * activations * 64 * 4 and need.total == 30_485_697_568
    with pytest.raises(NotEnoughMemoryError) as info:
        check_memory(graph, "training", 64, available=int(11.2 * GB))
    assert str(info.value) == (
        "this network needs about 28.4 GB to train at batch size 64 (weights 7.0 GB, gradients 7.0 GB, "
        "optimizer state 13.9 GB, activations 513.3 MB); this machine has 11.2 GB available: "
        "make the largest layers smaller")
    assert isinstance(info.value, UserError) and isinstance(info.value, MemoryError)
    # Even running it on two images needs its 7 GB of weights.
    with pytest.raises(NotEnoughMemoryError, match=r"needs about 7\.0 GB to run at batch size 2 \(weights 7\.0 GB, "
                       r"activations 8\.0 MB\); this machine has 6\.0 GB available"):
        check_memory(graph, "inference", 2, available=LAPTOP)


@pytest.mark.parametrize("use, expected", [("training", LENET_TRAINING_64), ("inference", LENET_INFERENCE_64),
                                           ("inspection", LENET_INSPECTION_64)])
def test_the_threshold_works_both_ways_at_the_exact_byte(use, expected):
    graph = get_preset("lenet5").factory()
    assert memory_need(graph, use, 64).total == expected
    assert check_memory(graph, use, 64, available=expected).total == expected  # exactly enough: allowed
    with pytest.raises(NotEnoughMemoryError) as info:
        check_memory(graph, use, 64, available=expected - 1)  # one byte short: refused
    assert f"this machine has {expected - 1:,} bytes, short of the {expected:,} needed, available" in str(info.value)
    with pytest.raises(NotEnoughMemoryError, match=r"; this machine has 2\.0 MB available: "):
        check_memory(graph, use, 64, available=2 * 2**20)


def test_inference_counts_the_activations_alive_at_once_and_a_shortcut_keeps_its_input():
    # Input 4×8×8 → conv1 (4×8×8) → relu1 → add(input, relu1): the shortcut keeps the input alive to the
    # end, so three maps of 256 values are alive at relu1 and at add; the network keeps two of them.
    graph = Graph()
    graph.add_node("Input", {"channels": 4, "height": 8, "width": 8}, id="input1")
    graph.add_node("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}, id="conv1")
    graph.add_node("ReLU", id="relu1")
    graph.add_node("Add", id="add1")
    graph.chain("input1", "conv1", "relu1", "add1")
    graph.connect("input1", "add1")
    weights = (4 * 4 * 9 + 4) * 4
    assert memory_need(graph, "inference", 10).activations == 3 * 256 * 10 * 4
    assert memory_need(graph, "inspection", 10).activations == 4 * 256 * 10 * 4
    assert memory_need(graph, "inference", 10).weights == weights


def test_available_memory_reads_memavailable_then_sysconf(monkeypatch, tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683772 kB\nMemFree:  1 kB\nMemAvailable:   11744051 kB\n")
    monkeypatch.setattr(memory, "MEMINFO", meminfo)
    assert available_memory() == 11_744_051 * 1024
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "missing")  # not Linux: the system's page counts
    pages = {"SC_AVPHYS_PAGES": 1000, "SC_PAGE_SIZE": 4096}
    monkeypatch.setattr(os, "sysconf", lambda name: pages.get(name, -1))
    assert available_memory() == 4_096_000
    monkeypatch.setattr(os, "sysconf", lambda name: (_ for _ in ()).throw(ValueError(name)))
    assert available_memory() is None
    assert available_memory("mps") is None
    # Unknown: nothing is refused (the builder's 2·10⁹-parameter limit still holds).
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": None)
    assert check_memory(huge_graph(), "training", 64).total == 30_485_697_568


def test_check_memory_reads_the_machine_when_not_told(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": 5 * GB)
    with pytest.raises(NotEnoughMemoryError, match="this machine has 5.0 GB available"):
        check_memory(huge_graph(), "inspection")
    assert check_memory(get_preset("lenet5").factory(), "inspection").total < 1 * 2**20


@pytest.mark.parametrize("optimizer, momentum, values", [("adam", 0.9, 2), ("adamw", 0.0, 2), ("sgd", 0.9, 1),
                                                         ("sgd", 0.0, 0), ("rmsprop", 0.0, 1), ("rmsprop", 0.9, 2)])
def test_training_counts_the_optimizers_own_state(optimizer, momentum, values):
    config = TrainingConfig(optimizer=optimizer, momentum=momentum, batch_size=64, device="cpu")
    assert optimizer_values(config) == values
    need = check_training_memory(get_preset("lenet5").factory(), config, available=LENET_TRAINING_64)
    assert need.optimizer == values * 246_824
    assert need.total == LENET_TRAINING_64 - (2 - values) * 246_824


def test_training_is_refused_before_the_network_is_built(monkeypatch):
    from helpers import synthetic_data

    built = forbid_large_builds(monkeypatch)
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": LAPTOP)
    data = synthetic_data(8, 8)
    config = TrainingConfig(batch_size=32, device="cpu")
    with pytest.raises(TrainingMemoryError) as info:
        build_for_data(huge_graph(), data, config)
    assert isinstance(info.value, TrainingSetupError) and isinstance(info.value, NotEnoughMemoryError)
    assert "needs about 28.1 GB to train at batch size 32" in str(info.value)
    with pytest.raises(TrainingMemoryError, match="needs about 7.0 GB to run"):
        build_for_data(huge_graph(), data)  # without a config: running it on one image
    assert built == []
    problem = training_memory_problem(huge_graph(), config)
    assert problem is not None and problem.endswith("this machine has 6.0 GB available: make the largest layers "
                                                    "smaller")
    assert training_memory_problem(get_preset("lenet5").factory(), config) is None
    # A small network still builds, with the same guard in place.
    assert build_for_data(get_preset("lenet5").factory(), data, config) is not None and built == [61_706]


def test_on_a_gpu_the_run_must_fit_the_gpu_and_the_weights_the_machine(monkeypatch):
    # No GPU is needed: the device and both memories are injected (the real CUDA figure is
    # torch.cuda.mem_get_info's free bytes).
    import torch

    from cnnplayground.train import setup

    monkeypatch.setattr(setup, "resolve_device", lambda name: torch.device("cuda"))
    free = {"cpu": 128 * GB, "cuda": 6 * GB}
    monkeypatch.setattr(memory, "available_memory", lambda device="cpu": free[device])
    config = TrainingConfig(batch_size=128)
    with pytest.raises(TrainingMemoryError, match=r"needs about 28\.9 GB to train at batch size 128 .*; the CUDA "
                       r"device has 6\.0 GB available"):
        check_training_memory(huge_graph(), config)
    free.update(cpu=6 * GB, cuda=80 * GB)  # the network is built on the CPU before it moves to the GPU
    with pytest.raises(TrainingMemoryError, match=r"needs about 7\.0 GB to run at batch size 1 .*; this machine has "
                       r"6\.0 GB available"):
        check_training_memory(huge_graph(), config)
    free.update(cpu=8 * GB)
    assert check_training_memory(huge_graph(), config).total == 4 * 4 * HUGE_PARAMS + 2 * 1_051_154 * 128 * 4
