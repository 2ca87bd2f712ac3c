"""Synthetic trials with known geometry and known events, for the analysis tests."""
from __future__ import annotations

import numpy as np

G_MM_S2 = 9810.0
ANKLE_MM = 80.0  # ankle joint centre above the floor when standing


def place(athlete_xyz, facing_deg=0.0, origin=(0.0, 0.0, 0.0)):
    """Athlete coordinates (..., 3) = (anterior, left, up) -> lab mm, athlete facing ``facing_deg``
    (0 = lab +X, 90 = lab +Y), standing at ``origin``."""
    a = np.radians(facing_deg)
    anterior = np.array([np.cos(a), np.sin(a), 0.0])
    up = np.array([0.0, 0.0, 1.0])
    left = np.cross(up, anterior)
    M = np.stack([anterior, left, up])  # rows
    return np.asarray(athlete_xyz, float) @ M + np.asarray(origin, float)


def leg_pose(hip_half=90.0, hip_z=950.0, knee_z=500.0, ankle_z=ANKLE_MM, ankle_half=100.0,
             knee_half=None, knee_forward=0.0, medial_right=0.0, medial_left=0.0):
    """(6, 3) athlete coordinates: knees on the straight hip-ankle lines, then moved medially."""
    def on_line(hz, az, half_h, half_a, z):
        f = (hz - z) / (hz - az)
        return half_h + f * (half_a - half_h)

    kh = on_line(hip_z, ankle_z, hip_half, ankle_half, knee_z) if knee_half is None else knee_half
    return np.array([
        [0.0, -hip_half, hip_z],
        [0.0, hip_half, hip_z],
        [knee_forward, -kh + medial_right, knee_z],  # right leg: medial = +left
        [knee_forward, kh - medial_left, knee_z],  # left leg: medial = -left
        [0.0, -ankle_half, ankle_z],
        [0.0, ankle_half, ankle_z],
    ])


def drop_jump(rate_hz=100.0, box_mm=300.0, t_stand=0.4, contact_s=0.45, depth_mm=250.0,
              valgus_mm=(20.0, 35.0), t_after=0.6, facing_deg=0.0, origin=(0.0, 0.0, 0.0), heel_raise_mm=50.0):
    """A drop jump: stand on a box, fall, land, dip, raise the heels, take off, fly, land again.

    The ankles rise by ``heel_raise_mm`` over the last 0.1 s of contact (heels up, toes on
    the ground); take-off is when the toes leave, landing when the ankle is back down.

    Returns (joints_lab_mm (T, 6, 3), true events as row indices, dict of times).
    Knee medial displacement (right, left) grows with the dip, peaking at the deepest point.
    """
    t_ic = t_stand + np.sqrt(2 * box_mm / G_MM_S2)
    t_deep = t_ic + contact_s / 2
    t_to = t_ic + contact_s
    v0 = depth_mm * np.pi / contact_s  # upward speed at take-off = speed of the dip's end
    t_land2 = t_to + 2 * v0 / G_MM_S2
    T = int(np.ceil((t_land2 + t_after) * rate_hz))
    t = np.arange(T) / rate_hz
    lift = np.zeros(T)  # whole-body height offset above standing on the floor
    dip = np.zeros(T)  # pelvis/knee lowering during contact
    lift[t < t_stand] = box_mm
    fall = (t >= t_stand) & (t < t_ic)
    lift[fall] = box_mm - 0.5 * G_MM_S2 * (t[fall] - t_stand) ** 2
    contact = (t >= t_ic) & (t < t_to)
    dip[contact] = depth_mm * np.sin(np.pi * (t[contact] - t_ic) / contact_s)
    fly = (t >= t_to) & (t < t_land2)
    tau = t[fly] - t_to
    lift[fly] = v0 * tau - 0.5 * G_MM_S2 * tau ** 2
    heel = np.zeros(T)
    raise_ = (t >= t_to - 0.1) & (t < t_to)
    heel[raise_] = heel_raise_mm * ((t[raise_] - (t_to - 0.1)) / 0.1) ** 2
    heel[fly] = heel_raise_mm * (1.0 - tau / (t_land2 - t_to))
    frames = []
    for k in range(T):
        frac = dip[k] / depth_mm
        pose = leg_pose(hip_z=950.0 - dip[k], knee_z=500.0 - 0.4 * dip[k], knee_forward=0.8 * dip[k],
                        medial_right=valgus_mm[0] * frac, medial_left=valgus_mm[1] * frac)
        pose[:, 2] += lift[k]
        pose[4:, 2] += heel[k]
        frames.append(pose)
    joints = place(np.array(frames), facing_deg, origin)
    row = lambda s: int(np.ceil(s * rate_hz - 1e-9))  # noqa: E731  first frame at or after a time
    events = {
        "initial_contact": row(t_ic),
        "deepest": int(round(t_deep * rate_hz)),
        "take_off": row(t_to),
        "second_landing": row(t_land2),
    }
    return joints, events


