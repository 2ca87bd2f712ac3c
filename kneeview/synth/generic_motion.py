"""Everyday movements for variety in the synthetic data: walking (straight or turning) and
standing with arm movements and turns of the body, as :class:`~kneeview.synth.motion.Motion`
point sets (lab mm; the six joint centres and the body points) that :mod:`.mesh_body`
poses and the renderers draw like a drop jump.

As in :mod:`.motion`, the knee is placed by two-link inverse kinematics with the athlete's
exact thigh and shank lengths (``place_knee``, no valgus), feet by ``_foot_points`` and
the trunk, head and arms by ``_upper_body``. A stance foot stays where it landed.
The athlete faces lab +Y turned by ``heading_deg`` (0: +Y, 90: -X) at the start.
"""
from __future__ import annotations

import numpy as np

from .anthropometrics import Athlete
from .motion import (FORWARD, RIGHT, UP, Motion, _foot_points, _sway, _upper_body, hermite,
                     medial_knee_displacement, place_knee)


def _dirs(heading_rad: np.ndarray):
    """(forward, right) unit vectors (T, 3) for headings (0 = lab +Y, positive turns left)."""
    h = np.asarray(heading_rad, float)
    fwd = np.stack([-np.sin(h), np.cos(h), np.zeros_like(h)], axis=-1)
    right = np.stack([np.cos(h), np.sin(h), np.zeros_like(h)], axis=-1)
    return fwd, right


def _legs(pts: dict, mid_hip, heading, ankles: dict, foot_heading: dict, pitch: dict, athlete: Athlete) -> None:
    """Hips from the pelvis heading, knees by IK in each frame's heading frame, feet."""
    A = athlete
    fwd, right = _dirs(heading)
    for side, s in (("R", 1.0), ("L", -1.0)):
        hip = mid_hip + s * 0.5 * A.hip_width_mm * right
        # place_knee works in the athlete frame (right = +X): turn each frame there and back;
        # the knee points between where the pelvis and the foot point
        knee_heading = 0.5 * (heading + foot_heading[side])
        c, sn = np.cos(-knee_heading)[:, None], np.sin(-knee_heading)[:, None]

        def to_local(p, c=c, sn=sn):
            return np.stack([c[:, 0] * p[:, 0] - sn[:, 0] * p[:, 1], sn[:, 0] * p[:, 0] + c[:, 0] * p[:, 1],
                             p[:, 2]], axis=-1)

        def to_lab(p, c=c, sn=sn):
            return np.stack([c[:, 0] * p[:, 0] + sn[:, 0] * p[:, 1], -sn[:, 0] * p[:, 0] + c[:, 0] * p[:, 1],
                             p[:, 2]], axis=-1)

        knee_l, ank_l = place_knee(to_local(hip), to_local(ankles[side]), A.thigh_mm, A.shank_mm, 0.0, -s)
        knee, ank = to_lab(knee_l), to_lab(ank_l)
        ffwd, fright = _dirs(foot_heading[side])
        heel, toe = _foot_points(ank, pitch[side], s, A, fright, ffwd)
        pts[f"{side}FEP"], pts[f"{side}FEO"], pts[f"{side}TIO"] = hip, knee, ank
        pts[f"{side}HEE"], pts[f"{side}TOE"] = heel, toe


def _arms(pts: dict, mid_hip, lean, heading, arm: dict, elbow: dict, athlete: Athlete) -> None:
    """Trunk, head and arms; each arm its own flexion and elbow angles (degrees)."""
    fwd, right = _dirs(heading)
    for side in ("R", "L"):
        part: dict[str, np.ndarray] = {}
        _upper_body(mid_hip, lean, arm[side], elbow[side], athlete, part, right, fwd)
        for k in ("SHO", "ELB", "WRI"):
            pts[f"{side}{k}"] = part[f"{side}{k}"]
        pts.update({k: part[k] for k in ("PELV", "THRX", "HEAD")})


