"""The Vicon radial model (paper section 3.2.1) and the OpenCV model."""
import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kneeview.camera import BrownConrady, NotInvertibleError, ViconRadial


def paper_raw_to_corrected(xr, yr, xpp, ypp, xdc, ydc, w0, w1, w2, a):
    """Equations (1)-(3) of the paper, written out for one point, no NumPy."""
    dx = xr - xdc
    dy = a * (yr - ydc)
    r = math.sqrt(dx * dx + dy * dy)
    s = 1 + w0 * r**2 + w1 * r**4 + w2 * r**6
    return s * dx + xpp, (s * dy + ypp) / a


def sensor_grid(w, h, n=60):
    u, v = np.meshgrid(np.linspace(-0.5, w - 0.5, n), np.linspace(-0.5, h - 0.5, n))
    return np.stack([u, v], -1)


REALISTIC = [
    # (sensor, principal point, distortion centre, w0, w1, w2, aspect)
    ((1920, 1080), (961.2, 539.1), (958.7, 541.6), -1.9e-7, 2.4e-14, 0.0, 1.0),
    ((1920, 1080), (955.0, 545.0), (955.0, 545.0), 1.2e-7, -1.0e-14, 0.0, 1.0),
    ((1280, 720), (640.5, 359.5), (644.0, 357.0), -4.5e-7, 1.1e-13, -3.0e-20, 1.0),
    ((640, 480), (322.0, 238.0), (320.0, 240.0), -9.0e-7, 0.0, 0.0, 1.02),
]


@pytest.mark.parametrize("sensor,pp,dc,w0,w1,w2,a", REALISTIC)
def test_undistort_is_the_paper_formula(sensor, pp, dc, w0, w1, w2, a):
    model = ViconRadial(principal_point=pp, centre=dc, w=(w0, w1, w2), aspect=a)
    pts = sensor_grid(*sensor, n=9).reshape(-1, 2)
    got = model.undistort(pts)
    want = np.array([paper_raw_to_corrected(x, y, *pp, *dc, w0, w1, w2, a) for x, y in pts])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("sensor,pp,dc,w0,w1,w2,a", REALISTIC)
def test_round_trip_over_the_whole_sensor(sensor, pp, dc, w0, w1, w2, a):
    model = ViconRadial(principal_point=pp, centre=dc, w=(w0, w1, w2), aspect=a)
    model.check_invertible(sensor)
    raw = sensor_grid(*sensor, n=200)
    corrected = model.undistort(raw)
    assert np.abs(corrected - raw).max() > 1.0  # the distortion is not negligible
    back = model.distort(corrected)
    assert np.abs(back - raw).max() < 1e-6
    # and the other way: corrected points inside the corrected sensor image
    again = model.undistort(model.distort(corrected))
    assert np.abs(again - corrected).max() < 1e-6


def test_vectorised_over_any_shape():
    model = ViconRadial((320.0, 240.0), (320.0, 240.0), (-5e-7, 0.0, 0.0))
    pts = np.random.default_rng(0).uniform(0, 480, (3, 4, 5, 2))
    assert model.distort(pts).shape == pts.shape
    assert model.undistort(pts).shape == pts.shape
    single = model.distort(pts[1, 2, 3])
    np.testing.assert_allclose(single, model.distort(pts)[1, 2, 3])


def test_distortion_centre_is_a_fixed_point_up_to_principal_point():
    model = ViconRadial((100.0, 80.0), (103.0, 77.0), (-1e-6, 0.0, 0.0))
    # dp = 0 at the distortion centre, so the corrected point is (x_pp, y_pp / a) = the principal point
    np.testing.assert_allclose(model.undistort([103.0, 77.0]), [100.0, 80.0])
    np.testing.assert_allclose(model.distort([100.0, 80.0]), [103.0, 77.0], atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    w0=st.floats(-1.2e-6, 1.2e-6),
    w1=st.floats(-2e-13, 2e-13),
    u=st.floats(0.0, 1.0),
    v=st.floats(0.0, 1.0),
    cx=st.floats(-20, 20),
    cy=st.floats(-20, 20),
)
def test_round_trip_property(w0, w1, u, v, cx, cy):
    W, H = 640, 480
    model = ViconRadial((W / 2, H / 2), (W / 2 + cx, H / 2 + cy), (w0, w1, 0.0))
    try:
        model.check_invertible((W, H))
    except NotInvertibleError:
        # then the model must really fold over inside the sensor: g' vanishes before the corner
        r_corner = max(math.hypot(x - (W / 2 + cx), y - (H / 2 + cy)) for x in (-0.5, W - 0.5) for y in (-0.5, H - 0.5))
        rs = np.linspace(0, r_corner, 2001)
        g = rs * (1 + w0 * rs**2 + w1 * rs**4)
        assert np.any(np.diff(g) <= 0) or np.any(1 + w0 * rs**2 + w1 * rs**4 <= 0)
        return
    raw = np.array([u * W - 0.5, v * H - 0.5])
    back = model.distort(model.undistort(raw))
    assert np.abs(back - raw).max() < 1e-6


def test_not_invertible_is_a_clear_error():
    # strong barrel distortion folds over at r = sqrt(-1 / (3 w0)) ~ 577 px < sensor corner (~1101 px)
    model = ViconRadial((960.0, 540.0), (960.0, 540.0), (-1.0e-6, 0.0, 0.0))
    assert model.max_radius() == pytest.approx(math.sqrt(1 / 3e-6))
    with pytest.raises(NotInvertibleError, match="folds over"):
        model.check_invertible((1920, 1080))
    # corrected points beyond the fold have no raw preimage: NaN, not a wrong number
    far = model.distort([[960.0 + 2000.0, 540.0]])
    assert np.isnan(far).all()


def test_brown_conrady_distort_matches_cv2_project_points():
    K = np.array([[800.0, 0.0, 330.0], [0.0, 805.0, 235.0], [0.0, 0.0, 1.0]])
    coeffs = (-0.21, 0.08, 0.0012, -0.0007, -0.01)
    model = BrownConrady(K=K, coefficients=coeffs)
    rng = np.random.default_rng(1)
    X = np.c_[rng.uniform(-0.3, 0.3, (50, 2)), np.ones(50)]  # normalised rays, z = 1
    ref, _ = cv2.projectPoints(X, np.zeros(3), np.zeros(3), K, np.array(coeffs))
    corrected = X[:, :2] @ K[:2, :2].T + K[:2, 2]
    np.testing.assert_allclose(model.distort(corrected), ref.reshape(-1, 2), atol=1e-9)
    np.testing.assert_allclose(model.undistort(ref.reshape(-1, 2)), corrected, atol=1e-6)
