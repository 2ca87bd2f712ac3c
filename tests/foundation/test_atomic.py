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