def _motion(task, pts, rate_hz, origin, heading, params) -> Motion:
    """The Motion; its lateral axis and facing are the start's, and the realised MKD is
    measured in each frame's own frontal plane (the pelvis heading), not the start's."""
    fwd, right = _dirs(np.asarray(heading[:1], float))
    motion = Motion(task=task, side="both", rate_hz=float(rate_hz), points=pts, events_s={},
                    valgus_requested_mm={"right": 0.0, "left": 0.0}, lateral_axis=right[0], facing=fwd[0],
                    landing_lab_mm=np.asarray(origin, float), box=None, params=params)
    c, s = np.cos(-heading)[:, None, None], np.sin(-heading)[:, None, None]
    J = motion.joints_lab_mm
    local = np.concatenate([c * J[..., :1] - s * J[..., 1:2], s * J[..., :1] + c * J[..., 1:2], J[..., 2:]], axis=-1)
    mkd = medial_knee_displacement(local)
    peaks = {}
    for i, leg in enumerate(("right", "left")):
        k = int(np.argmax(np.abs(mkd[:, i])))
        peaks[leg] = {"peak_mkd_mm": float(mkd[k, i]), "sample": k, "time_s": k / motion.rate_hz}
    motion.params["valgus_realised"] = peaks
    return motion


