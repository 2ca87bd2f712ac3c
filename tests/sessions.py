"""Test data written in the real formats: cameras, joint trajectories, videos (shared by all test folders)."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.is_dir():  # CI clones main with shared/ beside it; a local checkout may differ
    SHARED = Path(os.environ.get("KNEEVIEW_SHARED", "/work/shared"))
C3D_DIR = SHARED / "data" / "c3d"
TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(name: str):
    """A script of tools/ (not a package) loaded as a module: ``load_tool("blazepose_detect")``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


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


def one_torch_thread():
    """Fixture body (wrap it with ``pytest.fixture(autouse=True)`` in a conftest): tiny
    models gain nothing from threads, and on a busy 2-core machine two threads wait on each
    other (a loaded box made a 4 s training test take 80 s)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


QCA = SHARED / "data" / "qualisys" / "Calib.qca.txt"


def make_qualisys_session(root: Path, n_frames: int = 2, size=(1088, 1920), fps: float = 60.0) -> Path:
    """A Pose2Sim-layout session: ``calibration/Calib.qca.txt`` (the real Qualisys file) and
    ``videos/cam01..04.avi`` of noise, one per camera of that calibration."""
    import shutil

    (root / "calibration").mkdir(parents=True)
    (root / "videos").mkdir()
    shutil.copy(QCA, root / "calibration" / "Calib.qca.txt")
    for i in range(1, 5):
        write_video(root / "videos" / f"cam0{i}.avi", noise_frames(n_frames, size, seed=i), fps=fps)
    return root


class ScriptedEstimator:
    """A stand-in pose estimator (the :mod:`kneeview.pose.interface` protocol) that answers the
    k-th frame it is given with row k of the arrays: ``keypoints_px`` (N, 6, 2),
    ``joints_cam_m`` (N, 6, 3); frames of several videos simply continue the count."""

    default_batch_size = 4

    def __init__(self, keypoints_px, joints_cam_m=None, confidence=0.9, name="scripted", sha256="5" * 64, card=None):
        from kneeview.pose.card import ModelIdentity

        self.keypoints_px = np.asarray(keypoints_px, float)
        n = len(self.keypoints_px)
        self.joints_cam_m = np.zeros((n, 6, 3)) if joints_cam_m is None else np.asarray(joints_cam_m, float)
        self.confidence = confidence
        self.identity = ModelIdentity(name=name, sha256=sha256, device="cpu", card=card or {})
        self.seen = 0

    def predict(self, frames):
        out = []
        for _ in frames:
            k = self.seen
            self.seen += 1
            out.append({"score": 0.9, "keypoints_px": self.keypoints_px[k], "joints_cam_m": self.joints_cam_m[k],
                        "confidence": np.full(6, self.confidence)})
        return out


@contextlib.contextmanager
def mounted(target: Path, *options: str):
    """A tmpfs mounted on ``target`` (root only); skips the test where mounting is not permitted."""
    target.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command: cannot make a small or read-only filesystem")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), f"kneeview-{uuid.uuid4().hex[:8]}", str(target)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here (needs root): {proc.stderr.strip()}")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
