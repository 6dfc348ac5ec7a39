"""Project files: round trips, weights, and a precise one-line error for every bad file."""

from __future__ import annotations

import io
import json
import math
import time
import zipfile
from collections.abc import Callable

import pytest
import torch

from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.core.inference import infer
from cnnplayground.io import project as project_mod
from cnnplayground.io import project_schema
from cnnplayground.io.project import (
    MAX_ENTRIES,
    DatasetChoice,
    ProjectError,
    check_weights,
    load_project,
    project_from_bytes,
    project_to_json,
    save_project,
    weights_from_module,
)
from cnnplayground.project import Project, RunHistory, Series, TrainingConfig

# --- helpers -------------------------------------------------------------------------------


def small_graph() -> Graph:
    """Input 1×8×8 → Conv2d 4 k3 → ReLU → Flatten → Linear 3."""
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 8, "width": 8}, id="inp", position=(0, 0))
    g.add_node("Conv2d", {"out_channels": 4, "kernel_size": 3}, id="conv1", position=(120.5, -3))
    g.add_node("ReLU", id="relu1", position=(240, 0))
    g.add_node("Flatten", id="flat", position=(360, 0))
    g.add_node("Linear", {"out_features": 3}, id="fc1", position=(480, 0))
    g.chain("inp", "conv1", "relu1", "flat", "fc1")
    return g


def bn_graph() -> Graph:
    """A DAG with BatchNorm buffers and a residual Add."""
    g = Graph()
    g.add_node("Input", {"channels": 2, "height": 6, "width": 6}, id="inp")
    g.add_node("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": "same"}, id="conv1")
    g.add_node("BatchNorm2d", id="bn1")
    g.add_node("Add", id="add1")
    g.add_node("Flatten", id="flat")
    g.add_node("Linear", {"out_features": 5}, id="fc1")
    g.chain("inp", "conv1", "bn1")
    g.connect("bn1", "add1")
    g.connect("inp", "add1")
    g.chain("add1", "flat", "fc1")
    return g


def sample_project(*, weights: bool = False) -> Project:
    g = small_graph()
    p = Project.new(
        g,
        name="Tiny net – ü",
        dataset=DatasetChoice(
            name="synthetic", options={"train_size": 300, "noise": 0.25, "channels": 3}
        ),
        training=TrainingConfig(
            epochs=3, batch_size=16, optimizer="sgd", learning_rate=0.05, schedule="cosine"
        ),
    )
    p.history = [
        RunHistory(
            name="run 1",
            started="2024-05-01T12:30:00+00:00",
            settings={"lr": 0.05, "batch": 16, "augment": True, "opt": "sgd"},
            series={
                "train_loss": Series(x=[0, 1, 2, 3], y=[2.3, None, float("nan"), 0.7]),
                "val_accuracy": Series(x=[1.0, 2.0], y=[0.5, 0.75]),
            },
        ),
        RunHistory(name="empty run"),
    ]
    if weights:
        p.weights = weights_from_module(build(g))
    return p


def doc_of(p: Project) -> dict:
    return json.loads(project_to_json(p))


def as_bytes(doc: dict | str) -> bytes:
    return (doc if isinstance(doc, str) else json.dumps(doc)).encode()


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def cnnp_bytes(p: Project, tmp_path) -> bytes:
    path = tmp_path / "p.cnnp"
    save_project(p, path)
    return path.read_bytes()


def assert_same(a: Project, b: Project) -> None:
    assert a.graph.to_dict() == b.graph.to_dict()
    assert a.name == b.name
    assert a.dataset == b.dataset
    assert a.training == b.training
    assert a.history == b.history
    assert a.created == b.created
    assert a.modified == b.modified
    assert (a.weights is None) == (b.weights is None)
    if a.weights is not None:
        assert a.weights.keys() == b.weights.keys()
        for k in a.weights:
            assert a.weights[k].dtype == b.weights[k].dtype
            assert torch.equal(a.weights[k], b.weights[k]), k


