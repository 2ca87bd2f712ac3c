"""The bridge to :mod:`kneeview.analysis`: knee metrics and events as the plots want them.

The GUI computes nothing clinical: :func:`kneeview.analysis.analyse` does, on the ground
truth resampled to the video frames or on the network's estimate turned into the lab frame
(``camera_to_lab`` + ``locate_mid_hip``). When analysis is unavailable or fails on a
recording, the plots say so and everything else works.
"""
from __future__ import annotations

import logging

import numpy as np

from .state import Metrics

log = logging.getLogger(__name__)

#: plot title -> per-frame metric column of ``TrialAnalysis.metrics`` (``{side}`` filled in)
PLOTTED = {"MKD (mm)": ("mkd_{side}_mm", "mkd"), "FPPA (deg)": ("fppa_{side}_deg", "fppa")}


def analysis_available() -> bool:
    try:
        from ..analysis import analyse  # noqa: F401
    except ImportError:
        return False
    return True


def estimate_lab_mm(pose, camera) -> np.ndarray:
    """The estimate's joints (T, 6, 3) in the lab frame, mm, placed where the 2D says."""
    from ..analysis import camera_to_lab, locate_mid_hip

    hip = locate_mid_hip(pose.joints_cam_m, pose.keypoints_px, camera, pose.confidence)
    return camera_to_lab(pose.joints_cam_m, camera, hip)


def compute_metrics(recording, pose=None, source: str = "model", gt_px=None) -> Metrics | None:
    """Metrics of the estimate (``source="model"``, ``pose`` a PoseSequence) or of the ground
    truth (``"gt"``); None when they cannot be computed (no analysis, no calibration...)."""
    if not analysis_available() or recording is None:
        return None
    try:
        return _compute(recording, pose, source, gt_px)
    except Exception as exc:  # an analysis problem must not take the viewer down
        log.warning("knee metrics (%s) could not be computed: %s", source, exc, exc_info=True)
        return None


def _compute(recording, pose, source, gt_px) -> Metrics | None:
    from ..analysis import analyse

    view = recording.view
    fps = float(view.video_info.fps)
    camera = view.camera
    if source == "gt":
        joints = recording.ground_truth_frames()
        if joints is None:
            return None
        keypoints = gt_px
    else:
        if pose is None or camera is None:
            return None
        joints = estimate_lab_mm(pose, camera)
        keypoints = pose.keypoints_px
    if not np.isfinite(joints).any():
        return None
    task = recording.metadata.get("task") if isinstance(recording.metadata, dict) else None
    cutoff = min(6.0, 0.4 * fps)
    try:
        result = analyse(joints, fps, keypoints_px=keypoints, task=task, cutoff_hz=cutoff)
    except Exception:
        if task is None:
            raise
        result = analyse(joints, fps, keypoints_px=keypoints, task=None, cutoff_hz=cutoff)
    series, peaks = {}, {}
    for title, (column, peak_name) in PLOTTED.items():
        series[title] = {side: np.asarray(result.metrics[column.format(side=side)], float)
                         for side in ("left", "right") if column.format(side=side) in result.metrics}
        peaks[title] = {side: result.peaks.get(f"{peak_name}_peak_{side}_frame") for side in ("left", "right")}
    events = {name: int(result.frame_index[row]) for name, row in result.event_frames().items() if row is not None}
    return Metrics(time_s=np.asarray(result.time_s, float), series=series, events=events, peaks=peaks, source=source)
