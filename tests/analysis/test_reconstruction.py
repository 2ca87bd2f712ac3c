"""The calibrated per-trial reconstruction against a known drop jump seen through a distorted camera."""
from __future__ import annotations

import numpy as np
import pytest

from kneeview.analysis.metrics import knee_metrics_3d
from kneeview.analysis.reconstruction import SEGMENTS, metric_uncertainty, reconstruct
from kneeview.camera import Camera, ViconRadial, look_at_rotation
from kneeview.synth.anthropometrics import sample_athlete
from kneeview.synth.motion import drop_jump

RATE = 60.0
ANKLES = (4, 5)
KNEES = (2, 3)


def make_camera(position=(-2600.0, -3600.0, 1100.0), w0=-4.0e-8):
    """A 1920x1080 video camera looking obliquely at the landing spot, with strong radial distortion
    (about 25 px at the image corners' half radius)."""
    pp = (960.4, 539.7)
    K = np.array([[1600.0, 0.0, pp[0]], [0.0, 1600.0, pp[1]], [0.0, 0.0, 1.0]])
    return Camera(device_id="1", name="Vue 1", K=K, R=look_at_rotation(position, (0.0, 0.0, 700.0)),
                  position_mm=np.asarray(position, float), image_size=(1920, 1080),
                  distortion=ViconRadial(pp, (pp[0] + 6.0, pp[1] - 4.0), (w0, 0.0, 0.0)))


@pytest.fixture(scope="module")
def trial():
    """A drop jump from the box (joint centres at 60 Hz, lab mm) and its true segment lengths."""
    rng = np.random.default_rng(4)
    athlete = sample_athlete(rng, "T")
    motion = drop_jump(athlete, rng, RATE, RATE, valgus_mm=(25.0, 10.0), duration_s=2.2)
    joints = motion.joints_lab_mm
    return joints, athlete


def network_output(joints, camera, depth_scale=1.3):
    """What a plausible network says: the true 2D (raw pixels) and the true mid-hip-relative pose in
    the camera frame with its depth stretched by ``depth_scale`` (metres)."""
    kp = camera.project(joints)
    rel = joints - 0.5 * (joints[:, :1] + joints[:, 1:2])
    cam = rel @ camera.R.T
    cam[..., 2] *= depth_scale
    return kp, cam / 1000.0, np.ones(joints.shape[:2])


def test_noise_free_trial_comes_back(trial):
    """Exact 2D and the true relative pose as the prior: joint centres, MKD, lengths and the contact
    height come back (to millimetres: the smoothness and anthropometric priors still pull a little,
    most at the landing impacts)."""
    joints, athlete = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam, depth_scale=1.0)
    rec = reconstruct(kp, net, conf, cam, RATE, sigma_px=0.02)
    err = np.linalg.norm(rec.joints_lab_mm - joints, axis=-1)
    assert np.median(err[:, KNEES]) < 10.0, np.median(err[:, KNEES])
    truth, got = knee_metrics_3d(joints, 60), knee_metrics_3d(rec.joints_lab_mm, 60)
    for side in ("right", "left"):
        d = got[f"mkd_{side}_mm"] - truth[f"mkd_{side}_mm"]
        assert np.sqrt(np.mean(d ** 2)) < 10.0, side
    assert rec.segment_lengths_mm["thigh_right"] == pytest.approx(athlete.thigh_mm, abs=2.0)
    assert rec.segment_lengths_mm["shank_left"] == pytest.approx(athlete.shank_mm, abs=2.0)
    assert rec.segment_lengths_mm["hip_width"] == pytest.approx(athlete.hip_width_mm, abs=2.0)
    assert rec.ankle_contact_height_mm == pytest.approx(np.min(joints[:, ANKLES, 2]), abs=5.0)


@pytest.mark.xfail(strict=True, reason="not met yet: a depth error in the network prior is not corrected by the "
                   "rays, segment lengths and floor (noise-free: knee error ~19 mm median, MKD RMS ~40 mm)")
def test_depth_error_in_the_prior_is_corrected_to_sub_millimetre(trial):
    joints, _ = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam, depth_scale=1.3)
    rec = reconstruct(kp, net, conf, cam, RATE, sigma_px=0.02)
    assert np.max(np.linalg.norm(rec.joints_lab_mm - joints, axis=-1)) < 1.0


