"""OpenCV-style calibrations (Pose2Sim / Anipose TOML, JSON)."""
import json

import cv2
import numpy as np
import pytest

from kneeview.camera import read_calibration, read_opencv_calibration
from kneeview.errors import CalibrationError

TOML = """
[cam_01]
name = "cam_01"
size = [ 1088.0, 1920.0]
matrix = [ [ 1677.9, 0.0, 543.2], [ 0.0, 1679.3, 961.8], [ 0.0, 0.0, 1.0]]
distortions = [ -0.0445, 0.0612, 0.0011, -0.0004]
rotation = [ 1.6535, 0.9183, -0.6919]
translation = [ 0.2418, 0.7653, 4.1218]
fisheye = false

[cam_02]
name = "cam_02"
size = [ 1088.0, 1920.0]
matrix = [ [ 1690.0, 0.0, 540.0], [ 0.0, 1690.0, 960.0], [ 0.0, 0.0, 1.0]]
distortions = [ -0.05, 0.07, 0.0, 0.0]
rotation = [ 1.2, -1.1, 1.0]
translation = [ -0.3, 0.8, 4.4]
fisheye = false

[metadata]
adjusted = false
error = 0.0
"""


def test_pose2sim_toml_projects_like_opencv(tmp_path):
    p = tmp_path / "Calib_board.toml"
    p.write_text(TOML)
    cal = read_calibration(p)
    assert [c.device_id for c in cal.cameras] == ["cam_01", "cam_02"]
    cam = cal.camera("cam_01")
    assert cam.image_size == (1088, 1920)
    rvec = np.array([1.6535, 0.9183, -0.6919])
    tvec_m = np.array([0.2418, 0.7653, 4.1218])
    R = cv2.Rodrigues(rvec)[0]
    # points in front of the camera, in mm (KneeView) and m (the file's unit)
    X_cam_m = np.random.default_rng(0).uniform([-0.6, -1.0, 3.0], [0.6, 1.0, 5.0], (30, 3))
    X_world_m = (X_cam_m - tvec_m) @ R  # R^T (X_cam - t)
    ref, _ = cv2.projectPoints(X_world_m, rvec, tvec_m, cam.K, np.array([-0.0445, 0.0612, 0.0011, -0.0004]))
    np.testing.assert_allclose(cam.project(X_world_m * 1000.0), ref.reshape(-1, 2), atol=1e-6)
    np.testing.assert_allclose(cam.position_mm, -R.T @ tvec_m * 1000.0)
    # undistort inverts the projection's distortion
    np.testing.assert_allclose(cam.undistort_points(ref.reshape(-1, 2)), cam.project_corrected(X_world_m * 1000), atol=1e-6)


def test_json_with_mm_translation(tmp_path):
    p = tmp_path / "calibration.json"
    p.write_text(json.dumps({"cameras": [{"name": "front", "size": [640, 480], "matrix": [[500, 0, 320], [0, 500, 240], [0, 0, 1]],
                                          "distortions": [0, 0, 0, 0], "rotation": [[1, 0, 0], [0, 0, -1], [0, 1, 0]],
                                          "translation": [0, 1000, 4000], "translation_unit": "mm"}]}))
    cam = read_calibration(p).camera("front")
    np.testing.assert_allclose(cam.position_mm, [0, -4000, 1000])
    np.testing.assert_allclose(cam.project([0.0, 0.0, 1000.0]), [320, 240])


@pytest.mark.parametrize(
    "old,new,message",
    [
        ("matrix = [ [ 1677.9", "matrix = [ [ -1677.9", "focal length must be positive"),
        ("rotation = [ 1.6535, 0.9183, -0.6919]", "rotation = [ 1.6535, 0.9183]", "shape"),
        ('size = [ 1088.0, 1920.0]\nmatrix = [ [ 1677.9', 'size = [ "a", 1920.0]\nmatrix = [ [ 1677.9', "not numeric"),
        ("translation = [ 0.2418, 0.7653, 4.1218]\n", "", "has no 'translation'"),
        ("[cam_01]", "[cam_01", "malformed TOML"),
        ("translation = [ 0.2418, 0.7653, 4.1218]", "translation = [ 1e300, 0.7653, 4.1218]", "not physical"),
        ("matrix = [ [ 1677.9", "matrix = [ [ 1e12", "not physical"),
    ],
)
def test_bad_toml(tmp_path, old, new, message):
    p = tmp_path / "bad.toml"
    p.write_text(TOML.replace(old, new, 1))
    with pytest.raises(CalibrationError, match=message) as err:
        read_opencv_calibration(p)
    assert err.value.path == p
