"""Multi-view triangulation on synthetic views with known 3D."""
import numpy as np

from sessions import make_camera
from kneeview.camera.triangulate import triangulate


def ring_of_cameras():
    positions = [(0, -4000, 1200), (3500, -2000, 1500), (-3500, -2000, 1300), (2500, 3000, 2000)]
    return [make_camera(device_id=str(i), size=(640, 480), position=p, target=(0, 0, 700), focal=600.0,
                        w=(-4e-7, 1e-13, 0.0)) for i, p in enumerate(positions)]


def test_exact_without_noise():
    cams = ring_of_cameras()
    X = np.random.default_rng(0).uniform([-400, -300, 50], [400, 300, 1500], (50, 6, 3))
    obs = np.stack([c.project(X) for c in cams])
    # strong lens distortion: undistortion matters
    assert np.nanmax(np.abs(obs - np.stack([c.project_corrected(X) for c in cams]))) > 2.0
    tri = triangulate(cams, obs)
    assert tri.points_mm.shape == (50, 6, 3)
    assert np.abs(tri.points_mm - X).max() < 1e-3  # sub-millimetre (in fact ~1e-9)
    assert tri.mean_error_px.max() < 1e-6 and tri.used.all()


def test_robust_to_an_outlier_view_and_reports_it():
    cams = ring_of_cameras()
    rng = np.random.default_rng(1)
    X = rng.uniform([-400, -300, 50], [400, 300, 1500], (200, 3))
    obs = np.stack([c.project(X) for c in cams]) + rng.normal(0, 0.5, (4, 200, 2))
    obs[2, :50] += rng.uniform(60, 120, (50, 2))  # view 2 detects the wrong thing for 50 points
    tri = triangulate(cams, obs, outlier_px=10.0)
    err = np.linalg.norm(tri.points_mm - X, axis=-1)
    assert np.median(err) < 6.0 and err.max() < 20.0  # 0.5 px noise is ~4 mm at this distance
    # the same as if the bad detections had never been there
    without = obs.copy()
    without[2, :50] = np.nan
    clean = triangulate(cams, without, outlier_px=np.inf)
    np.testing.assert_allclose(tri.points_mm[:50], clean.points_mm[:50], atol=1e-6)
    assert not tri.used[2, :50].any() and tri.used[2, 50:].mean() > 0.95
    assert (tri.reprojection_px[2, :50] > 40).all()  # the rejected view's error is reported
    naive = triangulate(cams, obs, outlier_px=np.inf)
    assert np.median(np.linalg.norm(naive.points_mm[:50] - X[:50], axis=-1)) > 3 * np.median(err[:50])


def test_missing_views_and_too_few_views():
    cams = ring_of_cameras()
    X = np.array([[100.0, 50.0, 900.0], [0.0, 0.0, 500.0]])
    obs = np.stack([c.project(X) for c in cams])
    obs[0, 0] = np.nan
    obs[1:, 1] = np.nan  # the second point is seen by one camera only
    tri = triangulate(cams, obs)
    np.testing.assert_allclose(tri.points_mm[0], X[0], atol=1e-6)
    assert np.isnan(tri.points_mm[1]).all() and tri.n_views.tolist() == [3, 1]


def test_a_confident_wrong_view_is_the_one_rejected():
    """The wrong view is twice as confident as the others, so the joint fit follows it and a
    correct view has the largest error; leave-one-out still finds the view to drop.
    (Dropping the worst view of the joint fit instead ends ~0.7 m off here.)"""
    cams = ring_of_cameras()
    rng = np.random.default_rng(1)
    X = rng.uniform([-400, -300, 50], [400, 300, 1500], (200, 3))
    obs = np.stack([c.project(X) for c in cams]) + rng.normal(0, 0.5, (4, 200, 2))
    obs[2] += rng.uniform(40, 60, (200, 2))
    conf = np.full((4, 200), 0.5)
    conf[2] = 1.0
    naive = triangulate(cams, obs, conf, outlier_px=np.inf)
    assert (np.argmax(naive.reprojection_px, axis=0) != 2).mean() > 0.9  # the joint fit's worst view is a correct one
    tri = triangulate(cams, obs, conf, outlier_px=10.0)
    err = np.linalg.norm(tri.points_mm - X, axis=-1)
    assert np.median(err) < 6.0 and err.max() < 20.0
    assert not tri.used[2].any() and tri.used[[0, 1, 3]].all()
