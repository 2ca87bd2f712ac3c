"""The model behind every view: the open recording, its estimates, and the current frame.

Views never talk to each other; they observe this object. Frame requests are coalesced:
many ``request_frame`` calls before the event loop runs (a fast slider drag) paint only
the latest frame.

A recording may have several views (synchronised videos, one per camera). One is shown
at a time (``view_index``); the model's estimates are kept per view (``estimates``, keyed
by the view's index in the open recording), so switching back to a view shows its own
estimate at once, and a run that is still filling one view never writes into another.
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
    sd: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # like series: the standard deviation
    unreliable: np.ndarray | None = None  # (T,) bool: frames where the 3D fit cannot be trusted
    lifted: str | None = None  # a single-leg squat's lifted leg ("left"/"right"): drawn faint, not read


@dataclass
class ViewEstimate:
    """The model's estimate of one view, filled batch by batch; ``analysed`` once complete."""

    pose: PoseSequence
    done: np.ndarray  # (T,) frames whose estimate has arrived
    analysed: object = None  # metrics.Analysed of the complete estimate (plots, export)

    @property
    def complete(self) -> bool:
        return len(self.done) > 0 and bool(self.done.all())


class SessionState(QtCore.QObject):
    recordingChanged = QtCore.Signal()
    viewChanged = QtCore.Signal()  # another view of the same recording is shown
    frameChanged = QtCore.Signal(int)
    poseChanged = QtCore.Signal()  # the estimate changed (new batch, loaded, cleared)
    metricsChanged = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.session = None  # kneeview.session.Session of the open recording
        self.reader = None
        self.frames = None  # DisplayFrames: RGB frames for display
        self.view_index = 0
        self.estimates: dict[int, ViewEstimate] = {}
        self.gt_lab_mm: np.ndarray | None = None  # (T, 6, 3)
        self.gt_px: np.ndarray | None = None  # (T, 6, 2) raw pixels
        self.metrics: Metrics | None = None
        self.gt_metrics: Metrics | None = None
        self.frame = 0
        self._pending: int | None = None
        self._step = 0  # the last key step still being followed (0: the last move was no step)
        self._display_reduction = 1  # what the video view last asked of the frames
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._apply_pending)
        # batches that do not touch the frame shown are announced at most this often: they
        # arrive ten times a second (InferenceRun.COLLECT_MS), and repainting the views for each
        # still slowed a run (benchmarks/bench_app_inference.py: 0.68-0.73x of the estimator
        # loop without this, 0.75-0.81x with it, one noisy pair of runs each)
        self._pose_timer = QtCore.QTimer(self)
        self._pose_timer.setSingleShot(True)
        self._pose_timer.setInterval(250)
        self._pose_timer.timeout.connect(self.poseChanged)

    # ----------------------------------------------------------------- recording
    @property
    def n_frames(self) -> int:
        return self.reader.frame_count if self.reader is not None else 0

    @property
    def fps(self) -> float:
        return self.reader.fps if self.reader is not None else 25.0

    @property
    def recording(self):
        return self.session.recording if self.session is not None else None

    @property
    def view(self):
        """The view shown (``recording.views[view_index]``), or None."""
        return self.recording.views[self.view_index] if self.recording is not None else None

    @property
    def camera(self):
        return self.view.camera if self.recording is not None else None

    def set_recording(self, session, reader, view_index: int = 0) -> None:
        """Show a recording (a :class:`kneeview.session.Session`, already opened and validated)
        through one of its views, whose video ``reader`` is. Projects the ground truth."""
        self.session = session
        self.estimates = {}
        self.metrics = self.gt_metrics = None
        self.frame = 0
        self._show_view(view_index, reader)
        self.recordingChanged.emit()
        self.frameChanged.emit(0)

    def set_view(self, view_index: int, reader) -> None:
        """Show another view of the open recording (``reader``: its video), at the same frame:
        the views are synchronised. The estimates of every view are kept."""
        frame = self._pending if self._pending is not None else self.frame
        self._show_view(view_index, reader)
        self.frame = self.clamp(frame)
        self.viewChanged.emit()
        self.poseChanged.emit()
        self.frameChanged.emit(self.frame)

    def _show_view(self, view_index: int, reader) -> None:
        from .frames import DisplayFrames

        self._close_video()
        self.view_index, self.reader = int(view_index), reader
        self.frames = DisplayFrames(reader)
        self._pending = None
        self.gt_lab_mm = self.gt_px = None
        rec = self.recording
        gt = rec.ground_truth_frames(self.view_index) if rec.c3d_path is not None else None
        if gt is not None:  # the same lab-frame joints for every view, at this view's frames
            gt = gt[: reader.frame_count]
            if len(gt) < reader.frame_count:
                gt = np.concatenate([gt, np.full((reader.frame_count - len(gt), J.N_JOINTS, 3), np.nan)])
            self.gt_lab_mm = gt
            if self.camera is not None:
                self.gt_px = self.camera.project(gt)

    def _close_video(self) -> None:
        if self.reader is not None:
            self.frames.close()  # first: its read-ahead thread may be using the reader
            self.reader.close()
        self.reader = self.frames = None

    def close_recording(self) -> None:
        self._close_video()
        self.session = self.metrics = self.gt_metrics = None
        self.estimates = {}
        self.view_index = 0
        self.gt_lab_mm = self.gt_px = None
        self.frame = 0
        self.recordingChanged.emit()

    # ---------------------------------------------------------------- estimates
    @property
    def estimate(self) -> ViewEstimate | None:
        """The estimate of the view shown, or None."""
        return self.estimates.get(self.view_index)

    @property
    def pose(self) -> PoseSequence | None:
        est = self.estimate
        return est.pose if est is not None else None

    @property
    def pose_done(self) -> np.ndarray:
        """Frames of the view shown whose estimate has arrived."""
        est = self.estimate
        return est.done if est is not None else np.zeros(self.n_frames, dtype=bool)

    def _changed(self, view: int) -> None:
        if view == self.view_index:
            self.poseChanged.emit()

    def begin_pose(self, model: dict | None = None) -> None:
        """Start an estimate of the view shown (replacing the one it had)."""
        self.estimates[self.view_index] = ViewEstimate(PoseSequence.empty(self.n_frames, self.fps, model=model),
                                                       np.zeros(self.n_frames, dtype=bool))
        self.metrics = None
        self.poseChanged.emit()
        self.metricsChanged.emit()

    def add_pose_batch(self, start: int, cols: dict, view: int | None = None) -> None:
        """Frames ``start...`` of the estimate of ``view`` (default: the view shown)."""
        view = self.view_index if view is None else view
        if view not in self.estimates:
            if view != self.view_index:
                return  # that view's estimate was dropped (another model): ignore a late batch
            self.begin_pose()
        est = self.estimates[view]
        n = len(cols["score"])
        stop = min(start + n, len(est.done))
        for k, v in cols.items():
            target = getattr(est.pose, k, None)
            if target is not None:  # (the network's own keypoints beside refined ones: not previewed;
                target[start:stop] = v[: stop - start]  # the complete estimate comes through set_pose)
        est.done[start:stop] = True
        if view != self.view_index:
            return
        if start <= self.frame < stop:  # the frame shown has its estimate now: show it at once
            self._pose_timer.stop()
            self.poseChanged.emit()
        elif not self._pose_timer.isActive():
            self._pose_timer.start()

    def set_pose(self, seq: PoseSequence, view: int | None = None) -> ViewEstimate:
        """The complete estimate of ``view`` (default: the view shown)."""
        view = self.view_index if view is None else view
        old = self.estimates.get(view)
        n = len(old.done) if old is not None else (self.n_frames if view == self.view_index else len(seq))
        if len(seq) != n:
            log.warning("the estimate has %d frames, the video %d", len(seq), n)
            fps = self.fps if view == self.view_index else float(self.recording.views[view].video_info.fps)
            full = PoseSequence.empty(n, fps, source=seq.source, model=seq.model)
            idx = seq.frame_index[(seq.frame_index >= 0) & (seq.frame_index < n)].astype(int)
            for k in ("score", "keypoints_px", "joints_cam_m", "confidence"):
                getattr(full, k)[idx] = getattr(seq, k)[: len(idx)]
            seq = full
        est = self.estimates[view] = ViewEstimate(seq, np.ones(n, dtype=bool))
        self._changed(view)
        return est

    def forget_estimates(self) -> None:
        """Drop every view's estimate (they belong to a model no longer used)."""
        self.estimates = {}
        self.metrics = None
        self.poseChanged.emit()
        self.metricsChanged.emit()

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
        self._step = 0
        self._pending = self.clamp(frame)
        if not self._timer.isActive():
            self._timer.start()

    def set_frame(self, frame: int) -> None:
        """Go to a frame now (synchronously)."""
        if self.reader is None:
            return
        self._pending = None
        self._step = 0
        self._timer.stop()
        self.frame = self.clamp(frame)
        self.frameChanged.emit(self.frame)

    def _apply_pending(self) -> None:
        if self._pending is not None:
            frame, self._pending = self._pending, None
            if frame != self.frame:
                self.frame = frame
                self.frameChanged.emit(frame)
            if self._step:  # stepping with the keys: the next step's frame, decoded meanwhile
                self.prefetch(self.frame + self._step)

    def step(self, delta: int) -> None:
        base = self._pending if self._pending is not None else self.frame
        self.request_frame(base + delta)
        self._step = int(delta)

    def prefetch(self, frame: int) -> None:
        """Decode ``frame`` ahead, off the GUI thread, at the resolution the video view last
        asked for (playback, stepping)."""
        if self.frames is not None and 0 <= frame < self.n_frames:
            self.frames.prefetch(frame, self._display_reduction)

    def display_image(self, frame: int, reduction: int = 1) -> tuple[np.ndarray, tuple[int, int]] | None:
        """``(rgb, (W, H))``: the frame for display, up to ``reduction`` times smaller, and the
        raw pixels it covers (see :meth:`.frames.DisplayFrames.get`); None if it cannot be read."""
        if self.frames is None:
            return None
        self._display_reduction = int(reduction)
        try:
            return self.frames.get(frame, reduction)
        except (KneeViewInputError, IndexError) as exc:
            log.warning("cannot show frame %d: %s", frame, exc)
            return None

    # ------------------------------------------------------------------- events
    def event_frames(self) -> list[int]:
        m = self.metrics or self.gt_metrics
        return sorted(set(int(f) for f in (m.events.values() if m else []) if f is not None and f >= 0))
