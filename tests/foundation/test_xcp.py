"""Vicon .xcp reading, projection conventions and bad input."""
import math
import time

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kneeview.camera import read_xcp, write_xcp
from kneeview.camera.model import quaternion_to_matrix
from kneeview.errors import CalibrationError

# Laid out as VICON-CONVENTIONS.md documents: scalar-last quaternion, POSITION in mm,
# optical cameras beside a video camera, extra attributes, a ThresholdGrid, two keyframes.
XCP = """<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<Cameras VERSION="1.0">
  <Camera DEVICEID="2107395" DISPLAY_TYPE="Vue" ISDV="0" NAME="Vue" PIXEL_ASPECT_RATIO="1" SENSOR="Vue" SENSOR_SIZE="1920 1080" SKEW="0" SYSTEM="" TYPE="Vue" USERID="9" EXTRA_THING="ignored">
    <ControlFrames/>
    <KeyFrames>
      <KeyFrame FOCAL_LENGTH="1500" FRAME="0" IMAGE_ERROR="0.5" ORIENTATION="0 0 0 1" POSITION="0 0 0" PRINCIPAL_POINT="960 540" VICON_RADIAL2="Vicon3Parameter 960 540 0 0 0" WORLD_ERROR="0.4"/>
      <KeyFrame FOCAL_LENGTH="1602.5" FRAME="13" IMAGE_ERROR="0.312" ORIENTATION="{q}" POSITION="{c}" PRINCIPAL_POINT="958.4 541.7" VICON_RADIAL2="Vicon3Parameter 957.1 543.2 -1.9e-07 2.2e-14 0" WORLD_ERROR="0.27"/>
    </KeyFrames>
  </Camera>
  <Camera DEVICEID="59883" DISPLAY_TYPE="Vero v2.2" ISDV="0" NAME="" PIXEL_ASPECT_RATIO="1" SENSOR="Vero v2.2" SENSOR_SIZE="2048 1088" SKEW="0" SYSTEM="" TYPE="Vero v2.2" USERID="1">
    <ThresholdGrid BIT_DEPTH="1" DATA="AAAA" TILE_SIZE="8 8"/>
    <ControlFrames/>
    <KeyFrames>
      <KeyFrame FOCAL_LENGTH="1800.2" FRAME="13" IMAGE_ERROR="0.11" ORIENTATION="0.3 -0.6 0.7 0.2" POSITION="3500 -2800 2400" PRINCIPAL_POINT="1024.1 544.2" VICON_RADIAL="-1.1e-08 3e-15" WORLD_ERROR="0.1"/>
    </KeyFrames>
  </Camera>
  <Camera DEVICEID="59884" DISPLAY_TYPE="Vero v2.2" NAME="" PIXEL_ASPECT_RATIO="1.01" SENSOR="Vero v2.2" SENSOR_SIZE="2048 1088" SKEW="0.5" TYPE="Vero v2.2" USERID="2">
    <KeyFrames>
      <KeyFrame FOCAL_LENGTH="1790" FRAME="13" IMAGE_ERROR="0.12" ORIENTATION="-0.3 -0.6 0.7 0.2" POSITION="-3500 -2800 2400" PRINCIPAL_POINT="1020 540" VICON_RADIAL="0 0" WORLD_ERROR="0.12"/>
    </KeyFrames>
  </Camera>
</Cameras>
"""


def look_at_quaternion(position, target=(0, 0, 900)):
    from kneeview.camera import look_at_rotation, matrix_to_quaternion

    return matrix_to_quaternion(look_at_rotation(position, target))


@pytest.fixture
def xcp_file(tmp_path):
    c = np.array([400.0, -4200.0, 1150.0])
    q = look_at_quaternion(c)
    path = tmp_path / "Session 1.xcp"
    path.write_text(XCP.format(q=" ".join(repr(float(v)) for v in q), c=" ".join(repr(float(v)) for v in c)))
    return path, q, c