def test_the_old_placement_is_what_the_solve_improves_on(trial):
    """Same input through locate_mid_hip + camera_to_lab: the stretched depth stays wrong by centimetres."""
    from kneeview.analysis.frames import camera_to_lab, locate_mid_hip

    joints, _ = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam)
    old = camera_to_lab(net, cam, locate_mid_hip(net, kp, cam, conf))
    assert np.median(np.linalg.norm(old - joints, axis=-1)) > 20.0


def _noisy_with_a_swap(joints, cam, bad):
    kp, net, conf = network_output(joints, cam, depth_scale=1.0)
    kp = kp + np.random.default_rng(11).normal(0.0, 2.0, kp.shape)
    kp[bad] = kp[bad, [1, 0, 3, 2, 5, 4]]  # right and left swapped in one frame of the landing
    net[bad] = net[bad, [1, 0, 3, 2, 5, 4]]
    return reconstruct(kp, net, conf, cam, RATE, sigma_px=2.0)


def test_noise_and_a_mislabelled_frame(trial):
    joints, _ = trial
    bad = 70
    rec = _noisy_with_a_swap(joints, make_camera(), bad)
    err = np.linalg.norm(rec.joints_lab_mm - joints, axis=-1)
    good = np.arange(len(joints)) != bad
    assert np.median(err[good][:, KNEES]) < 40.0, np.median(err[good][:, KNEES])
    truth, got = knee_metrics_3d(joints, 60), knee_metrics_3d(rec.joints_lab_mm, 60)
    for side in ("right", "left"):
        d = (got[f"mkd_{side}_mm"] - truth[f"mkd_{side}_mm"])[good]
        assert np.sqrt(np.mean(d ** 2)) < 15.0, (side, np.sqrt(np.mean(d ** 2)))


@pytest.mark.xfail(strict=True, reason="not met yet: a frame whose 2D and 3D are both mirrored is "
                   "self-consistent and follows its labels (its joints move 150-430 mm)")
def test_a_mislabelled_frame_is_outvoted_by_its_neighbours(trial):
    joints, _ = trial
    bad = 70
    rec = _noisy_with_a_swap(joints, make_camera(), bad)
    assert np.max(np.linalg.norm(rec.joints_lab_mm[bad] - joints[bad], axis=-1)) < 40.0


def test_segment_lengths_are_constant(trial):
    joints, _ = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam)
    kp = kp + np.random.default_rng(2).normal(0.0, 3.0, kp.shape)
    rec = reconstruct(kp, net, conf, cam, RATE, sigma_px=3.0)
    X = rec.joints_lab_mm
    for name, (a, b) in SEGMENTS.items():
        lengths = np.linalg.norm(X[:, b] - X[:, a], axis=-1)
        assert np.max(np.abs(lengths - rec.segment_lengths_mm[name])) < 6.0, name
        assert np.std(lengths) < 2.0, name


def test_an_ankle_cannot_go_below_the_floor(trial):
    """2D that puts the ankles 60 px low (through the floor) during the landing: the hinge stops them."""
    joints, _ = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam)
    kp[60:100, ANKLES, 1] += 60.0
    rec = reconstruct(kp, net, conf, cam, RATE, sigma_px=2.0)
    z = rec.joints_lab_mm[:, ANKLES, 2]
    floor = rec.ankle_contact_height_mm - rec.settings.floor_tolerance_mm
    assert rec.ankle_contact_height_mm >= rec.settings.min_ankle_height_mm
    assert np.min(z) > floor - 3.0, (np.min(z), floor)
    assert np.min(z) > 0.0


def test_ray_geometry_matters(trial):
    """The same trial through an undistorted camera model is measurably wrong: the solve does use the
    distortion (and a sign error in the ray geometry would fail the noise-free test above)."""
    from kneeview.camera.distortion import NoDistortion

    joints, _ = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam)
    wrong = Camera(device_id="1", name="Vue 1", K=cam.K, R=cam.R, position_mm=cam.position_mm,
                   image_size=cam.image_size, distortion=NoDistortion())
    rec = reconstruct(kp, net, conf, wrong, RATE, sigma_px=0.02)
    assert np.max(np.linalg.norm(rec.joints_lab_mm - joints, axis=-1)) > 5.0