def expect_error(data: bytes, *fragments: str) -> str:
    with pytest.raises(ProjectError) as info:
        project_from_bytes(data)
    msg = str(info.value)
    assert msg and "\n" not in msg and "\r" not in msg
    for fragment in fragments:
        assert fragment in msg, msg
    return msg


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "weights"), [(".cnnp", True), (".cnnp", False), (".json", False)])
def test_round_trip(tmp_path, suffix, weights):
    p = sample_project(weights=weights)
    before = p.modified
    path = tmp_path / f"net{suffix}"
    save_project(p, path)
    assert p.modified >= before
    raw = path.read_bytes()
    assert raw.startswith(b"PK\x03\x04") == (suffix == ".cnnp")
    q = load_project(path)
    assert_same(p, q)
    assert q.history[0].series["train_loss"].y == [2.3, None, None, 0.7]
    assert_same(q, project_from_bytes(raw))


def test_json_path_with_weights_writes_archive_detected_by_content(tmp_path):
    p = sample_project(weights=True)
    path = tmp_path / "net.json"
    save_project(p, path)
    assert path.read_bytes()[:4] == b"PK\x03\x04"
    assert_same(p, load_project(path))


def test_archive_layout(tmp_path):
    p = sample_project(weights=True)
    with zipfile.ZipFile(io.BytesIO(cnnp_bytes(p, tmp_path))) as zf:
        assert zf.namelist() == ["project.json", "weights.safetensors"]
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
        doc = json.loads(zf.read("project.json"))
    assert doc["schema_version"] == 1
    assert doc["history"][0]["series"]["train_loss"]["y"] == [2.3, None, None, 0.7]
    assert set(doc) == {
        "schema_version",
        "app_version",
        "name",
        "created",
        "modified",
        "graph",
        "dataset",
        "training",
        "history",
    }


def test_new_project_defaults_and_empty_graph_round_trip(tmp_path):
    p = Project.new()
    assert len(p.graph) == 0 and p.weights is None and p.created == p.modified
    assert p.training == TrainingConfig() and p.dataset.name == "synthetic"
    save_project(p, tmp_path / "empty.cnnp")
    assert_same(p, load_project(tmp_path / "empty.cnnp"))


def test_mid_edit_graph_is_not_a_load_error(tmp_path):
    g = Graph()
    g.add_node("Input", id="inp")
    g.add_node("Conv2d", id="conv1")
    g.add_node("Linear", id="fc1")  # no Flatten: shape inference complains, the file is fine
    g.add_node("ReLU", id="dangling")
    g.chain("inp", "conv1", "fc1")
    assert not infer(g).ok
    p = Project.new(g)
    save_project(p, tmp_path / "wip.json")
    assert load_project(tmp_path / "wip.json").graph.to_dict() == g.to_dict()


@pytest.mark.parametrize("make_graph", [small_graph, bn_graph])
def test_weights_round_trip_reproduce_outputs(tmp_path, make_graph):
    g = make_graph()
    module = build(g)
    with torch.no_grad():  # make BatchNorm running statistics non-trivial
        for buf in module.buffers():
            if buf.is_floating_point():
                buf.uniform_(0.5, 1.5)
    module.eval()
    x = torch.randn(3, *module.input_shape)
    expected = module(x)
    p = Project.new(g)
    p.weights = weights_from_module(module)
    save_project(p, tmp_path / "w.cnnp")
    q = load_project(tmp_path / "w.cnnp")
    check_weights(q.graph, q.weights)
    fresh = build(q.graph)
    fresh.load_state_dict(q.weights)
    fresh.eval()
    assert torch.equal(fresh(x), expected)


def test_weights_from_module_are_detached_cpu_copies():
    module = build(small_graph())
    w = weights_from_module(module)
    assert w.keys() == module.state_dict().keys()
    for k, v in w.items():
        assert v.device.type == "cpu" and v.is_contiguous() and not v.requires_grad
        assert v.data_ptr() != module.state_dict()[k].data_ptr()


# --- check_weights -------------------------------------------------------------------------