def test_reads_every_camera_and_its_latest_keyframe(xcp_file):
    path, q, c = xcp_file
    cal = read_xcp(path)
    assert [cam.device_id for cam in cal.cameras] == ["2107395", "59883", "59884"]
    assert [cam.device_id for cam in cal.video_cameras()] == ["2107395"]
    vue = cal.camera(2107395)
    assert vue.image_size == (1920, 1080)
    assert vue.focal_length_px == 1602.5  # FRAME=13, not FRAME=0
    assert vue.image_error_px == pytest.approx(0.312) and vue.world_error_mm == pytest.approx(0.27)
    np.testing.assert_allclose(vue.K, [[1602.5, 0, 958.4], [0, 1602.5, 541.7], [0, 0, 1]])
    np.testing.assert_allclose(vue.position_mm, c)
    assert vue.distortion.centre == (957.1, 543.2) and vue.distortion.w == (-1.9e-07, 2.2e-14, 0.0)
    optical = cal.camera("59883")
    assert optical.distortion.centre == optical.distortion.principal_point == (1024.1, 544.2)
    assert optical.distortion.w == (-1.1e-08, 3e-15, 0.0)
    skewed = cal.camera("59884")
    np.testing.assert_allclose(skewed.K, [[1790, 0.5, 1020], [0, 1790 / 1.01, 540], [0, 0, 1]])


def test_quaternion_is_scalar_last_and_rotates_world_to_camera(xcp_file):
    path, q, c = xcp_file
    vue = read_xcp(path).camera("2107395")
    # The matrix written out in VICON-CONVENTIONS.md, row 0 checked literally.
    qx, qy, qz, qw = q / np.linalg.norm(q)
    np.testing.assert_allclose(vue.R[0], [1 - 2 * (qy**2 + qz**2), 2 * (qx * qy - qz * qw), 2 * (qx * qz + qy * qw)], atol=1e-12)
    # The camera was placed looking at the middle of the volume: with R as world->camera
    # the target is straight ahead (positive depth, on the optical axis) ...
    target = np.array([0.0, 0.0, 900.0])
    X = vue.world_to_camera(target)
    assert X[2] > 0 and np.hypot(X[0], X[1]) < 1e-6 * X[2]
    # ... while reading it as camera->world would put it behind or far off-axis.
    X_wrong = vue.R.T @ (target - c)
    assert not (X_wrong[2] > 0 and np.hypot(X_wrong[0], X_wrong[1]) < 1e-3 * X_wrong[2])
    # Image y is down: a point above the target projects higher in the image (smaller v).
    above = vue.project_corrected(target + [0, 0, 500])
    assert above[1] < vue.project_corrected(target)[1]


def test_point_on_the_optical_axis_lands_on_the_principal_point(xcp_file):
    path, _, _ = xcp_file
    for cam in read_xcp(path).cameras:
        axis = cam.position_mm + 3000.0 * cam.R[2]  # third row of R = optical axis in the world
        np.testing.assert_allclose(cam.project_corrected(axis), cam.principal_point_px, atol=1e-9)


def test_projection_matches_cv2_project_points_without_distortion(xcp_file, tmp_path):
    path, _, _ = xcp_file
    cam = read_xcp(path).camera("59884")  # VICON_RADIAL="0 0", skew 0.5, aspect 1.01
    rng = np.random.default_rng(3)
    X_cam = rng.uniform([-900, -500, 1500], [900, 500, 6000], (40, 3))  # in front of the camera
    X = cam.camera_to_world(X_cam)
    # K applied by hand to camera-frame points (cv2.projectPoints ignores skew) ...
    by_hand = np.c_[X_cam[:, 0] / X_cam[:, 2] * 1790 + 0.5 * X_cam[:, 1] / X_cam[:, 2] + 1020,
                    X_cam[:, 1] / X_cam[:, 2] * 1790 / 1.01 + 540]
    np.testing.assert_allclose(cam.project_corrected(X), by_hand, atol=1e-6)
    # ... and P = K [R | -R c] gives the same
    h = np.c_[X, np.ones(len(X))] @ cam.P.T
    np.testing.assert_allclose(h[:, :2] / h[:, 2:], by_hand, atol=1e-6)
    # With square pixels, no skew and zero coefficients the Vicon model is the identity, so
    # the full raw projection equals OpenCV's. (With a != 1 the paper's equation (2) shifts
    # y by y_pp (1/a - 1) even without distortion; KneeView keeps the equation as written.)
    text = path.read_text().replace('PIXEL_ASPECT_RATIO="1.01"', 'PIXEL_ASPECT_RATIO="1"').replace('SKEW="0.5"', 'SKEW="0"')
    cam = read_xcp(write(tmp_path, text)).camera("59884")
    rvec, _ = cv2.Rodrigues(cam.R)
    ref, _ = cv2.projectPoints(X, rvec, cam.t, cam.K, None)
    np.testing.assert_allclose(cam.project(X), ref.reshape(-1, 2), atol=1e-6)