def test_gaps_are_bridged_or_left_nan(trial):
    joints, _ = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam, depth_scale=1.0)
    kp = kp + np.random.default_rng(5).normal(0.0, 1.0, kp.shape)
    short, long_ = slice(40, 44), slice(100, 130)  # 4 frames (bridged), 0.5 s (NaN)
    for s in (short, long_):
        kp[s], net[s], conf[s] = np.nan, np.nan, 0.0
    kp[:3] = np.nan  # nobody before frame 3
    rec = reconstruct(kp, net, conf, cam, RATE, sigma_px=1.0)
    X = rec.joints_lab_mm
    assert np.isnan(X[:3]).all() and np.isnan(X[long_]).all()
    assert np.isfinite(X[short]).all() and rec.bridged[short].all() and not rec.reliable[short].any()
    err = np.linalg.norm(X[short] - joints[short], axis=-1)
    ok = np.isfinite(X).all(axis=(1, 2))
    typical = np.median(np.linalg.norm(X[ok] - joints[ok], axis=-1))
    assert typical < 50.0, typical
    assert np.max(err) < 100.0, np.max(err)


def test_uncertainty_grows_with_pixel_noise_and_samples_match_it(trial):
    joints, _ = trial
    cam = make_camera()
    sds = []
    for noise in (1.0, 4.0):
        kp, net, conf = network_output(joints, cam)
        kp = kp + np.random.default_rng(3).normal(0.0, noise, kp.shape)
        rec = reconstruct(kp, net, conf, cam, RATE, sigma_px=2.0, posterior_inflation=1.0,  # the posterior itself
                          knee_depth_fraction=0.0, pelvis_yaw_sd_deg=0.0, rear_sd_factor=1.0)
        sds.append(np.median(rec.joints_sd_mm[:, KNEES]))
    assert sds[1] > 1.5 * sds[0], sds

    draws = rec.sample(400, seed=1)
    assert draws.shape == (400,) + joints.shape
    spread = draws.std(axis=0, ddof=1)
    ratio = spread / rec.joints_sd_mm
    assert 0.85 < np.median(ratio) < 1.15, np.median(ratio)
    assert np.percentile(np.abs(ratio - 1.0), 95) < 0.25
    np.testing.assert_allclose(draws.mean(axis=0), rec.joints_lab_mm, atol=4 * np.max(rec.joints_sd_mm) / np.sqrt(400))
    assert np.array_equal(rec.sample(3, seed=7), rec.sample(3, seed=7))

    unc = metric_uncertainty(rec, reference_frame=60, n_samples=100, seed=0)
    for key in ("mkd_left_mm_sd", "mkd_right_mm_sd", "mkd_ic_left_mm_sd", "fppa_right_deg_sd"):
        assert unc[key].shape == (len(joints),)
        values = np.delete(unc[key], 60)  # MKD since contact is 0 at the reference frame in every draw
        assert np.all(np.isfinite(values)) and np.all(values > 0), key
    assert np.median(unc["mkd_right_mm_sd"]) < 20.0


def test_nobody_detected_gives_an_empty_result():
    cam = make_camera()
    T = 10
    rec = reconstruct(np.full((T, 6, 2), np.nan), np.full((T, 6, 3), np.nan), np.zeros((T, 6)), cam, RATE)
    assert np.isnan(rec.joints_lab_mm).all() and not rec.reliable.any()
    assert rec.sample(2, seed=0).shape == (2, T, 6, 3)


def test_the_posterior_inflation_scales_the_reported_sd_and_the_samples_alike(trial):
    """The reported sd is the posterior's times ``posterior_inflation`` (the network's errors are
    biased); the samples spread by the same factor, and the fit itself does not change."""
    joints, _ = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam)
    plain = reconstruct(kp, net, conf, cam, RATE, sigma_px=2.0, posterior_inflation=1.0, knee_depth_fraction=0.0,
                        pelvis_yaw_sd_deg=0.0)
    wide = reconstruct(kp, net, conf, cam, RATE, sigma_px=2.0, posterior_inflation=3.5, knee_depth_fraction=0.0,
                       pelvis_yaw_sd_deg=0.0)
    np.testing.assert_array_equal(plain.joints_lab_mm, wide.joints_lab_mm)
    np.testing.assert_allclose(wide.joints_sd_mm, 3.5 * plain.joints_sd_mm, rtol=1e-12)
    np.testing.assert_array_equal(plain.reliable, wide.reliable)
    spread = wide.sample(300, seed=2).std(axis=0, ddof=1) / plain.sample(300, seed=2).std(axis=0, ddof=1)
    np.testing.assert_allclose(spread[np.isfinite(spread)], 3.5, rtol=1e-9)


