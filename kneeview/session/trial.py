"""One recording as the app and every command see it: open, estimate, analyse, export.

:class:`Session` wraps an opened :class:`~kneeview.io.recording.Recording`. The same
calls give the numbers on screen and in every file, so one trial always reads the same:

* :meth:`Session.estimate` — a view's pose estimate, from the cache or the network;
* :meth:`Session.inputs` — the view's trajectories from the ground truth or the estimate;
* :meth:`Session.analyse` — filtering, metrics, events and peaks (:func:`analyse`), with
  the one cutoff rule (:func:`cutoff_for`) and the one task rule (:func:`task_for`);
* :meth:`Session.export` — per-frame CSV, summary CSV, TRC.

Qt-free and torch-free at import: the network is loaded only when an estimate is not cached.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis import TrialAnalysis, analyse, normalise_task
from ..errors import KneeViewInputError
from .estimates import Estimate, EstimateRun
from . import PLACEMENTS, SOURCES
from .inputs import TrialInputs, from_ground_truth, from_pose_sequence

#: The low-pass cutoff (Hz) used unless the user names another.
DEFAULT_CUTOFF_HZ = 6.0
#: Below this frame rate the default cutoff drops to 0.4 x the rate (6 Hz would be near Nyquist).
_SLOW_VIDEO_FPS = DEFAULT_CUTOFF_HZ / 0.4


def cutoff_for(rate_hz: float, requested="auto") -> float | None:
    """The low-pass cutoff for a trial sampled at ``rate_hz``.

    ``"auto"``: :data:`DEFAULT_CUTOFF_HZ`, or 0.4 x the rate for videos under 15 frames/s;
    ``None`` or 0: no filtering; a number: that cutoff (it must be below half the rate,
    which :func:`kneeview.analysis.analyse` checks).
    """
    if requested == "auto":
        return DEFAULT_CUTOFF_HZ if rate_hz >= _SLOW_VIDEO_FPS else 0.4 * float(rate_hz)
    if requested is None or float(requested) == 0:
        return None
    return float(requested)


def task_for(recording, requested=None) -> str | None:
    """``requested`` (any alias of drop jump / single-leg squat), else the trial's metadata,
    else None (the analysis detects it from the kinematics)."""
    if requested is not None:
        try:
            return normalise_task(requested)
        except ValueError as exc:
            raise KneeViewInputError(None, str(exc), "--task") from None
    try:
        return normalise_task((getattr(recording, "metadata", None) or {}).get("task"))
    except ValueError:
        return None  # an unknown task name in the metadata: detect it instead


@dataclass
class Analysed:
    """One source of one view, analysed: what the plots draw and the export writes."""

    analysis: TrialAnalysis
    inputs: TrialInputs
    view_index: int = 0
    #: per-frame standard deviation of the MKD and FPPA columns (``mkd_left_mm_sd``...), from
    #: the calibrated reconstruction's posterior; empty for the ground truth and the raw placement
    uncertainty: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.inputs.source


class Session:
    """An opened recording and the one path from it to a clinician's numbers."""

    def __init__(self, recording, allow_partial: bool = False):
        """``allow_partial``: use a truncated C3D's frames (``--allow-partial``) instead of refusing it."""
        self.recording = recording
        self.allow_partial = allow_partial
        self._estimators: dict = {}  # (checkpoint, device) -> estimator loaded for this session

    def load_estimator(self, checkpoint=None, device: str = "auto"):
        """The network, loaded once per session and reused for every view."""
        from . import estimates

        key = (None if checkpoint is None else str(checkpoint), device)
        if key not in self._estimators:
            self._estimators[key] = estimates.load_estimator(checkpoint, device)
        return self._estimators[key]

    @classmethod
    def open(cls, path, calibration=None, c3d=None, camera=None, allow_partial: bool = False) -> "Session":
        from ..io.recording import open_recording

        return cls(open_recording(path, calibration=calibration, c3d=c3d, device_id=camera), allow_partial)

    # ------------------------------------------------------------------ views
    @property
    def views(self):
        return self.recording.views

    def export_name(self, view_index: int = 0) -> str:
        """File name stem of an export: the trial, and the view's video where there are several."""
        rec = self.recording
        if len(rec.views) < 2:
            return rec.trial
        stem = rec.views[view_index].video_path.stem
        return stem if stem.lower().startswith(rec.trial.lower()) else f"{rec.trial}_{stem}"

    def require_camera(self, view_index: int = 0):
        """The view's calibrated camera, or an error naming the video and why there is none."""
        view = self.views[view_index]
        if view.camera is not None:
            return view.camera
        name = view.video_path.name
        why = next((p for p in self.recording.problems if name in p), None)
        if why is None:
            why = ("no calibration was found for this video (pass --calibration FILE)" if self.recording.calibration is None
                   else "no camera of the calibration matches this video (pass --camera DEVICEID)")
        raise KneeViewInputError(view.video_path, why, "camera")

    def check(self, source: str, view_index: int = 0, cutoff_hz="auto") -> None:
        """Everything that can be checked before a model or a video is loaded: the source, a
        camera (any model source; the ground truth where the camera is ambiguous), the cutoff."""
        if source not in SOURCES:
            raise KneeViewInputError(None, f"unknown source {source!r} (expected {' or '.join(SOURCES)})", "--source")
        view = self.views[view_index]
        if source == "model" or view.camera_match == "ambiguous":
            self.require_camera(view_index)
        if source == "gt" and self.recording.c3d_path is None:
            raise KneeViewInputError(self.recording.root, f"trial {self.recording.trial} has no ground truth "
                                     f"(no {self.recording.trial}.c3d); use --source model", "--source")
        fps = float(view.video_info.fps)
        cutoff = cutoff_for(fps, cutoff_hz)
        if cutoff is not None and not (np.isfinite(cutoff) and 0 < cutoff < fps / 2):
            raise KneeViewInputError(view.video_path, f"the cutoff {cutoff:g} Hz must be above 0 and below half the "
                                     f"video's frame rate ({fps / 2:g} Hz)", "--cutoff")

    # -------------------------------------------------------------- estimates
    def estimate_run(self, view_index: int = 0, **kw) -> EstimateRun:
        """The estimate of a view as a run the caller drives (the app's worker thread). With a
        calibrated camera, the estimate is read for that camera
        (:func:`kneeview.analysis.facing.for_this_camera`: from behind, the network's own keypoints
        and left/right put right)."""
        kw.setdefault("factory", self.load_estimator)
        view = self.views[view_index]
        if view.camera is not None and "postprocess" not in kw:
            from ..analysis.facing import for_this_camera

            camera, fps = view.camera, float(view.video_info.fps)
            kw["postprocess"] = lambda seq: for_this_camera(seq, camera, fps)
        return EstimateRun(view.video_path, **kw)

    def estimate(self, view_index: int = 0, estimator=None, checkpoint=None, device: str = "auto",
                 use_cache: bool = True, factory=None, **callbacks) -> Estimate:
        """The view's pose estimate: cached, or computed (and cached). See :class:`EstimateRun`;
        ``factory(checkpoint, device)`` builds the estimator when one is needed (default: loaded
        once per session)."""
        self.require_camera(view_index)
        return self.estimate_run(view_index, estimator=estimator, checkpoint=checkpoint, device=device,
                                 use_cache=use_cache, factory=factory or self.load_estimator).run(**callbacks)

    # --------------------------------------------------------------- analysis
    def inputs(self, source: str, view_index: int = 0, pose=None, placement: str = "calibrated",
               **estimate_kw) -> TrialInputs:
        """The view's trajectories: the ground truth, or the model's estimate (``pose`` if
        given, else :meth:`estimate` with ``estimate_kw``) placed in the lab frame
        (``placement``: see :mod:`kneeview.session.inputs`)."""
        if source == "gt":
            return from_ground_truth(self.recording, view_index, self.allow_partial)
        if source != "model":
            raise KneeViewInputError(None, f"unknown source {source!r} (expected {' or '.join(SOURCES)})", "--source")
        camera = self.require_camera(view_index)
        if pose is None:
            pose = self.estimate(view_index, **estimate_kw).pose
        return from_pose_sequence(pose, camera, float(self.views[view_index].video_info.fps), placement)

    def analyse(self, source: str = "model", view_index: int = 0, pose=None, cutoff_hz="auto", task=None,
                placement: str = "calibrated", uncertainty_samples: int = 200, **estimate_kw) -> Analysed:
        """Trajectories of ``source`` -> filtered metrics, events and peaks; with the calibrated
        placement, the metrics' per-frame standard deviation from ``uncertainty_samples``
        posterior draws (0: none)."""
        self.check(source, view_index, cutoff_hz)
        if placement not in PLACEMENTS:
            raise KneeViewInputError(None, f"unknown placement {placement!r} (expected {' or '.join(PLACEMENTS)})", "placement")
        task = task_for(self.recording, task)
        inputs = self.inputs(source, view_index, pose, placement, **estimate_kw)
        recon = inputs.reconstruction
        analysis = analyse(inputs.joints_lab_mm, inputs.rate_hz, inputs.keypoints_px, task=task,
                           cutoff_hz=cutoff_for(inputs.rate_hz, cutoff_hz), frame_index=inputs.frame_index,
                           contact=None if recon is None else recon.contact,
                           heights=None if recon is None else recon.heights_mm)
        sd = {}
        if inputs.reconstruction is not None and uncertainty_samples > 0:
            from ..analysis.reconstruction import metric_uncertainty
            from .inputs import one_blas_thread

            with one_blas_thread():
                sd = metric_uncertainty(inputs.reconstruction, analysis.reference_frame, n_samples=uncertainty_samples)
        return Analysed(analysis, inputs, view_index, sd)

    # ----------------------------------------------------------------- export
    def summary_row(self, analysed: Analysed, trial: str | None = None) -> dict:
        """The trial's summary row (``trial`` names it; default: the export name)."""
        from ..io.export import summary_row

        inputs = analysed.inputs
        return summary_row(analysed.analysis, trial or self.export_name(analysed.view_index),
                           str(self.views[analysed.view_index].video_path), inputs.source, inputs.model,
                           self.recording.metadata, **self._export_extras(analysed))

    def export(self, out_dir, analysed: Analysed, name: str | None = None) -> dict[str, Path]:
        """``<name>_frames.csv``, ``<name>_summary.csv`` and ``<name>.trc`` of an analysed view."""
        from ..io.export import export_trial

        inputs = analysed.inputs
        return export_trial(out_dir, analysed.analysis, name or self.export_name(analysed.view_index),
                            confidence=inputs.confidence, source=inputs.source, model=inputs.model,
                            recording=str(self.views[analysed.view_index].video_path),
                            metadata=self.recording.metadata, **self._export_extras(analysed))

    def _export_extras(self, analysed: Analysed) -> dict:
        """The ground truth's completeness, the metrics' uncertainty, the placement, the fit's reliability,
        the lifter's spread and how far the fitted legs' lengths disagree."""
        recon = analysed.inputs.reconstruction
        return {"ground_truth": self.recording.ground_truth() if analysed.source == "gt" else None,
                "uncertainty": analysed.uncertainty, "placement": analysed.inputs.placement or None,
                "reliable": recon.reliable if recon is not None else None,
                "prior_spread_deg": recon.prior_spread_deg if recon is not None else None,
                "length_asymmetry_mm": recon.length_asymmetry_mm if recon is not None else None}
