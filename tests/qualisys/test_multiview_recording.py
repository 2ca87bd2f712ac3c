"""A Qualisys/Pose2Sim session folder opens as one recording with several views."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sessions import SHARED, noise_frames, write_video

from kneeview.camera import read_calibration
from kneeview.cli import main
from kneeview.errors import RecordingError
from kneeview.io.recording import camera_named_by, find_recordings, open_recording, rescale_camera

QCA = SHARED / "data" / "qualisys" / "Calib.qca.txt"


@pytest.fixture
def pose2sim_session(tmp_path):
    """Pose2Sim layout: calibration/Calib.qca.txt, videos/cam01..04.mp4 (cam01 1080 px wide, as in the demo)."""
    root = tmp_path / "Demo"
    (root / "calibration").mkdir(parents=True)
    (root / "videos").mkdir()
    shutil.copy(QCA, root / "calibration" / "Calib.qca.txt")
    (root / "Config.toml").write_text("[project]\nmulti_person = false\n")  # Pose2Sim settings, not a calibration
    for i in range(1, 5):
        size = (1080, 1920) if i == 1 else (1088, 1920)
        write_video(root / "videos" / f"cam0{i}.avi", noise_frames(2, size, seed=i), fps=60.0)
    return root


def test_session_opens_as_one_recording_with_four_views(pose2sim_session):
    rec = open_recording(pose2sim_session)
    assert rec.trial == "Demo" and rec.root == pose2sim_session
    assert [v.device_id for v in rec.views] == ["cam01", "cam02", "cam03", "cam04"]
    assert [v.video_path.name for v in rec.views] == ["cam01.avi", "cam02.avi", "cam03.avi", "cam04.avi"]
    assert rec.calibration.source_format == "qca"
    cam1 = rec.views[0].camera
    assert cam1.image_size == (1080, 1920) and cam1.extra["calibrated_size"] == (1088, 1920)
    assert "rescaled from 1088x1920" in rec.views[0].camera_match
    assert any("cam01.avi is 1080x1920" in p and "resized" in p for p in rec.problems)
    assert rec.views[2].camera is rec.calibration.camera("cam03")
    # opening one of the videos opens the same session, that view first
    again = open_recording(pose2sim_session / "videos" / "cam03.avi")
    assert again.trial == "Demo" and [v.device_id for v in again.views] == ["cam03", "cam01", "cam02", "cam04"]
    assert find_recordings(pose2sim_session.parent) == [pose2sim_session / "videos" / "cam01.avi"]


def test_pseudo_label_c3d_beside_the_videos_is_found(pose2sim_session):
    from kneeview.io.c3d import write_ground_truth

    write_ground_truth(pose2sim_session / "videos" / "Demo.c3d", np.zeros((4, 6, 3)) + 100.0, 60.0)
    rec = open_recording(pose2sim_session)
    assert rec.c3d_path == pose2sim_session / "videos" / "Demo.c3d"
    assert rec.ground_truth().n_frames == 4


def test_info_lists_all_views(pose2sim_session, capsys):
    assert main(["info", str(pose2sim_session)]) == 0
    out = capsys.readouterr().out
    assert "Views      4 synchronised videos" in out
    for i in range(1, 5):
        assert f"device cam0{i} (cam0{i}, Qualisys)" in out
    assert main(["info", str(pose2sim_session), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_views"] == 4 and info["calibration"]["format"] == "qca"


def test_a_video_far_from_the_calibrated_size_is_refused(pose2sim_session):
    write_video(pose2sim_session / "videos" / "cam02.avi", noise_frames(2, (1000, 1900)), fps=60.0)
    with pytest.raises(RecordingError, match="does not match this video"):
        open_recording(pose2sim_session)


def test_unmatched_video_names_are_several_trials(pose2sim_session):
    (pose2sim_session / "videos" / "cam04.avi").rename(pose2sim_session / "videos" / "side.avi")
    with pytest.raises(RecordingError, match="several trials"):
        open_recording(pose2sim_session)


def test_naming_rule(tmp_path):
    from pathlib import Path

    calib = read_calibration(QCA)
    assert camera_named_by(calib, Path("cam02.mp4"))[0].device_id == "cam02"
    assert camera_named_by(calib, Path("trial3_cam04.mp4"))[0].device_id == "cam04"
    # number rule: the N-th camera of the file when the serials are not in the names
    assert camera_named_by(calib, Path("Camera_3.mp4"))[0].device_id == "cam03"
    assert camera_named_by(calib, Path("cam5.mp4")) is None
    assert camera_named_by(calib, Path("side.mp4")) is None


def test_rescaled_camera_is_exact():
    cam = read_calibration(QCA).camera("cam01")
    small = rescale_camera(cam, (1080, 1920))
    X = np.array([[0.0, 0.0, 0.0], [300.0, -200.0, 1200.0], [-900.0, 700.0, 100.0]])
    big = cam.project(X)
    sx = 1080 / 1088
    np.testing.assert_allclose(small.project(X)[:, 0], (big[:, 0] + 0.5) * sx - 0.5, atol=1e-9)
    np.testing.assert_allclose(small.project(X)[:, 1], big[:, 1], atol=1e-9)
    raw = small.project(X)
    np.testing.assert_allclose(small.distort_points(small.undistort_points(raw)), raw, atol=1e-9)
