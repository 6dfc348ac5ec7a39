"""The graph model: edits, refusals with reasons, notifications, serialization."""

from __future__ import annotations

import pytest

from cnnplayground.core.graph import Edge, Graph, GraphError
from cnnplayground.core.params import ParamError
from cnnplayground.core.registry import CATEGORIES, all_kinds, get_kind, kinds_by_category


def small() -> Graph:
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 8, "width": 8}, id="input")
    g.add_node("Conv2d", {"out_channels": 2}, id="conv1")
    g.add_node("ReLU", id="relu1")
    g.chain("input", "conv1", "relu1")
    return g


def test_ids_are_generated_from_the_kind_prefix():
    g = Graph()
    assert [g.add_node(k).id for k in ("Conv2d", "Conv2d", "Linear", "MaxPool2d", "ReLU")] == [
        "conv1", "conv2", "fc1", "pool1", "relu1"]


def test_notifications_follow_every_edit():
    g = small()
    seen = []
    for name in ("node_added", "node_removed", "node_changed", "node_moved", "node_renamed",
                 "edge_added", "edge_removed", "structure_changed"):
        getattr(g, name).connect(lambda *a, name=name: seen.append(name))
    g.add_node("Tanh", id="t")
    g.connect("relu1", "t")
    g.set_params("conv1", {"kernel_size": 5})
    g.move_node("t", (10, 20))
    g.rename_node("t", "tanh_out")
    g.remove_node("conv1")
    assert seen == [
        "node_added", "structure_changed",
        "edge_added", "structure_changed",
        "node_changed", "structure_changed",
        "node_moved",
        "node_renamed", "structure_changed",
        "edge_removed", "edge_removed", "node_removed", "structure_changed",
    ]
    assert g.edges == [Edge("relu1", "tanh_out", 0)]


def test_set_params_reports_old_values_and_ignores_no_ops():
    g = small()
    assert g.set_params("conv1", {"kernel_size": 5, "stride": 1}) == {"kernel_size": 3}
    assert g.set_params("conv1", {"kernel_size": 5}) == {}
    with pytest.raises(GraphError, match=r"conv1 \(Conv2d\): kernel_size must be at least 1, got -3"):
        g.set_params("conv1", {"kernel_size": -3})
    assert g.node("conv1").params["kernel_size"] == 5


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda g: g.connect("relu1", "input1"), "input1 (Input) takes no inputs"),
        (lambda g: g.connect("relu1", "relu1"), "a layer cannot feed itself"),
        (lambda g: g.connect("input1", "relu1"), "relu1 (ReLU) takes 1 input and already has one"),
        (lambda g: g.connect("relu1", "nowhere"), "no layer named 'nowhere'"),
        (lambda g: g.add_node("Conv3d"), "unknown layer kind 'Conv3d'"),
        (lambda g: g.add_node("ReLU", id="conv1"), "a layer named 'conv1' already exists"),
        (lambda g: g.add_node("ReLU", id="3x"), "layer name '3x' is not valid"),
        (lambda g: g.add_node("Conv2d", {"kernel": 3}), "unknown parameter 'kernel'"),
    ],
)
def test_refused_edits_say_why(edit, reason):
    g = small()
    g.rename_node("input", "input1")
    with pytest.raises(GraphError) as info:
        edit(g)
    assert reason in str(info.value)


def test_cycles_are_refused():
    g = small()
    g.add_node("Add", id="add")
    g.connect("relu1", "add")
    g.connect("conv1", "add")
    assert g.can_connect("add", "conv1") == "conv1 (Conv2d) takes 1 input and already has one"
    g.disconnect(g.in_edges("conv1")[0])
    assert g.can_connect("add", "conv1") == "connecting add → conv1 would make a cycle"


def test_merge_ports_fill_in_order_and_keep_concat_order():
    g = small()
    g.add_node("Concat", id="cat")
    assert g.connect("relu1", "cat").port == 0
    assert g.connect("conv1", "cat").port == 1
    g.disconnect(Edge("relu1", "cat", 0))
    assert g.connect("input", "cat").port == 0  # the free port is reused
    assert g.inputs_of("cat") == ["input", "conv1"]


