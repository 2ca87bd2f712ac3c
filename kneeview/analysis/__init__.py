"""Clinical analysis: filtering, the athlete frame, knee valgus metrics, task events.

Plain NumPy/SciPy (no torch, no Qt). :func:`analyse` is the one entry point the export,
the CLI and the GUI use.
"""
from .events import DROP_JUMP, SINGLE_LEG_SQUAT, Events, detect_events, detect_task, normalise_task
from .filtering import fill_gaps, lowpass
from .frames import athlete_axes, camera_to_lab, locate_mid_hip, mid_hip, to_athlete_frame
from .metrics import knee_metrics_2d, knee_metrics_3d, leg_lengths, phase_peaks
from .pipeline import TrialAnalysis, analyse
from .reconstruction import Reconstruction, metric_uncertainty, reconstruct

__all__ = [
    "DROP_JUMP",
    "SINGLE_LEG_SQUAT",
    "Events",
    "Reconstruction",
    "TrialAnalysis",
    "analyse",
    "athlete_axes",
    "camera_to_lab",
    "detect_events",
    "detect_task",
    "fill_gaps",
    "knee_metrics_2d",
    "knee_metrics_3d",
    "leg_lengths",
    "locate_mid_hip",
    "lowpass",
    "metric_uncertainty",
    "mid_hip",
    "normalise_task",
    "phase_peaks",
    "reconstruct",
    "to_athlete_frame",
]
