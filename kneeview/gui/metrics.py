"""The bridge to :mod:`kneeview.analysis`: knee metrics and events as the plots want them.

The GUI computes nothing clinical: :func:`kneeview.analysis.analyse` does, on the ground
truth resampled to the video frames or on the network's estimate put in the lab frame
(``kneeview.analysis.sources``). When the analysis fails on a recording, the plots say so
and everything else works.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .state import Metrics

log = logging.getLogger(__name__)

#: plot title -> (per-frame metric column of ``TrialAnalysis.metrics``, peak name)
PLOTTED = {"MKD (mm)": ("mkd_{side}_mm", "mkd"), "FPPA (deg)": ("fppa_{side}_deg", "fppa")}


@dataclass
class Analysed:
    """What the plots draw and what the export writes, from one source."""

    metrics: Metrics
    analysis: object  # kneeview.analysis.TrialAnalysis
    inputs: object  # kneeview.analysis.sources.TrialInputs


def _task(recording):
    from ..analysis import normalise_task

    try:
        return normalise_task((recording.metadata or {}).get("task"))
    except ValueError:
        return None


def analyse_source(recording, pose=None, source: str = "model", view_index: int = 0) -> Analysed | None:
    """Analyse the estimate (``source="model"``, ``pose`` a PoseSequence of the view) or the
    ground truth (``"gt"``, projected through the view's camera) of one view of a recording;
    None when it cannot be done (no calibration, no ground truth, a failure)."""
    if recording is None:
        return None
    try:
        from ..analysis import analyse
        from ..analysis.sources import from_ground_truth, from_pose_sequence
    except ImportError as exc:
        log.warning("knee metrics unavailable: %s", exc)
        return None
    try:
        view = recording.views[view_index]
        fps = float(view.video_info.fps)
        if source == "gt":
            if recording.c3d_path is None:
                return None
            inputs = from_ground_truth(recording, view_index)
        else:
            if pose is None or view.camera is None:
                return None
            inputs = from_pose_sequence(pose, view.camera, fps)
        if not np.isfinite(inputs.joints_lab_mm).any():
            return None
        cutoff = min(6.0, 0.4 * fps)
        analysis = analyse(inputs.joints_lab_mm, inputs.rate_hz, inputs.keypoints_px, task=_task(recording),
                           cutoff_hz=cutoff, frame_index=inputs.frame_index)
    except Exception as exc:  # an analysis problem must not take the viewer down
        log.warning("knee metrics (%s) could not be computed: %s", source, exc, exc_info=True)
        return None
    return Analysed(to_metrics(analysis, source), analysis, inputs)


def to_metrics(analysis, source: str) -> Metrics:
    series, peaks = {}, {}
    for title, (column, peak_name) in PLOTTED.items():
        series[title] = {side: np.asarray(analysis.metrics[column.format(side=side)], float)
                         for side in ("left", "right") if column.format(side=side) in analysis.metrics}
        peaks[title] = {side: analysis.peaks.get(f"{peak_name}_peak_{side}_frame") for side in ("left", "right")}
    events = {name: int(analysis.frame_index[row]) for name, row in analysis.event_frames().items() if row is not None}
    return Metrics(time_s=np.asarray(analysis.time_s, float), series=series, events=events, peaks=peaks, source=source)