def single_leg_squat(rate_hz=100.0, stance="right", t_before=0.8, duration_s=1.6, depth_mm=200.0,
                     t_after=0.8, free_foot_mm=200.0, facing_deg=0.0, origin=(0.0, 0.0, 0.0)):
    """A single-leg squat on ``stance``; the other foot held ``free_foot_mm`` up."""
    T = int(np.ceil((t_before + duration_s + t_after) * rate_hz))
    t = np.arange(T) / rate_hz
    tau = np.clip((t - t_before) / duration_s, 0.0, 1.0)
    dip = depth_mm * (1 - np.cos(2 * np.pi * tau)) / 2
    frames = []
    for k in range(T):
        pose = leg_pose(hip_z=950.0 - dip[k], knee_z=500.0 - 0.4 * dip[k], knee_forward=0.8 * dip[k])
        free = 5 if stance == "right" else 4
        pose[free, 2] += free_foot_mm
        pose[free - 2, 2] += free_foot_mm / 2
        frames.append(pose)
    joints = place(np.array(frames), facing_deg, origin)
    events = {
        "start": int(round(t_before * rate_hz)),
        "deepest": int(round((t_before + duration_s / 2) * rate_hz)),
        "end": int(round((t_before + duration_s) * rate_hz)),
    }
    return joints, events


def degrade(joints, noise_mm=2.0, gaps=((40, 6, 4), (90, 5, 2)), seed=0):
    """Add white noise and NaN gaps (start, length, joint)."""
    rng = np.random.default_rng(seed)
    out = joints + rng.normal(0.0, noise_mm, joints.shape)
    for start, length, joint in gaps:
        out[start:start + length, joint] = np.nan
    return out


def placed_trial(placement: str, task: str = "DJ", seed: int = 123457):
    """A noise-free synthetic trial (joints lab mm at video rate, 1920x1080 camera, fps) filmed from
    ``placement`` ("frontal", "oblique", "rear": :func:`kneeview.synth.cameras.video_camera`)."""
    from kneeview.synth.cameras import video_camera
    from kneeview.synth.dataset import athlete_for, make_motion, plan_dataset

    spec = next(s for s in plan_dataset(8, seed, size=(1920, 1080)) if s.task == task)
    rng = np.random.default_rng([seed, spec.index, 1])
    motion, _ = make_motion(spec, athlete_for(spec.seed, spec.athlete_index, spec.year, spec.athlete_id), rng, 50.0,
                            100.0)
    pts = np.concatenate(list(motion.points.values()))
    cam = video_camera(rng, (1920, 1080), pts, placement, facing=motion.facing, right=motion.lateral_axis)
    return motion.joints_lab_mm[::2], cam, 50.0


def hip_axis_error_deg(pose_m, joints_lab_mm, cam) -> np.ndarray:
    """(T,) angle between a camera-frame pose's right->left hip vector and the truth's."""
    gt = cam.world_to_camera(joints_lab_mm)
    a, b = pose_m[:, 1] - pose_m[:, 0], gt[:, 1] - gt[:, 0]
    cos = np.sum(a * b, -1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
