"""Damaged and hostile ONNX files: refused with one ``OnnxImportError`` line, quickly, with little memory.

The cases of docs/RELIABILITY.md for ONNX files: truncation at 96 points, bit flips and random bytes
(hypothesis, derandomized), files that are not regular, a sparse file over the 2 GB limit, and
files that declare far more than they hold — a tensor of 2^40 values in 16 bytes, a million nodes
in 13 MB (340 MB of objects once parsed), 9 MB of description, 200,000 graph entries, subgraphs
nested 2,000 deep — each refused in under a few seconds with under 16 MB allocated by Python and
under 256 MB growth of the process's peak memory (``_bounded_memory`` of ``test_faults.py``). Weights
kept in external data are refused without opening any path the file names.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper
from test_faults import _bounded_memory, _one_line, _sparse

from cnnplayground.io.onnx_import import OnnxImportError, load_onnx
from cnnplayground.io.onnx_wire import MAX_NODES


def _good_model() -> bytes:
    """A small real model: Conv → BatchNorm → Relu → GlobalAveragePool → Flatten → Gemm (about 2 KB)."""
    rng = np.random.default_rng(0)

    def t(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) + (1.5 if "var" in name else 0),
                                       name)

    weights = [t("conv.weight", 8, 3, 3, 3), t("conv.bias", 8), t("bn.weight", 8), t("bn.bias", 8), t("bn.mean", 8),
               t("bn.var", 8), t("fc.weight", 10, 8), t("fc.bias", 10)]
    nodes = [helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "bn.weight", "bn.bias", "bn.mean", "bn.var"], ["b"],
                              name="bn"),
             helper.make_node("Relu", ["b"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], name="fc", transB=1)]
    graph = helper.make_graph(nodes, "good", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


GOOD = _good_model()
_FIXTURE = HealthCheck.function_scoped_fixture  # tmp_path: each example writes its own file over the last


def _write(tmp_path: Path, data: bytes, name: str = "m.onnx") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _refused(path: Path) -> str:
    with pytest.raises(OnnxImportError) as info:
        load_onnx(path)
    return _one_line(info.value)


def _loads_or_refuses(path: Path) -> None:
    """The promise for damaged files: a module that runs on the declared shape, or one OnnxImportError line."""
    try:
        module, shape = load_onnx(path)
    except OnnxImportError as exc:
        _one_line(exc)
        return
    with torch.no_grad():
        assert module(torch.zeros(1, *shape)).shape[0] == 1  # it runs (a flipped weight may be any number)


def _ld(field: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return bytes([(field << 3) | 2]) + _varint(len(payload)) + payload


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


_OPSET = _ld(8, helper.make_opsetid("", 17).SerializeToString())
_INPUT = _ld(11, helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]).SerializeToString())


def test_the_good_model_loads(tmp_path):
    module, shape = load_onnx(_write(tmp_path, GOOD))
    assert shape == (3, 8, 8) and module(torch.zeros(2, 3, 8, 8)).shape == (2, 10)


def test_a_truncated_file_is_refused_at_every_cut(tmp_path):
    cuts = sorted(set(range(1, 33)) | {int(v) for v in np.linspace(33, len(GOOD) - 1, 64)})
    assert len(cuts) == 96
    messages = set()
    for cut in cuts:
        messages.add(_refused(_write(tmp_path, GOOD[:cut])).split(" (")[0])
    assert messages <= {"m.onnx is not an ONNX model, or it is damaged",
                        "m.onnx is not an ONNX model: it holds no graph",
                        "m.onnx does not say which ONNX operator set it uses"}, messages


@settings(max_examples=120, derandomize=True, deadline=None, suppress_health_check=[_FIXTURE])
@given(flips=st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 7)), min_size=1, max_size=4))
def test_bit_flips_load_a_working_module_or_are_refused(flips, tmp_path):
    data = bytearray(GOOD)
    for at, bit in flips:
        data[at] ^= 1 << bit
    _loads_or_refuses(_write(tmp_path, bytes(data)))


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[_FIXTURE])
@given(data=st.binary(min_size=1, max_size=300))
def test_random_bytes_are_refused(data, tmp_path):
    _loads_or_refuses(_write(tmp_path, data))


@pytest.mark.parametrize(
    ("content", "expected"),
    [(b"", "is empty"), (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "is not an ONNX model"), (b'{"graph": {}}', "is not an"),
     (b"\x08\x08" + _ld(2, b"pytorch"), "holds no graph")],
)
def test_files_of_another_kind_are_refused(content, expected, tmp_path):
    assert expected in _refused(_write(tmp_path, content))


def test_a_folder_a_pipe_and_a_missing_file_are_refused_without_reading(tmp_path):
    assert "it is a folder" in _refused(tmp_path)
    assert "there is no such file" in _refused(tmp_path / "missing.onnx")
    pipe = tmp_path / "pipe.onnx"
    os.mkfifo(pipe)
    with _bounded_memory(seconds=10.0):  # opening a pipe for reading would block for ever
        assert "not a regular file" in _refused(pipe)


def test_a_file_over_the_limit_is_refused_from_its_size(tmp_path):
    path = _sparse(tmp_path / "big.onnx", 2 * 2**30 + 1)
    with _bounded_memory(seconds=10.0):
        assert _refused(path) == "big.onnx is 2.0 GB; ONNX files are limited to 2 GB (larger models keep their " \
                                 "weights in external data, which is not read)"


def _declared(name: str, dims: list[int]) -> TensorProto:
    """A float tensor header without data (``helper.make_tensor`` would check the data against the shape)."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT)
    tensor.dims.extend(dims)
    return tensor


