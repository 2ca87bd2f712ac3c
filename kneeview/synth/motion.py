"""Parametric kinematics of a drop jump and a single-leg squat, in the Vicon lab frame.

The athlete faces lab +Y; their right is lab +X; Z is up; millimetres. Trajectories are
cubic Hermite splines through keyframes whose slopes are chosen so that flight phases
are exact parabolas, and whose event times fall on video frames. The knee is placed by
two-link inverse kinematics (segment lengths kept exactly) and rotated about the
hip-ankle axis until its medial displacement in the frontal plane equals a requested
profile, so every trial's true medial knee displacement (MKD) is known.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicHermiteSpline

from .. import joints as J
from .anthropometrics import Athlete

G_MM_S2 = 9810.0
RIGHT = np.array([1.0, 0.0, 0.0])  # the athlete's right
FORWARD = np.array([0.0, 1.0, 0.0])  # where the athlete faces
UP = np.array([0.0, 0.0, 1.0])

#: Points besides the joint centres that a body needs to be drawn (C3D labels).
BODY_POINTS: tuple[str, ...] = (
    "PELV", "THRX", "HEAD", "RSHO", "LSHO", "RELB", "LELB", "RWRI", "LWRI", "RHEE", "LHEE", "RTOE", "LTOE",
)
#: The drop-jump and single-leg-squat event names, in time order.
DJ_EVENTS = ("initial_contact", "deepest", "take_off", "second_landing")
SLS_EVENTS = ("start", "deepest", "end")


@dataclass
class Motion:
    """Lab-frame trajectories (mm) sampled at ``rate_hz``; sample i is at time i / rate_hz."""

    task: str  # "DJ" or "SLS"
    side: str  # SLS: stance leg; DJ: "both"
    rate_hz: float
    points: dict[str, np.ndarray]  # label -> (T, 3) lab mm; the 6 joints and BODY_POINTS
    events_s: dict[str, float]
    valgus_requested_mm: dict[str, float]  # "right"/"left" -> requested peak MKD
    lateral_axis: np.ndarray = field(default_factory=lambda: RIGHT.copy())  # athlete's right, lab
    facing: np.ndarray = field(default_factory=lambda: FORWARD.copy())
    landing_lab_mm: np.ndarray = field(default_factory=lambda: np.zeros(3))
    box: dict | None = None  # DJ box: centre_lab_mm (top face centre), size_mm (x, y, z)
    params: dict = field(default_factory=dict)

    @property
    def n_samples(self) -> int:
        return int(next(iter(self.points.values())).shape[0])

    @property
    def time_s(self) -> np.ndarray:
        return np.arange(self.n_samples) / self.rate_hz

    @property
    def joints_lab_mm(self) -> np.ndarray:
        """(T, 6, 3) joint centres in :data:`kneeview.joints.JOINTS` order."""
        return np.stack([self.points[j] for j in J.JOINTS], axis=1)

    def extra_points(self) -> dict[str, np.ndarray]:
        return {k: v for k, v in self.points.items() if k not in J.JOINTS}

    def mkd_mm(self) -> np.ndarray:
        """(T, 2) medial knee displacement, right and left, in the athlete's frontal plane."""
        return medial_knee_displacement(self.joints_lab_mm, self.lateral_axis)


# ----------------------------------------------------------------------------- helpers
def hermite(knots, t: np.ndarray) -> np.ndarray:
    """Cubic Hermite spline through (time, value[, slope]) knots; held constant outside them."""
    kt = np.array([k[0] for k in knots], dtype=float)
    kv = np.array([k[1] for k in knots], dtype=float)
    ks = np.array([k[2] if len(k) > 2 else 0.0 for k in knots], dtype=float)
    if np.any(np.diff(kt) <= 0):
        raise ValueError(f"knot times must increase: {kt}")
    spline = CubicHermiteSpline(kt, kv, ks)
    out = spline(np.clip(t, kt[0], kt[-1]))
    return out