def test_project_then_ray_goes_back_through_the_point(xcp_file):
    path, _, _ = xcp_file
    cam = read_xcp(path).camera("2107395")
    X = np.array([[120.0, 50.0, 400.0], [-300.0, 200.0, 1500.0]])
    raw = cam.project(X)
    origin, d = cam.ray(raw)
    v = X - origin
    # distance of X from the ray
    residual = np.linalg.norm(v - (v * d).sum(-1, keepdims=True) * d, axis=-1)
    assert residual.max() < 1e-6
    # and the distortion really moved the points
    assert np.abs(raw - cam.project_corrected(X)).max() > 0.5


def test_points_behind_the_camera_are_nan(xcp_file):
    path, _, c = xcp_file
    cam = read_xcp(path).camera("2107395")
    behind = cam.position_mm - 1000.0 * cam.R[2]
    assert np.isnan(cam.project(behind)).all()


def test_write_read_round_trip(tmp_path, xcp_file):
    path, _, _ = xcp_file
    cal = read_xcp(path)
    out = write_xcp(cal, tmp_path / "copy.xcp")
    again = read_xcp(out)
    for a, b in zip(cal.cameras, again.cameras):
        assert a.device_id == b.device_id and a.image_size == b.image_size and a.kind == b.kind
        np.testing.assert_allclose(a.K, b.K, atol=1e-9)
        np.testing.assert_allclose(a.R, b.R, atol=1e-12)
        np.testing.assert_allclose(a.position_mm, b.position_mm)
        assert a.distortion == b.distortion


