"""Atomic writing: complete files with ordinary permissions."""
import os
import stat

from kneeview.atomic import atomic_write_text


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "new.csv", "a,b\n")
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
        os.chmod(p, 0o640)
        atomic_write_text(p, "a,b\n1,2\n")  # replacing keeps the file's mode
        assert stat.S_IMODE(p.stat().st_mode) == 0o640 and p.read_text() == "a,b\n1,2\n"
    finally:
        os.umask(old)


def test_c3d_written_atomically_with_ordinary_permissions(tmp_path):
    import numpy as np

    from kneeview.io.c3d import read_ground_truth, write_ground_truth

    old = os.umask(0o022)
    try:
        p = write_ground_truth(tmp_path / "t.c3d", np.ones((5, 6, 3)), 100.0)
        assert stat.S_IMODE(p.stat().st_mode) == 0o644
        assert read_ground_truth(p).n_frames == 5
        assert [f.name for f in tmp_path.iterdir()] == ["t.c3d"]  # no temporary left behind
    finally:
        os.umask(old)


def test_write_set_replaces_every_file_or_none(tmp_path, monkeypatch):
    """issue 18: a failure in the middle of a set leaves every old file byte-identical."""
    import errno

    import pytest

    from kneeview import atomic
    from kneeview.atomic import atomic_write_set
    from kneeview.errors import ExportError

    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.trc"
    a.write_text("old a")
    c.write_text("old c")
    atomic_write_set({a: "new a", b: b"new b", c: "new c"})
    assert (a.read_text(), b.read_text(), c.read_text()) == ("new a", "new b", "new c")

    real_fsync, calls = os.fsync, []

    def disk_full_on_third(fd):
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", disk_full_on_third)
    with pytest.raises(ExportError, match="c.trc.*disk is full"):
        atomic_write_set({a: "newer a", b: "newer b", c: "newer c"})
    monkeypatch.undo()
    assert (a.read_text(), b.read_text(), c.read_text()) == ("new a", "new b", "new c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "c.trc"]  # no temporaries

    real_replace = os.replace

    def rename_fails_on_c(src, dst):
        if str(dst).endswith("c.trc"):
            raise OSError(errno.EIO, "I/O error")
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", rename_fails_on_c)
    with pytest.raises(ExportError, match="c.trc"):
        atomic_write_set({a: "3 a", b: "3 b", c: "3 c"})
    monkeypatch.undo()
    assert (a.read_text(), b.read_text(), c.read_text()) == ("new a", "new b", "new c")  # renames undone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv", "c.trc"]