def medial_knee_displacement(joints_lab_mm, lateral_axis=RIGHT) -> np.ndarray:
    """Signed distance (mm) of each knee from its hip-ankle line in the frontal plane.

    The frontal plane is spanned by ``lateral_axis`` (the athlete's right, horizontal)
    and lab Z. Positive = medial (toward the other leg). Returns (T, 2): right, left.
    """
    jts = np.asarray(joints_lab_mm, dtype=float)
    lat = np.asarray(lateral_axis, dtype=float)
    out = []
    for (h, k, a), medial_sign in ((J.RIGHT_LEG, -1.0), (J.LEFT_LEG, 1.0)):
        out.append(_frontal_mkd(jts[:, h], jts[:, k], jts[:, a], lat, medial_sign))
    return np.stack(out, axis=-1)


def _frontal_mkd(hip, knee, ankle, lat, medial_sign) -> np.ndarray:
    def plane(p):
        return np.stack([p @ lat, p[..., 2]], axis=-1)

    h2, k2, a2 = plane(hip), plane(knee), plane(ankle)
    d = a2 - h2
    n = np.stack([-d[..., 1], d[..., 0]], axis=-1) / np.linalg.norm(d, axis=-1, keepdims=True)
    n *= np.where(n[..., :1] * medial_sign >= 0, 1.0, -1.0)  # point the normal medially
    return np.sum((k2 - h2) * n, axis=-1)


def place_knee(hip, ankle, thigh_mm, shank_mm, mkd_mm, medial_sign, lat=RIGHT, forward=FORWARD):
    """Knee (T, 3) with exact segment lengths and the requested frontal-plane MKD.

    The knee lies on the circle of points ``thigh_mm`` from the hip and ``shank_mm``
    from the ankle; angle 0 points it forward, positive angles rotate it medially. The
    angle is found by bisection. Returns (knee, ankle): the ankle is pulled toward the
    hip where the leg would be longer than the two segments.
    """
    hip = np.asarray(hip, float)
    ankle = np.asarray(ankle, float)
    d = ankle - hip
    D = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / D
    Dc = np.clip(D, abs(thigh_mm - shank_mm) + 1.0, 0.9995 * (thigh_mm + shank_mm))
    ankle = hip + u * Dc
    a = (thigh_mm**2 - shank_mm**2 + Dc**2) / (2 * Dc)
    rho = np.sqrt(np.maximum(thigh_mm**2 - a**2, 0.0))
    e1 = forward - np.sum(forward * u, axis=-1, keepdims=True) * u
    e1 /= np.linalg.norm(e1, axis=-1, keepdims=True)
    e2 = np.cross(u, e1)
    medial = medial_sign * np.asarray(lat, float)
    e2 *= np.where(np.sum(e2 * medial, axis=-1, keepdims=True) >= 0, 1.0, -1.0)
    centre = hip + a * u
    target = np.broadcast_to(np.asarray(mkd_mm, float), D.shape[:1])

    def knee_at(phi):
        return centre + rho * (np.cos(phi)[:, None] * e1 + np.sin(phi)[:, None] * e2)

    lo = np.full(target.shape, -1.4)
    hi = np.full(target.shape, 1.4)
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        val = _frontal_mkd(hip, knee_at(mid), ankle, lat, medial_sign)
        below = val < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return knee_at(0.5 * (lo + hi)), ankle


def _foot_points(ankle, pitch_deg, side_sign, athlete: Athlete, right=RIGHT, forward=FORWARD):
    """Heel and toe (T, 3) from the ankle, the pitch (toes down, degrees) and a toe-out."""
    p = np.radians(pitch_deg)[:, None]
    out = np.radians(8.0) * side_sign
    fdir = np.cos(p) * (np.sin(out) * right + np.cos(out) * forward) - np.sin(p) * UP
    udir = np.sin(p) * (np.sin(out) * right + np.cos(out) * forward) + np.cos(p) * UP
    La, foot = athlete.ankle_height_mm, athlete.foot_mm
    heel = ankle - 0.22 * foot * fdir - (La - 46) * udir  # centre of the heel counter
    toe = ankle + 0.72 * foot * fdir - (La - 31) * udir  # centre of the toe box
    return heel, toe


