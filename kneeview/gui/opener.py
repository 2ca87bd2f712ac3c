"""Opening recordings: file dialogs, recent recordings, dropped files, and loading a
recording into a :class:`kneeview.session.Session` with the view to show first."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..camera import calibration_file_filter, is_calibration_name
from ..errors import KneeViewInputError
from ..io.recording import VIDEO_SUFFIXES
from .view_selector import remembered_view

MAX_RECENT = 10
VIDEO_FILTER = f"Videos ({' '.join('*' + s for s in VIDEO_SUFFIXES)});;All files (*)"


@dataclass
class Opened:
    session: object  # kneeview.session.Session
    reader: object  # the first view's VideoReader
    view_index: int
    ground_truth_error: KneeViewInputError | None  # a C3D that could not be read (ignored)


def split_dropped(paths: list[str]) -> tuple[list[str], str | None, str | None]:
    """Dropped files -> (recordings to open, a calibration, a C3D), by the calibration registry."""
    calib = next((p for p in paths if is_calibration_name(p)), None)
    c3d = next((p for p in paths if p.lower().endswith(".c3d")), None)
    recordings = [p for p in paths if not is_calibration_name(p) and not p.lower().endswith(".c3d")]
    return recordings, calib, c3d


class RecordingOpener(QtCore.QObject):
    """Remembers recent recordings and the last folder (in ``settings``) and opens recordings."""

    recentChanged = QtCore.Signal()

    def __init__(self, settings: QtCore.QSettings, parent=None):
        super().__init__(parent)
        self.settings = settings

    # ------------------------------------------------------------- settings
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str) -> None:
        items = [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", ([path] + items)[:MAX_RECENT])
        self.recentChanged.emit()

    def forget_recent(self, path: str) -> None:
        self.settings.setValue("recent", [p for p in self.recent_files() if p != path])
        self.recentChanged.emit()

    def last_dir(self) -> str:
        return str(self.settings.value("dialogs/last_dir", str(Path.home())))

    def remember_dir(self, path) -> None:
        p = Path(path)
        self.settings.setValue("dialogs/last_dir", str(p if p.is_dir() else p.parent))

    # -------------------------------------------------------------- dialogs
    def ask(self, parent, what: str) -> str | None:
        """A file (or folder) from a dialog: ``what`` is video, folder, calibration, c3d or checkpoint."""
        d = self.last_dir()
        if what == "folder":
            return QtWidgets.QFileDialog.getExistingDirectory(parent, "Open a session folder", d) or None
        title, file_filter = {
            "video": ("Open a reference video", VIDEO_FILTER),
            "calibration": ("Calibration for this recording", calibration_file_filter()),
            "c3d": ("C3D ground truth for this recording", "C3D files (*.c3d);;All files (*)"),
            "checkpoint": ("Use a trained model", "Checkpoints (*.safetensors);;All files (*)"),
        }[what]
        path, _ = QtWidgets.QFileDialog.getOpenFileName(parent, title, d, file_filter)
        return path or None

    # -------------------------------------------------------------- loading
    def load(self, path, calibration=None, c3d=None, device_id=None, shown_video: str | None = None) -> Opened:
        """Open a session folder or video; KneeViewInputError when it cannot be opened.

        The view shown first: ``shown_video`` (a video file name, when the same recording is
        reopened with another calibration or C3D), else for a folder the one chosen last time,
        else the first. A C3D that cannot be read is dropped (and said) instead of failing."""
        from ..session import Session

        session = Session.open(path, calibration=calibration, c3d=c3d, camera=device_id)
        rec = session.recording
        names = [v.video_path.name for v in rec.views]
        if shown_video in names:
            view_index = names.index(shown_video)
        else:
            view_index = remembered_view(self.settings, rec) if Path(path).is_dir() else 0
        reader = rec.views[view_index].open_video(cache_mb=64)  # display frames have their own cache
        gt_error = None
        if rec.c3d_path is not None:
            try:
                rec.ground_truth().require_complete()  # a truncated C3D is not shown as a whole trial
            except KneeViewInputError as exc:  # show the video anyway, without ground truth
                gt_error = exc
                rec.problems.append(str(exc))
                rec.c3d_path = None
        return Opened(session, reader, view_index, gt_error)
