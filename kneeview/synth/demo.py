"""The bundled demo recording: a 4 s drop jump with clearly visible valgus of the right knee.

Regenerate with ``python -m kneeview.synth.demo [FOLDER]`` (default: resources/demo).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..bundled import demo_path
from .dataset import TrialSpec, render_trial

DEMO_SEED = 2030
DEMO_TRIAL = "DropJump01"
DEMO_VALGUS_MM = (70.0, 6.0)  # right, left


#: What the demo pins that a dataset trial draws at random.
DEMO_OPTIONS = dict(
    fps=50.0, rate_hz=100.0, valgus_mm=DEMO_VALGUS_MM, duration_s=4.0, placement="frontal", strength=0.08,
    camera_distance_mm=3600.0, camera_height_mm=1100.0, fill=0.97, noise_sigma=1.2, recompress=False,
    heading_deg=0.0,
)


def write_demo(folder=None) -> dict:
    """Write the demo session folder (``<folder>/<folder name>.xcp``, ``DropJump01.*``)."""
    folder = Path(folder) if folder is not None else demo_path()
    spec = TrialSpec(seed=DEMO_SEED, index=0, athlete_index=0, year=1, task="DJ", size=(640, 480))
    return render_trial(spec, folder.parent, session_dir=folder, trial_name=DEMO_TRIAL, **DEMO_OPTIONS)


if __name__ == "__main__":
    print(write_demo(sys.argv[1] if len(sys.argv) > 1 else None))
