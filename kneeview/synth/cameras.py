"""Camera placements a lab uses: the reference video camera(s) and the optical cameras.

Video cameras stand in front of the athlete (frontal) or to one side (oblique), at
different heights and distances, with a focal length that keeps the whole movement in
frame and a Vicon radial distortion from mild to strong. Sensor size = video size.
"""
from __future__ import annotations

import numpy as np

from ..camera import Camera, ViconRadial, look_at_rotation
from .motion import FORWARD, RIGHT, UP

VIDEO_TYPES = ("Vue", "Bonita Video 720c", "Vue")
BODY_MARGIN_MM = 180.0  # limbs extend this far beyond the points that drive them


def _device_id(rng: np.random.Generator) -> str:
    return str(int(rng.integers(2_100_000, 2_199_999)))


def vicon_radial(rng: np.random.Generator, size: tuple[int, int], principal_point, strength: float) -> ViconRadial:
    """Radial distortion whose correction moves the sensor corner by ``strength`` (fraction)."""
    w, h = size
    r_corner = np.hypot(w / 2, h / 2)
    w0 = strength / r_corner**2
    w1 = rng.uniform(-0.15, 0.25) * abs(strength) / r_corner**4
    centre = (principal_point[0] + rng.uniform(-4, 4), principal_point[1] + rng.uniform(-4, 4))
    dist = ViconRadial(principal_point=tuple(principal_point), centre=centre, w=(float(w0), float(w1), 0.0))
    dist.check_invertible(size)
    return dist


#: where ``video_camera`` can stand; the first two are what a clinic films valgus from
PLACEMENTS = ("frontal", "oblique", "rear", "high")


def video_camera(rng: np.random.Generator, size: tuple[int, int], points_lab_mm: np.ndarray,
                 placement: str = "frontal", strength: float | None = None, device_id: str | None = None,
                 fill: float | None = None, name: str = "", distance_mm: float | None = None,
                 height_mm: float | None = None, facing=FORWARD, right=RIGHT) -> Camera:
    """A video camera that sees every point in ``points_lab_mm`` (N, 3).

    ``placement``: "frontal" (in front of the athlete, within 10 degrees), "oblique"
    (20 to 55 degrees to either side), "rear" (behind, 125 to 180 degrees from the front) or
    "high" (any direction, 2.2 to 3.2 m up, looking down: a camera on a wall or the
    ceiling rig, as in motion-capture labs). ``fill``: fraction of the frame the movement spans.
    """
    w, h = size
    pts = np.asarray(points_lab_mm, float).reshape(-1, 3)
    lo, hi = pts.min(0), pts.max(0)
    centre = 0.5 * (lo + hi)
    if placement == "frontal":
        az = np.radians(rng.uniform(-10, 10))
    elif placement == "oblique":
        az = np.radians(rng.uniform(20, 55)) * (1 if rng.random() < 0.5 else -1)
    elif placement == "rear":
        az = np.radians(rng.uniform(125, 180)) * (1 if rng.random() < 0.5 else -1)
    elif placement == "high":
        az = np.radians(rng.uniform(-180, 180))
        if height_mm is None:
            height_mm = rng.uniform(2200, 3200)
    else:
        raise ValueError(f"unknown camera placement {placement!r} (known: {', '.join(PLACEMENTS)})")
    dist_mm = distance_mm if distance_mm is not None else rng.uniform(3500, 6500)
    height = height_mm if height_mm is not None else rng.uniform(700, 1700)
    facing = np.asarray(facing, float)
    right = np.asarray(right, float)
    direction = np.cos(az) * facing + np.sin(az) * right
    position = np.array([centre[0], centre[1], 0.0]) + dist_mm * direction + [0, 0, height]
    target = centre + [0.0, 0.0, rng.uniform(-80, 80)]
    R = look_at_rotation(position, target, UP)
    roll = np.radians(rng.uniform(-2.5, 2.5))  # a tripod is never quite level
    R = np.array([[np.cos(roll), -np.sin(roll), 0.0], [np.sin(roll), np.cos(roll), 0.0], [0.0, 0.0, 1.0]]) @ R
    # Focal length: the movement (plus body margin) spans ``fill`` of the tighter image axis.
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    cam_pts = (np.concatenate([pts, corners]) - position) @ R.T
    z = np.maximum(cam_pts[:, 2], 1.0)
    half_x = np.max((np.abs(cam_pts[:, 0]) + BODY_MARGIN_MM) / z)
    half_y = np.max((np.abs(cam_pts[:, 1]) + BODY_MARGIN_MM) / z)
    fill = fill if fill is not None else rng.uniform(0.8, 0.97)
    f = fill * min((w / 2) / half_x, (h / 2) / half_y)
    pp = (w / 2 - 0.5 + rng.uniform(-0.02, 0.02) * w, h / 2 - 0.5 + rng.uniform(-0.02, 0.02) * h)
    K = np.array([[f, 0.0, pp[0]], [0.0, f, pp[1]], [0.0, 0.0, 1.0]])
    if strength is None:
        strength = float(rng.choice([rng.uniform(-0.02, 0.03), rng.uniform(0.03, 0.1), rng.uniform(0.1, 0.2)]))
    dist = vicon_radial(rng, size, pp, strength)
    kind = VIDEO_TYPES[int(rng.integers(len(VIDEO_TYPES)))]
    device_id = device_id or _device_id(rng)
    return Camera(
        device_id=device_id, name=name or f"{kind} #{device_id[-2:]}", K=K, R=R, position_mm=position,
        image_size=(int(w), int(h)), distortion=dist, kind="video", camera_type=kind,
        image_error_px=float(rng.uniform(0.15, 0.4)), world_error_mm=float(rng.uniform(0.2, 0.6)),
    )


def optical_cameras(rng: np.random.Generator, centre_lab_mm, count: int | None = None) -> list[Camera]:
    """The motion-capture cameras of the system, mounted high around the volume."""
    count = count if count is not None else int(rng.integers(6, 11))
    cams = []
    radius = rng.uniform(3500, 5000)
    start = rng.uniform(0, 2 * np.pi)
    for i in range(count):
        ang = start + 2 * np.pi * i / count + rng.uniform(-0.15, 0.15)
        pos = np.asarray(centre_lab_mm, float) + [radius * np.cos(ang), radius * np.sin(ang), 0.0]
        pos[2] = rng.uniform(2400, 3000)
        target = np.asarray(centre_lab_mm, float) + [0, 0, 700]
        R = look_at_rotation(pos, target)
        size = (2048, 1088)
        pp = (1024 + rng.uniform(-8, 8), 544 + rng.uniform(-8, 8))
        K = np.array([[1700.0 + rng.uniform(-60, 60), 0, pp[0]], [0, 0, 0], [0, 0, 1.0]])
        K[1, 1] = K[0, 0]
        K[1, 2] = pp[1]
        dist = vicon_radial(rng, size, pp, rng.uniform(0.01, 0.05))
        device_id = _device_id(rng)
        cams.append(Camera(device_id=device_id, name=f"Vero #{i + 1}", K=K, R=R, position_mm=pos,
                           image_size=size, distortion=dist, kind="optical", camera_type="Vero v2.2",
                           image_error_px=float(rng.uniform(0.08, 0.2)), world_error_mm=float(rng.uniform(0.1, 0.3))))
    return cams
