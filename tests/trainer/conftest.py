"""Tiny session folders in the real formats (xcp, c3d, MJPG avi, trial json) with a drawn person."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from sessions import one_torch_thread

TINY_MODEL = dict(pretrained_backbone=False, fpn_channels=32, head_channels=32, head_layers=2, box_representation=64,
                  min_size=128, max_size=192, heatmap_size=16, lifter_hidden=64, anchor_sizes=[16, 32, 64, 128],
                  rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=10)

SIZE = (256, 192)


def make_camera(device_id="2107395", position=(400.0, -4200.0, 1000.0), focal=300.0):
    from kneeview.camera import Camera, ViconRadial, look_at_rotation

    W, H = SIZE
    pp = (W / 2 + 0.3, H / 2 - 0.4)
    K = np.array([[focal, 0.0, pp[0]], [0.0, focal, pp[1]], [0.0, 0.0, 1.0]])
    return Camera(device_id=device_id, name=f"Vue {device_id}", K=K, R=look_at_rotation(position, (0.0, 0.0, 850.0)),
                  position_mm=np.asarray(position, float), image_size=SIZE,
                  distortion=ViconRadial(pp, (pp[0] + 1.0, pp[1] - 1.0), (-2e-7, 0.0, 0.0)), kind="video",
                  camera_type="Vue")


def moving_joints(T, rng):
    """(T, 6, 3) lab mm: a person at a random spot squatting a little; plus a head point."""
    base = np.array([[-90.0, 0, 950], [90, 0, 950], [-95, -20, 500], [95, -20, 500], [-100, 0, 90], [100, 0, 90]])
    offset = np.array([rng.uniform(-300, 300), rng.uniform(-300, 300), 0.0])
    t = np.arange(T)[:, None, None]
    squat = np.array([0.0, 0.0, -60.0]) * (0.5 - 0.5 * np.cos(t / T * 2 * np.pi))
    joints = base[None] + offset + squat * np.array([1, 1, 1, 1, 0, 0])[None, :, None]
    joints[:, 2:4, 0] += np.array([-1.0, 1.0]) * 30 * np.sin(t[:, 0] / 5.0)  # knees move in and out
    head = joints[:, :2].mean(axis=1) + np.array([0.0, 0.0, 700.0])
    return joints, head


def draw(frame, cam, joints, head):
    pts = cam.project(np.concatenate([joints, head[None]], axis=0))
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    w = x1 - x0
    cv2.rectangle(frame, (int(x0 - 0.2 * w), int(y0)), (int(x1 + 0.2 * w), int(y1)), (110, 110, 110), -1)
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)]
    for (x, y), c in zip(pts[:6], colours):
        cv2.circle(frame, (int(round(x)), int(round(y))), 3, c, -1)
    return frame


def write_session(root: Path, name: str, athlete: str, year: int, n_frames=24, fps=50.0, seed=0, two_views=False):
    from kneeview.camera import write_xcp
    from kneeview.io.c3d import write_ground_truth

    rng = np.random.default_rng(seed)
    folder = root / name
    folder.mkdir(parents=True)
    cams = [make_camera()] + ([make_camera("2107396", position=(-2500.0, -3500.0, 1100.0))] if two_views else [])
    write_xcp(cams, folder / f"{name}.xcp")
    joints, head = moving_joints(n_frames, rng)
    trial = "DJ01"
    write_ground_truth(folder / f"{trial}.c3d", joints, fps, extra_points={"HEAD": head}, subject="Athlete")
    for cam in cams:
        writer = cv2.VideoWriter(str(folder / f"{trial}.{cam.device_id}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
        for i in range(n_frames):
            frame = np.full((SIZE[1], SIZE[0], 3), 45, np.uint8)
            writer.write(draw(frame, cam, joints[i], head[i]))
        writer.release()
    (folder / f"{trial}.json").write_text(json.dumps({"athlete_id": athlete, "year": year, "task": "DJ"}))
    return folder


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Eight trials of six athletes; athlete A1 and A2 recorded in two years."""
    root = tmp_path_factory.mktemp("sessions")
    plan = [("S01", "A1", 1), ("S02", "A1", 2), ("S03", "A2", 1), ("S04", "A2", 2), ("S05", "A3", 1),
            ("S06", "A4", 1), ("S07", "A5", 2), ("S08", "A6", 2)]
    for k, (name, athlete, year) in enumerate(plan):
        write_session(root, name, athlete, year, seed=k, two_views=(k == 0))
    return root


@pytest.fixture
def tiny_settings():
    """--model overrides for a tiny, random-init network."""
    return dict(TINY_MODEL)


_one_torch_thread = pytest.fixture(autouse=True, name="_one_torch_thread")(one_torch_thread)
