"""Shared test fixtures: small session folders written in the real formats."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.is_dir():  # CI clones main with shared/ beside it; a local checkout may differ
    SHARED = Path(os.environ.get("KNEEVIEW_SHARED", "/work/shared"))
C3D_DIR = SHARED / "data" / "c3d"


def make_camera(device_id="2107395", size=(320, 240), position=(300.0, -4000.0, 1100.0), target=(0.0, 0.0, 900.0),
                focal=380.0, w=(-3.0e-7, 0.0, 0.0), centre_offset=(1.5, -2.0), kind="video"):
    from kneeview.camera import Camera, ViconRadial, look_at_rotation

    W, H = size
    pp = (W / 2 + 0.3, H / 2 - 0.4)
    K = np.array([[focal, 0.0, pp[0]], [0.0, focal, pp[1]], [0.0, 0.0, 1.0]])
    dist = ViconRadial(principal_point=pp, centre=(pp[0] + centre_offset[0], pp[1] + centre_offset[1]), w=tuple(w))
    return Camera(
        device_id=str(device_id), name=f"Vue {device_id}", K=K, R=look_at_rotation(position, target),
        position_mm=np.asarray(position, float), image_size=(W, H), distortion=dist, kind=kind,
        camera_type="Vue" if kind == "video" else "Vero v2.2", image_error_px=0.21, world_error_mm=0.35,
        extra={"USERID": "7"},
    )


def standing_joints(T=20, sway_mm=0.0):
    """Joint centres (T, 6, 3) of a person standing at the origin, facing -Y (towards the camera)."""
    base = np.array([
        [-90.0, 0.0, 950.0],   # RFEP: the athlete's right is -X when facing -Y
        [90.0, 0.0, 950.0],    # LFEP
        [-95.0, -20.0, 500.0],  # RFEO
        [95.0, -20.0, 500.0],  # LFEO
        [-100.0, 0.0, 90.0],   # RTIO
        [100.0, 0.0, 90.0],    # LTIO
    ])
    t = np.arange(T)[:, None, None]
    return base[None] + np.array([sway_mm, 0.0, 0.0]) * np.sin(t / 3.0)


def write_video(path, frames, fps=50.0, fourcc="MJPG"):
    frames = list(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"cannot write {path} with {fourcc}"
    for f in frames:
        writer.write(f)
    writer.release()
    return Path(path)


def noise_frames(n, size=(320, 240), seed=0):
    """Frames whose content identifies them: smooth random pattern + frame number drawn in."""
    rng = np.random.default_rng(seed)
    W, H = size
    out = []
    for i in range(n):
        small = rng.integers(0, 255, (H // 8, W // 8, 3), dtype=np.uint8)
        f = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
        cv2.putText(f, str(i), (10, H // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        out.append(f)
    return out


@pytest.fixture
def make_session(tmp_path):
    """Factory: a Vicon-style session folder with .xcp, .c3d and a reference video."""
    from kneeview.camera import write_xcp
    from kneeview.io.c3d import write_ground_truth

    def factory(name="S01", trial="DJ01", n_frames=20, fps=50.0, c3d_rate=100.0, size=(320, 240),
                device_id="2107395", with_c3d=True, extra_cameras=(), video_name=None, subject="Athlete"):
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        cam = make_camera(device_id=device_id, size=size)
        optical = make_camera(device_id="5001", size=(2048, 1088), position=(3000.0, 3000.0, 2500.0), kind="optical",
                              focal=1800.0, w=(0.0, 0.0, 0.0))
        write_xcp([optical, cam, *extra_cameras], folder / f"{name}.xcp")
        if with_c3d:
            n_c3d = int(round(n_frames / fps * c3d_rate))
            write_ground_truth(folder / f"{trial}.c3d", standing_joints(n_c3d, sway_mm=30.0), c3d_rate, subject=subject)
        vname = video_name or f"{trial}.{device_id}.avi"
        write_video(folder / vname, noise_frames(n_frames, size), fps=fps)
        return folder

    return factory
