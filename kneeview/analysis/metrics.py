"""Knee valgus metrics per leg and per frame, from 3D joint centres or 2D keypoints.

All metrics are computed in the frontal plane of the athlete (see :mod:`.frames`), with
coordinates (lateral-left, up); "medial" is towards the other leg (+left for the right
leg, -left for the left leg), so positive values mean valgus on both sides.

* ``mkd`` (medial knee displacement, definition 1): signed perpendicular distance of the
  knee centre from the hip-ankle line in the frontal plane, medial positive.
* ``mkd_ic`` (definition 2): displacement of the knee centre along the medial axis relative
  to its position at a reference frame (initial contact of a drop jump, start of a squat),
  using the athlete's axes of that frame.
* ``*_pct_leg``: the two MKDs as a percentage of leg length, the trial's mean thigh + shank
  length (3D: mm; 2D: pixels).
* ``fppa`` (frontal plane projection angle): the angle between the thigh (hip->knee) and
  the shank (knee->ankle) in the frontal plane, degrees, 0 for a straight leg, valgus
  (knee medial) positive.
* ``kasr`` (knee-to-ankle separation ratio): mediolateral distance between the knees over
  that between the ankles; below 1 means knees closer together than ankles.
* ``knee_flexion``: 180 deg minus the hip-knee-ankle angle (3D: true angle; 2D: the angle
  seen in the image).

2D metrics use raw image pixels (x right, y down). Up is image -y. The athlete's left in
the image is the side of the left hip: its sign is the median over the trial of the sign
of (u_LFEP - u_RFEP), one consistent direction per trial (in a frontal view facing the
camera the athlete's right is image-left, so +u is the athlete's left).
"""
from __future__ import annotations

import numpy as np

from .. import joints as J
from .frames import athlete_axes, mid_hip, to_athlete_frame

SIDES = ("right", "left")
#: medial direction along the athlete's left axis, per leg
MEDIAL_SIGN = {"right": 1.0, "left": -1.0}


def _nanmean(x) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def leg_lengths(joints) -> dict[str, float]:
    """Mean thigh + shank length per leg over the trial, in the units of ``joints`` (T, 6, D)."""
    joints = np.asarray(joints, dtype=np.float64)
    out = {}
    for side in SIDES:
        h, k, a = J.LEGS[side]
        thigh = np.linalg.norm(joints[:, k] - joints[:, h], axis=-1)
        shank = np.linalg.norm(joints[:, a] - joints[:, k], axis=-1)
        out[side] = _nanmean(thigh) + _nanmean(shank)
    return out


