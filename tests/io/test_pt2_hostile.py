"""Hostile and damaged exported programs (``.pt2``): nothing in the file is run, every refusal is one line.

``torch.export.load`` would run each payload below (checked on PyTorch 2.14: a pickled weight, a pickled
sample input that ``weights_only=True`` refuses and the fallback then loads, a pickled opaque constant, a
symbolic size that ``sympy.sympify`` evaluates); the payload would create a marker folder, which must not
exist afterwards. Each payload is planted in a real program exported from a small network.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from test_faults import _bounded_memory, _one_line, _sparse
from torch import nn

from cnnplayground.io.model_import import ModelImportError, import_source, load_source
from cnnplayground.io.pt2_import import MAX_PT2_BYTES


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 6 * 6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(torch.relu(self.bn(self.conv(x))), 1))


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    from cnnplayground.export.formats import export_pt2

    torch.manual_seed(0)
    path = export_pt2(_Net().eval(), tmp_path_factory.mktemp("pt2") / "net.pt2", input_shape=(1, 8, 8))
    return path.read_bytes()


class _Payload:
    """Unpickling it calls ``os.mkdir(marker)``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.mkdir, (str(self.marker),))


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _write(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, value in entries.items():
            z.writestr(name, value)
    return path


def _find(entries: dict[str, bytes], suffix: str) -> str:
    return next(name for name in entries if name.endswith(suffix))


def _refused(path: Path, marker: Path | None = None) -> str:
    with pytest.raises(ModelImportError) as info:
        load_source(str(path))
    if marker is not None:
        assert not marker.exists(), "the file's code ran"
    return _one_line(info.value)


def _pickled_weight(good: bytes, tmp_path: Path, marker: Path) -> Path:
    entries = _entries(good)
    config_name = _find(entries, "data/weights/model_weights_config.json")
    config = json.loads(entries[config_name])
    first = next(iter(config["config"].values()))
    first["use_pickle"] = True
    entries[config_name] = json.dumps(config).encode()
    entries[_find(entries, "data/weights/" + first["path_name"])] = pickle.dumps(_Payload(marker))
    return _write(tmp_path / "evil.pt2", entries)


def _pickled_sample_inputs(good: bytes, tmp_path: Path, marker: Path) -> Path:
    entries = _entries(good)
    entries[_find(entries, "data/sample_inputs/model.pt")] = pickle.dumps(_Payload(marker))
    return _write(tmp_path / "evil.pt2", entries)


def _opaque_constant(good: bytes, tmp_path: Path, marker: Path) -> Path:
    entries = _entries(good)
    config_name = _find(entries, "data/constants/model_constants_config.json")
    prefix = config_name[: -len("data/constants/model_constants_config.json")]
    entries[config_name] = json.dumps({"config": {"obj": {"path_name": "opaque_obj_0", "is_param": False,
                                                          "use_pickle": True, "tensor_meta": None}}}).encode()
    entries[prefix + "data/constants/opaque_obj_0"] = pickle.dumps(_Payload(marker))
    return _write(tmp_path / "evil.pt2", entries)


def _evaluated_size(good: bytes, tmp_path: Path, marker: Path) -> Path:
    entries = _entries(good)
    name = _find(entries, "models/model.json")
    text = entries[name].decode()
    symbol = "Symbol('s77', positive=True, integer=True)"
    assert f'"expr_str": "{symbol}"' in text  # the batch size is symbolic: export_pt2 makes it dynamic
    evil = f"{symbol} if __import__('os').mkdir('{marker}') else {symbol}"
    entries[name] = text.replace(f'"expr_str": "{symbol}"', f'"expr_str": "{evil}"').encode()
    return _write(tmp_path / "evil.pt2", entries)


@pytest.mark.parametrize("plant", [_pickled_weight, _opaque_constant, _evaluated_size],
                         ids=["pickled weight", "pickled opaque constant", "symbolic size evaluated by sympify"])
def test_code_in_a_program_never_runs(good, tmp_path, plant):
    marker = tmp_path / "marker"
    path = plant(good, tmp_path, marker)
    message = _refused(path, marker)
    assert message.startswith("evil.pt2 cannot be read safely: "), message
    with pytest.raises(ModelImportError):
        import_source(str(path))
    assert not marker.exists()


def test_pickled_sample_inputs_are_never_read(good, tmp_path):
    """The sample inputs are not needed: they are left out, so the program imports and the payload never runs."""
    marker = tmp_path / "marker"
    result = import_source(str(_pickled_sample_inputs(good, tmp_path, marker))).require()
    assert not marker.exists() and result.layers == 5


def test_the_good_program_still_imports_with_its_weights(good, tmp_path):
    path = tmp_path / "net.pt2"
    path.write_bytes(good)
    result = import_source(str(path)).require()
    assert [n.kind for n in result.graph.nodes.values()] == ["Input", "Conv2d", "BatchNorm2d", "ReLU", "Flatten",
                                                             "Linear"]
    program = torch.export.load(str(path))
    assert torch.equal(result.weights["layers.conv.weight"], program.state_dict["conv.weight"])


@pytest.mark.parametrize("entry, why", [
    ("data/aotinductor/model/model.so", "compiled code"),
    ("data/weights/model.pt", "keeps its weights pickled"),
    ("data/constants/custom_obj_0", "pickled Python objects"),
    ("models/other.json", "more than one program"),
    ("payload.py", "a file an exported program does not have"),
])
def test_entries_that_would_be_run_or_are_unknown_are_refused_by_name(good, tmp_path, entry, why):
    entries = _entries(good)
    prefix = next(iter(entries)).split("/", 1)[0]
    entries[f"{prefix}/{entry}"] = b"\x80\x04N."
    message = _refused(_write(tmp_path / "x.pt2", entries))
    assert message.startswith("x.pt2 cannot be read safely: ") and why in message and entry in message, message


def test_an_empty_record_declaring_terabytes_is_refused_before_allocation(good, tmp_path):
    entries = _entries(good)
    config_name = _find(entries, "data/weights/model_weights_config.json")
    config = json.loads(entries[config_name])
    first = next(iter(config["config"].values()))
    first["tensor_meta"]["sizes"] = [{"as_int": 2**20}, {"as_int": 2**20}]
    first["tensor_meta"]["strides"] = [{"as_int": 2**20}, {"as_int": 1}]
    entries[config_name] = json.dumps(config).encode()
    entries[_find(entries, "data/weights/" + first["path_name"])] = b""  # torch would make torch.zeros(sizes)
    path = _write(tmp_path / "huge.pt2", entries)
    with _bounded_memory(seconds=20.0):
        message = _refused(path)
    assert message == ("huge.pt2 is damaged: weight 'conv.weight' of shape [1048576, 1048576] needs "
                       "4,398,046,511,104 bytes, its record holds 0")


def test_truncated_garbage_and_wrong_files_are_one_line(good, tmp_path):
    points = sorted({*range(0, 32, 4), *range(32, len(good), max(len(good) // 24, 1))})
    for cut in points:
        path = tmp_path / "cut.pt2"
        path.write_bytes(good[:cut])
        message = _refused(path)
        # A cut past the sample inputs (themselves a ZIP) leaves their end record last: zipfile reads that one.
        assert message.startswith(("cut.pt2 is empty", "cut.pt2 is not an exported program", "cut.pt2 is damaged",
                                   "cut.pt2 cannot be read safely: it holds a file")), (cut, message)
    (tmp_path / "random.pt2").write_bytes(os.urandom(4096))
    assert "random.pt2 is not an exported program (.pt2), or it is damaged" in _refused(tmp_path / "random.pt2")
    (tmp_path / "folder.pt2").mkdir()
    assert _refused(tmp_path / "folder.pt2").endswith("it is a folder, not an exported program")
    assert _refused(tmp_path / "missing.pt2").endswith("there is no such file")
    zipped = tmp_path / "deflated.pt2"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        for name, value in _entries(good).items():
            z.writestr(name, value)
    assert "is compressed" in _refused(zipped)


def test_a_file_over_the_limit_is_refused_unread(tmp_path):
    path = _sparse(tmp_path / "big.pt2", MAX_PT2_BYTES + 1)
    with _bounded_memory():
        message = _refused(path)
    assert message == "big.pt2 is 2.0 GB; exported programs are limited to 2 GB"


def test_an_archive_of_too_many_entries_is_refused_from_its_directory(tmp_path):
    path = tmp_path / "many.pt2"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(10_001):
            z.writestr(f"a/data/weights/weight_{i}", b"")
    with _bounded_memory():
        message = _refused(path)
    assert message == "many.pt2 holds 10,001 files; at most 10000 are allowed"