def test_check_weights_wrong_shape():
    g = small_graph()
    w = weights_from_module(build(g))
    w["layers.conv1.weight"] = torch.zeros(6, 1, 3, 3)
    with pytest.raises(ProjectError) as info:
        check_weights(g, w)
    assert str(info.value) == "weights for layers.conv1.weight have shape 6×1×3×3, the network needs 4×1×3×3"


def test_check_weights_missing_and_unexpected():
    g = small_graph()
    w = weights_from_module(build(g))
    del w["layers.fc1.bias"]
    with pytest.raises(ProjectError) as info:
        check_weights(g, w)
    assert str(info.value) == "weights file is missing layers.fc1.bias"
    w["layers.foo.weight"] = torch.zeros(1)
    with pytest.raises(ProjectError) as info:
        check_weights(g, w)
    assert str(info.value) == "weights file is missing layers.fc1.bias (and 1 more problem)"
    w["layers.fc1.bias"] = torch.zeros(3)
    with pytest.raises(ProjectError) as info:
        check_weights(g, w)
    assert str(info.value) == "unexpected weight layers.foo.weight"


def test_check_weights_dtype_kind_and_scalar_buffer():
    g = bn_graph()
    w = weights_from_module(build(g))
    w["layers.bn1.weight"] = torch.ones(2, dtype=torch.int64)
    with pytest.raises(
        ProjectError, match="layers.bn1.weight are torch.int64, the network needs torch.float32"
    ):
        check_weights(g, w)
    w = weights_from_module(build(g))
    w["layers.bn1.num_batches_tracked"] = torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ProjectError, match="have shape 2, the network needs a scalar"):
        check_weights(g, w)


def test_save_refuses_weights_that_do_not_fit_and_keeps_old_file(tmp_path):
    p = sample_project(weights=True)
    path = tmp_path / "p.cnnp"
    save_project(p, path)
    old = path.read_bytes()
    p.graph.set_params("conv1", {"out_channels": 8})
    with pytest.raises(ProjectError, match="have shape 4×1×3×3, the network needs 8×1×3×3"):
        save_project(p, path)
    assert path.read_bytes() == old
    p.weights = None
    save_project(p, path)
    assert load_project(path).weights is None


def test_load_without_weights_recovers_structure(tmp_path):
    p = sample_project(weights=True)
    raw = cnnp_bytes(p, tmp_path)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        broken = zip_bytes({"project.json": zf.read("project.json"), "weights.safetensors": b"garbage!" * 10})
    expect_error(broken, "weights.safetensors is damaged")
    q = project_from_bytes(broken, load_weights=False)
    assert q.weights is None and q.graph.to_dict() == p.graph.to_dict()


# --- schema versions -----------------------------------------------------------------------


def test_newer_schema_refused_with_message():
    doc = doc_of(sample_project())
    doc["schema_version"] = 7
    doc["something_new"] = {"x": 1}  # a newer file may hold fields this version does not know
    msg = expect_error(as_bytes(doc))
    assert msg == "written by a newer CNN Playground (schema 7); this version reads schema 1 — update the app"


def test_newer_schema_checked_before_archive_entries():
    doc = doc_of(sample_project())
    doc["schema_version"] = 2
    data = zip_bytes({"project.json": as_bytes(doc), "thumbnail.png": b"\x89PNG"})
    expect_error(data, "newer CNN Playground (schema 2)")


