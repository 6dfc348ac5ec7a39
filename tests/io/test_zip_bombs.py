"""Zip bombs inside the limits: small project files that inflate to far more than they hold.

A ``.cnnp`` under the 2 GB file limit can hold a ``weights.safetensors`` entry of
up to 2 GB that compresses to almost nothing (zeros deflate 1000:1), and an end
record can claim millions of directory entries. The reader must refuse what the
network does not need from the 8-byte length prefix and the JSON header alone,
before inflating the data, skip the weights where they are not needed
(``summary``), and check the end record's counts before ``zipfile`` parses the
central directory. Each hostile file is refused in under 1 s with under 16 MB
allocated by Python (``tracemalloc``) and under 256 MB growth of the process's
peak memory, as ``test_faults.py`` bounds the other declared-enormous cases; the
bombs inflate to 200 MB, so reading them before checking fails both bounds.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from test_faults import _bounded_memory, _one_line, _zip, good, small_graph

from cnnplayground.cli import main
from cnnplayground.core.builder import build
from cnnplayground.core.graph import Graph
from cnnplayground.io import project as project_io
from cnnplayground.io.project import (
    MAX_ENTRIES,
    ProjectError,
    load_project,
    project_from_bytes,
    project_to_json,
)
from cnnplayground.io.project_archive import MAX_DIRECTORY_BYTES
from cnnplayground.project import Project

BOMB_BYTES = 200 * 2**20  # what each bomb's weights entry inflates to
_ZEROS = bytes(2**20)


def _safetensors_header(tensors: dict[str, tuple[str, list[int], int]]) -> bytes:
    """The length prefix and JSON header of a safetensors file: ``{name: (dtype, shape, nbytes)}``."""
    header, offset = {}, 0
    for name, (dtype, shape, nbytes) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text


def _bomb(path: Path, project_json: bytes, header: bytes, zeros: int = BOMB_BYTES) -> Path:
    """A ``.cnnp`` whose weights entry is ``header`` and then ``zeros`` zero bytes, deflated (valid CRC).

    Written in 1 MB pieces, so making it allocates little (about 1 s of deflating).
    """
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("project.json", project_json)
        with zf.open("weights.safetensors", "w") as f:
            f.write(header)
            for start in range(0, zeros, len(_ZEROS)):
                f.write(_ZEROS[: zeros - start])
    return path


def _expected(graph: Graph) -> dict[str, tuple[str, list[int], int]]:
    """The header entries of ``graph``'s real weights (float32, int64 counters)."""
    out = {}
    for name, tensor in build(graph).state_dict().items():
        dtype = "F32" if tensor.dtype == torch.float32 else "I64"
        out[name] = (dtype, list(tensor.shape), tensor.numel() * tensor.element_size())
    return out


def wide_graph() -> Graph:
    """Input 1×28×28 → Flatten → Linear 65,536: 51.4 M parameters, 205 MB of float32 weights."""
    g = Graph()
    g.add_node("Input", {"channels": 1, "height": 28, "width": 28}, id="inp")
    g.add_node("Flatten", id="flat")
    g.add_node("Linear", {"out_features": 65536}, id="fc1")
    g.chain("inp", "flat", "fc1")
    return g


def _small_expected() -> dict[str, tuple[str, list[int], int]]:
    return _expected(small_graph())


