"""Where a trial's trajectories come from: the C3D ground truth or the network's estimate.

Both give :class:`TrialInputs` — lab-frame joint centres (mm), raw-pixel keypoints and
per-joint confidence at the video's frames — which :func:`kneeview.analysis.analyse`
turns into metrics. The network's output is put in the lab by :func:`from_pose_sequence`:

* ``placement="calibrated"`` (the default): the per-trial reconstruction
  (:func:`kneeview.analysis.reconstruction.reconstruct`) — each joint on the ray through its
  2D keypoint, constant segment lengths, feet on the floor, smoothness, the bundled lifter's
  3D (from the 2D sequence) as a prior on the segment directions — with a standard deviation per joint and a
  reliability flag per frame;
* ``placement="raw"``: the network's own 3D rotated into the lab and translated so that it
  reprojects best (:func:`kneeview.analysis.frames.locate_mid_hip`), for comparison.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import joints as J
from ..analysis.frames import camera_to_lab, locate_mid_hip
from ..errors import KneeViewInputError

from . import PLACEMENTS


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
    placement: str = ""  # how the model's 3D was put in the lab ("" for the ground truth)
    reconstruction: object = None  # kneeview.analysis.reconstruction.Reconstruction (calibrated placement)


def from_ground_truth(rec, view_index: int = 0, allow_partial: bool = False) -> TrialInputs:
    """The C3D joint centres at the video's frames, projected through the view's camera for 2D
    (a truncated C3D only with ``allow_partial``)."""
    view = rec.views[view_index]
    joints = rec.ground_truth_frames(view_index)
    if joints is None:
        raise KneeViewInputError(rec.root, f"trial {rec.trial} has no ground truth (no {rec.trial}.c3d); use --source model", "--source")
    rec.ground_truth().require_complete(allow_partial)
    T = len(joints)
    if view.camera is not None:
        kp = view.camera.project(joints.reshape(-1, 3)).reshape(T, J.N_JOINTS, 2)
    else:
        kp = np.full((T, J.N_JOINTS, 2), np.nan)
    known = np.isfinite(joints).all(-1)
    return TrialInputs(joints, kp, np.where(known, 1.0, 0.0), np.arange(T), float(view.video_info.fps), "gt", {})


def one_blas_thread():
    """A context in which BLAS/LAPACK use one thread. The reconstruction's banded solves are
    small: threads gain nothing, and on a busy CPU (the model, the GUI, another job) OpenBLAS's
    spinning threads made one trial take 47 s instead of 0.4 s (measured, 2 cores, load 6)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def from_pose_sequence(seq, camera, rate_hz: float, placement: str = "calibrated") -> TrialInputs:
    """Network output (camera frame, metres, mid-hip-relative) -> lab millimetres (see the
    module's docstring for the two placements)."""
    if camera is None:
        raise KneeViewInputError(None, "the video has no calibrated camera: the network's 3D cannot be put in the lab frame", "camera")
    if placement not in PLACEMENTS:
        raise KneeViewInputError(None, f"unknown placement {placement!r} (expected {' or '.join(PLACEMENTS)})", "placement")
    recon = None
    if placement == "calibrated":
        from ..analysis.reconstruction import reconstruct

        with one_blas_thread():
            # the bundled temporal lifter's 3D as the direction prior (the network's own when there is
            # none): chosen on tuning sets of human bodies over the network's prior, whose strong knees
            # read closer but whose healthy knees gave false peaks up to 112 mm
            # (docs/clinical-benchmark-history.md, "Which prior")
            recon = reconstruct(seq.keypoints_px, seq.joints_cam_m, seq.confidence, camera, rate_hz, prior="auto")
        joints = recon.joints_lab_mm
    else:
        hip = locate_mid_hip(seq.joints_cam_m, seq.keypoints_px, camera, seq.confidence)
        joints = camera_to_lab(seq.joints_cam_m, camera, hip)
    return TrialInputs(joints, np.asarray(seq.keypoints_px, float), np.asarray(seq.confidence, float),
                       np.asarray(seq.frame_index), float(rate_hz), getattr(seq, "source", "model"), dict(seq.model or {}),
                       placement, recon)
