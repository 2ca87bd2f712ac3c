"""Knee metrics and events as the plots want them, from the session layer's analysis.

The GUI computes nothing clinical: :meth:`kneeview.session.Session.analyse` does, exactly
as ``kneeview export`` does, so the plots and the CSV of a trial agree. When the analysis
fails on a recording, the plots say so and everything else works.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..analysis.pipeline import lifted_leg
from ..errors import KneeViewInputError
from .state import Metrics

log = logging.getLogger(__name__)

#: plot title -> (per-frame metric column of ``TrialAnalysis.metrics``, peak name)
PLOTTED = {"MKD (mm)": ("mkd_{side}_mm", "mkd"), "FPPA (deg)": ("fppa_{side}_deg", "fppa")}


@dataclass
class Analysed:
    """One analysed source of one view: the session layer's result and its plotted metrics."""

    metrics: Metrics
    result: object  # kneeview.session.Analysed: what the export writes

    @property
    def analysis(self):
        return self.result.analysis

    @property
    def inputs(self):
        return self.result.inputs


def analyse_source(session, pose=None, source: str = "model", view_index: int = 0) -> Analysed | None:
    """The analysis of the estimate (``source="model"``, ``pose`` a
    PoseSequence of the view) or of the ground truth (``"gt"``) of one view; None when it
    cannot be done (no calibration, no ground truth, nothing estimated, a failure)."""
    if session is None:
        return None
    rec = session.recording
    if source == "gt" and rec.c3d_path is None:
        return None
    if source == "model" and (pose is None or rec.views[view_index].camera is None):
        return None
    try:
        analysed = session.analyse(source, view_index, pose=pose)
    except KneeViewInputError as exc:
        log.info("knee metrics (%s) not computed: %s", source, exc)
        return None
    except Exception as exc:  # an analysis problem must not take the viewer down
        log.warning("knee metrics (%s) could not be computed: %s", source, exc, exc_info=True)
        return None
    if not np.isfinite(analysed.inputs.joints_lab_mm).any():
        return None
    return Analysed(to_metrics(analysed), analysed)


def to_metrics(analysed) -> Metrics:
    """A session-layer analysis as the plots draw it: series, their sd bands, events, peaks."""
    analysis = analysed.analysis
    series, peaks, sd = {}, {}, {}
    for title, (column, peak_name) in PLOTTED.items():
        names = {side: column.format(side=side) for side in ("left", "right")}
        series[title] = {side: np.asarray(analysis.metrics[c], float) for side, c in names.items() if c in analysis.metrics}
        sd[title] = {side: np.asarray(analysed.uncertainty[f"{c}_sd"], float) for side, c in names.items()
                     if f"{c}_sd" in analysed.uncertainty}
        peaks[title] = {side: analysis.peaks.get(f"{peak_name}_peak_{side}_frame") for side in ("left", "right")}
    events = {name: int(analysis.frame_index[row]) for name, row in analysis.event_frames().items() if row is not None}
    recon = analysed.inputs.reconstruction
    unreliable = ~np.asarray(recon.reliable, bool) if recon is not None else None
    return Metrics(time_s=np.asarray(analysis.time_s, float), series=series, events=events, peaks=peaks,
                   source=analysed.source, sd=sd, unreliable=unreliable,
                   lifted=lifted_leg(analysis.events))
