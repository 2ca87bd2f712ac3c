"""The athlete's figure as 3D primitives: tapered capsules and convex torso sections.

Every primitive belongs to a group that is depth-sorted as a unit (a thigh with its
shorts, a foot with its sole). Radii are millimetres, proportional to standing height
and scaled by the athlete's build. Nothing here draws; :mod:`.render` does.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .anthropometrics import Athlete


@dataclass
class Capsule:
    group: str
    p0: np.ndarray  # (T, 3) lab mm
    p1: np.ndarray
    r0: float  # mm
    r1: float
    colour: tuple


@dataclass
class Hull:
    group: str
    points: np.ndarray  # (T, M, 3) lab mm: rings around the trunk
    centre: np.ndarray  # (T, 3)
    colour: tuple
    scale_mm: float  # typical half width, for the highlight shift


def _unit(v):
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _lerp(a, b, w):
    return a + w * (b - a)


def _ring(centre, right, fwd, half_w, half_d, k: int = 12):
    ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
    return centre[:, None, :] + half_w * np.cos(ang)[None, :, None] * right[:, None, :] + \
        half_d * np.sin(ang)[None, :, None] * fwd[:, None, :]


def figure(points: dict[str, np.ndarray], athlete: Athlete) -> tuple[list[Capsule], list[Hull], dict[str, np.ndarray]]:
    """Primitives of the athlete at every sample of ``points`` and each group's depth point."""
    A = athlete
    H, b = A.height_mm, A.build
    P = points
    skin, top, bottom = A.skin, A.top_colour, A.bottom_colour
    caps: list[Capsule] = []
    hulls: list[Hull] = []
    rep: dict[str, np.ndarray] = {}

    mid_hip = 0.5 * (P["RFEP"] + P["LFEP"])
    up = _unit(P["THRX"] - mid_hip)
    right = (P["RFEP"] - P["LFEP"]) + (P["RSHO"] - P["LSHO"])
    right = _unit(right - np.sum(right * up, -1, keepdims=True) * up)
    fwd = np.cross(up, right)
    trunk = A.trunk_mm
    hip_half = 0.5 * A.hip_width_mm + 70 * b + (12 if A.sex == "F" else 0)
    sho_half = 0.5 * A.shoulder_width_mm

    def at(h, f=0.0):
        return mid_hip + h * trunk * up + f * fwd

    lower = np.concatenate([
        _ring(at(-0.07, -5), right, fwd, 0.93 * hip_half, 90 * b),
        _ring(at(0.05, -10), right, fwd, hip_half, 100 * b),
        _ring(at(0.36), right, fwd, 0.86 * hip_half, 92 * b),
    ], axis=1)
    upper = np.concatenate([
        _ring(at(0.33), right, fwd, 0.86 * hip_half, 92 * b),
        _ring(at(0.70, 12), right, fwd, sho_half + 18 * b, 108 * b),
        _ring(at(0.90), right, fwd, sho_half + 40 * b, 72 * b),
    ], axis=1)
    hulls.append(Hull("torso", lower, at(0.15), bottom, hip_half))
    hulls.append(Hull("torso", upper, at(0.65), top, sho_half))
    rep["torso"] = at(0.5, -20)

    for side in ("R", "L"):
        hip, knee, ank = P[f"{side}FEP"], P[f"{side}FEO"], P[f"{side}TIO"]
        heel, toe = P[f"{side}HEE"], P[f"{side}TOE"]
        g = f"{side}thigh"
        r_hip, r_knee = 0.050 * H * b, 0.029 * H * b
        thigh_col = skin if A.bottom == "shorts" else bottom
        caps.append(Capsule(g, hip, knee, r_hip, r_knee, thigh_col))
        if A.bottom == "shorts":
            caps.append(Capsule(g, hip, _lerp(hip, knee, 0.42), r_hip + 6, _lerp(r_hip, r_knee, 0.42) + 8, bottom))
        rep[g] = _lerp(hip, knee, 0.5)

        g = f"{side}shank"
        calf = _lerp(knee, ank, 0.3)
        r_calf, r_ank = 0.031 * H * b, 0.018 * H
        shank_col = bottom if A.bottom == "tights" else skin
        caps.append(Capsule(g, knee, calf, r_knee, r_calf, shank_col))
        caps.append(Capsule(g, calf, ank, r_calf, r_ank, shank_col))
        if A.bottom == "capri":
            caps.append(Capsule(g, knee, _lerp(knee, ank, 0.5), r_knee + 5, r_calf + 5, bottom))
        caps.append(Capsule(g, ank, _lerp(ank, knee, 0.16), r_ank + 3, r_ank + 6, A.sock_colour))
        rep[g] = _lerp(knee, ank, 0.5)

        g = f"{side}foot"
        down = np.array([0.0, 0.0, 1.0])
        caps.append(Capsule(g, heel - 30 * down, toe - 18 * down, 17, 14, A.sole_colour))
        caps.append(Capsule(g, heel, toe, 0.025 * H, 0.017 * H, A.shoe_colour))
        caps.append(Capsule(g, heel, ank, 0.023 * H, r_ank + 6, A.shoe_colour))
        rep[g] = _lerp(heel, toe, 0.5)

        sho, elb, wri = P[f"{side}SHO"], P[f"{side}ELB"], P[f"{side}WRI"]
        g = f"{side}upperarm"
        r_sho, r_elb, r_wri = 0.027 * H * b, 0.021 * H * b, 0.0145 * H
        caps.append(Capsule(g, sho, elb, r_sho, r_elb, top if A.top == "longsleeve" else skin))
        if A.top == "tshirt":
            caps.append(Capsule(g, sho, _lerp(sho, elb, 0.5), r_sho + 7, _lerp(r_sho, r_elb, 0.5) + 8, top))
        rep[g] = _lerp(sho, elb, 0.5)
        g = f"{side}forearm"
        caps.append(Capsule(g, elb, wri, r_elb, r_wri, top if A.top == "longsleeve" else skin))
        hand = wri + 0.075 * H * _unit(wri - elb)
        caps.append(Capsule(g, wri, hand, 0.014 * H, 0.012 * H, skin))
        rep[g] = _lerp(elb, hand, 0.5)

    head, thrx = P["HEAD"], P["THRX"]
    rh = A.head_radius_mm
    head_up = _unit(head - thrx)
    head_fwd = _unit(fwd - np.sum(fwd * head_up, -1, keepdims=True) * head_up)
    caps.append(Capsule("neck", thrx, head - 0.5 * rh * head_up, 0.5 * rh, 0.45 * rh, skin))
    rep["neck"] = _lerp(thrx, head, 0.4) - 0.2 * rh * head_fwd
    caps.append(Capsule("head", head - 0.22 * rh * head_up + 0.05 * rh * head_fwd, head + 0.2 * rh * head_up, 0.84 * rh, 0.82 * rh, skin))
    rep["head"] = head + 0.1 * rh * head_fwd
    side_dir = np.cross(head_fwd, head_up)
    for s in (1.0, -1.0):  # eyes and brows, seen only when the face turns to the camera
        eye = head + 0.8 * rh * head_fwd + 0.04 * rh * head_up + s * 0.32 * rh * side_dir
        caps.append(Capsule("face", eye - 0.05 * rh * side_dir, eye + 0.05 * rh * side_dir, 0.05 * rh, 0.05 * rh,
                            tuple(int(0.35 * c) for c in skin)))
        brow = eye + 0.2 * rh * head_up + 0.02 * rh * head_fwd
        brow_col = tuple(int(min(h, 0.55 * k)) for h, k in zip(A.hair, skin))
        caps.append(Capsule("face", brow - 0.12 * rh * side_dir, brow + 0.12 * rh * side_dir, 0.045 * rh, 0.045 * rh, brow_col))
    mouth = head + 0.72 * rh * head_fwd - 0.42 * rh * head_up
    caps.append(Capsule("face", mouth - 0.14 * rh * side_dir, mouth + 0.14 * rh * side_dir, 0.035 * rh, 0.035 * rh,
                        tuple(int(0.7 * c) for c in skin)))
    rep["face"] = head + 0.75 * rh * head_fwd
    hc = head + 0.2 * rh * head_up - 0.2 * rh * head_fwd
    if A.hair_style == "shaved":  # cropped: a thin cap, between hair and skin
        cap_col = tuple(int(0.5 * (h + k)) for h, k in zip(A.hair, skin))
        caps.append(Capsule("hair", hc - 0.02 * rh * head_fwd, hc + 0.06 * rh * head_up, 0.84 * rh, 0.84 * rh, cap_col))
        rep["hair"] = hc - 0.2 * rh * head_fwd
    else:
        caps.append(Capsule("hair", hc, hc + 0.12 * rh * head_up, 0.9 * rh, 0.88 * rh, A.hair))
        if A.hair_style == "ponytail":
            caps.append(Capsule("hair", head + 0.3 * rh * head_up - 0.8 * rh * head_fwd,
                                head - 0.9 * rh * head_up - 1.0 * rh * head_fwd, 0.28 * rh, 0.16 * rh, A.hair))
        elif A.hair_style == "bun":
            c = head + 0.6 * rh * head_up - 0.65 * rh * head_fwd
            caps.append(Capsule("hair", c, c, 0.36 * rh, 0.36 * rh, A.hair))
        rep["hair"] = hc - 0.2 * rh * head_fwd
    return caps, hulls, rep