def walk(athlete: Athlete, rng: np.random.Generator, rate_hz: float, fps: float, duration_s: float = 4.0,
         speed_mm_s: float | None = None, turn_deg_s: float = 0.0, heading_deg: float = 0.0,
         start_lab_mm=(0.0, 0.0, 0.0)) -> Motion:
    """Walk from ``start_lab_mm`` (the mid-hip's floor point) at ``speed_mm_s`` (when None: steps
    of 0.65-0.8 leg lengths at 1.7-2.0 steps/s, about 1.0-1.4 m/s), turning at ``turn_deg_s`` (positive: to the left), for ``duration_s``.

    Footprints fall half a step ahead of the pelvis at each heel strike, the stance lasts 60 %
    of the stride, the swing foot rises 5-8 cm on a smooth arc, the heel rises before toe-off,
    the pelvis bobs twice a stride and the arms swing against the legs."""
    A = athlete
    La, leg, hw = A.ankle_height_mm, A.leg_mm, A.hip_width_mm
    cadence = rng.uniform(1.7, 2.0)  # steps per second
    if speed_mm_s is None:  # a comfortable step: 0.65-0.8 leg lengths
        speed_mm_s = rng.uniform(0.65, 0.8) * leg * cadence
    speed = float(speed_mm_s)
    step_len = speed / cadence
    if step_len > 0.9 * leg:  # faster than a walk with these legs: quicker steps instead
        cadence = speed / (0.9 * leg)
        step_len = 0.9 * leg
    T_step = 1.0 / cadence
    n = int(round(duration_s * fps)) * int(round(rate_hz / fps))
    t = np.arange(n) / rate_hz
    h0 = np.radians(heading_deg)
    turn = np.radians(turn_deg_s)
    heading = h0 + turn * t

    def heading_at(tt):
        return h0 + turn * np.asarray(tt, float)

    def path_at(tt):  # mid-hip floor point: speed along the heading
        tt = np.asarray(tt, float)
        if abs(turn) < 1e-9:
            f, _ = _dirs(np.full(tt.shape, h0))
            return np.asarray(start_lab_mm, float) + speed * tt[..., None] * f
        # a circular arc: the integral of speed * forward(h0 + turn t), forward(h) = (-sin h, cos h)
        r = speed / turn
        h = heading_at(tt)
        step = np.stack([r * (np.cos(h) - np.cos(h0)), r * (np.sin(h) - np.sin(h0)), np.zeros_like(tt)], axis=-1)
        return np.asarray(start_lab_mm, float) + step

    base = path_at(t)
    phase0 = rng.uniform(0.0, 1.0)  # where in the stride the trial starts
    bob = -12.0 * np.cos(4 * np.pi * (t / (2 * T_step) + phase0))  # lowest at double support
    hip_z = La + 0.93 * leg + bob
    mid_hip = base + np.stack([np.zeros(n), np.zeros(n), hip_z], axis=-1) + _sway(rng, t, 3.0)

    # heel strikes: right at phase 0, left half a stride later; list them over the trial and beyond
    stride = 2 * T_step
    t_first = -phase0 * stride
    ankles, fhead, pitch = {}, {}, {}
    for side, s, offset in (("R", 1.0, 0.0), ("L", -1.0, T_step)):
        strikes = np.arange(t_first + offset - stride, t[-1] + 2 * stride, stride)

        def footprint(ts, s=s):
            f, r = _dirs(heading_at(ts))
            return path_at(ts) + 0.5 * step_len * f + s * (0.5 * hw + 25.0) * r + np.array([0.0, 0.0, La])

        prints = footprint(strikes)
        ph = heading_at(strikes)
        ank = np.zeros((n, 3))
        fh = np.zeros(n)
        pt = np.zeros(n)
        k = np.clip(np.searchsorted(strikes, t, side="right") - 1, 0, len(strikes) - 2)
        u = (t - strikes[k]) / stride  # 0 at heel strike .. 1 at the next one
        stance = u < 0.6
        w = np.clip((u - 0.6) / 0.4, 0.0, 1.0)
        sm = w * w * (3 - 2 * w)  # smooth swing from this footprint to the next
        ank[:] = prints[k] + sm[:, None] * (prints[k + 1] - prints[k])
        fh[:] = ph[k] + sm * (ph[k + 1] - ph[k])
        lift = np.where(stance, 0.0, rng.uniform(50.0, 80.0) * np.sin(np.pi * w))
        # pitch (toes down +): toes up at heel strike, flat mid-stance, heel rise to toe-off, swing
        pt[:] = np.interp(u, [0.0, 0.08, 0.35, 0.5, 0.6, 0.75, 0.95, 1.0], [-12, 0, 0, 12, 28, 10, -8, -12])
        # the foot turns about the toes (heel rise) or the heel (toes up) when it is low
        # (the rise that keeps the toe box, or the heel counter, at its flat-foot height)
        down, up = np.radians(np.clip(pt, 0, None)), np.radians(np.clip(-pt, 0, None))
        heel_rise = 0.72 * A.foot_mm * np.sin(down) - (La - 31.0) * (1 - np.cos(down))
        toes_up = 0.22 * A.foot_mm * np.sin(up) - (La - 46.0) * (1 - np.cos(up))
        ank[:, 2] += np.maximum(lift, heel_rise + toes_up)
        ankles[side], fhead[side], pitch[side] = ank, fh, pt
    pts: dict[str, np.ndarray] = {}
    _legs(pts, mid_hip, heading, ankles, fhead, pitch, A)
    # arms swing against the legs: the right arm forward when the left foot is
    u_r = (t - t_first) / stride
    swing = rng.uniform(12.0, 25.0)
    arm = {"R": 5 + swing * np.sin(2 * np.pi * u_r + np.pi / 2 + np.pi),
           "L": 5 + swing * np.sin(2 * np.pi * u_r + np.pi / 2)}
    elbow = {k: 20 + 0.8 * np.clip(v, 0, None) for k, v in arm.items()}
    lean = np.full(n, rng.uniform(2.0, 7.0))
    _arms(pts, mid_hip, lean, heading, arm, elbow, A)
    return _motion("WALK", pts, rate_hz, (base[0][0], base[0][1], 0.0), heading,
                   {"speed_mm_s": speed, "cadence_steps_s": float(cadence), "turn_deg_s": float(turn_deg_s),
                    "step_mm": float(step_len)})


