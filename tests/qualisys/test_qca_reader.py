"""Qualisys .qca.txt reader: hand-computed projections of the real Pose2Sim calibration, bad files."""
from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from sessions import SHARED

from kneeview.camera import BrownConrady, read_calibration, read_qca
from kneeview.errors import CalibrationError, KneeViewInputError

QCA = SHARED / "data" / "qualisys" / "Calib.qca.txt"

# cam01 of Calib.qca.txt, copied by hand from the file.
R_Q = ((0.5536380477336265, 0.8046719867383512, 0.2144479094331626),
       (-0.4345300743838753, 0.05946489349975602, 0.8986921279821063),
       (0.7104002579937896, -0.5907342212870501, 0.3825762057979294))
CENTRE = (1460.2323709212087, -1909.1590482454608, 1896.5058524092062)
FOCAL_U, FOCAL_V, CENTRE_U, CENTRE_V = 107599.671875, 107588.828125, 34110.316406, 60680.792969
SENSOR_MAX_U, SENSOR_MAX_V, RIGHT, BOTTOM = 69568, 122816, 1087, 1919
K1, K2, K3, P1, P2 = -0.046183, 0.139983, 0.0, 0.000608, 0.00069


def hand_projection(X):
    """Plain-arithmetic projection of a lab point (mm) into cam01's raw pixels."""
    d = [X[i] - CENTRE[i] for i in range(3)]
    q = [sum(R_Q[r][c] * d[c] for c in range(3)) for r in range(3)]
    xc, yc, zc = q[0], -q[1], -q[2]  # QTM camera y up / z back -> image y down / z forward
    assert zc > 0
    x, y = xc / zc, yc / zc
    r2 = x * x + y * y
    radial = 1 + K1 * r2 + K2 * r2 * r2 + K3 * r2 ** 3
    xd = x * radial + 2 * P1 * x * y + P2 * (r2 + 2 * x * x)
    yd = y * radial + P1 * (r2 + 2 * y * y) + 2 * P2 * x * y
    su, sv = SENSOR_MAX_U / RIGHT, SENSOR_MAX_V / BOTTOM  # 64 sub-pixels per pixel
    return FOCAL_U / su * xd + CENTRE_U / su, FOCAL_V / sv * yd + CENTRE_V / sv


@pytest.fixture(scope="module")
def calib():
    return read_calibration(QCA)


def test_reads_all_four_cameras(calib):
    assert calib.source_format == "qca"
    assert [c.device_id for c in calib.cameras] == ["cam01", "cam02", "cam03", "cam04"]
    assert [c.kind for c in calib.cameras] == ["video"] * 4
    cam = calib.camera("cam01")
    assert cam.image_size == (1088, 1920)
    assert cam.focal_length_px == pytest.approx(107599.671875 / 64)
    assert cam.principal_point_px == pytest.approx((34110.316406 / 64, 60680.792969 / 64))
    np.testing.assert_allclose(cam.position_mm, CENTRE)
    assert cam.world_error_mm == pytest.approx(0.402)
    assert isinstance(cam.distortion, BrownConrady)
    assert cam.distortion.coefficients == pytest.approx((K1, K2, P1, P2, K3))


@pytest.mark.parametrize("X", [(0.0, 0.0, 0.0), (250.0, -400.0, 900.0), (-600.0, 300.0, 1500.0), (900.0, 800.0, 50.0)])
def test_projection_matches_hand_computation(calib, X):
    expected = hand_projection(X)
    got = calib.camera("cam01").project(np.array(X))
    assert got == pytest.approx(expected, abs=1e-6)


def test_lab_origin_is_in_front_of_and_inside_every_camera(calib):
    for cam in calib.cameras:
        assert cam.world_to_camera([0.0, 0.0, 0.0])[2] > 2000.0  # metres away, in front
        u, v = cam.project(np.zeros(3))
        W, H = cam.image_size
        assert 0 <= u < W and 0 <= v < H, cam.device_id
        # the lab's Z axis points up in the image (portrait cameras, upright)
        up = cam.project(np.array([0.0, 0.0, 500.0]))
        assert up[1] < v - 100, cam.device_id


def test_distortion_magnitude_is_a_few_pixels_at_the_corners(calib):
    """Coefficients used as written: ~4-10 px at the corners (a 9 mm lens); /64 would be ~0.1 px."""
    for cam in calib.cameras:
        W, H = cam.image_size
        corners = np.array([[0, 0], [W - 1, 0], [0, H - 1], [W - 1, H - 1]], float)
        shift = np.linalg.norm(cam.distort_points(corners) - corners, axis=-1)
        assert 3.0 < shift.max() < 12.0, (cam.device_id, shift)
        scaled = BrownConrady(cam.K, tuple(np.array(cam.distortion.coefficients) / 64))
        assert np.linalg.norm(scaled.distort(corners) - corners, axis=-1).max() < 0.2
    assert np.linalg.norm(calib.camera("cam01").distort_points(np.array([1087.0, 1919.0])) - [1087, 1919]) == pytest.approx(9.71, abs=0.05)


