"""``kneeview report`` (one trial's screening report, PDF) and ``kneeview study`` (a study across
athletes from a summary CSV, PDF or HTML)."""
from __future__ import annotations

import argparse

from .session.cli import add_analysis_options, add_recording_options


def _suffix(*allowed: str):
    def check(text: str) -> str:
        if not str(text).lower().endswith(allowed):
            raise argparse.ArgumentTypeError(f"{text!r} must end with {' or '.join(allowed)}")
        return text

    check.__name__ = "output file"
    return check


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="a one-page screening report of a trial (PDF)")
    p.add_argument("recording", help="session folder or video file")
    p.add_argument("--out", required=True, type=_suffix(".pdf"), help="the PDF to write")
    add_recording_options(p)
    add_analysis_options(p, partial="the report says so")
    p.set_defaults(func=run_report)

    s = subparsers.add_parser("study", help="a study across athletes from a `kneeview batch` summary (PDF or HTML)")
    s.add_argument("summary", help="summary CSV written by `kneeview batch`")
    s.add_argument("--out", required=True, type=_suffix(".pdf", ".html", ".htm"), help="the PDF or HTML file to write")
    s.set_defaults(func=run_study)


def run_report(args) -> int:
    """``Session.analyse`` checks the source, camera, cutoff and task before a model is loaded."""
    from .report import write_trial_report
    from .session.cli import model_options
    from .session.trial import Session

    session = Session.open(args.recording, calibration=args.calibration, c3d=args.c3d, camera=args.camera,
                           allow_partial=args.allow_partial)
    analysed = session.analyse(args.source, 0, cutoff_hz=args.cutoff, task=args.task, **model_options(args))
    print(write_trial_report(args.out, session, analysed))
    return 0


def run_study(args) -> int:
    from .report import write_study

    print(write_study(args.summary, args.out))
    return 0
