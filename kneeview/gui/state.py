"""The model behind every view: the open recording, its estimates, and the current frame.

Views never talk to each other; they observe this object. Frame requests are coalesced:
many ``request_frame`` calls before the event loop runs (a fast slider drag) paint only
the latest frame.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from PySide6 import QtCore

from .. import joints as J
from ..errors import KneeViewInputError
from ..sequence import PoseSequence

log = logging.getLogger(__name__)

#: Joints whose confidence is below this are drawn as uncertain.
LOW_CONFIDENCE = 0.5


@dataclass
class Metrics:
    """Per-frame knee metrics per leg, and events, as the plots draw them."""

    time_s: np.ndarray
    series: dict[str, dict[str, np.ndarray]]  # {"MKD (mm)": {"left": (T,), "right": (T,)}, ...}
    events: dict[str, int] = field(default_factory=dict)  # name -> frame
    peaks: dict[str, dict[str, int]] = field(default_factory=dict)  # metric -> leg -> frame
    source: str = "model"


class SessionState(QtCore.QObject):
    recordingChanged = QtCore.Signal()
    frameChanged = QtCore.Signal(int)
    poseChanged = QtCore.Signal()  # the estimate changed (new batch, loaded, cleared)
    metricsChanged = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.recording = None
        self.reader = None
        self.frames = None  # DisplayFrames: RGB frames for display
        self.pose: PoseSequence | None = None
        self.pose_done = np.zeros(0, dtype=bool)  # frames whose estimate has arrived
        self.gt_lab_mm: np.ndarray | None = None  # (T, 6, 3)
        self.gt_px: np.ndarray | None = None  # (T, 6, 2) raw pixels
        self.metrics: Metrics | None = None
        self.gt_metrics: Metrics | None = None
        self.model_info = None
        self.frame = 0
        self._pending: int | None = None
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._apply_pending)

    # ----------------------------------------------------------------- recording
    @property
    def n_frames(self) -> int:
        return self.reader.frame_count if self.reader is not None else 0

    @property
    def fps(self) -> float:
        return self.reader.fps if self.reader is not None else 25.0

    @property
    def camera(self):
        return self.recording.view.camera if self.recording is not None else None

    def set_recording(self, recording, reader) -> None:
        """Show a recording (already opened and validated). Projects the ground truth."""
        if self.reader is not None:
            self.reader.close()
            self.frames.close()
        from .frames import DisplayFrames

        self.recording, self.reader = recording, reader
        self.frames = DisplayFrames(reader)
        self.pose = None
        self.pose_done = np.zeros(reader.frame_count, dtype=bool)
        self.metrics = self.gt_metrics = None
        self.gt_lab_mm = self.gt_px = None
        self.frame = 0
        gt = recording.ground_truth_frames() if recording.c3d_path is not None else None
        if gt is not None:
            gt = gt[: reader.frame_count]
            if len(gt) < reader.frame_count:
                gt = np.concatenate([gt, np.full((reader.frame_count - len(gt), J.N_JOINTS, 3), np.nan)])
            self.gt_lab_mm = gt
            if self.camera is not None:
                self.gt_px = self.camera.project(gt)
        self.recordingChanged.emit()
        self.frameChanged.emit(0)

    def close_recording(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.frames.close()
            self.frames = None
        self.recording = self.reader = self.pose = self.metrics = self.gt_metrics = None
        self.gt_lab_mm = self.gt_px = None
        self.pose_done = np.zeros(0, dtype=bool)
        self.frame = 0
        self.recordingChanged.emit()

    # ---------------------------------------------------------------- estimates
    def begin_pose(self, model: dict | None = None) -> None:
        self.pose = PoseSequence.empty(self.n_frames, self.fps, model=model)
        self.pose_done[:] = False
        self.metrics = None
        self.poseChanged.emit()
        self.metricsChanged.emit()

    def add_pose_batch(self, start: int, cols: dict) -> None:
        if self.pose is None:
            self.begin_pose()
        n = len(cols["score"])
        stop = min(start + n, self.n_frames)
        for k, v in cols.items():
            getattr(self.pose, k)[start:stop] = v[: stop - start]
        self.pose_done[start:stop] = True
        self.poseChanged.emit()

    def set_pose(self, seq: PoseSequence) -> None:
        if len(seq) != self.n_frames:
            log.warning("the estimate has %d frames, the video %d", len(seq), self.n_frames)
            full = PoseSequence.empty(self.n_frames, self.fps, source=seq.source, model=seq.model)
            idx = seq.frame_index[(seq.frame_index >= 0) & (seq.frame_index < self.n_frames)].astype(int)
            for k in ("score", "keypoints_px", "joints_cam_m", "confidence"):
                getattr(full, k)[idx] = getattr(seq, k)[: len(idx)]
            seq = full
        self.pose = seq
        self.pose_done[:] = True
        self.poseChanged.emit()

    def set_metrics(self, metrics: Metrics | None, gt_metrics: Metrics | None = None) -> None:
        self.metrics, self.gt_metrics = metrics, gt_metrics
        self.metricsChanged.emit()

    def pose_at(self, frame: int):
        """(keypoints_px (6,2), confidence (6,), joints_cam_m (6,3)) or None when not estimated."""
        if self.pose is None or not (0 <= frame < len(self.pose_done)) or not self.pose_done[frame]:
            return None
        return self.pose.keypoints_px[frame], self.pose.confidence[frame], self.pose.joints_cam_m[frame]

    # -------------------------------------------------------------------- frames
    def clamp(self, frame: int) -> int:
        return int(min(max(int(frame), 0), max(self.n_frames - 1, 0)))

    def request_frame(self, frame: int) -> None:
        """Ask for a frame; the latest request is painted when the event loop runs."""
        if self.reader is None:
            return
        self._pending = self.clamp(frame)
        if not self._timer.isActive():
            self._timer.start()

    def set_frame(self, frame: int) -> None:
        """Go to a frame now (synchronously)."""
        if self.reader is None:
            return
        self._pending = None
        self._timer.stop()
        self.frame = self.clamp(frame)
        self.frameChanged.emit(self.frame)

    def _apply_pending(self) -> None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            if frame != self.frame:
                self.frame = frame
                self.frameChanged.emit(frame)

    def step(self, delta: int) -> None:
        base = self._pending if self._pending is not None else self.frame
        self.request_frame(base + delta)

    def image(self, frame: int) -> np.ndarray | None:
        """The RGB frame for display (see :mod:`.frames`)."""
        if self.frames is None:
            return None
        try:
            return self.frames[frame]
        except (KneeViewInputError, IndexError) as exc:
            log.warning("cannot show frame %d: %s", frame, exc)
            return None

    # ------------------------------------------------------------------- events
    def event_frames(self) -> list[int]:
        m = self.metrics or self.gt_metrics
        return sorted(set(int(f) for f in (m.events.values() if m else []) if f is not None and f >= 0))
