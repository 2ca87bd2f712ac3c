"""Synthetic recordings written in the real Vicon formats (NumPy/OpenCV; the mesh bodies of
``--bodies anny`` are drawn with OpenGL through moderngl on the CPU).

``write_dataset`` renders many trials (``kneeview synth``); ``render_trial`` one;
``write_demo`` the bundled demo recording. See the modules for the pieces: motion,
anthropometrics, cameras, scene, body, render, raster, appearance, mesh_body, writer, from_c3d.
"""
from .dataset import TrialSpec, plan_dataset, render_trial, write_dataset
from .motion import BODY_POINTS, Motion, drop_jump, medial_knee_displacement, single_leg_squat

__all__ = [
    "BODY_POINTS",
    "Motion",
    "TrialSpec",
    "drop_jump",
    "medial_knee_displacement",
    "plan_dataset",
    "render_trial",
    "single_leg_squat",
    "write_dataset",
]
