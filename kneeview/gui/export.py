"""Export through :mod:`kneeview.io.export`: per-frame CSV, trial summary CSV, OpenSim TRC."""
from __future__ import annotations

from pathlib import Path

from ..errors import KneeViewInputError


def export_recording(out_dir, analysed, recording, name: str | None = None, view_index: int = 0) -> dict[str, Path]:
    """Write ``<name>_frames.csv``, ``<name>_summary.csv`` and ``<name>.trc`` of an analysed
    source of one view. ``name`` defaults to the trial, followed by the view's video where the
    recording has several (``Session_cam02``); the summary's ``recording`` is that video."""
    from ..io.export import export_trial
    from .view_selector import export_name

    if analysed is None:
        raise KneeViewInputError(recording.root if recording else None, "nothing to export: no joint centres "
                                 "(run the model, or open a recording with a C3D ground truth)")
    inputs = analysed.inputs
    return export_trial(out_dir, analysed.analysis, name or export_name(recording, view_index), confidence=inputs.confidence,
                        source=inputs.source, model=inputs.model, recording=str(recording.views[view_index].video_path),
                        metadata=recording.metadata)