def test_contact_is_read_from_the_image_where_the_3d_ankle_slides_along_its_ray(trial):
    """A planted ankle whose single-view 3D wanders along its ray (depth noise of a few cm a frame)
    is 'fast' in 3D but still in the image: the 2D-speed rule finds the true contacts, the 3D one
    loses them; a flying ankle is fast in the image and never counts."""
    from kneeview.analysis.reconstruction import detect_contact

    joints, _ = trial
    cam = make_camera()
    truth = detect_contact(joints, RATE)  # noise-free 3D: the contacts
    assert truth.sum() > 20
    rng = np.random.default_rng(0)
    C = np.asarray(cam.position_mm, float)
    ray = joints - C
    ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
    noisy = joints + ray * rng.normal(0.0, 25.0, joints.shape[:2])[..., None]  # depth noise only: same 2D
    uv = cam.undistort_points(cam.project(noisy).reshape(-1, 2)).reshape(len(joints), -1, 2)
    from_2d = detect_contact(noisy, RATE, uv_corr=uv, camera=cam)
    from_3d = detect_contact(noisy, RATE)
    agree_2d = np.mean(from_2d == truth)
    assert agree_2d > 0.95, agree_2d
    assert np.mean(from_3d == truth) < agree_2d - 0.1
    flight = ~truth.any(axis=1) & (joints[:, list(ANKLES), 2].min(axis=1) > joints[:, list(ANKLES), 2].min() + 100)
    assert not from_2d[flight].any()


def test_analytic_jacobian_matches_finite_differences(trial):
    """Every residual block's analytic Jacobian (the solver's exact steps and the covariance rest on it)
    against central differences, at a perturbed point of a real problem with every term on: floor,
    contacts and sliding."""
    from kneeview.analysis.reconstruction import ReconstructionSettings, _Problem, detect_contact

    joints, _ = trial
    full = detect_contact(joints, RATE)
    a = int(np.flatnonzero(full.any(axis=1) & ~np.roll(full.any(axis=1), 1))[-1])  # the last touch-down
    joints, contact = joints[a - 10:a + 20], full[a - 10:a + 20]
    cam = make_camera()
    n = len(joints)
    uv = cam.undistort_points(cam.project(joints).reshape(-1, 2)).reshape(n, 6, 2)
    seg = np.array(list(SEGMENTS.values()))
    vec = joints[:, seg[:, 1]] - joints[:, seg[:, 0]]
    lengths = np.linalg.norm(vec, axis=-1)
    st = ReconstructionSettings()
    p = _Problem(uv, np.full((n, 6), 0.8), vec / lengths[..., None], np.ones((n, len(seg)), bool), lengths.mean(0),
                 cam, RATE, st, 2.0, contact=contact, with_floor=True)
    assert len(p.tc) >= 10 and len(p.ts) >= 5 and p.m == len(p.residuals(np.zeros(p.n_var) + 1.0))
    rng = np.random.default_rng(1)
    x = np.concatenate([(joints + rng.normal(0, 20, joints.shape)).ravel(), lengths.mean(0) + 5.0, [90.0]])
    J = p.jacobian(x).toarray()
    h = 1e-4
    contact_vars = [int(p.xi(t, j, k)) for t, j in zip(p.ts[:3], p.as_[:3]) for k in (0, 1, 2)]
    for i in rng.choice(p.n_var, 60, replace=False).tolist() + contact_vars + list(range(p.n_x, p.n_var)):
        e = np.zeros(p.n_var)
        e[i] = h
        fd = (p.residuals(x + e) - p.residuals(x - e)) / (2 * h)
        np.testing.assert_allclose(J[:, i], fd, rtol=1e-4, atol=1e-5 * max(1.0, np.abs(fd).max()), err_msg=f"variable {i}")


def _uv(cam, joints):
    return cam.undistort_points(cam.project(joints).reshape(-1, 2)).reshape(len(joints), -1, 2)


