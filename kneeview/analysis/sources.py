"""Where a trial's trajectories come from: the C3D ground truth or the network (a PoseSequence)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import joints as J
from ..errors import KneeViewInputError
from .frames import camera_to_lab, locate_mid_hip
from .events import normalise_task
from .pipeline import TrialAnalysis, analyse

SOURCES = ("gt", "model")


@dataclass
class TrialInputs:
    """Trajectories of one view of a recording, ready for :func:`analyse`."""

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


def get_estimator(checkpoint=None, device: str = "auto"):
    """``kneeview.pose.load_estimator(checkpoint, device)``, or a clear error where the build has none."""
    try:
        from ..pose import load_estimator
    except ImportError:
        raise KneeViewInputError(
            None, "the pose estimator is not available in this build (kneeview.pose has no load_estimator); "
            "use --source gt", "--source") from None
    return load_estimator(checkpoint, device=device)


def from_model(rec, view_index: int = 0, estimator=None) -> TrialInputs:
    """Run the pose estimator over the view's video (``estimator.run(reader)`` -> PoseSequence)."""
    view = rec.views[view_index]
    if view.camera is None:
        raise KneeViewInputError(view.video_path, "the video has no calibrated camera: the network's 3D cannot be "
                                 "put in the lab frame", "camera")
    estimator = estimator if estimator is not None else get_estimator()
    with view.open_video() as reader:
        seq = estimator.run(reader)
    return from_pose_sequence(seq, view.camera, float(view.video_info.fps))


def load_inputs(rec, source: str = "gt", view_index: int = 0, estimator=None) -> TrialInputs:
    if source == "gt":
        return from_ground_truth(rec, view_index)
    if source == "model":
        return from_model(rec, view_index, estimator)
    raise KneeViewInputError(None, f"unknown source {source!r} (expected gt or model)", "--source")


def analyse_recording(rec, source: str = "gt", cutoff_hz: float | None = 6.0, task=None, view_index: int = 0,
                      estimator=None) -> tuple[TrialAnalysis, TrialInputs]:
    """Load a recording's trajectories from ``source`` and analyse them.

    The task comes from ``task``, else the trial's metadata (synthetic trials), else it is
    detected from the kinematics.
    """
    inputs = load_inputs(rec, source, view_index, estimator)
    if task is None:
        try:
            task = normalise_task((rec.metadata or {}).get("task"))
        except ValueError:
            task = None  # an unknown task name in the metadata: detect it instead
    analysis = analyse(inputs.joints_lab_mm, inputs.rate_hz, inputs.keypoints_px, task=task, cutoff_hz=cutoff_hz,
                       frame_index=inputs.frame_index)
    return analysis, inputs
