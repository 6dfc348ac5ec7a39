"""Property test: a damaged or hostile project file gives a Project or a one-line ProjectError.

A valid project is mutated at the JSON level (delete keys, retype values, huge
numbers up to ±10**400, duplicate nodes, stray wires, other schema versions) and
at the byte level (truncate, flip bytes), as plain JSON and inside a ``.cnnp``
archive with weights. Long chains of strided convolutions and poolings (and
channel-doubling concatenations) test the arithmetic of shape inference and
receptive fields far past any real network. Any exception other than
:class:`ProjectError` fails the test.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from typing import Any

import safetensors.torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer
from cnnplayground.core.registry import all_kinds
from cnnplayground.core.summary import summarize
from cnnplayground.io.project import (
    ProjectError,
    check_weights,
    project_from_bytes,
    project_to_json,
    weights_from_module,
)
from cnnplayground.project import Project, RunHistory, Series


def _base() -> tuple[dict[str, Any], bytes]:
    g = Graph()
    g.add_node("Input", {"channels": 3, "height": 12, "width": 12}, id="inp")
    g.add_node("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1}, id="conv1", position=(10, 20))
    g.add_node("BatchNorm2d", id="bn1")
    g.add_node("ReLU", id="relu1")
    g.add_node("Add", id="add1")
    g.add_node("MaxPool2d", id="pool1")
    g.add_node("Flatten", id="flat")
    g.add_node("Linear", {"out_features": 5}, id="fc1")
    g.chain("inp", "conv1", "bn1", "relu1", "add1")
    g.connect("conv1", "add1")
    g.chain("add1", "pool1", "flat", "fc1")
    p = Project.new(g, name="fuzz base")
    p.history = [RunHistory(name="r", settings={"lr": 0.1}, series={"loss": Series(x=[0, 1], y=[1.0, None])})]
    weights = weights_from_module(build(g))
    return json.loads(project_to_json(p)), safetensors.torch.save(weights)


BASE_DOC, BASE_WEIGHTS = _base()
KINDS = [k.name for k in all_kinds()]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([0, -1, 1, 2**31, 2**63, 10**12, 10**30, 10**300, 10**400, -(10**400)])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e308, -1e308, 1e-320, 0.5])
    | st.text(max_size=12)
    | st.sampled_from(KINDS + ["same", "valid", "", "inp", "conv1"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location below ``node`` as a key/index path."""
    out: list[tuple] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        out.append((*prefix, key))
        out += _paths(child, (*prefix, key))
    return out


def _parent(doc: Any, path: tuple) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated_docs(draw) -> dict[str, Any]:
    doc = copy.deepcopy(BASE_DOC)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(
            st.sampled_from(
                ["delete", "replace", "replace", "huge", "schema", "duplicate", "wire", "kind", "insert"]
            )
        )
        paths = _paths(doc)
        nodes = doc.get("graph", {}).get("nodes") if isinstance(doc.get("graph"), dict) else None
        if op in ("delete", "replace", "huge", "insert") and paths:
            path = draw(st.sampled_from(paths))
            parent = _parent(doc, path)
            if op == "delete":
                del parent[path[-1]]
            elif op == "replace":
                parent[path[-1]] = draw(json_values)
            elif op == "huge":
                parent[path[-1]] = draw(
                    st.sampled_from([10**12, -(10**12), 2**64, 10**100, 10**400, -(10**400), 1e300, -1e300])
                )
            elif isinstance(parent[path[-1]], dict):
                parent[path[-1]][draw(st.text(max_size=8))] = draw(json_values)
        elif op == "schema":
            doc["schema_version"] = draw(
                st.sampled_from([0, -1, 1, 2, 7, "1", 1.0, None, True, 10**20, 10**400, -(10**400)])
            )
        elif op == "duplicate" and isinstance(nodes, list) and nodes:
            nodes.append(copy.deepcopy(draw(st.sampled_from(nodes))))
        elif op == "wire" and isinstance(nodes, list) and nodes:
            ids = [n.get("id") for n in nodes if isinstance(n, dict)] + ["ghost"]
            edge = {
                "source": draw(st.sampled_from(ids)),
                "target": draw(st.sampled_from(ids)),
                "port": draw(st.integers(0, 3)),
            }
            if isinstance(doc["graph"].get("edges"), list):
                doc["graph"]["edges"].append(edge)
        elif op == "kind" and isinstance(nodes, list) and nodes:
            node = draw(st.sampled_from(nodes))
            if isinstance(node, dict):
                node["kind"] = draw(st.sampled_from(KINDS))
    return doc


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@st.composite
def damaged_files(draw) -> bytes:
    if draw(st.booleans()):
        text = json.dumps(draw(mutated_docs()), ensure_ascii=draw(st.booleans()))
    else:
        text = json.dumps(BASE_DOC)
    data = text.encode()
    container = draw(st.sampled_from(["json", "zip", "zip+weights"]))
    if container != "json":
        entries = {"project.json": data}
        if container == "zip+weights":
            entries["weights.safetensors"] = BASE_WEIGHTS
        data = _zip(entries)
    damage = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif damage == "flip" and data:
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(buf) - 1))
            buf[at] ^= draw(st.integers(1, 255))
        data = bytes(buf)
    return data


