"""Drive a synthetic recording with joint centres captured in a real ``.c3d``.

The six Plug-in Gait joint centres are taken as they are (gaps filled by linear
interpolation); the points a body needs besides them (trunk, head, arms, feet) are
taken from the file when it has them under KneeView's labels, and otherwise built
from the pelvis orientation with an upright trunk and hanging arms.
"""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

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


#: Plug-in Gait lower-body markers that joint centres can be estimated from.
PIG_MARKERS = ("LASI", "RASI", "LKNE", "RKNE", "LANK", "RANK")
KNEE_OFFSET_MM = 57.0  # half a knee width plus the marker radius: marker -> joint centre
ANKLE_OFFSET_MM = 42.0


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _marker_getter(data):
    names = [_strip_prefix(lab).upper() for lab in data.labels]
    scale = {"m": 1000.0, "cm": 10.0, "mm": 1.0}.get(data.units.lower(), 1.0)

    def get(name):
        if name not in names:
            return None
        x = data.points[:, names.index(name)] * scale
        x = np.where(np.all(x == 0.0, axis=-1, keepdims=True), np.nan, x)
        return _fill_gaps(x, data.path, name)

    return get


def joint_centres_from_markers(data) -> np.ndarray | None:
    """(T, 6, 3) mm joint centres estimated from Plug-in Gait markers, or None without them.

    Hips: Harrington et al. (2007) regression on pelvis width and depth; knees and ankles:
    the lateral KNE/ANK markers moved medially along the pelvis' lateral axis.
    """
    get = _marker_getter(data)
    m = {n: get(n) for n in PIG_MARKERS + ("LPSI", "RPSI", "SACR")}
    if any(m[n] is None for n in PIG_MARKERS):
        return None
    back = 0.5 * (m["LPSI"] + m["RPSI"]) if m["LPSI"] is not None and m["RPSI"] is not None else m["SACR"]
    if back is None:
        return None
    asis = 0.5 * (m["LASI"] + m["RASI"])
    right = _unit(m["RASI"] - m["LASI"])
    ant = asis - back
    ant = _unit(ant - np.sum(ant * right, -1, keepdims=True) * right)
    up = np.cross(right, ant)
    pw = float(np.median(np.linalg.norm(m["RASI"] - m["LASI"], axis=-1)))
    pd = float(np.median(np.linalg.norm(asis - back, axis=-1)))
    joints = np.empty((len(asis), J.N_JOINTS, 3))
    for side, s in (("R", 1.0), ("L", -1.0)):
        hip = asis + (-0.24 * pd - 9.9) * ant + (-0.30 * pw - 10.9) * up + s * (0.33 * pw + 7.3) * right
        joints[:, J.index(f"{side}FEP")] = hip
        joints[:, J.index(f"{side}FEO")] = m[f"{side}KNE"] - s * KNEE_OFFSET_MM * right
        joints[:, J.index(f"{side}TIO")] = m[f"{side}ANK"] - s * ANKLE_OFFSET_MM * right
    return joints


def _body_points_from_markers(data, joints) -> dict[str, np.ndarray]:
    get = _marker_getter(data)
    out: dict[str, np.ndarray] = {}
    head = [get(n) for n in ("LFHD", "RFHD", "LBHD", "RBHD")]
    if all(h is not None for h in head):
        out["HEAD"] = np.mean(head, axis=0)
    c7, clav = get("C7"), get("CLAV")
    if c7 is not None and clav is not None:
        out["THRX"] = 0.5 * (c7 + clav)
    for side in ("R", "L"):
        sho, elb, wra, wrb = (get(f"{side}{n}") for n in ("SHO", "ELB", "WRA", "WRB"))
        if sho is not None and elb is not None and wra is not None and wrb is not None:
            out[f"{side}SHO"] = sho - [0.0, 0.0, 45.0]
            out[f"{side}ELB"] = elb
            out[f"{side}WRI"] = 0.5 * (wra + wrb)
        hee, toe = get(f"{side}HEE"), get(f"{side}TOE")
        if hee is not None and toe is not None:
            out[f"{side}HEE"], out[f"{side}TOE"] = hee + [0.0, 0.0, 6.0], toe - [0.0, 0.0, 8.0]
    return out


