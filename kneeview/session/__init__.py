"""The session layer: from a recording to a clinician's numbers, one path for app and CLI.

Qt-free and torch-free at import (and cheap: the names below load their modules when first
used, so ``kneeview --help`` does not pay for SciPy). :class:`Session` opens a recording,
gets a view's estimate (cached beside the recording, or computed by an estimator),
analyses the ground truth or the estimate, and exports it.
"""
from __future__ import annotations

SOURCES = ("gt", "model")
PLACEMENTS = ("calibrated", "raw")

_LAZY = {
    "Estimate": "estimates", "EstimateRun": "estimates", "Progress": "estimates",
    "TrialInputs": "inputs", "from_ground_truth": "inputs", "from_pose_sequence": "inputs",
    "DEFAULT_CUTOFF_HZ": "trial", "Analysed": "trial", "Session": "trial", "cutoff_for": "trial", "task_for": "trial",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PLACEMENTS", "SOURCES", *_LAZY]
