"""Atomic writes: the old file or the new one, never a mix, never a leftover temp file."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from cnnplayground.io import atomic
from cnnplayground.io.atomic import AtomicWriteError, atomic_write_bytes, atomic_write_text, atomic_writer


def _leftovers(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_write_creates_and_replaces(tmp_path):
    target = tmp_path / "a.bin"
    atomic_write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    atomic_write_bytes(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    atomic_write_text(target, "grüße\n")
    assert target.read_bytes() == "grüße\n".encode()
    assert _leftovers(tmp_path) == []


def test_writer_context_manager(tmp_path):
    target = tmp_path / "b.bin"
    with atomic_writer(target) as f:
        f.write(b"abc")
        f.write(b"def")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_bytes() == b"abcdef"


@pytest.mark.parametrize("failing", ["replace", "fsync", "write"])
def test_failure_leaves_previous_file_and_no_temp(tmp_path, monkeypatch, failing):
    target = tmp_path / "keep.bin"
    target.write_bytes(b"precious")

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if failing == "replace":
        monkeypatch.setattr(atomic.os, "replace", boom)
        run = lambda: atomic_write_bytes(target, b"new content")  # noqa: E731
    elif failing == "fsync":
        monkeypatch.setattr(atomic.os, "fsync", boom)
        run = lambda: atomic_write_bytes(target, b"new content")  # noqa: E731
    else:

        def run():
            with atomic_writer(target) as f:
                f.write(b"half")
                boom()

    with pytest.raises(AtomicWriteError) as info:
        run()
    assert isinstance(info.value, OSError)
    assert "previous file is untouched" in str(info.value)
    assert "No space left" in str(info.value)
    assert info.value.errno == 28
    assert target.read_bytes() == b"precious"
    assert _leftovers(tmp_path) == []


def test_non_os_error_in_block_is_reraised_unchanged(tmp_path):
    target = tmp_path / "c.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyError), atomic_writer(target) as f:
        f.write(b"partial")
        raise KeyError("caller bug")
    assert target.read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


def test_new_file_failure_says_nothing_written(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(5, "I/O error")))
    with pytest.raises(AtomicWriteError, match="no file was written"):
        atomic_write_bytes(tmp_path / "new.bin", b"x")
    assert list(tmp_path.iterdir()) == []


def test_permission_denied_simulated(tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", denied)
    with pytest.raises(AtomicWriteError, match="Permission denied") as info:
        atomic_write_bytes(tmp_path / "x.bin", b"data")
    assert info.value.errno == 13


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores directory permissions")
def test_permission_denied_real(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "f.bin").write_bytes(b"old")
    locked.chmod(0o500)
    try:
        with pytest.raises(AtomicWriteError, match="previous file is untouched"):
            atomic_write_bytes(locked / "f.bin", b"new")
        assert (locked / "f.bin").read_bytes() == b"old"
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_permission_bits_preserved_and_default(tmp_path):
    target = tmp_path / "mode.bin"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write_bytes(target, b"new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640

    fresh = tmp_path / "fresh.bin"
    atomic_write_bytes(fresh, b"x")
    umask = atomic._umask()
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_symlink_target_is_replaced_and_link_kept(tmp_path):
    real = tmp_path / "real.bin"
    real.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(real)
    atomic_write_bytes(link, b"new")
    assert link.is_symlink()
    assert real.read_bytes() == b"new"


def test_temp_file_is_hidden_and_in_same_directory(tmp_path, monkeypatch):
    seen = {}
    original = tempfile.mkstemp

    def spy(*args, **kwargs):
        fd, name = original(*args, **kwargs)
        seen["name"] = name
        return fd, name

    monkeypatch.setattr(atomic.tempfile, "mkstemp", spy)
    atomic_write_bytes(tmp_path / "t.bin", b"x")
    assert os.path.dirname(seen["name"]) == str(tmp_path.resolve())
    assert os.path.basename(seen["name"]).startswith(".t.bin.")
    assert not os.path.exists(seen["name"])