def test_distort_undistort_round_trip(calib):
    rng = np.random.default_rng(3)
    for cam in calib.cameras:
        W, H = cam.image_size
        raw = rng.uniform([-0.5, -0.5], [W - 0.5, H - 0.5], size=(500, 2))
        np.testing.assert_allclose(cam.distort_points(cam.undistort_points(raw)), raw, atol=1e-6)
        np.testing.assert_allclose(cam.undistort_points(cam.distort_points(raw)), raw, atol=1e-6)


def test_ray_passes_through_projected_point(calib):
    X = np.array([120.0, -80.0, 1000.0])
    for cam in calib.cameras:
        origin, d = cam.ray(cam.project(X))
        v = X - origin
        assert np.linalg.norm(v - (v @ d) * d) < 1e-6


def test_reprojection_of_one_view_into_another(calib):
    """A point seen by cam01 and cam02, triangulated, reprojects onto its image in cam03/cam04."""
    from kneeview.camera.triangulate import triangulate

    X = np.array([[300.0, 200.0, 1000.0], [-200.0, 100.0, 300.0]])
    obs = np.stack([c.project(X) for c in calib.cameras])
    tri = triangulate(list(calib.cameras[:2]), obs[:2])
    np.testing.assert_allclose(tri.points_mm, X, atol=1e-6)
    for v in (2, 3):
        np.testing.assert_allclose(calib.cameras[v].project(tri.points_mm), obs[v], atol=1e-6)


# ---------------------------------------------------------------------------- bad files
def _edit(tmp_path, old, new, count=1):
    text = QCA.read_text()
    assert old in text
    p = tmp_path / "bad.qca.txt"
    p.write_text(text.replace(old, new, count))
    return p


@pytest.mark.parametrize("old,new,field", [
    ('focalLengthU="107599.671875" ', "", "camera[serial=cam01]/intrinsic/@focalLengthU"),
    ('r22="0.05946489349975602"', 'r22="abc"', "camera[serial=cam01]/transform/@r22"),
    ('x="1460.2323709212087"', 'x="nan"', "camera[serial=cam01]/transform/@x"),
    ('radialDistortion1="-0.046183"', 'radialDistortion1="-5.0"', "camera[serial=cam01]/intrinsic/@radialDistortion1"),
    ('r11="0.5536380477336265"', 'r11="0.9"', "camera[serial=cam01]/transform"),
    ('serial="cam02"', 'serial="cam01"', "camera/@serial"),
    ('serial="cam01" ', "", "camera #1/@serial"),
    ('x="1460.2323709212087"', 'x="1e308"', "camera[serial=cam01]/transform"),  # not physical
])
def test_bad_values_name_file_and_field(tmp_path, old, new, field):
    p = _edit(tmp_path, old, new)
    with pytest.raises(CalibrationError) as err:
        read_qca(p)
    assert err.value.field == field
    assert str(p) in str(err.value)


def test_missing_element(tmp_path):
    text = QCA.read_text()
    start = text.index("<transform")
    p = tmp_path / "bad.qca.txt"
    p.write_text(text[:start] + text[text.index("/>", start) + 2:])
    with pytest.raises(CalibrationError, match="has no <transform> element"):
        read_qca(p)


def test_hostile_and_malformed_xml(tmp_path):
    bomb = tmp_path / "bomb.qca.txt"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE c [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><calibration>&b;</calibration>')
    with pytest.raises(CalibrationError, match="unsafe XML"):
        read_calibration(bomb)
    broken = tmp_path / "broken.qca.txt"
    broken.write_text(QCA.read_text()[:2000])
    with pytest.raises(CalibrationError, match="malformed XML"):
        read_calibration(broken)
    other = tmp_path / "other.qca.txt"
    other.write_text("<Cameras><Camera/></Cameras>")
    with pytest.raises(KneeViewInputError, match="expected <calibration>"):
        read_calibration(other)
    with pytest.raises(CalibrationError, match="cannot open"):
        read_qca(tmp_path / "missing.qca.txt")


def test_suffix_dispatch(tmp_path):
    copy = tmp_path / "Session.QCA.TXT"
    shutil.copy(QCA, copy)
    assert read_calibration(copy).source_format == "qca"
    assert math.isclose(read_calibration(copy).camera("cam04").K[0, 0], 107215.039063 / 64)
