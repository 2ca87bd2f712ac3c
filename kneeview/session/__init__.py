"""The session layer: from a recording to a clinician's numbers, one path for app and CLI.

Qt-free and torch-free at import. :class:`Session` opens a recording, gets a view's
estimate (cached beside the recording, or computed by an estimator), analyses the ground
truth or the estimate, and exports it.
"""
from .estimates import Estimate, EstimateRun, Progress, estimate_view
from .inputs import SOURCES, TrialInputs, from_ground_truth, from_pose_sequence
from .trial import DEFAULT_CUTOFF_HZ, Analysed, Session, cutoff_for, task_for

__all__ = ["DEFAULT_CUTOFF_HZ", "SOURCES", "Analysed", "Estimate", "EstimateRun", "Progress", "Session", "TrialInputs",
           "cutoff_for", "estimate_view", "from_ground_truth", "from_pose_sequence", "task_for"]
