"""Export through :mod:`kneeview.io.export`: per-frame CSV, trial summary CSV, OpenSim TRC."""
from __future__ import annotations

from pathlib import Path

from ..errors import KneeViewInputError


def export_recording(out_dir, analysed, recording, name: str | None = None) -> dict[str, Path]:
    """Write ``<trial>_frames.csv``, ``<trial>_summary.csv`` and ``<trial>.trc`` of an analysed source."""
    from ..io.export import export_trial

    if analysed is None:
        raise KneeViewInputError(recording.root if recording else None, "nothing to export: no joint centres "
                                 "(run the model, or open a recording with a C3D ground truth)")
    inputs = analysed.inputs
    return export_trial(out_dir, analysed.analysis, name or recording.trial, confidence=inputs.confidence,
                        source=inputs.source, model=inputs.model, recording=str(recording.root),
                        metadata=recording.metadata)
