"""The real Qualisys recording (Pose2Sim's Demo_SinglePerson), fetched from PyPI into a cache.

Skipped only when PyPI cannot be reached; any other failure of the fetch fails the test.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sessions import TOOLS

from kneeview.camera.triangulate import triangulate
from kneeview.cli import main
from kneeview.io.recording import open_recording
from trainer import pose2sim_demo as fetch


@pytest.fixture(scope="module")
def demo():
    try:
        return fetch.fetch_demo()
    except fetch.DemoUnavailable as exc:
        pytest.skip(f"PyPI unreachable, cannot fetch pose2sim=={fetch.VERSION}: {exc}")


def test_demo_opens_as_a_four_view_recording(demo, capsys):
    rec = open_recording(demo)
    assert rec.trial == "Demo_SinglePerson" and rec.calibration.source_format == "qca"
    assert [v.device_id for v in rec.views] == ["cam01", "cam02", "cam03", "cam04"]
    for v in rec.views:
        assert v.video_info.frame_count == 100 and v.video_info.fps == pytest.approx(60.0)
        assert tuple(v.camera.image_size) == tuple(v.video_info.size)
    assert [v.camera.image_size for v in rec.views] == [(1080, 1920), (1080, 1920), (1088, 1920), (1088, 1920)]
    assert main(["info", str(demo)]) == 0
    assert "Views      4 synchronised videos" in capsys.readouterr().out


def test_lab_volume_projects_into_every_view(demo):
    rec = open_recording(demo)
    # the lab origin (a corner of the force-plate treadmill), the floor around it, and a hip-height point above
    pts = np.array([[0, 0, 0], [300, 300, 0], [-300, 300, 0], [300, -300, 0], [-300, -300, 0], [0, 0, 1000]], float)
    for v in rec.views:
        cam = v.camera
        assert np.all(cam.world_to_camera(pts)[:, 2] > 1500.0), v.device_id
        uv = cam.project(pts)
        W, H = cam.image_size
        assert np.all((uv[:, 0] > 0) & (uv[:, 0] < W) & (uv[:, 1] > 0) & (uv[:, 1] < H)), (v.device_id, uv)
        assert uv[5, 1] < uv[0, 1] - 200  # up in the lab is up in the portrait image


def test_two_view_triangulation_reprojects_into_the_other_views(demo):
    rec = open_recording(demo)
    cams = [v.camera for v in rec.views]
    X = np.array([[0.0, 0.0, 950.0], [100.0, 200.0, 80.0], [-150.0, 300.0, 500.0], [200.0, -200.0, 500.0]])
    obs = np.stack([c.project(X) for c in cams])
    for pair in ((0, 1), (2, 3), (0, 3)):
        tri = triangulate([cams[i] for i in pair], obs[list(pair)])
        for v, cam in enumerate(cams):
            uv = cam.project(tri.points_mm)
            W, H = cam.image_size
            assert np.all((uv[:, 0] > 0) & (uv[:, 0] < W) & (uv[:, 1] > 0) & (uv[:, 1] < H))
            np.testing.assert_allclose(uv, obs[v], atol=1e-4)


def test_multiperson_demo_is_the_same_lab_and_cameras(demo):
    multi = fetch.fetch_demo(demo="MultiPerson")  # the wheel is cached by the single-person fetch
    assert multi.name == "Demo_MultiPerson" and multi.parent == demo.parent
    rec = open_recording(multi)
    assert [v.device_id for v in rec.views] == ["cam01", "cam02", "cam03", "cam04"]
    assert (multi / "calibration" / "Calib.qca.txt").read_bytes() == (demo / "calibration" / "Calib.qca.txt").read_bytes()
    with pytest.raises(ValueError, match="no Pose2Sim demo"):
        fetch.fetch_demo(demo="Batch")


def test_the_tool_prints_the_cached_folder(demo):
    out = subprocess.run([sys.executable, str(TOOLS / "fetch_pose2sim_demo.py")], capture_output=True, text=True,
                         timeout=120, check=True)
    assert Path(out.stdout.strip()) == demo