# ------------------------------------------------------------------ bad input
def write(tmp_path, text, name="bad.xcp"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_malformed_xml(tmp_path):
    p = write(tmp_path, XCP[:700])
    with pytest.raises(CalibrationError, match="malformed XML") as err:
        read_xcp(p)
    assert err.value.path == p


def test_billion_laughs_fails_fast(tmp_path):
    bomb = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    for i in range(1, 10):
        bomb += f' <!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">\n'
    bomb += ']>\n<Cameras><Camera DEVICEID="&lol9;"/></Cameras>'
    p = write(tmp_path, bomb)
    t0 = time.perf_counter()
    with pytest.raises(CalibrationError, match="unsafe XML"):
        read_xcp(p)
    assert time.perf_counter() - t0 < 1.0


def test_external_entity_is_not_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    p = write(tmp_path, f'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file://{secret}">]>'
                        '<Cameras><Camera DEVICEID="&x;"/></Cameras>')
    with pytest.raises(CalibrationError) as err:
        read_xcp(p)
    assert "TOP-SECRET" not in str(err.value)


@pytest.mark.parametrize(
    "old,new,field,message",
    [
        ('FOCAL_LENGTH="1602.5" ', "", "FOCAL_LENGTH", "no FOCAL_LENGTH"),
        ('FOCAL_LENGTH="1602.5"', 'FOCAL_LENGTH="abc"', "FOCAL_LENGTH", "not a list of numbers"),
        ('FOCAL_LENGTH="1602.5"', 'FOCAL_LENGTH="0"', "FOCAL_LENGTH", "must be positive"),
        ('FOCAL_LENGTH="1602.5"', 'FOCAL_LENGTH="-3"', "FOCAL_LENGTH", "must be positive"),
        ('FOCAL_LENGTH="1602.5"', 'FOCAL_LENGTH="nan"', "FOCAL_LENGTH", "not finite"),
        ('PRINCIPAL_POINT="958.4 541.7"', 'PRINCIPAL_POINT="958.4"', "PRINCIPAL_POINT", "has 1 values"),
        ('SENSOR_SIZE="1920 1080"', 'SENSOR_SIZE="1920 -1080"', "SENSOR_SIZE", "positive integers"),
        ('DEVICEID="59883"', 'DEVICEID="2107395"', "DEVICEID", "more than once"),
        ('Vicon3Parameter 957.1 543.2 -1.9e-07 2.2e-14 0', 'Vicon3Parameter 957.1 543.2 -2e-06 0 0', "VICON_RADIAL2", "folds over"),
        ('VICON_RADIAL2="Vicon3Parameter 957.1 543.2 -1.9e-07 2.2e-14 0"', 'VICON_RADIAL2="Fancy 1 2 3 4 5"', "VICON_RADIAL2", "not supported"),
        ('POSITION="3500 -2800 2400"', 'POSITION="1e308 1e308 1e308"', "POSITION", "not physical"),
        ('ORIENTATION="0.3 -0.6 0.7 0.2"', 'ORIENTATION="3e-5 0 0 1e-5"', "ORIENTATION", "norm"),
        ('FOCAL_LENGTH="1800.2"', 'FOCAL_LENGTH="1e9"', "FOCAL_LENGTH", "not physical"),
    ],
)
def test_bad_attribute_names_file_and_field(tmp_path, xcp_file, old, new, field, message):
    path, _, _ = xcp_file
    text = path.read_text()
    assert old in text
    p = write(tmp_path, text.replace(old, new, 1 if old.startswith("FOCAL") else -1))
    with pytest.raises(CalibrationError, match=message) as err:
        read_xcp(p)
    assert err.value.path == p and field in (err.value.field or "")
    assert str(p) in str(err.value)


def test_unknown_device_id(xcp_file):
    path, _, _ = xcp_file
    with pytest.raises(CalibrationError, match="no camera with device id '42'"):
        read_xcp(path).camera(42)


def test_not_a_calibration(tmp_path):
    with pytest.raises(CalibrationError, match="no <Camera> element"):
        read_xcp(write(tmp_path, "<Project><Thing/></Project>"))
    with pytest.raises(CalibrationError, match="cannot open"):
        read_xcp(tmp_path / "missing.xcp")


_MUTATIONS = st.lists(
    st.tuples(st.integers(0, len(XCP) - 1), st.integers(0, 40), st.text(alphabet='<>"= /&;#x0123456789.-eE', max_size=6)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=_MUTATIONS)
def test_mutated_files_load_or_raise_calibration_error(tmp_path, mutations):
    text = XCP.format(q="0 0 0 1", c="0 -4000 1000")
    for pos, length, repl in mutations:
        pos = min(pos, len(text))
        text = text[:pos] + repl + text[pos + length:]
    p = tmp_path / "mutated.xcp"
    p.write_text(text)
    try:
        cal = read_xcp(p)
    except CalibrationError as exc:
        assert str(p) in str(exc)
        return
    for cam in cal.cameras:  # whatever loads is a usable camera
        assert cam.focal_length_px > 0 and np.all(np.isfinite(cam.K)) and np.isfinite(cam.R).all()
        assert math.isclose(np.linalg.det(cam.R), 1.0, abs_tol=1e-9)


def test_unknown_xml_encoding_is_a_calibration_error(tmp_path):
    # found by the mutation test: '<?xml ... encoding="U0TF-8"?>' raised LookupError
    from kneeview.camera import read_calibration
    from kneeview.errors import CalibrationError

    bad = tmp_path / "bad.xcp"
    bad.write_bytes(b'<?xml version="1.0" encoding="U0TF-8"?>\n<Cameras VERSION="1.0"/>\n')
    with pytest.raises(CalibrationError, match="bad.xcp|malformed"):
        read_calibration(bad)