def test_contact_survives_the_networks_ankle_jitter(trial):
    """A planted ankle whose 2D keypoint wobbles by 15 mm (3 Hz, as the network's does in a deep
    landing: 2D speeds over the 250 mm/s a speed rule allows) is still in contact: a window's spread
    is what counts, not the speed; a flying ankle never counts."""
    from kneeview.analysis.reconstruction import ReconstructionSettings, detect_contact

    joints, _ = trial
    cam = make_camera()
    truth = detect_contact(joints, RATE)
    uv = _uv(cam, joints)
    depth = ((joints[:, list(ANKLES)] - cam.position_mm) @ cam.R.T)[..., 2]
    amp_px = 15.0 * cam.focal_length_px / depth  # 15 mm at the ankle's depth
    t = np.arange(len(joints)) / RATE
    wobble = np.stack([np.sin(2 * np.pi * 3.0 * t), np.cos(2 * np.pi * 3.0 * t + 0.7)], axis=-1)
    uv[:, list(ANKLES)] += amp_px[..., None] * wobble[:, None, :]
    speed = np.linalg.norm(np.gradient(uv[:, list(ANKLES)], axis=0), axis=-1) * RATE * depth / cam.focal_length_px
    assert np.median(speed[truth]) > ReconstructionSettings().contact_speed_mm_s  # a speed rule says "moving"
    found = detect_contact(joints, RATE, uv_corr=uv, camera=cam)
    assert found[truth].mean() > 0.9, found[truth].mean()
    flight = joints[:, list(ANKLES), 2] > joints[:, list(ANKLES), 2].min() + 100
    assert not found[flight].any()


def test_a_floating_two_footed_landing_is_in_contact_and_a_lifted_foot_is_not(trial):
    """Single-view heights can float a landing 100 mm above the trial's lowest level (the image still
    shows both feet planted): both feet still and level with each other count as in contact within
    contact_pair_height_mm. A squat's lifted foot, held still 100 mm above the stance foot, never does."""
    from analysis_fixtures import single_leg_squat

    from kneeview.analysis.reconstruction import ReconstructionSettings, _runs, detect_contact

    joints, _ = trial
    cam = make_camera()
    truth = detect_contact(joints, RATE)
    first = _runs(truth.any(axis=1))[0]
    floated = joints.copy()
    floated[first[0]:first[1], :, 2] += 100.0  # the 3D floats; the 2D (the image) does not
    uv = _uv(cam, joints)
    found = detect_contact(floated, RATE, uv_corr=uv, camera=cam)
    landing = truth[first[0]:first[1]]
    assert found[first[0]:first[1]][landing].mean() > 0.8
    alone = detect_contact(floated, RATE, settings=ReconstructionSettings(contact_pair_height_mm=0.0), uv_corr=uv, camera=cam)
    assert not alone[first[0]:first[1]].any()  # without the pair rule the landing is missed

    squat, _ = single_leg_squat(rate_hz=RATE, stance="left", free_foot_mm=100.0, facing_deg=-125.0)
    found = detect_contact(squat, RATE, uv_corr=_uv(cam, squat), camera=cam)
    assert found[:, 1].mean() > 0.9 and not found[:, 0].any()
    loose = detect_contact(squat, RATE, settings=ReconstructionSettings(contact_pair_diff_mm=150.0), uv_corr=_uv(cam, squat),
                           camera=cam)
    assert loose[:, 0].any()  # the level-with-each-other condition is what keeps it off


