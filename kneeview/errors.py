"""One exception family for bad input.

Every error raised because of what a user's file contains carries the file path and,
where it applies, the field (XML attribute, C3D parameter, checkpoint key) that is wrong,
so a message can name both. The CLI and the GUI catch :class:`KneeViewInputError` and
show ``str(err)``; anything else is a bug.
"""
from __future__ import annotations

from pathlib import Path


class KneeViewInputError(Exception):
    """A user's file or option cannot be used. ``str()`` is a complete message."""

    def __init__(self, path: str | Path | None, problem: str, field: str | None = None):
        self.path = Path(path) if path is not None else None
        self.problem = problem
        self.field = field
        super().__init__(self._message())

    def _message(self) -> str:
        where = f"{self.path}" if self.path is not None else "input"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.problem}"


class CalibrationError(KneeViewInputError):
    """A calibration file (.xcp, .qca.txt, OpenCV TOML/JSON) is malformed or unusable."""


class VideoError(KneeViewInputError):
    """A video cannot be opened or decoded, or a frame index is out of range."""


class GroundTruthError(KneeViewInputError):
    """A C3D file cannot be read or holds no usable joint centres."""


class RecordingError(KneeViewInputError):
    """A recording is incomplete or inconsistent (calibration does not match the video...)."""


class CheckpointError(KneeViewInputError):
    """A model checkpoint is missing, truncated, tampered with or does not match its card."""


class ExportError(KneeViewInputError):
    """An output file cannot be written (read-only folder, full disk)."""