WEIGHT_BOMBS = {
    # One tensor the network does not have, declaring all 200 MB.
    "a tensor that matches nothing": lambda: _safetensors_header({"evil": ("F32", [BOMB_BYTES // 4], BOMB_BYTES)}),
    # The network's names, but fc1's weight declared 200 MB large.
    "the right names, one shape enormous": lambda: _safetensors_header(
        {**_small_expected(), "layers.fc1.weight": ("F32", [BOMB_BYTES // 4 // 144, 144], BOMB_BYTES)}),
    # The network's names and shapes exactly; the 200 MB of zeros follow beyond the declared data.
    "the right header, 200 MB more data than declared": lambda: _safetensors_header(_small_expected()),
    # A header whose length prefix claims the whole 200 MB (a header of zeros).
    "a 200 MB header": lambda: struct.pack("<Q", BOMB_BYTES) + b"{",
}


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {name: _bomb(folder / f"bomb{i}.cnnp", good().json, make())
            for i, (name, make) in enumerate(WEIGHT_BOMBS.items())}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(WEIGHT_BOMBS))
def test_weights_that_do_not_fit_the_network_are_refused_before_inflating(case, bombs):
    """Each file is 200 KB and inflates to 200 MB: refused from its header, the data never inflated."""
    path = bombs[case]
    assert path.stat().st_size < 2**20
    with _bounded_memory(), pytest.raises(ProjectError) as info:
        load_project(path)
    message = _one_line(info.value)
    assert "weights" in message, message
    # The structure is still there for whoever asks only for it.
    assert load_project(path, load_weights=False).graph.to_dict() == small_graph().to_dict()


def test_the_refusal_says_what_does_not_fit(bombs):
    messages = {}
    for case in WEIGHT_BOMBS:
        with pytest.raises(ProjectError) as info:
            load_project(bombs[case])
        messages[case] = str(info.value)
    assert messages["a tensor that matches nothing"] == (
        "weights file is missing layers.conv1.weight (and 9 more problems)")
    assert messages["the right names, one shape enormous"] == (
        "weights for layers.fc1.weight have shape 364088×144, the network needs 10×144")
    assert messages["the right header, 200 MB more data than declared"] == (
        "weights.safetensors is damaged (its header declares 6,032 bytes of tensor data, the file holds 209,715,200)")
    assert messages["a 200 MB header"].startswith("weights.safetensors is damaged (its header claims 209,715,200 "
                                                  "bytes; a header for this network takes at most")


@pytest.fixture(scope="module")
def wide_bomb(tmp_path_factory) -> Path:
    """A 200 KB project of a network that really needs 205 MB of weights, all zeros: a valid file."""
    graph = wide_graph()
    expected = _expected(graph)
    project_json = project_to_json(Project.new(graph, name="wide"))
    zeros = sum(nbytes for _, _, nbytes in expected.values())
    return _bomb(tmp_path_factory.mktemp("wide") / "wide.cnnp", project_json.encode(), _safetensors_header(expected),
                 zeros)


def _never(*args, **kwargs):
    raise AssertionError("the weights were read")


@pytest.mark.slow
def test_summary_never_inflates_the_weights(wide_bomb, capsys, monkeypatch):
    """``summary`` of a 200 KB project with 205 MB of (valid) weights: under 1 s, the weights never read."""
    assert main(["summary", "lenet5"]) == 0  # imports done outside the measured block
    monkeypatch.setattr(project_io, "read_weights", _never)
    with _bounded_memory():
        assert main(["summary", str(wide_bomb)]) == 0
    out = capsys.readouterr().out
    assert "51,445,760" in out, out  # the parameter count: the summary is of the right network


@pytest.mark.slow
def test_the_model_card_never_inflates_the_weights(wide_bomb, tmp_path, monkeypatch):
    """``export --format card`` needs only the structure: the weights stay unread, as for ``summary``."""
    assert main(["export", "lenet5", "--format", "card", "--out", str(tmp_path / "warm")]) == 0
    monkeypatch.setattr(project_io, "read_weights", _never)
    with _bounded_memory():
        assert main(["export", str(wide_bomb), "--format", "card", "--out", str(tmp_path / "card")]) == 0
    assert "Linear" in (tmp_path / "card" / "MODEL_CARD.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_weights_that_fit_are_read_with_one_copy_in_memory(wide_bomb):
    """Valid weights stream straight into their tensors: the peak is the weights plus at most 16 MB."""
    import tracemalloc

    tracemalloc.start()
    try:
        project = load_project(wide_bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    weights = project.weights
    assert weights is not None and set(weights) == {"layers.fc1.weight", "layers.fc1.bias"}
    size = sum(t.numel() * t.element_size() for t in weights.values())
    assert size == 65536 * 785 * 4
    assert not weights["layers.fc1.weight"].any()
    assert peak < size + 16 * 2**20, f"peak {peak / 2**20:.0f} MB for {size / 2**20:.0f} MB of weights"


# --- the central directory -----------------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")


def _claiming(data: bytes, entries: int, *, directory_bytes: int | None = None, comment: bytes = b"",
              zip64: bool = True) -> bytes:
    """``data`` (a ZIP without comment) with an end record claiming ``entries`` entries.

    ``zip64`` adds a ZIP64 end record and locator (as writers do past 65,535
    entries) that carry the counts; the classic record then says 0xFFFF.
    ``directory_bytes`` replaces the central directory's size (``zipfile`` takes
    the directory to end where the end records begin, whatever the offset says).
    """
    record = _EOCD.unpack(data[-_EOCD.size:])
    sig, disk, disk_dir, _, _, size, offset, _ = record
    body = data[: -_EOCD.size]
    if directory_bytes is not None:
        size = directory_bytes
    if not zip64:
        return body + _EOCD.pack(sig, disk, disk_dir, entries, entries, size, offset, len(comment)) + comment
    zip64_at = len(body)
    zip64_record = _ZIP64_EOCD.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
    locator = _ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, zip64_at, 1)
    end = _EOCD.pack(sig, disk, disk_dir, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, len(comment))
    return body + zip64_record + locator + end + comment


def test_the_helper_makes_archives_zipfile_reads():
    """The rewritten end records are ones zipfile follows: with true counts the project still loads."""
    for zip64 in (False, True):
        for comment in (b"", b"a comment"):
            data = _claiming(good().cnnp, 2, zip64=zip64, comment=comment)
            assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["project.json", "weights.safetensors"]
            assert project_from_bytes(data).weights is not None


@pytest.mark.parametrize(("entries", "zip64", "comment"), [
    (2_000_000, True, b""), (2_000_000, True, b"PK comment"), (65_535, False, b""),
    (MAX_ENTRIES + 1, False, b"x" * 1000)],
    ids=["2M entries (ZIP64)", "2M entries behind a comment", "65,535 entries", "one entry too many"])
def test_an_end_record_claiming_many_entries_is_refused_before_parsing(entries, zip64, comment):
    data = _claiming(good().cnnp, entries, zip64=zip64, comment=comment)
    with _bounded_memory(), pytest.raises(ProjectError) as info:
        project_from_bytes(data)
    assert _one_line(info.value) == f"the project archive holds {entries:,} files; at most {MAX_ENTRIES} are allowed"


def test_a_central_directory_of_100_mb_is_refused_before_it_is_read(tmp_path):
    """An end record saying that the 100 MB before it (a hole in a sparse file) are the central
    directory of 2 M entries: zipfile would read all of it into memory before parsing a record."""
    directory = 100 * 2**20
    claim = _claiming(_zip({"project.json": good().json}), 2_000_000, directory_bytes=directory)
    tail_size = _ZIP64_EOCD.size + _ZIP64_LOCATOR.size + _EOCD.size
    tail = bytearray(claim[-tail_size:])
    path = tmp_path / "directory.cnnp"

    def write() -> None:
        with open(path, "wb") as f:
            f.write(claim[:-tail_size])
            f.seek(directory, io.SEEK_CUR)  # a hole: no disk space, reads as zeros
            f.write(tail)

    write()
    with _bounded_memory(), pytest.raises(ProjectError) as info:
        load_project(path)
    assert _one_line(info.value) == f"the project archive holds 2,000,000 files; at most {MAX_ENTRIES} are allowed"
    struct.pack_into("<2Q", tail, 24, 2, 2)  # two entries, as the archive really has: the size alone is refused
    write()
    with _bounded_memory(), pytest.raises(ProjectError) as info:
        load_project(path)
    assert _one_line(info.value) == ("the project archive's directory is 104,857,600 bytes; at most "
                                     f"{MAX_DIRECTORY_BYTES:,} are allowed (it is not a CNN Playground project)")
