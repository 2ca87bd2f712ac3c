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