def test_heights_read_on_the_rays_time_a_squat_where_the_depth_wobbles():
    """A single view's depth wobbles along each joint's ray (a slow 40 mm drift, a 20 mm 3.5 Hz
    wobble and 10 mm noise; the 2D untouched) and a lab camera mounted high turns that into height:
    the fit's own pelvis height finds a squat's lowest point frames off. Read on the rays at the
    low-passed depth (image_heights) the heights keep only the slow drift (within the same bound as
    the fit's), lose the wobble, and the lowest pelvis comes within a frame, on every seed."""
    from analysis_fixtures import single_leg_squat

    from kneeview.analysis import detect_events
    from kneeview.analysis.reconstruction import image_heights

    rate = 100.0
    squat, truth = single_leg_squat(rate_hz=rate, stance="right", facing_deg=-125.0)
    cam = make_camera(position=(-2600.0, -3600.0, 2400.0))
    ray = squat - cam.position_mm
    ray /= np.linalg.norm(ray, axis=-1, keepdims=True)
    t = np.arange(len(squat))[:, None] / rate
    off_fit, off_img = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        wobble = (40.0 * np.sin(2 * np.pi * 0.3 * t + rng.uniform(0, 6, 6)) + 20.0 * np.sin(2 * np.pi * 3.5 * t + rng.uniform(0, 6, 6))
                  + rng.normal(0.0, 10.0, squat.shape[:2]))
        noisy = squat + ray * wobble[..., None]
        heights = image_heights(noisy, _uv(cam, squat), cam, rate)
        err_img, err_fit = heights - squat[..., 2], noisy[..., 2] - squat[..., 2]
        assert np.percentile(np.abs(err_img), 95) < 25.0
        rough = lambda e: np.std(np.diff(e, 2, axis=0))  # noqa: E731
        assert rough(err_img) < 0.1 * rough(err_fit)
        off_fit.append(abs(detect_events(noisy, rate, "sls").frames["deepest"] - truth["deepest"]))
        off_img.append(abs(detect_events(noisy, rate, "sls", heights=heights).frames["deepest"] - truth["deepest"]))
    assert max(off_img) <= 1, off_img
    assert max(off_fit) >= 4, off_fit  # the premise: the fit's own heights miss it
    nan_2d = np.full(squat.shape[:2] + (2,), np.nan)
    assert np.allclose(image_heights(squat, nan_2d, cam, rate), squat[..., 2])  # no 2D: the joints' own heights


def test_the_knee_depth_axis_runs_along_the_ray_and_grows_with_the_bend():
    """knee_depth_axes: along the unit ray from the camera through the knee, of length fraction x the knee's
    distance from its hip-ankle line; a straight leg gets none."""
    from kneeview.analysis.reconstruction import knee_depth_axes

    X = np.zeros((2, 6, 3))
    X[:, 0], X[:, 1] = (0.0, 0.0, 900.0), (200.0, 0.0, 900.0)  # hips
    X[:, 4], X[:, 5] = (0.0, 0.0, 100.0), (200.0, 0.0, 100.0)  # ankles
    X[0, 2], X[0, 3] = (0.0, 0.0, 500.0), (200.0, 0.0, 500.0)  # straight legs
    X[1, 2], X[1, 3] = (50.0, 0.0, 500.0), (200.0, -80.0, 500.0)  # 50 mm medial (right), 80 mm forward (left)
    camera = np.array([0.0, -4000.0, 500.0])
    ax = knee_depth_axes(X, camera, 0.2)
    assert np.allclose(ax[0], 0.0)
    ray_r = (X[1, 2] - camera) / np.linalg.norm(X[1, 2] - camera)
    ray_l = (X[1, 3] - camera) / np.linalg.norm(X[1, 3] - camera)
    assert np.allclose(ax[1, 0], 0.2 * 50.0 * ray_r) and np.allclose(ax[1, 1], 0.2 * 80.0 * ray_l)


def test_an_oblique_view_reports_the_knee_ambiguity_a_frontal_one_barely_needs(trial):
    """The same landing filmed from the front and at 45 degrees, true 2D and the network's 3D: with
    knee_depth_fraction the reported MKD sd at the deepest frame grows several-fold from the oblique
    camera (depth along its ray is half medial) and little from the frontal one (depth is forward);
    the samples' knees move along their rays by one draw per knee for the whole trial."""
    from kneeview.synth.motion import drop_jump

    joints, athlete = trial
    motion = drop_jump(athlete, np.random.default_rng(4), RATE, RATE, valgus_mm=(25.0, 10.0), duration_s=2.2)
    facing = np.asarray(motion.facing, float)
    facing = facing / np.linalg.norm(facing)
    side = np.cross([0.0, 0.0, 1.0], facing)
    deep = int(np.argmin(joints[:, 2, 2]))  # the right knee at its lowest
    centre = joints[deep, :, :2].mean(0)
    grow = {}
    for name, direction in (("frontal", facing), ("oblique", (facing + side) / np.sqrt(2.0))):
        pos = np.array([*(centre + 4500.0 * direction[:2]), 1100.0])
        cam = make_camera(position=tuple(pos))
        kp, net, conf = network_output(joints, cam)
        plain, amb = (reconstruct(kp, net, conf, cam, RATE, sigma_px=2.0, knee_depth_fraction=f) for f in (0.0, 0.15))
        assert np.array_equal(plain.joints_lab_mm, amb.joints_lab_mm)  # the fit is the same; only its sd grows
        sd0 = metric_uncertainty(plain, n_samples=200, seed=0)["mkd_right_mm_sd"][deep]
        sd1 = metric_uncertainty(amb, n_samples=200, seed=0)["mkd_right_mm_sd"][deep]
        grow[name] = sd1 / sd0
        if name == "oblique":
            tiny = reconstruct(kp, net, conf, cam, RATE, sigma_px=2.0, knee_depth_fraction=0.15, posterior_inflation=1e-9)
            d = tiny.sample(3, seed=1)[:, :, list(KNEES)] - tiny.joints_lab_mm[None, :, list(KNEES)]
            axes = tiny._knee_depth
            bent = np.linalg.norm(axes, axis=-1) > 1.0  # (T, 2) frames where the knee is off its line
            z = np.sum(d * axes[None], -1) / np.sum(axes * axes, -1)[None]  # the draw along each axis
            assert np.allclose(d[:, bent], (z[..., None] * axes[None])[:, bent], atol=1e-3)
            assert np.allclose(z[:, bent[:, 0], 0], z[:, bent[:, 0], 0][:, :1])  # one draw per knee per trial
    assert grow["oblique"] > 2.0 and grow["frontal"] < 0.6 * grow["oblique"], grow


