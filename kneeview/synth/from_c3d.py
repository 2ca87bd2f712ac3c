"""Drive a synthetic recording with joint centres captured in a real ``.c3d``.

The six Plug-in Gait joint centres are taken as they are (gaps filled by linear
interpolation); the points a body needs besides them (trunk, head, arms, feet) are
taken from the file when it has them under KneeView's labels, and otherwise built
from the pelvis orientation with an upright trunk and hanging arms.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .. import joints as J
from ..errors import GroundTruthError
from ..io.c3d import _strip_prefix, read_ground_truth, read_points
from .anthropometrics import Athlete
from .motion import BODY_POINTS, UP, Motion, _foot_points, _realised, _upper_body


def video_rate_for(c3d_rate_hz: float) -> tuple[float, int]:
    """(video fps, C3D samples per video frame): the fps is the C3D rate divided by an integer, <= 60."""
    k = max(1, math.ceil(c3d_rate_hz / 60.0 - 1e-9))
    return c3d_rate_hz / k, k


def _fill_gaps(x: np.ndarray, path, label: str) -> np.ndarray:
    out = x.copy()
    t = np.arange(len(x))
    for c in range(x.shape[-1]):
        ok = np.isfinite(x[:, c])
        if ok.sum() < 2:
            raise GroundTruthError(path, f"{label} has fewer than two valid samples; cannot animate it", "POINT:DATA")
        out[:, c] = np.interp(t, t[ok], x[ok, c])
    return out


def motion_from_c3d(path, athlete: Athlete, task: str = "DJ") -> tuple[Motion, Athlete]:
    """A :class:`Motion` whose joint centres are those of the file, and the athlete scaled to them."""
    gt = read_ground_truth(path)
    if gt.missing:
        raise GroundTruthError(gt.path, f"joint centre(s) {', '.join(gt.missing)} are missing; all six are needed to render a body", "POINT:LABELS")
    joints = np.stack([_fill_gaps(gt.joints_lab_mm[:, k], gt.path, J.JOINTS[k]) for k in range(J.N_JOINTS)], axis=1)
    pts = {j: joints[:, k] for k, j in enumerate(J.JOINTS)}
    leg = float(np.nanmedian(np.linalg.norm(joints[:, 2] - joints[:, 0], axis=-1) + np.linalg.norm(joints[:, 4] - joints[:, 2], axis=-1)))
    hip_w = float(np.nanmedian(np.linalg.norm(joints[:, 0] - joints[:, 1], axis=-1)))
    scale = leg / athlete.leg_mm
    athlete = replace(
        athlete, height_mm=athlete.height_mm * scale, trunk_mm=athlete.trunk_mm * scale,
        thigh_mm=float(np.nanmedian(np.linalg.norm(joints[:, 2] - joints[:, 0], axis=-1))),
        shank_mm=float(np.nanmedian(np.linalg.norm(joints[:, 4] - joints[:, 2], axis=-1))),
        hip_width_mm=hip_w, foot_mm=athlete.foot_mm * scale, upper_arm_mm=athlete.upper_arm_mm * scale,
        forearm_mm=athlete.forearm_mm * scale, shoulder_width_mm=athlete.shoulder_width_mm * scale,
        ankle_height_mm=athlete.ankle_height_mm * scale,
    )
    right = joints[:, 0] - joints[:, 1]
    right[:, 2] = 0.0
    right /= np.linalg.norm(right, axis=-1, keepdims=True)
    forward = np.cross(UP, right)
    data = read_points(path)
    names = [_strip_prefix(lab).upper() for lab in data.labels]
    if all(p in names for p in BODY_POINTS):
        unit = {"m": 1000.0, "cm": 10.0, "mm": 1.0}.get(data.units.lower(), 1.0)
        for p in BODY_POINTS:
            pts[p] = _fill_gaps(data.points[:, names.index(p)] * unit, gt.path, p)
    else:
        mid_hip = 0.5 * (joints[:, 0] + joints[:, 1])
        n = len(mid_hip)
        _upper_body(mid_hip, np.full(n, 8.0), np.full(n, 10.0), np.full(n, 20.0), athlete, pts, right, forward)
        for side, s, ank in (("R", 1.0, joints[:, 4]), ("L", -1.0, joints[:, 5])):
            lift = ank[:, 2] - np.nanmin(ank[:, 2])
            pitch = np.degrees(np.arcsin(np.clip(lift / (0.7 * athlete.foot_mm), 0, 0.6)))
            pts[f"{side}HEE"], pts[f"{side}TOE"] = _foot_points(ank, pitch, s, athlete, right, forward)
    lateral = right.mean(0)
    lateral /= np.linalg.norm(lateral)
    mid = 0.5 * (joints[:, 0] + joints[:, 1])
    deepest = int(np.argmin(mid[:, 2]))
    landing = 0.5 * (joints[deepest, 4] + joints[deepest, 5])
    landing[2] = 0.0
    facing = np.cross(UP, lateral)
    motion = Motion(
        task=task, side="both", rate_hz=float(gt.rate_hz), points=pts,
        events_s={"deepest": deepest / gt.rate_hz}, valgus_requested_mm={"right": None, "left": None},
        lateral_axis=lateral, facing=facing, landing_lab_mm=landing,
        box=_box_under_start(joints, athlete, lateral, facing),
        params={"source_c3d": gt.path.name},
    )
    _realised(motion)
    return motion, athlete


def _box_under_start(joints: np.ndarray, athlete: Athlete, lateral, facing) -> dict | None:
    """A drop-jump box under the feet when the capture starts with them well above the floor."""
    ankles = joints[:, 4:6]
    floor_ankle = float(np.min(ankles[..., 2]))
    start = ankles[: max(1, len(ankles) // 20)].reshape(-1, 3)
    height = float(np.mean(start[:, 2]) - floor_ankle)
    if height < 150.0:
        return None
    centre = start.mean(0) + 0.1 * athlete.foot_mm * np.asarray(facing)
    centre[2] = height
    return {"top_centre_lab_mm": centre.tolist(), "size_mm": [600.0, 450.0, height]}
