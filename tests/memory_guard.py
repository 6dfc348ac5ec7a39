"""The 800-byte project of issue 21 (a network of 1.87·10⁹ parameters) and a guard that fails a test,
before anything is allocated, when a network beyond a size is built on a real device.

Shared by the memory-guard tests of core, the command line and the window (``tests/`` is on
``sys.path`` through its conftest). No test ever builds the huge network: the guard turns that into an
assertion, which is also how these tests fail on code without the memory check.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cnnplayground.core.builder import GraphModule
from cnnplayground.core.graph import Graph
from cnnplayground.project import Project

#: Its parameters: 784·2^20 + 2^20 (fc1), 2^20·1000 + 1000 (fc2), 1000·10 + 10 (fc3).
HUGE_PARAMS = 1_871_719_170
#: Bytes of a typical laptop's free memory, injected as "available" (8 GB of weights do not fit).
LAPTOP = 6 * 2**30
#: Networks beyond this many parameters may not be built on a real device in these tests (~40 MB).
BUILD_LIMIT = 10_000_000


def huge_graph() -> Graph:
    """Input 1×28×28 → Flatten → Linear 1,048,576 → Linear 1000 → Linear 10."""
    graph = Graph()
    graph.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="input1", position=(0, 0))
    graph.add_node("Flatten", id="flatten1", position=(0, 120))
    graph.add_node("Linear", {"out_features": 1_048_576}, id="fc1", position=(0, 240))
    graph.add_node("Linear", {"out_features": 1000}, id="fc2", position=(0, 360))
    graph.add_node("Linear", {"out_features": 10}, id="fc3", position=(0, 480))
    graph.chain("input1", "flatten1", "fc1", "fc2", "fc3")
    return graph


def write_huge_project(path: Path) -> Path:
    """The hostile project file: a few hundred bytes that describe ~7 GB of weights."""
    from cnnplayground.io.project import save_project

    save_project(Project.new(graph=huge_graph(), name="huge"), path)
    return path


def forbid_large_builds(monkeypatch, limit: int = BUILD_LIMIT) -> list[int]:
    """Fail (AssertionError) any build of a network of more than ``limit`` parameters outside the ``meta``
    device, before its first layer is made. Returns the parameter counts of the builds that happened."""
    built: list[int] = []
    real_init = GraphModule.__init__

    def init(self, graph, result):
        on_meta = torch.get_default_device().type == "meta"
        assert on_meta or result.total_params <= limit, (
            f"a network of {result.total_params:,} parameters was built: the memory guard let it through")
        built.append(result.total_params)
        real_init(self, graph, result)

    monkeypatch.setattr(GraphModule, "__init__", init)
    return built