def test_frames_seen_from_behind_carry_the_rear_sd_factor(trial):
    """This camera films the athlete's back (the 2D hips' order says so in every frame): the
    reported sd and the samples' spread are rear_sd_factor times what they are with a factor of 1;
    from a camera in front the factor changes nothing. The frames are the ones the lifter reads on the
    depth-reflected scene (one rule for both: lifting.seen_from_behind_2d)."""
    from kneeview.analysis.lifting import seen_from_behind_2d

    joints, _ = trial
    for position, behind in (((-2600.0, -3600.0, 1100.0), True), ((2600.0, 3600.0, 1100.0), False)):
        cam = make_camera(position)
        kp, net, conf = network_output(joints, cam)
        assert seen_from_behind_2d(kp, conf, cam, RATE).all() == behind
        one = reconstruct(kp, net, conf, cam, RATE, rear_sd_factor=1.0)
        three = reconstruct(kp, net, conf, cam, RATE, rear_sd_factor=3.0)
        np.testing.assert_allclose(three.joints_lab_mm, one.joints_lab_mm)
        want = 3.0 if behind else 1.0
        np.testing.assert_allclose(three.joints_sd_mm, want * one.joints_sd_mm, rtol=1e-9)
        ratio = np.median(three.sample(300, seed=2).std(axis=0) / one.sample(300, seed=2).std(axis=0))
        assert ratio == pytest.approx(want, rel=1e-6)


def test_the_pelvis_yaw_axis_turns_the_hips_about_the_vertical_through_the_mid_hip():
    """pelvis_yaw_axes: each hip moves horizontally, at right angles to the hip axis, by half the hip
    width x the angle in radians, the two hips in opposite directions (a turn, not a shift)."""
    from kneeview.analysis.reconstruction import pelvis_yaw_axes

    X = np.zeros((1, 6, 3))
    X[0, 0], X[0, 1] = (0.0, 0.0, 900.0), (200.0, 30.0, 900.0)  # right, left hip
    ax = pelvis_yaw_axes(X, 2.0)[0]
    half = 0.5 * np.linalg.norm(X[0, 1] - X[0, 0])
    assert np.allclose(np.linalg.norm(ax, axis=-1), half * np.radians(2.0))
    assert np.allclose(ax[:, 2], 0.0) and np.allclose(ax[0], -ax[1])
    assert abs(np.dot(ax[0], X[0, 1] - X[0, 0])) < 1e-9
    assert np.cross(X[0, 1] - X[0, 0], ax[1])[2] > 0  # positive angles turn the pelvis anticlockwise seen from above
    assert np.isnan(pelvis_yaw_axes(np.full((1, 6, 3), np.nan), 2.0)).all()


