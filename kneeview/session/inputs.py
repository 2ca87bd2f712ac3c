"""Where a trial's trajectories come from: the C3D ground truth or the network's estimate.

Both give :class:`TrialInputs` — lab-frame joint centres (mm), raw-pixel keypoints and
per-joint confidence at the video's frames — which :func:`kneeview.analysis.analyse`
turns into metrics. The network's 3D (camera frame, metres, mid-hip-relative) is placed
in the lab by :func:`from_pose_sequence`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import joints as J
from ..analysis.frames import camera_to_lab, locate_mid_hip
from ..errors import KneeViewInputError

SOURCES = ("gt", "model")


@dataclass
class TrialInputs:
    """Trajectories of one view of a recording, ready for :func:`kneeview.analysis.analyse`."""

    joints_lab_mm: np.ndarray  # (T, 6, 3)
    keypoints_px: np.ndarray  # (T, 6, 2) raw distorted pixels
    confidence: np.ndarray  # (T, 6)
    frame_index: np.ndarray  # (T,)
    rate_hz: float
    source: str
    model: dict = field(default_factory=dict)


def from_ground_truth(rec, view_index: int = 0) -> TrialInputs:
    """The C3D joint centres at the video's frames, projected through the view's camera for 2D."""
    view = rec.views[view_index]
    joints = rec.ground_truth_frames(view_index)
    if joints is None:
        raise KneeViewInputError(rec.root, f"trial {rec.trial} has no ground truth (no {rec.trial}.c3d); use --source model", "--source")
    rec.ground_truth().require_complete()  # a truncated C3D only with --allow-partial
    T = len(joints)
    if view.camera is not None:
        kp = view.camera.project(joints.reshape(-1, 3)).reshape(T, J.N_JOINTS, 2)
    else:
        kp = np.full((T, J.N_JOINTS, 2), np.nan)
    known = np.isfinite(joints).all(-1)
    return TrialInputs(joints, kp, np.where(known, 1.0, 0.0), np.arange(T), float(view.video_info.fps), "gt", {})


def from_pose_sequence(seq, camera, rate_hz: float) -> TrialInputs:
    """Network output (camera frame, metres, mid-hip-relative) -> lab millimetres.

    The mid-hip's lab position is recovered from the 2D keypoints (:func:`locate_mid_hip`),
    so ankle and pelvis heights (needed for the events) are absolute.
    """
    if camera is None:
        raise KneeViewInputError(None, "the video has no calibrated camera: the network's 3D cannot be put in the lab frame", "camera")
    hip = locate_mid_hip(seq.joints_cam_m, seq.keypoints_px, camera, seq.confidence)
    joints = camera_to_lab(seq.joints_cam_m, camera, hip)
    return TrialInputs(joints, np.asarray(seq.keypoints_px, float), np.asarray(seq.confidence, float),
                       np.asarray(seq.frame_index), float(rate_hz), getattr(seq, "source", "model"), dict(seq.model or {}))