def load_capture(path) -> tuple[np.ndarray, float, object]:
    """Joint centres (T, 6, 3) mm, gaps filled, the rate, and the file's points.

    Uses the Plug-in Gait joint-centre outputs when the file has all six, otherwise
    estimates them from Plug-in Gait markers. Raises :class:`GroundTruthError`."""
    data = read_points(path)
    try:
        gt = read_ground_truth(path)
        missing = gt.missing
    except GroundTruthError as exc:
        gt, missing, error = None, list(J.JOINTS), exc
    if not missing:
        joints = np.stack([_fill_gaps(gt.joints_lab_mm[:, k], gt.path, J.JOINTS[k]) for k in range(J.N_JOINTS)], axis=1)
        return joints, float(gt.rate_hz), data
    joints = joint_centres_from_markers(data)
    if joints is None:
        if gt is None:
            raise error
        raise GroundTruthError(gt.path, f"joint centre(s) {', '.join(missing)} are missing and the Plug-in Gait markers "
                                        f"({', '.join(PIG_MARKERS)}, LPSI/RPSI or SACR) to estimate them are not all there; "
                                        "all six are needed to render a body", "POINT:LABELS")
    if not data.rate_hz > 0:
        raise GroundTruthError(data.path, f"point rate {data.rate_hz} is not positive", "POINT:RATE")
    return joints, float(data.rate_hz), data


def motion_from_c3d(path, athlete: Athlete, task: str = "DJ") -> tuple[Motion, Athlete]:
    """A :class:`Motion` whose joint centres are those of the file, and the athlete scaled to them."""
    joints, rate_hz, data = load_capture(path)
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
    names = [_strip_prefix(lab).upper() for lab in data.labels]
    if all(p in names for p in BODY_POINTS):  # written by kneeview synth
        unit = {"m": 1000.0, "cm": 10.0, "mm": 1.0}.get(data.units.lower(), 1.0)
        for p in BODY_POINTS:
            pts[p] = _fill_gaps(data.points[:, names.index(p)] * unit, data.path, p)
    else:
        mid_hip = 0.5 * (joints[:, 0] + joints[:, 1])
        n = len(mid_hip)
        built: dict[str, np.ndarray] = {}
        _upper_body(mid_hip, np.full(n, 8.0), np.full(n, 10.0), np.full(n, 20.0), athlete, built, right, forward)
        for side, s, ank in (("R", 1.0, joints[:, 4]), ("L", -1.0, joints[:, 5])):
            lift = ank[:, 2] - np.nanmin(ank[:, 2])
            pitch = np.degrees(np.arcsin(np.clip(lift / (0.7 * athlete.foot_mm), 0, 0.6)))
            built[f"{side}HEE"], built[f"{side}TOE"] = _foot_points(ank, pitch, s, athlete, right, forward)
        built.update(_body_points_from_markers(data, joints))  # real markers where the file has them
        for p in BODY_POINTS:
            pts[p] = built[p]
    lateral = right.mean(0)
    lateral /= np.linalg.norm(lateral)
    mid = 0.5 * (joints[:, 0] + joints[:, 1])
    deepest = int(np.argmin(mid[:, 2]))
    landing = 0.5 * (joints[deepest, 4] + joints[deepest, 5])
    landing[2] = 0.0
    facing = np.cross(UP, lateral)
    motion = Motion(
        task=task, side="both", rate_hz=rate_hz, points=pts,
        events_s={"deepest": deepest / rate_hz}, valgus_requested_mm={"right": None, "left": None},
        lateral_axis=lateral, facing=facing, landing_lab_mm=landing,
        box=_box_under_start(joints, athlete, lateral, facing),
        params={"source_c3d": Path(path).name},
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
