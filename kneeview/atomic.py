"""Atomic file writing: a file is either its old content or its complete new content.

Writers create a temporary file in the destination folder, flush and fsync it, then
``os.replace`` it over the target. A full disk or a read-only folder raises
:class:`~kneeview.errors.ExportError` naming the file, and the old file is untouched.
"""
from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from .errors import ExportError


def _default_mode(path: Path) -> int:
    """The mode a plain open() would give: the existing file's, else 0o666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _explain(exc: OSError) -> str:
    if exc.errno == errno.ENOSPC:
        return "the disk is full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "the folder is not writable (read-only or no permission)"
    if exc.errno == errno.ENOENT:
        return "the folder does not exist"
    return exc.strerror or str(exc)


@contextlib.contextmanager
def atomic_path(path, suffix: str = ".part"):
    """Yield a temporary path beside ``path`` that replaces it when the block succeeds.

    For libraries that write by file name (ezc3d, cv2.imwrite: give the ``suffix`` they
    need). On failure the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise ExportError(path, f"cannot write: {_explain(exc)}") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _default_mode(path))  # mkstemp creates 0600
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise ExportError(path, f"cannot write: {_explain(exc)}") from None
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path, mode: str = "w", **kwargs):
    """Context manager yielding an open temporary file that replaces ``path`` on success."""
    if "w" not in mode:
        raise ValueError("atomic_open is for writing")
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_bytes(path, data: bytes) -> Path:
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    with atomic_open(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)
    return Path(path)


def atomic_write_set(files: dict) -> list[Path]:
    """Write several files as one: every target gets its new content, or none changes.

    ``files`` maps each target path to its content (``str``, written as UTF-8, or
    ``bytes``). Every content is first written to a temporary file beside its target and
    fsynced; only when all are written are they renamed over the targets. A failure while
    writing (full disk, read-only folder) removes the temporaries and raises
    :class:`~kneeview.errors.ExportError` naming the file, the old files untouched. Should
    a rename itself fail, the targets already replaced are restored from hard links taken
    before the first rename.
    """
    items = [(Path(p), data.encode("utf-8") if isinstance(data, str) else bytes(data)) for p, data in files.items()]
    temps: list[tuple[Path, Path]] = []
    try:
        for path, data in items:
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
            except OSError as exc:
                raise ExportError(path, f"cannot write: {_explain(exc)}") from None
            temps.append((path, Path(tmp)))
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp, _default_mode(path))
            except OSError as exc:
                raise ExportError(path, f"cannot write: {_explain(exc)}") from None
        _commit(temps)
    finally:
        for _, tmp in temps:
            tmp.unlink(missing_ok=True)
    return [p for p, _ in items]


def _commit(temps: list[tuple[Path, Path]]) -> None:
    """Rename every temporary over its target, undoing the renames done if one fails."""
    backups: dict[Path, Path | None] = {}
    try:
        for path, _ in temps:
            backups[path] = None
            if path.exists():
                backup = path.with_name(f".{path.name}.{os.getpid()}.old")
                os.link(path, backup)
                backups[path] = backup
    except OSError:  # no hard links here (some network or FAT folders): commit without an undo
        for b in backups.values():
            if b is not None:
                b.unlink(missing_ok=True)
        backups = {}
    done: list[Path] = []
    try:
        for path, tmp in temps:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                for p in done:
                    b = backups.get(p)
                    if b is not None:
                        os.replace(b, p)
                raise ExportError(path, f"cannot write: {_explain(exc)}") from None
            done.append(path)
    finally:
        for b in backups.values():
            if b is not None:
                b.unlink(missing_ok=True)