def _upper_body(mid_hip, lean_deg, arm_flex_deg, elbow_deg, athlete: Athlete, pts: dict,
                right=RIGHT, forward=FORWARD) -> None:
    A = athlete
    RIGHT, FORWARD = right, forward  # noqa: N806  (per-sample axes when given as (T, 3))
    lean = np.radians(lean_deg)[:, None]
    trunk_dir = np.sin(lean) * FORWARD + np.cos(lean) * UP
    pts["PELV"] = mid_hip + 0.12 * A.trunk_mm * trunk_dir
    thrx = mid_hip + A.trunk_mm * trunk_dir
    pts["THRX"] = thrx
    head_lean = 0.45 * lean
    head_dir = np.sin(head_lean) * FORWARD + np.cos(head_lean) * UP
    pts["HEAD"] = thrx + (0.6 * A.neck_mm + 0.9 * A.head_radius_mm) * head_dir
    alpha = np.radians(arm_flex_deg)[:, None]
    beta = np.radians(elbow_deg)[:, None]
    for side, s in (("R", 1.0), ("L", -1.0)):
        sho = thrx + s * 0.5 * A.shoulder_width_mm * RIGHT - 0.1 * A.trunk_mm * trunk_dir
        gamma = np.radians(10.0)
        u = np.cos(alpha) * (-UP) + np.sin(alpha) * FORWARD
        w = np.sin(alpha) * UP + np.cos(alpha) * FORWARD
        u_ab = np.cos(gamma) * u + np.sin(gamma) * s * RIGHT
        elb = sho + A.upper_arm_mm * u_ab
        v = np.cos(beta) * u + np.sin(beta) * w
        v_ab = np.cos(gamma * 0.6) * v + np.sin(gamma * 0.6) * s * RIGHT
        pts[f"{side}SHO"] = sho
        pts[f"{side}ELB"] = elb
        pts[f"{side}WRI"] = elb + A.forearm_mm * v_ab


def _sway(rng, t, amp_mm: float) -> np.ndarray:
    out = np.zeros((t.size, 3))
    for axis in (0, 1):
        f = rng.uniform(0.2, 0.6)
        out[:, axis] = amp_mm * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return out


def _heading_matrix(heading_deg: float) -> np.ndarray:
    """Rotation about lab Z taking the athlete frame (facing +Y) to a heading (0 = +Y, 90 = -X)."""
    h = np.radians(heading_deg)
    return np.array([[np.cos(h), -np.sin(h), 0.0], [np.sin(h), np.cos(h), 0.0], [0.0, 0.0, 1.0]])


def _to_lab(pts: dict, origin, heading_deg: float = 0.0) -> dict:
    Rz = _heading_matrix(heading_deg)
    return {k: v @ Rz.T + origin for k, v in pts.items()}


def _realised(motion: Motion) -> None:
    """Store the realised valgus peaks (from the generated joint centres) in params."""
    mkd = motion.mkd_mm()
    peaks = {}
    for i, leg in enumerate(("right", "left")):
        k = int(np.argmax(np.abs(mkd[:, i])))
        peaks[leg] = {"peak_mkd_mm": float(mkd[k, i]), "sample": k, "time_s": k / motion.rate_hz}
    motion.params["valgus_realised"] = peaks


