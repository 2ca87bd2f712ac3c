"""Shared fixtures. Plain helpers live in sessions.py (import them with `from sessions import ...`)."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from sessions import make_camera, noise_frames, standing_joints, write_video  # noqa: E402


@pytest.fixture
def make_session(tmp_path):
    """Factory: a Vicon-style session folder with .xcp, .c3d and a reference video."""
    from kneeview.camera import write_xcp
    from kneeview.io.c3d import write_ground_truth

    def factory(name="S01", trial="DJ01", n_frames=20, fps=50.0, c3d_rate=100.0, size=(320, 240),
                device_id="2107395", with_c3d=True, extra_cameras=(), video_name=None, subject="Athlete",
                camera_position=None):
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        cam = make_camera(device_id=device_id, size=size, **({} if camera_position is None else
                                                              {"position": camera_position}))
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