def _model_with_weight(tensor: TensorProto) -> bytes:
    node = helper.make_node("Conv", ["x", tensor.name], ["y"], name="conv")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


@pytest.mark.parametrize(
    ("dims", "expected"),
    [([2**20, 2**20], "declares tensor 'w' of shape [1048576, 1048576] (1,099,511,627,776 values); at most"),
     ([1000, 1000, 3, 3], "is damaged: tensor 'w' declares shape [1000, 1000, 3, 3] (9,000,000 values) but holds 16 "
                          "bytes")],
)
def test_a_tensor_larger_than_its_data_is_refused_before_allocation(dims, expected, tmp_path):
    tensor = _declared("w", dims)
    tensor.raw_data = bytes(16)
    path = _write(tmp_path, _model_with_weight(tensor))
    with _bounded_memory(seconds=20.0):
        assert expected in _refused(path)


def test_a_million_axes_or_list_values_are_refused_before_they_become_python_numbers(tmp_path):
    tensor = _declared("w", [1] * 1_000_000)
    path = _write(tmp_path, _model_with_weight(tensor))
    with _bounded_memory(seconds=30.0):  # unbounded work takes minutes; 5 s failed on a loaded machine
        assert "declares tensor 'w' with 1,000,000 axes; at most 8 are read" in _refused(path)
    node = helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[1] * 1_000_000)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    path = _write(tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                              ir_version=8).SerializeToString())
    with _bounded_memory(seconds=30.0):  # unbounded work takes minutes; 5 s failed on a loaded machine
        assert "MaxPool 'pool' (its attribute 'kernel_shape' holds 1,000,000 values)" in _refused(path)


@pytest.mark.parametrize("where", ["initializer", "constant"])
def test_external_data_is_refused_without_opening_the_path_it_names(where, tmp_path, monkeypatch):
    secret = tmp_path.parent / "secret.bin"
    secret.write_bytes(bytes(16 * 4))
    tensor = _declared("w", [4, 4])
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="../secret.bin")
    if where == "initializer":
        data = _model_with_weight(tensor)
    else:
        nodes = [helper.make_node("Constant", [], ["w"], value=tensor), helper.make_node("Add", ["x", "w"], ["y"])]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
        data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()
    path = _write(tmp_path, data)
    opened: list[str] = []
    real_open = builtins.open

    def recording_open(file, *args, **kwargs):
        opened.append(os.fspath(file) if not isinstance(file, int) else str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    message = _refused(path)
    assert message.startswith("m.onnx keeps weights (w) in a separate data file (ONNX external data)")
    assert opened == [str(path)]


def test_a_million_nodes_are_refused_before_they_are_parsed(tmp_path):
    node = _ld(1, helper.make_node("Relu", ["x"], ["x"]).SerializeToString())
    path = _write(tmp_path, _ld(7, node * 1_000_000 + _INPUT) + _OPSET)
    assert path.stat().st_size > 13 * 2**20
    with _bounded_memory(seconds=30.0):  # unbounded work takes minutes; 5 s failed on a loaded machine
        message = _refused(path)
    assert message == (f"m.onnx has over {MAX_NODES:,} nodes; CNN Playground imports networks of up to "
                       f"{MAX_NODES:,} operators")


def test_a_graph_of_two_hundred_thousand_empty_entries_is_refused(tmp_path):
    path = _write(tmp_path, _ld(7, _INPUT + b"\x6a\x00" * 200_000) + _OPSET)  # value_info entries of 2 bytes
    with _bounded_memory(seconds=30.0):  # unbounded work takes minutes; 5 s failed on a loaded machine
        assert "has over 100,000 graph entries" in _refused(path)


def test_a_description_over_8_mb_is_refused_before_it_is_parsed(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"], doc_string="a" * (9 * 2**20))
    path = _write(tmp_path, _ld(7, _ld(1, node.SerializeToString()) + _INPUT) + _OPSET)
    with _bounded_memory(seconds=30.0):  # unbounded work takes minutes; 5 s failed on a loaded machine
        assert "describes its graph in over 8 MB" in _refused(path)


def test_subgraphs_nested_two_thousand_deep_are_refused(tmp_path):
    graph = b""
    for _ in range(2000):  # If → then_branch → a graph holding the next If
        attribute = _ld(1, b"then_branch") + _ld(6, graph) + b"\xa0\x01\x05"  # type = GRAPH (5)
        graph = _ld(1, _ld(4, b"If") + _ld(5, attribute))
    path = _write(tmp_path, _ld(7, graph + _INPUT) + _OPSET)
    with _bounded_memory(seconds=30.0):  # unbounded work takes minutes; 5 s failed on a loaded machine
        message = _refused(path)
    assert message.startswith("m.onnx is not an ONNX model, or it is damaged (")  # protobuf's depth limit


def test_a_graph_whose_output_nothing_computes_is_refused(tmp_path):
    nodes = [helper.make_node("Relu", ["undefined"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()
    assert "output 'y' is not computed from its input" in _refused(_write(tmp_path, data))