# ---------------------------------------------------------------------------- the tasks
def drop_jump(athlete: Athlete, rng: np.random.Generator, rate_hz: float, fps: float,
              valgus_mm=(20.0, 20.0), duration_s: float | None = None,
              landing_lab_mm=(0.0, 0.0, 0.0), box_height_mm: float | None = None,
              heading_deg: float = 0.0) -> Motion:
    """Stand on a box, drop, land on both feet, countermove, jump, land again, stand.

    The athlete faces lab +Y turned by ``heading_deg`` about Z (0: +Y, 90: -X)."""
    A = athlete
    g = G_MM_S2
    La, leg, foot, hw = A.ankle_height_mm, A.leg_mm, A.foot_mm, A.hip_width_mm

    def q(t):  # event times on video frames
        return round(t * fps) / fps

    Zs = La + 0.982 * leg
    Hb = float(box_height_mm if box_height_mm is not None else rng.uniform(300, 450))
    d_box = rng.uniform(250, 420)  # landing ankles to box front edge
    ank_f_box = -d_box - 0.72 * foot
    x_box = hw / 2 + rng.uniform(0, 40)
    x1 = hw / 2 + rng.uniform(10, 70)
    x2 = hw / 2 + rng.uniform(10, 80)
    f2 = rng.uniform(-20, 90)

    t0 = q(rng.uniform(0.5, 0.9))
    Zc = La + 0.955 * leg
    fall = Zs + Hb - Zc
    t_ic = q(t0 + np.sqrt(2 * fall / g))
    T_fall = t_ic - t0
    g_fall = 2 * fall / T_fall**2
    v_ic = g_fall * T_fall
    Dp = rng.uniform(0.20, 0.33) * leg
    t_deep = q(t_ic + np.clip(rng.uniform(0.2, 0.3), 1.4 * Dp / v_ic, 2.6 * Dp / v_ic))
    hr = rng.uniform(40, 60)
    Z_to = La + hr + 0.982 * leg
    v_to = np.sqrt(2 * g * rng.uniform(180, 360))
    rise = Z_to - (Zc - Dp)
    t_to = q(t_deep + np.clip(rng.uniform(0.2, 0.28), 1.4 * rise / v_to, 2.6 * rise / v_to))
    Z_l2 = La + 0.955 * leg
    tau = (v_to + np.sqrt(v_to**2 + 2 * g * (Z_to - Z_l2))) / g
    t_l2 = q(t_to + tau)
    tau = t_l2 - t_to
    g_fl = 2 * (Z_to + v_to * tau - Z_l2) / tau**2
    v_l2 = v_to - g_fl * tau
    Dp2 = rng.uniform(0.35, 0.75) * Dp
    t_d2 = q(t_l2 + np.clip(rng.uniform(0.18, 0.28), 1.4 * Dp2 / abs(v_l2), 2.6 * Dp2 / abs(v_l2)))
    t_rec = q(t_d2 + rng.uniform(0.5, 0.8))
    end = duration_s if duration_s is not None else t_rec + rng.uniform(0.3, 0.8)
    end = max(end, t_rec + 0.1)
    n = int(round(end * fps)) * int(round(rate_hz / fps))
    t = np.arange(n) / rate_hz

    hip_z = hermite([(0, Zs + Hb), (t0 - 0.3, Zs + Hb), (t0, Zs + Hb, 0.0), (t_ic, Zc, -v_ic),
                     (t_deep, Zc - Dp, 0.0), (t_to, Z_to, v_to), (t_l2, Z_l2, v_l2),
                     (t_d2, Z_l2 - Dp2, 0.0), (t_rec, Zs, 0.0), (end + 1, Zs, 0.0)], t)
    v_f = (-40 - (ank_f_box + 60)) / T_fall
    hip_f = hermite([(0, ank_f_box - 10), (t0 - 0.35, ank_f_box - 10), (t0, ank_f_box + 60, v_f),
                     (t_ic, -40, 0.3 * v_f), (t_deep, -0.35 * Dp, 0.0), (t_to, -20, 0.0),
                     (t_l2, f2 - 30, 0.0), (t_d2, f2 - 0.35 * Dp2, 0.0), (t_rec, f2 - 10, 0.0),
                     (end + 1, f2 - 10, 0.0)], t)
    mid_hip = np.stack([np.zeros_like(t), hip_f, hip_z], axis=-1) + _sway(rng, t, 4.0)

    tk = t0 + 0.35 * T_fall
    v_drop = 2 * (Hb + 25) / (t_ic - tk)
    tau_mid = t_to + 0.45 * tau
    pts: dict[str, np.ndarray] = {}
    ankles = {}
    for side, s in (("R", 1.0), ("L", -1.0)):
        ank = np.zeros((n, 3))
        # on the box, then stepping off and falling
        pre = t < t_ic
        tp = t[pre]
        ank[pre, 0] = s * hermite([(t0, x_box), (t_ic, x1)], tp)
        ank[pre, 1] = hermite([(t0, ank_f_box), (tk, -d_box + 0.3 * foot + 40, 900.0), (t_ic, 0.0)], tp)
        ank[pre, 2] = hermite([(t0, Hb + La), (tk, Hb + La + 25, 0.0), (t_ic, La, -v_drop)], tp)
        # first contact, with a heel raise before take-off
        con = (t >= t_ic) & (t < t_to)
        ank[con] = [s * x1, 0.0, 0.0]
        ank[con, 2] = hermite([(t_ic, La), (t_to - 0.1, La), (t_to, La + hr, 800.0)], t[con])
        # flight: the ankle height follows the hip, its horizontal position glides
        fl = (t >= t_to) & (t < t_l2)
        tf = t[fl]
        ank[fl, 0] = hermite([(t_to, s * x1), (t_l2, s * x2)], tf)
        ank[fl, 1] = hermite([(t_to, 0.0), (t_l2, f2)], tf)
        ank[fl, 2] = mid_hip[fl, 2] + hermite([(t_to, La + hr - Z_to), (tau_mid, -0.90 * leg), (t_l2, La - Z_l2)], tf)
        post = t >= t_l2
        ank[post] = [s * x2, f2, La]
        ankles[side] = ank

    pitch = hermite([(0, 0), (t0, 0), (tk, 25), (t_ic - 0.03, 12), (t_ic, 0), (t_to - 0.1, 0),
                     (t_to, np.degrees(np.arcsin(min(hr / (0.7 * foot), 0.9)))), (t_to + 0.3 * tau, 30),
                     (t_l2 - 0.03, 12), (t_l2, 0), (end + 1, 0)], t)
    lean = hermite([(0, 6), (t0 - 0.35, 6), (t0, 18), (t_ic, 12), (t_deep, rng.uniform(22, 42)),
                    (t_to, 2), (tau_mid, 8), (t_l2, 8), (t_d2, rng.uniform(15, 28)), (t_rec, 6), (end + 1, 6)], t)
    arm = hermite([(0, 5), (t0 - 0.35, 5), (t0, 25), (t_ic, 35), (t_deep, -rng.uniform(30, 55)),
                   (t_to, rng.uniform(120, 160)), (tau_mid, 60), (t_l2, 35), (t_d2, 10), (t_rec, 5), (end + 1, 5)], t)
    elbow = hermite([(0, 15), (t_ic, 25), (t_deep, 45), (t_to, 15), (t_l2, 30), (t_rec, 15), (end + 1, 15)], t)

    # valgus: grows with the depth of each landing, peaks at the deepest frame
    s1 = np.clip((Zc - hip_z) / Dp, 0, 1) * ((t >= t_ic) & (t < t_to))
    ratio2 = rng.uniform(0.5, 0.8)
    s2 = ratio2 * np.clip((Z_l2 - hip_z) / Dp2, 0, 1) * (t >= t_l2)
    profile = np.maximum(s1, s2) ** 1.2
    for side, s in (("R", 1.0), ("L", -1.0)):
        hip = mid_hip + s * 0.5 * hw * RIGHT
        peak = valgus_mm[0] if side == "R" else valgus_mm[1]
        knee, ank = place_knee(hip, ankles[side], A.thigh_mm, A.shank_mm, peak * profile, -s)
        heel, toe = _foot_points(ank, pitch, s, A)
        pts[f"{side}FEP"], pts[f"{side}FEO"], pts[f"{side}TIO"] = hip, knee, ank
        pts[f"{side}HEE"], pts[f"{side}TOE"] = heel, toe
    _upper_body(mid_hip, lean, arm, elbow, A, pts)
    origin = np.asarray(landing_lab_mm, float)
    Rz = _heading_matrix(heading_deg)
    box_depth = rng.uniform(400, 550)
    motion = Motion(
        task="DJ", side="both", rate_hz=float(rate_hz), points=_to_lab(pts, origin, heading_deg),
        events_s={"initial_contact": t_ic, "deepest": t_deep, "take_off": t_to, "second_landing": t_l2},
        valgus_requested_mm={"right": float(valgus_mm[0]), "left": float(valgus_mm[1])},
        landing_lab_mm=origin, lateral_axis=Rz @ RIGHT, facing=Rz @ FORWARD,
        box={"top_centre_lab_mm": (origin + Rz @ [0.0, -d_box - box_depth / 2, Hb]).tolist(),
             "size_mm": [float(rng.uniform(500, 700)), float(box_depth), Hb]},
        params={"box_height_mm": Hb, "jump_height_mm": float(v_to**2 / (2 * g)), "depth_mm": float(Dp)},
    )
    _realised(motion)
    return motion