def test_older_schema_is_migrated(monkeypatch):
    doc = doc_of(sample_project())
    doc["schema_version"] = 1
    doc["title"] = doc.pop("name")
    monkeypatch.setattr(project_schema, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(
        project_schema.MIGRATIONS,
        1,
        lambda d: {**{k: v for k, v in d.items() if k != "title"}, "name": d["title"]},
    )
    assert project_from_bytes(as_bytes(doc)).name == "Tiny net – ü"


# --- malformed files -----------------------------------------------------------------------


def _mutate(change: Callable[[dict], None]) -> Callable[[Project, object], bytes]:
    def make(p: Project, tmp_path) -> bytes:
        doc = doc_of(p)
        change(doc)
        return as_bytes(doc)

    return make


def _node(doc: dict, node_id: str) -> dict:
    return next(n for n in doc["graph"]["nodes"] if n["id"] == node_id)


def _set_param(node_id: str, name: str, value) -> Callable[[dict], None]:
    return lambda d: _node(d, node_id)["params"].__setitem__(name, value)


def _cycle(d: dict) -> None:
    d["graph"] = {
        "nodes": [{"id": "a", "kind": "ReLU"}, {"id": "b", "kind": "ReLU"}],
        "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}],
    }


def _huge_network(d: dict) -> None:
    _node(d, "inp")["params"] = {"channels": 4096, "height": 16384, "width": 16384}
    _node(d, "conv1")["params"]["kernel_size"] = 1


def _from_archive(
    change: Callable[[dict[str, bytes]], dict[str, bytes]],
) -> Callable[[Project, object], bytes]:
    def make(p: Project, tmp_path) -> bytes:
        p.weights = weights_from_module(build(p.graph))
        with zipfile.ZipFile(io.BytesIO(cnnp_bytes(p, tmp_path))) as zf:
            entries = {n: zf.read(n) for n in zf.namelist()}
        return zip_bytes(change(entries))

    return make


def _lying_size(p: Project, tmp_path) -> bytes:
    data = bytearray(zip_bytes({"project.json": project_to_json(p).encode()}, zipfile.ZIP_STORED))
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")  # uncompressed size: 10 bytes
    return bytes(data)


def _text(s: str) -> Callable[[Project, object], bytes]:
    return lambda p, tmp_path: s.encode()


MALFORMED: dict[str, tuple[Callable[[Project, object], bytes], tuple[str, ...]]] = {
    "truncated zip": (lambda p, t: cnnp_bytes(p, t)[:-40], ("the project archive is damaged",)),
    "truncated zip body": (lambda p, t: cnnp_bytes(p, t)[:200], ("the project archive is damaged",)),
    "flipped zip byte": (
        lambda p, t: (lambda b: b[:60] + bytes([b[60] ^ 0xFF]) + b[61:])(cnnp_bytes(p, t)),
        ("the project archive is damaged",),
    ),
    "truncated json": (
        lambda p, t: project_to_json(p)[:300].encode(),
        ("is not valid JSON (line 1, column",),
    ),
    "json syntax error": (
        _text('{\n  "schema_version": 1,\n  "name": "x"\n  "graph": {}\n}'),
        ("not valid JSON (line 4, column 3: Expecting ',' delimiter)",),
    ),
    "kernel_size as text": (_mutate(_set_param("conv1", "kernel_size", "three")), ("kernel_size", "'three'")),
    "kernel_size as list": (
        _mutate(_set_param("conv1", "kernel_size", [3, 3])),
        ("graph.nodes[1].params.kernel_size: must be a number, true/false or text, got a list",),
    ),
    "negative kernel": (
        _mutate(_set_param("conv1", "kernel_size", -3)),
        ("graph: conv1 (Conv2d): kernel_size must be at least 1, got -3",),
    ),
    "huge out_channels": (
        _mutate(_set_param("conv1", "out_channels", 10**12)),
        ("out_channels must be at most",),
    ),
    "unknown parameter": (_mutate(_set_param("conv1", "colour", 1)), ("unknown parameter 'colour'",)),
    "cycle": (_mutate(_cycle), ("graph: the network has a cycle: a → b → a",)),
    "unknown kind": (
        _mutate(lambda d: _node(d, "conv1").__setitem__("kind", "Conv3d")),
        ("graph: unknown layer kind 'Conv3d'",),
    ),
    "duplicate node ids": (
        _mutate(lambda d: d["graph"]["nodes"].append(dict(_node(d, "conv1")))),
        ("'conv1' already exists",),
    ),
    "edge to missing node": (
        _mutate(lambda d: d["graph"]["edges"].append({"source": "fc1", "target": "ghost", "port": 0})),
        ("missing layer 'ghost'",),
    ),
    "two wires into one port": (
        _mutate(lambda d: d["graph"]["edges"].append({"source": "inp", "target": "relu1", "port": 0})),
        ("input port 0 of relu1 has two wires",),
    ),
    "bad node id": (
        _mutate(lambda d: _node(d, "inp").__setitem__("id", "in put")),
        ("layer name 'in put' is not valid",),
    ),
    "newline in missing endpoint": (
        _mutate(lambda d: d["graph"]["edges"].append({"source": "a\nb", "target": "fc1", "port": 0})),
        ("refers to a missing layer",),
    ),
    "negative port": (
        _mutate(lambda d: d["graph"]["edges"][0].__setitem__("port", -1)),
        ("graph.edges[0].port: input should be greater than or equal to 0",),
    ),
    "extra top-level field": (_mutate(lambda d: d.__setitem__("colour", "red")), ("colour: unknown field",)),
    "extra node field": (
        _mutate(lambda d: _node(d, "fc1").__setitem__("colour", "red")),
        ("graph.nodes[4].colour: unknown field",),
    ),
    "extra training field": (
        _mutate(lambda d: d["training"].__setitem__("epoch", 3)),
        ("training.epoch: unknown field",),
    ),
    "training out of range": (
        _mutate(lambda d: d["training"].__setitem__("learning_rate", -1)),
        ("training.learning_rate: input should be greater than 0, got -1",),
    ),
    "text as number is not coerced": (
        _mutate(lambda d: d["training"].__setitem__("epochs", "5")),
        ("training.epochs: input should be a valid integer, got '5'",),
    ),
    "several problems": (
        _mutate(lambda d: d["training"].update(epochs=0, batch_size=0)),
        ("training.epochs", "(and 1 more problem)"),
    ),
    "missing graph": (_mutate(lambda d: d.pop("graph")), ("graph is missing",)),
    "name too long": (
        _mutate(lambda d: d.__setitem__("name", "x" * 201)),
        ("name: string should have at most 200",),
    ),
    "bad timestamp": (
        _mutate(lambda d: d.__setitem__("created", "yesterday")),
        ("created: must be an ISO 8601",),
    ),
    "series length mismatch": (
        _mutate(lambda d: d["history"][0]["series"]["train_loss"]["x"].append(9)),
        ("history[0].series.train_loss.y: x has 5 values but y has 4; they must match",),
    ),
    "infinite position": (
        _text(project_to_json(Project.new(small_graph())).replace('"position":[120.5', '"position":[1e999')),
        ("graph.nodes[1].position[0]: input should be a finite number",),
    ),
    "NaN literal": (_text('{"schema_version": 1, "name": NaN}'), ("NaN is not a JSON number",)),
    "too many digits": (
        _text('{"schema_version": 1' + "0" * 5000 + "}"),
        ("not valid JSON (a number has too many digits)",),
    ),
    "schema_version missing": (_mutate(lambda d: d.pop("schema_version")), ("schema_version is missing",)),
    "schema_version text": (
        _mutate(lambda d: d.__setitem__("schema_version", "1")),
        ("schema_version must be a whole number, got text",),
    ),
    "schema_version zero": (
        _mutate(lambda d: d.__setitem__("schema_version", 0)),
        ("schema_version must be at least 1, got 0",),
    ),
    "schema_version true": (_mutate(lambda d: d.__setitem__("schema_version", True)), ("whole number",)),
    "top-level list": (_text("[1, 2, 3]"), ("must hold a JSON object, got a list",)),
    "too many parameters": (_mutate(_huge_network), ("parameters; projects are limited to 2,000,000,000",)),
    "empty file": (_text(""), ("not a CNN Playground project: the file is empty",)),
    "whitespace file": (_text(" \n\t "), ("the file is empty",)),
    "random bytes": (
        lambda p, t: bytes(torch.randint(0, 256, (512,), dtype=torch.uint8).tolist()),
        ("neither a .cnnp archive nor JSON",),
    ),
    "plain text": (_text("hello, world"), ("neither a .cnnp archive nor JSON",)),
    "zip without project.json": (
        lambda p, t: zip_bytes({"readme.txt": b"hi"}),
        ("not a CNN Playground project: the archive holds no project.json",),
    ),
    "empty zip": (lambda p, t: zip_bytes({}), ("no project.json",)),
    "project.json not utf-8": (lambda p, t: zip_bytes({"project.json": b"\xff\xfe{}"}), ("not UTF-8",)),
    "weights garbage": (
        _from_archive(lambda e: {**e, "weights.safetensors": b"\x00" * 64}),
        ("weights.safetensors is damaged",),
    ),
    "weights header lies": (
        _from_archive(lambda e: {**e, "weights.safetensors": e["weights.safetensors"][:-8]}),
        ("weights.safetensors is damaged",),
    ),
    "weights of another network": (
        _from_archive(
            lambda e: {
                **e,
                "project.json": e["project.json"].replace(b'"out_features":3', b'"out_features":5'),
            }
        ),
        ("weights for layers.fc1.weight have shape 3×144, the network needs 5×144",),
    ),
    "unknown archive entry": (
        _from_archive(lambda e: {**e, "notes.txt": b"hi"}),
        ("the project archive holds an unknown file 'notes.txt'",),
    ),
    "too many entries": (
        lambda p, t: zip_bytes({f"f{i}": b"" for i in range(MAX_ENTRIES + 1)}),
        (f"holds {MAX_ENTRIES + 1:,} files; at most {MAX_ENTRIES}",),
    ),
    "lying entry size": (_lying_size, ("the project archive is damaged",)),
    "deeply nested json": (_text("[" * 100_000), ("nested too deeply",)),
    "deeply nested object": (_text('{"a":' * 100_000), ("nested too deeply",)),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_file_gives_one_line_project_error(case, tmp_path):
    make, fragments = MALFORMED[case]
    expect_error(make(sample_project(), tmp_path), *fragments)


def test_encrypted_style_zip_entry_is_damaged(tmp_path):
    data = bytearray(zip_bytes({"project.json": project_to_json(sample_project()).encode()}))
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag in both headers
        at = data.index(sig) + (6 if sig == b"PK\x03\x04" else 8)
        data[at] |= 0x01
    expect_error(bytes(data), "the project archive is damaged")


def test_size_limits(tmp_path, monkeypatch):
    p = sample_project()
    path = tmp_path / "p.cnnp"
    save_project(p, path)
    monkeypatch.setattr(project_mod, "MAX_FILE_BYTES", 100)
    with pytest.raises(ProjectError, match=r"^file is .*; project files are limited to 100 bytes$"):
        load_project(path)
    expect_error(path.read_bytes(), "project files are limited to")
    monkeypatch.setattr(project_mod, "MAX_FILE_BYTES", 2 * 2**30)
    monkeypatch.setattr(project_mod, "MAX_JSON_BYTES", 200)
    expect_error(path.read_bytes(), "project.json in the archive is over 200 bytes")
    expect_error(project_to_json(p).encode(), "over 200 bytes, the limit for JSON projects")
    with pytest.raises(ProjectError, match="project.json would be"):
        save_project(p, path)


def test_gigabyte_message():
    assert project_mod._size(int(3.1 * 2**30)) == "3.1 GB"
    assert project_mod._size(2 * 2**30) == "2 GB"
    assert project_mod._size(64 * 2**20) == "64 MB"


def test_unreadable_path_is_project_error(tmp_path):
    with pytest.raises(ProjectError, match="cannot read"):
        load_project(tmp_path / "nope.cnnp")
    with pytest.raises(ProjectError, match="cannot read"):
        load_project(tmp_path)


def test_save_failure_is_project_error_and_keeps_old_file(tmp_path, monkeypatch):
    from cnnplayground.io import atomic

    p = sample_project()
    path = tmp_path / "p.cnnp"
    save_project(p, path)
    old, old_modified = path.read_bytes(), p.modified
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    p.name = "changed"
    with pytest.raises(ProjectError, match="previous file is untouched"):
        save_project(p, path)
    assert path.read_bytes() == old and p.modified == old_modified


def test_save_refuses_what_it_could_not_read_back(tmp_path):
    p = sample_project()
    p.name = "n" * 500
    with pytest.raises(ProjectError, match="cannot save: name"):
        save_project(p, tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


def test_long_messages_are_cut():
    doc = doc_of(sample_project())
    doc["graph"]["edges"].append({"source": "s" * 64, "target": "t" * 64, "port": 0})
    doc["name"] = "x"
    msg = expect_error(as_bytes(doc), "missing layer")
    assert len(msg) <= 400


def test_history_values_none_nan_inf_stored_as_null():
    s = Series(x=[0, 1, 2, 3], y=[None, math.nan, math.inf, 1.5])
    assert s.y == [None, None, None, 1.5]
    with pytest.raises(ValueError, match="x has 1 values but y has 2"):
        Series(x=[0], y=[1.0, 2.0])


def test_large_graph_loads_quickly(tmp_path):
    """10,000 layers with 15,000 wires: edge queries are indexed, so loading is not quadratic."""
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 4, "width": 4}, id="inp")
    prev = "inp"
    for i in range(4999):
        relu, add = f"r{i}", f"a{i}"
        g.add_node("ReLU", id=relu)
        g.add_node("Add", id=add)
        g.connect(prev, relu)
        g.connect(relu, add)
        g.connect(prev, add)
        prev = add
    doc = {**doc_of(Project.new()), "graph": g.to_dict()}
    t0 = time.perf_counter()
    q = project_from_bytes(as_bytes(doc))
    seconds = time.perf_counter() - t0
    assert len(q.graph) == 9999 and len(q.graph.edges) == 14997
    assert infer(q.graph).ok
    # Quadratic edge scans took minutes here; indexed look-ups take well under a second.
    assert seconds < 20, f"loading 10,000 layers took {seconds:.1f} s"


def test_control_characters_in_names_are_escaped():
    doc = doc_of(sample_project())
    doc["graph"]["edges"].append({"source": "x\x1b[31m\u2028y", "target": "fc1", "port": 0})
    msg = expect_error(as_bytes(doc), "missing layer")
    assert "\x1b" not in msg and "\u2028" not in msg and "\\x1b" in msg
    assert msg.isprintable()


@pytest.mark.parametrize(
    ("version", "fragment"),
    [(1.0, "got 1.0"), (None, "got null"), (10**30, "far beyond"), (2, "(schema 2)")],
)
def test_schema_version_messages(version, fragment):
    doc = doc_of(sample_project())
    doc["schema_version"] = version
    expect_error(as_bytes(doc), fragment)


# --- review fixes: dataset check, history size, last-resort wrapping -------------------------


def _with_dataset(name: str, options: dict) -> bytes:
    doc = doc_of(sample_project())
    doc["dataset"] = {"name": name, "root": None, "options": options}
    return as_bytes(doc)


def _exact(data: bytes, message: str) -> None:
    with pytest.raises(ProjectError) as info:
        project_from_bytes(data)
    assert str(info.value) == message


def test_dataset_choice_is_checked_against_the_registry_on_load():
    from cnnplayground.data.registry import DATASETS

    known = ", ".join(DATASETS)
    _exact(_with_dataset("imagenet", {}), f"dataset: unknown dataset 'imagenet' (known: {known})")
    _exact(
        _with_dataset("synthetic", {"noise": 5}),
        "dataset: option 'noise' of dataset 'synthetic' must be from 0 to 1, got 5.0",
    )
    _exact(
        _with_dataset("mnist", {"size": 28}),
        "dataset: unknown option 'size' for dataset 'mnist'; allowed: random_labels, random_pixels",
    )
    _exact(
        _with_dataset("folder", {"channels": "rgb"}),
        "dataset: option 'channels' of dataset 'folder' must be 'auto' or a whole number, got 'rgb'",
    )
    # A float option given an int beyond float range used to raise OverflowError in the registry.
    for huge in (10**400, -(10**400)):
        _exact(
            _with_dataset("synthetic", {"noise": huge}),
            "dataset: option 'noise' of dataset 'synthetic' is a number too large to use",
        )
    ok = project_from_bytes(_with_dataset("synthetic-rgb", {"size": 16, "random_labels": 0.5}))
    assert ok.dataset.name == "synthetic-rgb" and ok.dataset.options == {"size": 16, "random_labels": 0.5}


def test_save_refuses_a_dataset_it_could_not_read_back(tmp_path):
    p = sample_project()
    p.dataset = DatasetChoice(name="imagenet")
    with pytest.raises(ProjectError, match=r"^cannot save: dataset: unknown dataset 'imagenet' \(known: "):
        save_project(p, tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


def test_total_history_points_are_capped(monkeypatch, tmp_path):
    assert project_schema.MAX_TOTAL_POINTS == 5_000_000
    doc = doc_of(sample_project())  # 4 + 2 points
    monkeypatch.setattr(project_schema, "MAX_TOTAL_POINTS", 10)
    assert project_from_bytes(as_bytes(doc)).history
    more = {"a": {"x": [1, 2, 3], "y": [1, 2, 3]}, "b": {"x": [0], "y": [0]}}
    doc["history"].append({"name": "more", "series": more})
    assert len(project_from_bytes(as_bytes(doc)).history) == 3  # 10 points: at the limit
    doc["history"][-1]["series"]["b"]["x"] = [0, 1]  # 11 points (the length mismatch is found later)
    _exact(
        as_bytes(doc),
        "history: the runs hold 11 points in all; at most 10 are allowed (delete some runs)",
    )
    p = sample_project()
    p.history.append(RunHistory(name="big", series={"s": Series(x=[0, 1, 2, 3, 4], y=[0, 1, 2, 3, 4])}))
    with pytest.raises(ProjectError, match=r"^cannot save: history: the runs hold 11 points in all"):
        save_project(p, tmp_path / "p.json")


def test_history_is_counted_before_it_is_validated(monkeypatch):
    # The check runs on the decoded JSON, before pydantic copies millions of points.
    doc = doc_of(sample_project())
    monkeypatch.setattr(project_schema, "MAX_TOTAL_POINTS", 3)
    doc["history"][0]["series"]["train_loss"]["y"] = "not a list"
    doc["history"][0]["series"]["val_accuracy"] = {"x": [0] * 4}
    _exact(as_bytes(doc), "history: the runs hold 8 points in all; at most 3 are allowed (delete some runs)")


def test_any_unexpected_exception_becomes_a_project_error(monkeypatch, tmp_path):
    def boom(graph, *args, **kwargs):
        raise ZeroDivisionError("division by zero\nsecond line")

    path = tmp_path / "p.cnnp"
    save_project(sample_project(weights=True), path)
    monkeypatch.setattr(project_mod, "infer", boom)
    expected = "could not read the project: ZeroDivisionError: division by zero"
    _exact(project_to_json(sample_project()).encode(), expected)
    _exact(path.read_bytes(), expected)
    with pytest.raises(ProjectError) as info:
        load_project(path)
    assert str(info.value) == expected
    assert isinstance(info.value.__cause__, ZeroDivisionError)

    monkeypatch.setattr(project_mod, "infer", lambda g: (_ for _ in ()).throw(KeyError("x")))
    _exact(path.read_bytes(), "could not read the project: KeyError: 'x'")
    monkeypatch.setattr(project_mod, "infer", lambda g: (_ for _ in ()).throw(RuntimeError()))
    _exact(path.read_bytes(), "could not read the project: RuntimeError")
    monkeypatch.setattr(project_mod, "infer", lambda g: (_ for _ in ()).throw(OSError(5, "I/O error")))
    _exact(path.read_bytes(), "could not read the project: OSError: [Errno 5] I/O error")
    with pytest.raises(ProjectError, match=r"^cannot read .*p\.cnnp: I/O error$"):
        load_project(path)
    # Not Exception: an interrupt is not a damaged file.
    monkeypatch.setattr(project_mod, "infer", lambda g: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        project_from_bytes(path.read_bytes())


def test_huge_negative_schema_version_is_not_printed():
    doc = doc_of(sample_project())
    doc["schema_version"] = -(10**400)
    _exact(as_bytes(doc), "schema_version must be at least 1, got a very large negative number")
