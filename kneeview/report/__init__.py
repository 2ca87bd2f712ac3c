"""Reports a clinician can hand over: one trial's screening page, and a study across athletes.

Qt-free and torch-free: the figures are drawn with matplotlib's Agg/PDF backends through
:class:`matplotlib.figure.Figure` (never pyplot, so no GUI backend is ever selected). Every
number comes from the session layer (:meth:`kneeview.session.Session.analyse` and
:meth:`~kneeview.session.Session.summary_row`); nothing clinical is computed here.
"""
from __future__ import annotations

from .study import load_summary, study_tables, write_study
from .trial_report import collect_trial, write_trial_report

__all__ = ["collect_trial", "write_trial_report", "load_summary", "study_tables", "write_study"]