def single_leg_squat(athlete: Athlete, rng: np.random.Generator, rate_hz: float, fps: float,
                     stance: str = "right", valgus_mm: float = 20.0, duration_s: float | None = None,
                     landing_lab_mm=(0.0, 0.0, 0.0), heading_deg: float = 0.0) -> Motion:
    """Stand on one leg, squat down slowly, come back up, hold (heading as :func:`drop_jump`)."""
    A = athlete
    La, leg, hw = A.ankle_height_mm, A.leg_mm, A.hip_width_mm
    s = 1.0 if stance == "right" else -1.0

    def q(t):
        return round(t * fps) / fps

    t_start = q(rng.uniform(0.4, 0.8))
    t_deep = q(t_start + rng.uniform(0.9, 1.4))
    t_end = q(t_deep + rng.uniform(0.9, 1.4))
    end = duration_s if duration_s is not None else t_end + rng.uniform(0.3, 0.8)
    end = max(end, t_end + 0.1)
    n = int(round(end * fps)) * int(round(rate_hz / fps))
    t = np.arange(n) / rate_hz

    Zs = La + 0.975 * leg
    Dp = rng.uniform(0.16, 0.28) * leg
    hip_z = hermite([(0, Zs), (t_start, Zs), (t_deep, Zs - Dp), (t_end, Zs), (end + 1, Zs)], t)
    depth = (Zs - hip_z) / Dp
    hip_f = -0.4 * Dp * depth
    shift = s * 0.5 * hw * rng.uniform(0.6, 0.9)
    mid_hip = np.stack([np.full_like(t, shift), hip_f, hip_z], axis=-1) + _sway(rng, t, 5.0)
    stance_ankle = np.tile([s * (0.5 * hw + rng.uniform(0, 30)), 0.0, La], (n, 1))

    pts: dict[str, np.ndarray] = {}
    stance_side = "R" if s > 0 else "L"
    free_side = "L" if s > 0 else "R"
    hip_st = mid_hip + s * 0.5 * hw * RIGHT
    knee, ank = place_knee(hip_st, stance_ankle, A.thigh_mm, A.shank_mm, valgus_mm * depth**1.2, -s)
    heel, toe = _foot_points(ank, np.zeros(n), s, A)
    pts[f"{stance_side}FEP"], pts[f"{stance_side}FEO"], pts[f"{stance_side}TIO"] = hip_st, knee, ank
    pts[f"{stance_side}HEE"], pts[f"{stance_side}TOE"] = heel, toe

    hip_fr = mid_hip - s * 0.5 * hw * RIGHT
    if rng.random() < 0.6:  # free foot held in front
        th = np.radians(rng.uniform(25, 45) + 25 * depth)
        tk = np.radians(rng.uniform(50, 80) + 15 * depth)
    else:  # free foot held behind
        th = np.radians(rng.uniform(-10, 5) + 10 * depth)
        tk = np.radians(rng.uniform(95, 115))
    kf = hip_fr + A.thigh_mm * (np.sin(th)[:, None] * FORWARD - np.cos(th)[:, None] * UP)
    af = kf + A.shank_mm * (np.sin(th - tk)[:, None] * FORWARD - np.cos(th - tk)[:, None] * UP)
    af[:, 2] = np.maximum(af[:, 2], La + 60)
    kf, af = place_knee(hip_fr, af, A.thigh_mm, A.shank_mm, 0.0, s)
    heel, toe = _foot_points(af, np.full(n, 25.0), -s, A)
    pts[f"{free_side}FEP"], pts[f"{free_side}FEO"], pts[f"{free_side}TIO"] = hip_fr, kf, af
    pts[f"{free_side}HEE"], pts[f"{free_side}TOE"] = heel, toe

    lean = 8 + rng.uniform(15, 35) * depth
    arm = rng.uniform(10, 30) + rng.uniform(20, 50) * depth
    _upper_body(mid_hip, lean, arm, np.full(n, 20.0), A, pts)
    origin = np.asarray(landing_lab_mm, float)
    requested = {"right": float(valgus_mm) if s > 0 else 0.0, "left": float(valgus_mm) if s < 0 else 0.0}
    motion = Motion(
        task="SLS", side=stance, rate_hz=float(rate_hz), points=_to_lab(pts, origin, heading_deg),
        events_s={"start": t_start, "deepest": t_deep, "end": t_end},
        valgus_requested_mm=requested, landing_lab_mm=origin, box=None,
        lateral_axis=_heading_matrix(heading_deg) @ RIGHT, facing=_heading_matrix(heading_deg) @ FORWARD,
        params={"depth_mm": float(Dp)},
    )
    _realised(motion)
    return motion