def stand(athlete: Athlete, rng: np.random.Generator, rate_hz: float, fps: float, duration_s: float = 4.0,
          heading_deg: float = 0.0, origin_lab_mm=(0.0, 0.0, 0.0), arm_moves: int | None = None,
          turn_deg: float | None = None) -> Motion:
    """Stand with the feet in place: sway, a slight knee bend that comes and goes, the
    pelvis and trunk turning up to ``turn_deg`` either way (drawn 10-35 deg when None) and
    ``arm_moves`` arm raises, reaches and bends (drawn 2-5 when None), each arm on its own."""
    A = athlete
    La, leg, hw = A.ankle_height_mm, A.leg_mm, A.hip_width_mm
    n = int(round(duration_s * fps)) * int(round(rate_hz / fps))
    t = np.arange(n) / rate_hz
    end = t[-1] + 1.0 / rate_hz
    h0 = np.radians(heading_deg)
    turn = np.radians(turn_deg if turn_deg is not None else rng.uniform(10.0, 35.0))
    k_turn = sorted(rng.uniform(0.2, 0.9, 2) * end)
    heading = h0 + hermite([(0, 0.0), (k_turn[0], rng.choice([-1, 1]) * turn), (k_turn[1], rng.uniform(-1, 1) * turn),
                            (end + 1, 0.0)], t)
    origin = np.asarray(origin_lab_mm, float)
    f0, r0 = _dirs(np.array([h0]))
    feet = {side: origin + s * (0.5 * hw + rng.uniform(20.0, 60.0)) * r0[0] + rng.uniform(-30, 30) * f0[0]
            + np.array([0.0, 0.0, La]) for side, s in (("R", 1.0), ("L", -1.0))}
    bend = np.clip(hermite([(0, 0.0), (0.3 * end, rng.uniform(0, 60)), (0.7 * end, rng.uniform(0, 80)),
                            (end + 1, 0.0)], t), 0.0, None)
    mid = 0.5 * (feet["R"] + feet["L"])
    hip_z = La + 0.975 * leg - bend
    mid_hip = np.stack([np.full(n, mid[0]), np.full(n, mid[1]), hip_z], axis=-1) + _sway(rng, t, 8.0)
    mid_hip += (-0.3 * bend)[:, None] * f0  # hips back as the knees bend
    ankles = {k: np.tile(v, (n, 1)) for k, v in feet.items()}
    fhead = {k: np.full(n, h0) for k in feet}
    pitch = {k: np.zeros(n) for k in feet}
    pts: dict[str, np.ndarray] = {}
    _legs(pts, mid_hip, heading, ankles, fhead, pitch, A)
    moves = int(arm_moves if arm_moves is not None else rng.integers(2, 6))
    arm, elbow = {}, {}
    for side in ("R", "L"):
        ka = [(0.0, rng.uniform(0, 15)), ]
        ke = [(0.0, rng.uniform(10, 25)), ]
        times = np.sort(rng.uniform(0.1, 0.95, moves)) * end
        for tk in times:
            if tk - ka[-1][0] < 0.25:
                continue
            ka.append((tk, rng.uniform(-30.0, 170.0)))
            ke.append((tk, rng.uniform(5.0, 120.0)))
        ka.append((end + 1, rng.uniform(0, 15)))
        ke.append((end + 1, rng.uniform(10, 25)))
        arm[side], elbow[side] = hermite(ka, t), hermite(ke, t)
    lean = 4.0 + 0.25 * bend / 10.0 + rng.uniform(-2, 2)
    _arms(pts, mid_hip, np.broadcast_to(lean, t.shape).astype(float), heading, arm, elbow, A)
    return _motion("STAND", pts, rate_hz, (mid[0], mid[1], 0.0), heading,
                   {"turn_deg": float(np.degrees(turn)), "arm_moves": moves})


__all__ = ["walk", "stand", "RIGHT", "FORWARD", "UP"]