_SETTINGS = {
    "derandomize": True,
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


def _check_load(data: bytes) -> None:
    """The property: ``data`` gives a valid project, or a one-line :class:`ProjectError`."""
    try:
        project = project_from_bytes(data)
    except ProjectError as exc:
        msg = str(exc)
        assert msg.strip(), "empty error message"
        assert "\n" not in msg and "\r" not in msg, msg
        return
    # Whatever loads is a valid project: its graph round-trips and it can be saved again.
    d = project.graph.to_dict()
    assert Graph.from_dict(d).to_dict() == d
    again = project_from_bytes(project_to_json(project).encode())
    assert again.graph.to_dict() == d
    assert again.training == project.training and again.history == project.history
    assert again.dataset == project.dataset
    if project.weights is not None:
        check_weights(project.graph, project.weights)
    # Inference and the summary never raise, whatever the network (errors are on its nodes).
    for info in infer(project.graph).infos.values():
        assert info.error is None or "\n" not in info.error
    summarize(project.graph)


@settings(max_examples=300, **_SETTINGS)
@given(damaged_files())
def test_damaged_files_load_or_fail_with_one_line_project_error(data: bytes) -> None:
    _check_load(data)


# --- long strided chains -------------------------------------------------------------------

_STRIDES = st.sampled_from([1, 2, 3, 1024]) | st.integers(1, 1024)


@st.composite
def chain_layers(draw) -> tuple[str, dict[str, Any]]:
    """One layer of a chain: mostly strided windows, sometimes a doubling Concat."""
    kind = draw(st.sampled_from(["MaxPool2d", "AvgPool2d", "Conv2d", "Conv2d", "Concat", "Dropout",
                                 "AdaptiveAvgPool2d", "BatchNorm2d"]))
    k = draw(st.integers(1, 4))
    # Mostly what the rules allow (padding at most half the kernel), sometimes not.
    padding = draw(st.integers(0, k // 2) | st.integers(0, 3))
    if kind == "MaxPool2d":
        return kind, {"kernel_size": k, "stride": draw(_STRIDES), "padding": padding,
                      "dilation": draw(st.integers(1, 2)), "ceil_mode": draw(st.booleans())}
    if kind == "AvgPool2d":
        return kind, {"kernel_size": k, "stride": draw(_STRIDES), "padding": padding,
                      "ceil_mode": draw(st.booleans())}
    if kind == "Conv2d":
        stride = draw(_STRIDES)
        return kind, {"out_channels": draw(st.sampled_from([1, 2, 3])), "kernel_size": k, "stride": stride,
                      "padding": draw(st.sampled_from([padding, "valid", "same"])),
                      "dilation": draw(st.integers(1, 2))}
    if kind == "AdaptiveAvgPool2d":
        return kind, {"output_size": draw(st.sampled_from([1, 2, 16384]))}
    if kind == "Dropout":
        return kind, {"p": draw(st.sampled_from([0.0, 0.5, 1]))}
    if kind == "BatchNorm2d":
        return kind, {"eps": 1e-5, "momentum": 0.1}
    return kind, {}


@st.composite
def strided_chain_files(draw) -> bytes:
    """A project whose network is Input → (a few layers, repeated up to 200 times) [→ Flatten → Linear]."""
    doc = copy.deepcopy(BASE_DOC)
    doc["history"] = []
    side = st.sampled_from([1, 1, 2, 3, 5, 28]) | st.integers(1, 16384)
    nodes: list[dict[str, Any]] = [
        {"id": "inp", "kind": "Input",
         "params": {"channels": draw(st.integers(1, 4)), "height": draw(side), "width": draw(side)}},
    ]
    edges: list[dict[str, Any]] = []
    pattern = draw(st.lists(chain_layers(), min_size=1, max_size=3))
    prev = "inp"
    # Over 100 layers of stride 1024 take the field's jump past the float range (1024^103).
    for i in range(draw(st.integers(1, 200) | st.integers(100, 200))):
        kind, params = pattern[i % len(pattern)]
        nid = f"n{i}"
        nodes.append({"id": nid, "kind": kind, "params": params})
        edges.append({"source": prev, "target": nid, "port": 0})
        if kind == "Concat":
            edges.append({"source": prev, "target": nid, "port": 1})
        prev = nid
    if draw(st.booleans()):
        nodes += [{"id": "flat", "kind": "Flatten"},
                  {"id": "fc", "kind": "Linear", "params": {"out_features": draw(st.integers(1, 10))}}]
        edges += [{"source": prev, "target": "flat", "port": 0}, {"source": "flat", "target": "fc", "port": 0}]
    doc["graph"] = {"nodes": nodes, "edges": edges}
    if draw(st.booleans()):  # and a huge number somewhere in it
        node = draw(st.sampled_from(nodes))
        if node.get("params"):
            key = draw(st.sampled_from(sorted(node["params"])))
            node["params"][key] = draw(st.sampled_from([10**400, -(10**400), 2**64, 1e300]))
    return json.dumps(doc).encode()


@settings(max_examples=150, **_SETTINGS)
@given(strided_chain_files())
def test_long_strided_chains_load_or_fail_with_one_line_project_error(data: bytes) -> None:
    _check_load(data)


def test_saturating_chain_is_a_valid_project() -> None:
    """120 stride-1024 poolings on a 1×1 map: the field saturates, the project loads."""
    doc = copy.deepcopy(BASE_DOC)
    nodes = [{"id": "inp", "kind": "Input", "params": {"channels": 1, "height": 1, "width": 1}}]
    nodes += [{"id": f"p{i}", "kind": "MaxPool2d", "params": {"kernel_size": 2, "stride": 1024, "padding": 1}}
              for i in range(120)]
    ids = [n["id"] for n in nodes]
    doc["graph"] = {"nodes": nodes, "edges": [{"source": a, "target": b, "port": 0} for a, b in zip(ids, ids[1:])]}
    doc["history"] = []
    project = project_from_bytes(json.dumps(doc).encode())
    result = infer(project.graph)
    assert result.ok and result["p119"].receptive_field.describe() == "≥2^53×≥2^53 /≥2^53"
