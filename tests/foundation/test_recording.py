"""Session discovery, camera matching and `kneeview info`."""
import json
import subprocess
import sys

import numpy as np
import pytest

from sessions import make_camera, noise_frames, write_video
from kneeview.cli import main
from kneeview.errors import CalibrationError, RecordingError
from kneeview.io.recording import find_recordings, open_recording, split_video_name


def test_vicon_video_names():
    from pathlib import Path

    assert split_video_name(Path("DJ 01.2107395.avi")) == ("DJ 01", "2107395")
    assert split_video_name(Path("clip.mp4")) == ("clip", None)
    assert split_video_name(Path("a.b.mp4")) == ("a.b", None)


def test_session_folder_is_discovered(make_session):
    folder = make_session(n_frames=20, fps=50.0, c3d_rate=100.0)
    rec = open_recording(folder)
    assert rec.trial == "DJ01" and rec.calibration_path.name == "S01.xcp"
    assert rec.view.camera.device_id == "2107395" and rec.view.camera_match == "device id in the video file name"
    assert rec.c3d_path.name == "DJ01.c3d" and rec.problems == []
    gt = rec.ground_truth()
    assert gt.rate_hz == 100.0 and gt.n_frames == 40
    frames = rec.ground_truth_frames()
    assert frames.shape == (20, 6, 3)
    # video frame j is at j / 50 s = C3D sample 2 j
    np.testing.assert_allclose(frames, gt.joints_lab_mm[::2], atol=1e-9)
    # the same recording opened from its video
    again = open_recording(folder / "DJ01.2107395.avi")
    assert again.trial == rec.trial and again.view.video_path == rec.view.video_path


def test_camera_matched_by_sensor_size_when_the_name_has_no_id(make_session):
    other = make_camera(device_id="777", size=(640, 480))
    folder = make_session(video_name="DJ01.avi", extra_cameras=[other])
    rec = open_recording(folder)
    assert rec.view.camera.device_id == "2107395"
    assert rec.view.camera_match == "the only video camera with the video's size"


def test_ambiguous_camera_is_reported_not_guessed(make_session):
    twin = make_camera(device_id="888", size=(320, 240))
    rec = open_recording(make_session(video_name="DJ01.avi", extra_cameras=[twin]))
    assert rec.view.camera is None
    assert any("cannot tell which camera" in p for p in rec.problems)
    forced = open_recording(rec.view.video_path, device_id="888")
    assert forced.view.camera.device_id == "888" and forced.view.camera_match == "device id given"


def test_calibration_that_does_not_match_the_video(make_session, tmp_path):
    folder = make_session()
    with pytest.raises(RecordingError, match="does not match this video") as err:
        open_recording(folder, device_id="5001")  # the 2048x1088 optical camera
    assert err.value.field == "SENSOR_SIZE"
    with pytest.raises(CalibrationError, match="no camera with device id '999'"):
        open_recording(folder, device_id="999")


def test_missing_parts_are_listed(make_session):
    folder = make_session(with_c3d=False)
    (folder / "S01.xcp").unlink()
    rec = open_recording(folder)
    assert rec.calibration is None and rec.c3d_path is None and rec.view.camera is None
    assert any("no camera calibration" in p for p in rec.problems)
    assert any("no ground truth" in p for p in rec.problems)


def test_find_recordings_lists_one_video_per_trial(make_session, tmp_path):
    a = make_session(name="S01")
    b = make_session(name="S02", trial="SLS01")
    write_video(b / "SLS01.5001.avi", noise_frames(3, (64, 48)))  # a second view of the same trial
    found = find_recordings(tmp_path)
    assert [p.name for p in found] == ["DJ01.2107395.avi", "SLS01.2107395.avi"]


def test_info_text_and_json(make_session, capsys):
    folder = make_session()
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "320x240 px, 50.000 fps, 20 frames" in out
    assert "device 2107395" in out and "Vicon radial" in out and "RFEP=Athlete:RFEP" in out
    assert main(["info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    view = info["views"][0]
    assert (view["width"], view["height"], view["frame_count"]) == (320, 240, 20)
    assert view["camera"]["device_id"] == "2107395"
    assert view["camera"]["image_error_px"] == pytest.approx(0.21)
    assert info["ground_truth"]["rate_hz"] == 100.0 and info["ground_truth"]["missing_joints"] == []


def test_info_on_bad_input_prints_one_line_and_exits_2(make_session):
    folder = make_session()
    (folder / "S01.xcp").write_text("<Cameras><Camera DEVICEID='1'")
    proc = subprocess.run([sys.executable, "-m", "kneeview", "info", str(folder)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "S01.xcp" in proc.stderr and "malformed XML" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "kneeview", "info", str(folder / "nothing")], capture_output=True, text=True)
    assert proc.returncode == 2 and "no such file or folder" in proc.stderr
