"""Build a ``torch.nn.Module`` from a valid graph.

:class:`GraphModule` holds one submodule per layer node, named by the node's id,
and runs them in topological order. Chains and DAGs (Add / Concat merges) use the
same path. Built output shapes equal inferred shapes, always (tested for every
preset and for random graphs).
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import UserError
from .graph import Graph
from .inference import InferenceResult, infer
from .registry import get_kind
from .shapes import Shape

#: Refuse to allocate networks beyond this many parameters (about 8 GB in float32).
MAX_BUILD_PARAMS = 2_000_000_000


class BuildError(UserError, ValueError):
    """The graph is not valid; the message names the first problem."""


class GraphModule(nn.Module):
    """A network built from a :class:`~.graph.Graph`.

    ``forward(x)`` takes ``(N, C, H, W)`` and returns the output node's tensor.
    ``forward_all(x)`` returns every node's output, keyed by node id (for feature
    maps and tests).

    The nodes' training attributes are applied here: ``frozen`` holds the ids of
    frozen layers (their parameters get ``requires_grad=False`` and the layers stay
    in evaluation mode whatever ``train()`` says, so a frozen BatchNorm keeps its
    running statistics); ``lr_scales`` the learning-rate factors other than 1 (a
    factor of 0 also turns gradients off: those weights never change). The
    trainer's optimizer reads both (``train.optim.param_groups``).
    """

    def __init__(self, graph: Graph, result: InferenceResult) -> None:
        super().__init__()
        self.layers = nn.ModuleDict()
        self.input_id: str = result.input_id  # type: ignore[assignment]
        self.output_id: str = result.output_id  # type: ignore[assignment]
        self.input_shape: Shape = result.input_shape  # type: ignore[assignment]
        self.output_shape: Shape = result.output_shape  # type: ignore[assignment]
        # Only nodes that lead to the output are run.
        needed = _ancestors(graph, self.output_id)
        self._plan: list[tuple[str, tuple[str, ...]]] = []
        self.frozen: set[str] = set()
        self.lr_scales: dict[str, float] = {}
        last_use: dict[str, int] = {}
        for nid in result.order:
            if nid not in needed or nid == self.input_id:
                continue
            node = graph.nodes[nid]
            sources = tuple(graph.inputs_of(nid))
            in_shapes = [result[s].shape for s in sources]
            self.layers[nid] = get_kind(node.kind).build(node.params, in_shapes)  # type: ignore[arg-type]
            if node.frozen:
                self.frozen.add(nid)
            if node.lr_scale != 1.0:
                self.lr_scales[nid] = node.lr_scale
            if node.frozen or node.lr_scale == 0:
                self.layers[nid].requires_grad_(False)
            for s in sources:
                last_use[s] = len(self._plan)
            self._plan.append((nid, sources))
        # Free each intermediate tensor after its last consumer has run.
        self._release: list[tuple[str, ...]] = [() for _ in self._plan]
        for nid, step in last_use.items():
            if nid != self.output_id:
                self._release[step] += (nid,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_id: x}
        for step, (nid, sources) in enumerate(self._plan):
            values[nid] = self.layers[nid](*(values[s] for s in sources))
            for gone in self._release[step]:
                values.pop(gone, None)
        return values[self.output_id]

    def forward_all(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every node's output for input ``x``, in execution order (input included)."""
        values = {self.input_id: x}
        for nid, sources in self._plan:
            values[nid] = self.layers[nid](*(values[s] for s in sources))
        return values

    def train(self, mode: bool = True) -> GraphModule:
        """Like ``nn.Module.train``, except that frozen layers always stay in evaluation mode."""
        super().train(mode)
        if mode:
            for nid in self.frozen:
                self.layers[nid].eval()
        return self

    @property
    def layer_ids(self) -> list[str]:
        return [nid for nid, _ in self._plan]

    def sources_of(self, node_id: str) -> tuple[str, ...]:
        """The nodes whose outputs ``node_id`` takes, in port order (empty for the input)."""
        return next((sources for nid, sources in self._plan if nid == node_id), ())


def build(graph: Graph, input_shape: Shape | None = None, result: InferenceResult | None = None) -> GraphModule:
    """Build the network; raise :class:`BuildError` with the first problem if it is not valid."""
    if result is None:
        result = infer(graph, input_shape)
    if not result.ok:
        raise BuildError(result.first_error() or "the network is not valid")
    if result.total_params > MAX_BUILD_PARAMS:
        raise BuildError(
            f"the network has {result.total_params:,} parameters; at most {MAX_BUILD_PARAMS:,} can be built"
        )
    return GraphModule(graph, result)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _ancestors(graph: Graph, node_id: str) -> set[str]:
    seen = {node_id}
    todo = [node_id]
    while todo:
        for s in graph.inputs_of(todo.pop()):
            if s not in seen:
                seen.add(s)
                todo.append(s)
    return seen


def output_shapes(module: GraphModule, batch: int = 2) -> dict[str, Shape]:
    """Run a zero batch through ``module`` and return each node's real output shape."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            x = torch.zeros((batch, *module.input_shape))
            outs = module.forward_all(x)
    finally:
        module.train(was_training)
    return {nid: tuple(t.shape[1:]) for nid, t in outs.items()}
