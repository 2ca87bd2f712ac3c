"""One call from trajectories to what a clinician reads: :func:`analyse` -> :class:`TrialAnalysis`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import joints as J
from ..errors import KneeViewInputError
from .events import EVENT_NAMES, Events, detect_events, normalise_task
from .filtering import lowpass
from .metrics import knee_metrics_2d, knee_metrics_3d, leg_lengths, phase_peaks


@dataclass
class TrialAnalysis:
    """Filtered trajectories, per-frame metrics, events and per-trial peaks of one trial.

    Frame numbers in ``events`` and ``peaks`` are row indices; ``frame_index`` maps them to
    video frames and ``time_s`` to seconds.
    """

    rate_hz: float
    frame_index: np.ndarray  # (T,) int
    time_s: np.ndarray  # (T,) s
    joints_lab_mm: np.ndarray  # (T, 6, 3) filtered, lab frame, mm
    joints_lab_mm_raw: np.ndarray  # (T, 6, 3) as given
    keypoints_px: np.ndarray | None  # (T, 6, 2) filtered raw-image pixels
    keypoints_px_raw: np.ndarray | None
    cutoff_hz: float | None
    metrics: dict[str, np.ndarray]  # column name (units in the name) -> (T,)
    events: Events
    peaks: dict = field(default_factory=dict)
    leg_length_mm: dict = field(default_factory=dict)
    leg_length_px: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame_index)

    @property
    def reference_frame(self) -> int | None:
        return self.events.reference_frame

    def event_frames(self) -> dict[str, int | None]:
        """Every event name of :data:`EVENT_NAMES` -> row index or None."""
        return {name: self.events.frames.get(name) for name in EVENT_NAMES}

    def time_of(self, row: int | None) -> float | None:
        return None if row is None else float(self.time_s[row])

    def video_frame_of(self, row: int | None) -> int | None:
        return None if row is None else int(self.frame_index[row])


def _check_array(a, shape_tail, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 3 or a.shape[1:] != shape_tail:
        raise KneeViewInputError(None, f"{name} must have shape (T, {', '.join(map(str, shape_tail))}), got {a.shape}", name)
    return a


def lifted_leg(events) -> str | None:
    """A single-leg squat's lifted leg ("left"/"right"; its peaks are not read, :func:`stance_leg_peaks`),
    None for any other trial or where the stance leg is not known."""
    if events.task != "single_leg_squat":
        return None
    return {"left": "right", "right": "left"}.get(events.leg)


def stance_leg_peaks(peaks: dict, stance: str) -> dict:
    """A single-leg squat's peaks read on its stance leg only: the lifted leg's (``*_peak_<lifted>_*``)
    become NaN (their frames None) and so does the within-trial left-right asymmetry. The lifted foot
    is off the floor: its knee's distance from a hip-ankle line and its thigh-shank angle are no clinical
    reading (a shank folded behind the thigh reads an FPPA near 180 degrees), and a squat's asymmetry
    compares two squats, one on each leg (the study does: :func:`kneeview.report.study.study_tables`)."""
    lifted = "right" if stance == "left" else "left"
    out = {}
    for key, value in peaks.items():
        if f"_peak_{lifted}" in key or "_peak_asymmetry" in key:
            value = None if key.endswith("_frame") else float("nan")
        out[key] = value
    return out


def analyse(joints_lab_mm, rate_hz: float, keypoints_px=None, task=None, cutoff_hz: float | None = 6.0,
            frame_index=None, order: int = 2, contact=None, heights=None) -> TrialAnalysis:
    """Filter, compute metrics, detect events and peaks.

    ``joints_lab_mm`` (T, 6, 3) lab frame, mm, NaN where unknown; ``keypoints_px`` optional
    (T, 6, 2) raw-image pixels (the 2D metrics are computed from them); ``task`` any alias of
    ``drop_jump``/``single_leg_squat`` or None to detect it; ``cutoff_hz`` None for no
    filtering; ``frame_index`` the video frame of each row (default 0..T-1, time = frame / rate);
    ``contact`` (T, 2) the feet's floor contacts when known otherwise (the calibrated
    reconstruction's, read from the image): the events use them; ``heights`` (T, 6) the joints'
    heights when known better than the trajectories' (the reconstruction's, read on the 2D rays):
    the events read them too.
    """
    joints = _check_array(joints_lab_mm, (J.N_JOINTS, 3), "joints_lab_mm")
    T = len(joints)
    rate_hz = float(rate_hz)
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        raise KneeViewInputError(None, f"the sample rate must be positive, got {rate_hz}", "rate_hz")
    if cutoff_hz is not None:
        cutoff_hz = float(cutoff_hz)
        if cutoff_hz <= 0:
            cutoff_hz = None
        elif cutoff_hz >= rate_hz / 2:
            raise KneeViewInputError(
                None, f"the cutoff {cutoff_hz:g} Hz must be below half the sample rate ({rate_hz / 2:g} Hz)", "cutoff")
    try:
        task = normalise_task(task)
    except ValueError as exc:
        raise KneeViewInputError(None, str(exc), "task") from None
    kp_raw = None
    if keypoints_px is not None:
        kp_raw = _check_array(keypoints_px, (J.N_JOINTS, 2), "keypoints_px")
        if len(kp_raw) != T:
            raise KneeViewInputError(None, f"keypoints_px has {len(kp_raw)} frames, joints_lab_mm {T}", "keypoints_px")
    frame_index = np.arange(T) if frame_index is None else np.asarray(frame_index, dtype=np.int64)
    if frame_index.shape != (T,):
        raise KneeViewInputError(None, f"frame_index must have {T} entries", "frame_index")

    filtered = lowpass(joints, rate_hz, cutoff_hz, order)
    kp = lowpass(kp_raw, rate_hz, cutoff_hz, order) if kp_raw is not None else None
    events = detect_events(joints, rate_hz, task, contact, heights)
    ref = events.reference_frame
    metrics = knee_metrics_3d(filtered, ref)
    if kp is not None:
        metrics.update(knee_metrics_2d(kp, ref))
    first, last = events.landing_phase
    names = ("mkd", "mkd_ic", "fppa") + (("mkd_2d", "mkd_ic_2d", "fppa_2d") if kp is not None else ())
    peaks = phase_peaks(metrics, first, last, names)
    # knee flexion peak and least knee-to-ankle separation within the same phase
    a = 0 if first is None else first
    b = T - 1 if last is None else last
    for side in ("right", "left"):
        series = metrics[f"knee_flexion_{side}_deg"][a:b + 1]
        ok = np.isfinite(series).any()
        peaks[f"knee_flexion_peak_{side}_deg"] = float(np.nanmax(series)) if ok else float("nan")
        peaks[f"knee_flexion_peak_{side}_frame"] = a + int(np.nanargmax(series)) if ok else None
    kasr = metrics["kasr"][a:b + 1]
    ok = np.isfinite(kasr).any()
    peaks["kasr_min"] = float(np.nanmin(kasr)) if ok else float("nan")
    peaks["kasr_min_frame"] = a + int(np.nanargmin(kasr)) if ok else None
    if lifted_leg(events) is not None:
        peaks = stance_leg_peaks(peaks, events.leg)
    return TrialAnalysis(
        rate_hz=rate_hz,
        frame_index=frame_index,
        time_s=frame_index / rate_hz,
        joints_lab_mm=filtered,
        joints_lab_mm_raw=joints,
        keypoints_px=kp,
        keypoints_px_raw=kp_raw,
        cutoff_hz=cutoff_hz,
        metrics=metrics,
        events=events,
        peaks=peaks,
        leg_length_mm=leg_lengths(filtered),
        leg_length_px=leg_lengths(kp) if kp is not None else {},
    )