def test_round_trip_and_copy_are_independent():
    g = small()
    g.move_node("conv1", (12.5, -3))
    d = g.to_dict()
    g2 = Graph.from_dict(d)
    assert g2.to_dict() == d
    c = g.copy()
    c.set_params("conv1", {"out_channels": 7})
    assert g.node("conv1").params["out_channels"] == 2


def test_structure_key_is_the_network_not_its_drawing():
    def concat_graph() -> Graph:
        g = small()
        g.add_node("Concat", id="cat")
        g.connect("relu1", "cat")
        g.connect("conv1", "cat")
        return g

    g = concat_graph()
    key = g.structure_key()
    assert hash(key) == hash(concat_graph().structure_key()) and key == concat_graph().structure_key()
    g.move_node("conv1", (300.0, -40.0))
    g.set_attributes("conv1", {"frozen": True, "lr_scale": 0.5})  # how it trains, not what it is
    assert g.structure_key() == key
    assert Graph.from_dict(g.to_dict()).structure_key() == key
    removed = (g.in_edges("conv1") + g.out_edges("conv1"), g.node("conv1"))
    g.remove_node("conv1")  # deleted, then put back as undo does: added last, the same network
    g.add_node("Conv2d", removed[1].params, id="conv1")
    for e in removed[0]:
        g.connect(e.source, e.target, e.port)
    assert list(g.nodes)[-1] == "conv1" and g.structure_key() == key

    changed = concat_graph()
    changed.set_params("conv1", {"out_channels": 3})
    assert changed.structure_key() != key
    wired = concat_graph()
    wired.connect("input", "cat")  # one more wire between the same layers
    assert wired.structure_key() != key
    swapped = small()  # the same wires into the other ports: Concat joins them the other way round
    swapped.add_node("Concat", id="cat")
    swapped.connect("conv1", "cat")
    swapped.connect("relu1", "cat")
    assert swapped.structure_key() != key
    renamed = concat_graph()
    renamed.rename_node("cat", "join")
    assert renamed.structure_key() != key  # weights are stored by layer name


def test_from_dict_refuses_cycles_and_dangling_wires():
    d = small().to_dict()
    d["edges"].append({"source": "relu1", "target": "conv1", "port": 1})
    with pytest.raises(GraphError, match="takes 1 input"):
        Graph.from_dict(d)
    d = small().to_dict()
    d["nodes"].append({"id": "add", "kind": "Add", "params": {}, "position": [0, 0]})
    d["edges"] += [{"source": "relu1", "target": "add", "port": 0}, {"source": "add", "target": "add", "port": 1}]
    with pytest.raises(GraphError, match="add is wired to itself"):
        Graph.from_dict(d)
    d = small().to_dict()
    d["edges"].append({"source": "ghost", "target": "conv1", "port": 0})
    with pytest.raises(GraphError, match="missing layer 'ghost'"):
        Graph.from_dict(d)


def test_topological_order_is_stable_and_reports_cycles():
    g = small()
    g.add_node("Add", id="add")
    g.connect("conv1", "add")
    g.connect("relu1", "add")
    assert g.topological_order() == (["input", "conv1", "relu1", "add"], set())
    # Force a cycle past the checks, as a hand-edited file could.
    g._add_edge_unchecked(Edge("add", "conv1", 1))
    order, cyclic = g.topological_order()
    assert cyclic == {"conv1", "relu1", "add"}
    assert g.find_cycle() in (["conv1", "relu1", "add", "conv1"], ["conv1", "add", "conv1"])


def test_registry_covers_the_required_kinds_and_describes_them():
    names = {k.name for k in all_kinds()}
    required = {"Input", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d",
                "LocalResponseNorm", "Dropout", "Dropout2d", "Flatten", "Linear", "ReLU", "LeakyReLU",
                "PReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Add", "Concat"}
    assert required <= names
    assert [c for c, _ in kinds_by_category()] == list(CATEGORIES)
    for kind in all_kinds():
        assert kind.summary.endswith(".") and len(kind.summary) > 20, kind.name
        for spec in kind.params:
            assert spec.help, f"{kind.name}.{spec.name} has no help text"
            spec.validate(spec.default)