def test_a_pelvis_yaw_moves_mkd_by_the_knee_lead_times_the_angle(trial):
    """With pelvis_yaw_sd_deg (and no other uncertainty) a frontal camera's MKD sd at the deepest frame
    is the knee's lead ahead of its hip-ankle line x the angle (first order: the frontal plane turns by
    it), the same draw over the whole trial turns both hips, so one knee reads more medial exactly when the
    other reads less, and the fit itself does not move."""
    joints, _ = trial
    centre = joints[0, :, :2].mean(0)
    cam = make_camera(position=(centre[0], centre[1] - 4500.0, 1100.0))
    kp, net, conf = network_output(joints, cam)
    quiet = dict(sigma_px=2.0, knee_depth_fraction=0.0, posterior_inflation=1e-9, rear_sd_factor=1.0)
    plain = reconstruct(kp, net, conf, cam, RATE, **quiet)
    yaw = reconstruct(kp, net, conf, cam, RATE, pelvis_yaw_sd_deg=2.0, **quiet)
    np.testing.assert_array_equal(plain.joints_lab_mm, yaw.joints_lab_mm)
    X = yaw.joints_lab_mm
    deep = int(np.nanargmin(X[:, 2, 2]))
    draws = yaw.sample(400, seed=3)
    d_hips = draws[:, :, :2] - X[None, :, :2]
    assert np.allclose(draws[:, :, 2:], X[None, :, 2:])  # only the hips move
    turn = d_hips[:, :, 1, 1] / (0.5 * (X[:, 1, 0] - X[:, 0, 0]))[None]  # the angle each draw turned by
    assert np.allclose(turn, turn[:, :1], atol=1e-6)  # the same for the whole trial
    assert 0.9 < np.degrees(turn[:, 0]).std() / 2.0 < 1.1
    metrics = [knee_metrics_3d(d) for d in draws]
    for side, (h, k, a) in (("right", (0, 2, 4)), ("left", (1, 3, 5))):
        t = (X[deep, h, 2] - X[deep, k, 2]) / (X[deep, h, 2] - X[deep, a, 2])
        line = X[deep, h] + t * (X[deep, a] - X[deep, h])
        hips = X[deep, 1] - X[deep, 0]
        forward = np.cross(hips, [0.0, 0.0, 1.0])
        lead = abs(np.dot(X[deep, k] - line, forward / np.linalg.norm(forward)))
        sd = np.std([m[f"mkd_{side}_mm"][deep] for m in metrics], ddof=1)
        assert lead > 60.0  # the premise: a bent knee well ahead of its line
        assert 0.85 < sd / (lead * np.radians(2.0)) < 1.15, (side, sd, lead)
    right = np.array([m["mkd_right_mm"][deep] for m in metrics])
    left = np.array([m["mkd_left_mm"][deep] for m in metrics])
    assert np.corrcoef(right, left)[0, 1] < -0.9


def test_the_legs_length_asymmetry_is_the_larger_thigh_or_shank_difference_and_cautions_above_the_threshold(trial):
    """length_asymmetry_mm: max(|thigh R - L|, |shank R - L|) of the fitted lengths, None where one is
    missing; legs_disagree: above LEGS_DISAGREE_MM (a number or an array, missing values say no). On a
    noise-free trial of a symmetric body the fit's legs agree."""
    from kneeview.analysis.reconstruction import LEGS_DISAGREE_MM, legs_disagree, length_asymmetry_mm

    L = {"thigh_right": 410.0, "thigh_left": 400.0, "shank_right": 395.0, "shank_left": 444.0, "hip_width": 180.0}
    assert length_asymmetry_mm(L) == pytest.approx(49.0)
    assert length_asymmetry_mm({**L, "shank_left": 398.0}) == pytest.approx(10.0)
    assert length_asymmetry_mm({**L, "shank_left": float("nan")}) is None
    assert length_asymmetry_mm({"thigh_right": 1.0}) is None and length_asymmetry_mm(None) is None
    assert legs_disagree(LEGS_DISAGREE_MM + 0.1) and not legs_disagree(LEGS_DISAGREE_MM)
    assert not legs_disagree(None) and not legs_disagree(float("nan"))
    np.testing.assert_array_equal(legs_disagree([LEGS_DISAGREE_MM + 1, np.nan, 3.0]), [True, False, False])
    joints, _ = trial
    cam = make_camera()
    kp, net, conf = network_output(joints, cam, depth_scale=1.0)
    rec = reconstruct(kp, net, conf, cam, RATE, sigma_px=0.5)
    assert rec.length_asymmetry_mm == pytest.approx(length_asymmetry_mm(rec.segment_lengths_mm))
    assert rec.length_asymmetry_mm < 5.0 and not legs_disagree(rec.length_asymmetry_mm)