def _planar_leg(h, k, a, medial_sign):
    """MKD (distance from the hip-ankle line) and FPPA from frontal coordinates (T, 2).

    Coordinates are (left, up); the first is turned into "medial" with ``medial_sign``.
    """
    s = np.array([medial_sign, 1.0])
    h, k, a = h * s, k * s, a * s
    line = a - h
    length = np.linalg.norm(line, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = line / length
    n = np.stack([-d[..., 1], d[..., 0]], axis=-1)
    n = np.where(n[..., :1] < 0, -n, n)  # the perpendicular that points medially
    mkd = np.sum((k - h) * n, axis=-1)
    u, w = k - h, a - k
    cross = u[..., 0] * w[..., 1] - u[..., 1] * w[..., 0]
    dot = np.sum(u * w, axis=-1)
    fppa = -np.degrees(np.arctan2(cross, dot))
    bad = ~(np.isfinite(h).all(-1) & np.isfinite(k).all(-1) & np.isfinite(a).all(-1))
    mkd[bad] = np.nan
    fppa[bad] = np.nan
    return mkd, fppa


def _flexion(h, k, a):
    u, w = h - k, a - k
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.sum(u * w, axis=-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(w, axis=-1))
    return 180.0 - np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def _kasr(frontal_left, min_ankle_separation):
    """Knee separation over ankle separation along the athlete's left axis."""
    R, L = J.LEGS["right"], J.LEGS["left"]
    knees = frontal_left[:, L[1]] - frontal_left[:, R[1]]
    ankles = frontal_left[:, L[2]] - frontal_left[:, R[2]]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = knees / ankles
    ratio[~(np.abs(ankles) > min_ankle_separation)] = np.nan
    return ratio


def _first_complete(joints, side) -> int | None:
    ok = np.isfinite(joints[:, list(J.LEGS[side])]).all(axis=(1, 2))
    idx = np.flatnonzero(ok)
    return int(idx[0]) if idx.size else None


def knee_metrics_3d(joints_lab_mm, reference_frame: int | None = None) -> dict[str, np.ndarray]:
    """Per-frame metrics from 3D joint centres (T, 6, 3) in the lab frame, mm.

    ``reference_frame`` is the frame of MKD definition 2 (initial contact); None takes,
    per leg, the first frame where that leg is complete.
    Keys: ``mkd_{side}_mm``, ``mkd_ic_{side}_mm``, ``mkd_{side}_pct_leg``,
    ``mkd_ic_{side}_pct_leg``, ``fppa_{side}_deg``, ``knee_flexion_{side}_deg``, ``kasr``.
    """
    joints = np.asarray(joints_lab_mm, dtype=np.float64)
    axes = athlete_axes(joints)
    frontal = to_athlete_frame(joints, axes, mid_hip(joints))[..., 1:]  # (T, 6, [left, up])
    lengths = leg_lengths(joints)
    out: dict[str, np.ndarray] = {}
    for side in SIDES:
        h, k, a = J.LEGS[side]
        sign = MEDIAL_SIGN[side]
        mkd, fppa = _planar_leg(frontal[:, h], frontal[:, k], frontal[:, a], sign)
        ref = reference_frame if reference_frame is not None else _first_complete(joints, side)
        mkd_ic = np.full(len(joints), np.nan)
        if ref is not None and 0 <= ref < len(joints):
            medial_ref = sign * axes[ref, 1]
            mkd_ic = (joints[:, k] - joints[ref, k]) @ medial_ref
        out[f"mkd_{side}_mm"] = mkd
        out[f"mkd_ic_{side}_mm"] = mkd_ic
        out[f"mkd_{side}_pct_leg"] = 100.0 * mkd / lengths[side]
        out[f"mkd_ic_{side}_pct_leg"] = 100.0 * mkd_ic / lengths[side]
        out[f"fppa_{side}_deg"] = fppa
        out[f"knee_flexion_{side}_deg"] = _flexion(joints[:, h], joints[:, k], joints[:, a])
    out["kasr"] = _kasr(frontal[..., 0], min_ankle_separation=5.0)
    return out


def image_left_sign(keypoints_px) -> float:
    """+1 when the athlete's left is image +u over the trial (the left hip is right of the right hip)."""
    kp = np.asarray(keypoints_px, dtype=np.float64)
    du = kp[:, J.LEGS["left"][0], 0] - kp[:, J.LEGS["right"][0], 0]
    du = du[np.isfinite(du) & (du != 0)]
    if du.size == 0:
        return 1.0
    return 1.0 if np.median(np.sign(du)) >= 0 else -1.0


def knee_metrics_2d(keypoints_px, reference_frame: int | None = None) -> dict[str, np.ndarray]:
    """Per-frame metrics from 2D keypoints (T, 6, 2) in raw image pixels, as from a video.

    Keys as :func:`knee_metrics_3d` with ``_2d`` after the metric name and pixels for
    lengths: ``mkd_2d_{side}_px``, ``mkd_ic_2d_{side}_px``, ``mkd_2d_{side}_pct_leg``,
    ``mkd_ic_2d_{side}_pct_leg``, ``fppa_2d_{side}_deg``, ``knee_flexion_2d_{side}_deg``,
    ``kasr_2d``.
    """
    kp = np.asarray(keypoints_px, dtype=np.float64)
    sign = image_left_sign(kp)
    frontal = np.stack([sign * kp[..., 0], -kp[..., 1]], axis=-1)  # (left, up) in pixels
    lengths = leg_lengths(kp)
    out: dict[str, np.ndarray] = {}
    for side in SIDES:
        h, k, a = J.LEGS[side]
        medial = MEDIAL_SIGN[side]
        mkd, fppa = _planar_leg(frontal[:, h], frontal[:, k], frontal[:, a], medial)
        ref = reference_frame if reference_frame is not None else _first_complete(kp, side)
        mkd_ic = np.full(len(kp), np.nan)
        if ref is not None and 0 <= ref < len(kp):
            mkd_ic = medial * (frontal[:, k, 0] - frontal[ref, k, 0])
        out[f"mkd_2d_{side}_px"] = mkd
        out[f"mkd_ic_2d_{side}_px"] = mkd_ic
        out[f"mkd_2d_{side}_pct_leg"] = 100.0 * mkd / lengths[side]
        out[f"mkd_ic_2d_{side}_pct_leg"] = 100.0 * mkd_ic / lengths[side]
        out[f"fppa_2d_{side}_deg"] = fppa
        out[f"knee_flexion_2d_{side}_deg"] = _flexion(kp[:, h], kp[:, k], kp[:, a])
    out["kasr_2d"] = _kasr(frontal[..., 0], min_ankle_separation=1.0)
    return out


def phase_peaks(metrics: dict[str, np.ndarray], start: int | None, stop: int | None,
                names=("mkd", "mkd_ic", "fppa")) -> dict:
    """Per leg, the maximum (most valgus) of each metric within frames [start, stop] and its frame.

    Returns ``{f"{name}_peak_{side}": value, f"{name}_peak_{side}_frame": row}`` for the 3D
    metrics present (unit suffix kept: ``mkd_peak_left_mm``...), and the left-right asymmetry
    ``{name}_peak_asymmetry``: left minus right, in the metric's unit.
    """
    out: dict = {}
    for name in names:
        for unit_key in (f"{name}_right_mm", f"{name}_right_deg", f"{name}_right_px"):
            if unit_key in metrics:
                break
        else:
            continue
        unit = unit_key.rsplit("_", 1)[1]
        peak = {}
        for side in SIDES:
            series = np.asarray(metrics[f"{name}_{side}_{unit}"], dtype=np.float64)
            a = 0 if start is None else max(int(start), 0)
            b = len(series) - 1 if stop is None else min(int(stop), len(series) - 1)
            window = series[a:b + 1]
            value, frame = np.nan, None
            if window.size and np.isfinite(window).any():
                i = int(np.nanargmax(window))
                value, frame = float(window[i]), a + i
            peak[side] = value
            out[f"{name}_peak_{side}_{unit}"] = value
            out[f"{name}_peak_{side}_frame"] = frame
        out[f"{name}_peak_asymmetry_{unit}"] = peak["left"] - peak["right"]
    return out