def test_param_validation_messages():
    spec = get_kind("Conv2d").params.get("padding")
    assert spec.validate("same") == "same"
    assert spec.validate(2.0) == 2
    for bad, msg in [("full", "padding must be a number of pixels, 'same' or 'valid'"),
                     (True, "padding must be a whole number"), (1.5, "padding must be a whole number"),
                     (-1, "padding must be at least 0")]:
        with pytest.raises(ParamError, match=msg):
            spec.validate(bad)
    p = get_kind("Dropout").params.get("p")
    with pytest.raises(ParamError, match="p must be at most 1"):
        p.validate(1.5)
    with pytest.raises(ParamError, match="p must be a finite number"):
        p.validate(float("nan"))
    assert get_kind("GELU").params.get("approximate").describe_range() == "none | tanh"


# --- review fixes: huge numbers, many ports ----------------------------------------


def _message(spec, value) -> str:
    with pytest.raises(ParamError) as info:
        spec.validate(value)
    return str(info.value)


def test_float_param_given_a_huge_int_names_the_bound():
    p = get_kind("Dropout").params.get("p")
    assert _message(p, 10**400) == "p must be at most 1, got a number too large to use"
    assert _message(p, -(10**400)) == "p must be at least 0, got a negative number too large to use"
    # Below the float limit the value is still printed.
    assert _message(p, 10**300).startswith("p must be at most 1, got 1e+300")
    g = Graph()
    with pytest.raises(GraphError, match=r"^drop1 \(Dropout\): p must be at most 1, got a number too large to use$"):
        g.add_node("Dropout", {"p": 10**400})


def test_int_params_describe_astronomical_values_instead_of_printing_them():
    conv = get_kind("Conv2d").params
    assert _message(conv.get("out_channels"), 10**400) == "out_channels must be at most 65536, got a 401-digit number"
    assert _message(conv.get("kernel_size"), -(10**400)) == (
        "kernel_size must be at least 1, got a negative 401-digit number"
    )
    assert _message(conv.get("bias"), 10**400) == "bias must be true or false, got a 401-digit number"
    assert _message(conv.get("padding"), "x" * 5000) == (
        f"padding must be a number of pixels, 'same' or 'valid'; got {'x' * 40!r}…"
    )
    # Ordinary numbers are printed as before, up to 20 digits.
    assert _message(conv.get("stride"), 10**19) == "stride must be at most 1024, got 10000000000000000000"
    assert _message(conv.get("stride"), 10**20) == "stride must be at most 1024, got a 21-digit number"


def test_huge_int_position_is_a_graph_error():
    with pytest.raises(GraphError, match="^a layer position must be finite, got a number too large to use$"):
        Graph().add_node("ReLU", position=(10**400, 0))


def test_loading_merges_with_many_ports_is_fast_and_keeps_port_order():
    import time

    n_ports = 10_000
    adds = [f"add{i}" for i in range(5)]
    data = {
        "nodes": [{"id": "inp", "kind": "Input"}] + [{"id": a, "kind": "Add"} for a in adds],
        "edges": [
            {"source": "inp", "target": a, "port": port} for a in adds for port in reversed(range(n_ports))
        ],
    }
    start = time.perf_counter()
    g = Graph.from_dict(data)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"loading 5 × {n_ports} wires took {elapsed:.1f} s"
    for a in adds:
        assert [e.port for e in g.in_edges(a)] == list(range(n_ports))
    # Equal ports (possible while renaming) keep their insertion order, like a stable sort.
    h = Graph()
    h._add_edge_unchecked(Edge("x", "t", 1))
    h._add_edge_unchecked(Edge("y", "t", 0))
    h._add_edge_unchecked(Edge("z", "t", 1))
    assert [e.source for e in h.in_edges("t")] == ["y", "x", "z"]


def test_names_pytorch_reserves_are_refused_with_the_reason():
    import torch.nn as nn

    from cnnplayground.core.graph import RESERVED_IDS

    public = {n for n in dir(nn.ModuleDict()) if not n.startswith("_")}
    assert public <= RESERVED_IDS  # a torch upgrade that adds a method must add it here
    g = Graph()
    g.add_node("Input", id="input")
    for name in ("training", "forward", "keys"):
        with pytest.raises(GraphError, match=f"'{name}' is reserved by PyTorch"):
            g.add_node("ReLU", id=name)
    with pytest.raises(GraphError, match="may not start with _"):
        g.add_node("ReLU", id="_modules")
    g.add_node("ReLU", id="trainer")  # a longer name is fine
