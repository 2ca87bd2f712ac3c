"""The temporal 2D->3D lifter: NumPy inference against torch, the shipped weights on a synthetic
trial seen through a distorted camera, bad weight files, and its use as the reconstruction's prior."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_fixtures import hip_axis_error_deg, placed_trial

from kneeview.analysis.facing import behind_score, seen_from_behind
from kneeview.analysis.lifting import (BUNDLED_NAME, HIPS, N_EXTRA, bundled_lifter, lift, lifted_prior, load_lifter,
                                       mirror_features, mirror_pose, normalised_keypoints, rear_features, rear_pose,
                                       up_in_camera, window_features)
from kneeview.analysis.reconstruction import reconstruct
from kneeview.bundled import resource_path
from kneeview.errors import KneeViewInputError
from kneeview.joints import FLIP_INDEX
from kneeview.synth.dataset import plan_dataset
from trainer.lifter import leg_length, make_trial

#: A test trial's seed: far from the training seeds (200000+) and the evaluation sets (9xxxx).
SEED = 123457


@pytest.fixture(scope="module")
def shipped():
    path = resource_path("model", BUNDLED_NAME)
    if not path.is_file():
        pytest.skip("no bundled lifter")
    return load_lifter(path)


@pytest.fixture(scope="module")
def trial():
    """A noise-free synthetic trial (joints lab mm, video-rate) and its distorted camera."""
    for spec in plan_dataset(8, SEED, size=(1920, 1080)):
        _, _, fps, cam, joints = make_trial(SEED, spec, np.random.default_rng(0), noise=False)
        corner = np.array([[0.0, 0.0]])
        if np.abs(cam.undistort_points(corner) - corner).max() > 5.0:  # a visibly distorted lens
            return joints, cam, fps
    raise AssertionError("no distorted camera among the trials")


def tiny_model(window=3, hidden=(16, 8)):
    import torch

    from trainer.lifter import build_model

    torch.manual_seed(0)
    return build_model(window * 12 + N_EXTRA, hidden)


def test_numpy_forward_equals_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from trainer.lifter import write_npz

    model = tiny_model()
    n_in = 3 * 12 + N_EXTRA
    rng = np.random.default_rng(1)
    x_mean, x_std = rng.normal(size=n_in), rng.uniform(0.5, 2.0, n_in)
    path = tmp_path / "l.npz"
    write_npz(path, model, x_mean, x_std, 0.7, window=3, window_s=0.1)
    lifter = load_lifter(path)
    x = rng.normal(size=(50, n_in)) * 3
    xs = (x - lifter.nets[0].x_mean) / lifter.nets[0].x_std  # float32-stored standardisation, as loaded
    with torch.no_grad():
        ref = model(torch.from_numpy(xs).float()).double().numpy() * 0.7
    assert np.allclose(lifter.nets[0].forward(x).reshape(50, -1), ref, atol=1e-5)
    lifter.mirror = False
    assert np.allclose(lifter.forward(x).reshape(50, -1), ref, atol=1e-5)


def test_mirror_features_are_the_mirror_images_features():
    """x -> -x in the image (normalised coordinates about the principal point), left and right
    swapped, the lab's up mirrored likewise: window_features of that scene equals mirror_features
    of the original's; and mirroring a pose twice is the identity."""
    rng = np.random.default_rng(5)
    T, window, stride = 40, 7, 2
    norm = rng.normal(size=(T, 6, 2)) * 0.2 + [0.1, -0.05]
    up = rng.normal(size=3)
    mirrored = norm[:, list(FLIP_INDEX)] * [-1.0, 1.0]
    want = window_features(mirrored, up * [-1.0, 1.0, 1.0], stride, window)
    got = mirror_features(window_features(norm, up, stride, window), window)
    np.testing.assert_allclose(got, want, atol=1e-12)
    pose = rng.normal(size=(T, 6, 3))
    np.testing.assert_allclose(mirror_pose(mirror_pose(pose)), pose)
    assert not np.allclose(mirror_pose(pose), pose)


def test_the_mirrored_lifter_is_mirror_equivariant(tmp_path):
    """With ``mirror`` the lifter's reading of the mirror image is exactly its reading of the
    scene, mirrored; each network alone is not (so the averaging is what makes it so)."""
    pytest.importorskip("torch")
    _, ensemble = tiny_lifter_files(tmp_path)
    lifter = load_lifter(ensemble)
    x = np.random.default_rng(6).normal(size=(30, lifter.n_inputs))
    m = mirror_features(x, lifter.window)
    np.testing.assert_allclose(lifter.forward(m), mirror_pose(lifter.forward(x)), atol=1e-9)
    net = lifter.nets[0]
    assert not np.allclose(net.forward(m), mirror_pose(net.forward(x)), atol=1e-3)
    want = np.mean([n.forward(x) for n in lifter.nets] + [mirror_pose(n.forward(m)) for n in lifter.nets], axis=0)
    np.testing.assert_allclose(lifter.forward(x), want, atol=1e-12)


def test_shipped_lifter_on_a_noise_free_distorted_trial(shipped, trial):
    """True 2D in raw (distorted) pixels, true leg length: the relative pose comes back within
    30 mm per joint (median; about 3.5 % of the leg), knees within 35 mm."""
    joints, cam, fps = trial
    kp = cam.project(joints)
    out = lift(kp, np.ones(kp.shape[:2]), cam, shipped, rate_hz=fps, leg_length_m=leg_length(joints) / 1000)
    gt = cam.world_to_camera(joints)
    gt = (gt - gt[:, list(HIPS)].mean(1, keepdims=True)) / 1000
    err = np.linalg.norm(out - gt, axis=-1) * 1000
    assert out.shape == joints.shape
    assert np.median(err) < 30.0
    assert np.median(err[:, 2:4]) < 35.0


def test_missing_and_damaged_files_name_the_file(tmp_path, shipped):
    missing = tmp_path / "nope.npz"
    with pytest.raises(KneeViewInputError, match="nope.npz"):
        load_lifter(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 not a zip at all")
    with pytest.raises(KneeViewInputError, match="garbage.npz"):
        load_lifter(garbage)
    # truncated
    good = resource_path("model", BUNDLED_NAME).read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(KneeViewInputError, match="cut.npz"):
        load_lifter(cut)
    # arrays tampered with: wrong shape, NaN, a pickled object array, a key missing; in a single
    # network's file and in an ensemble's (also: a member missing, an absurd member count)
    single, ensemble = tiny_lifter_files(tmp_path)
    one = dict(np.load(single, allow_pickle=False))
    many = dict(np.load(ensemble, allow_pickle=False))
    cases = [("shape", one, {"W1": one["W1"][:-1]}), ("nan", one, {"b0": one["b0"] * np.nan}),
             ("pickle", one, {"x_mean": np.array([object()], dtype=object)}), ("key", one, {"window": None}),
             ("m_shape", many, {"m1_W1": many["m1_W1"][:-1]}), ("m_nan", many, {"m0_y_scale": np.float64(np.nan)}),
             ("m_member", many, {"members": np.int64(3)}), ("m_count", many, {"members": np.int64(10**9)}),
             ("m_zero", many, {"members": np.int64(0)})]
    for name, arrays, change in cases:
        bad = {**arrays, **change}
        bad = {k: v for k, v in bad.items() if v is not None}
        path = tmp_path / f"tampered_{name}.npz"
        np.savez(path, **bad)
        with pytest.raises(KneeViewInputError, match=f"tampered_{name}.npz"):
            load_lifter(path)


def tiny_lifter_files(tmp_path, window=3):
    """Two tiny single-network lifter files and the ensemble of the two (``--combine``)."""
    import torch

    from trainer.lifter import combine, write_npz

    n_in = window * 12 + N_EXTRA
    rng = np.random.default_rng(2)
    paths = []
    for k in range(2):
        model = tiny_model(window)
        with torch.no_grad():
            for prm in model.parameters():
                prm.add_(torch.from_numpy(rng.normal(size=tuple(prm.shape)) * 0.3).float())
        paths.append(tmp_path / f"net{k}.npz")
        write_npz(paths[-1], model, rng.normal(size=n_in), rng.uniform(0.5, 2.0, n_in), 0.5 + k, window=window,
                  window_s=0.1)
    combine(tmp_path / "both.npz", paths)
    return paths[0], tmp_path / "both.npz"


def test_an_ensemble_is_the_mean_of_its_networks(tmp_path):
    pytest.importorskip("torch")
    single, ensemble = tiny_lifter_files(tmp_path)
    a, b = load_lifter(single), load_lifter(tmp_path / "net1.npz")
    both = load_lifter(ensemble)
    for lf in (a, b, both):
        lf.mirror = False
    x = np.random.default_rng(3).normal(size=(40, a.n_inputs)) * 2
    assert len(both.nets) == 2 and both.n_parameters == a.n_parameters + b.n_parameters
    assert not np.allclose(a.forward(x), b.forward(x), atol=1e-3)  # the two differ, so the mean is a real test
    np.testing.assert_allclose(both.forward(x), (a.forward(x) + b.forward(x)) / 2, atol=1e-9)
    # an ensemble of an ensemble and a network: three networks, each counted once
    from trainer.lifter import combine

    combine(tmp_path / "three.npz", [ensemble, single])
    three = load_lifter(tmp_path / "three.npz")
    three.mirror = False
    np.testing.assert_allclose(three.forward(x), (2 * a.forward(x) + b.forward(x)) / 3, atol=1e-9)
    record = (tmp_path / "three.json").read_text()
    assert both.sha256 in record and a.sha256 in record


def test_combine_refuses_lifters_with_different_windows(tmp_path):
    pytest.importorskip("torch")
    from trainer.lifter import combine, write_npz

    single, _ = tiny_lifter_files(tmp_path)
    other = tmp_path / "wide.npz"
    write_npz(other, tiny_model(5), np.zeros(5 * 12 + N_EXTRA), np.ones(5 * 12 + N_EXTRA), 1.0, window=5, window_s=0.1)
    with pytest.raises(ValueError, match="wide.npz"):
        combine(tmp_path / "mixed.npz", [single, other])
    assert not (tmp_path / "mixed.npz").exists()


def test_reconstruction_with_the_lifter_prior(shipped, trial):
    """True 2D, a network prior with its depth stretched 1.4x: with the lifter's prior the knees
    relative to the mid-hip (what MKD and FPPA see) come back within 25 mm, under half the
    network prior's error; an unknown prior name is refused."""
    joints, cam, fps = trial
    kp = cam.project(joints)
    rel = cam.world_to_camera(joints)
    rel = rel - rel[:, list(HIPS)].mean(1, keepdims=True)
    rel[..., 2] *= 1.4
    net = rel / 1000
    conf = np.ones(kp.shape[:2])
    truth = joints - joints[:, list(HIPS)].mean(1, keepdims=True)
    err = {}
    for prior in ("network", "lifter"):
        X = reconstruct(kp, net, conf, cam, fps, prior=prior, lifter=shipped).joints_lab_mm
        X = X - X[:, list(HIPS)].mean(1, keepdims=True)
        err[prior] = np.nanmedian(np.linalg.norm(X[:, 2:4] - truth[:, 2:4], axis=-1))
    assert err["lifter"] < 25.0
    assert err["lifter"] < 0.5 * err["network"]
    pose, spread = lifted_prior(kp, net, conf, cam, fps, shipped)
    assert np.isfinite(pose).all() and np.isfinite(spread).all() and spread.shape == (len(kp),)
    with pytest.raises(ValueError, match="prior"):
        reconstruct(kp, net, conf, cam, fps, prior="bogus")


def test_bundled_lifter_loads_once(shipped):
    assert bundled_lifter() is bundled_lifter()
    assert bundled_lifter().n_parameters == shipped.n_parameters
    assert all(net.n_parameters < 400_000 for net in shipped.nets)  # small networks: ms per trial on a CPU


def test_the_calibrated_placement_takes_the_bundled_lifters_prior(shipped, trial):
    """What the app and ``kneeview export --source model`` read: the reconstruction with the bundled
    lifter's directions, not the network's (here a network whose depth is stretched 1.4x)."""
    from types import SimpleNamespace

    from kneeview.session.inputs import from_pose_sequence

    joints, cam, fps = trial
    kp = cam.project(joints)
    rel = cam.world_to_camera(joints)
    rel = rel - rel[:, list(HIPS)].mean(1, keepdims=True)
    rel[..., 2] *= 1.4
    conf = np.ones(kp.shape[:2])
    seq = SimpleNamespace(keypoints_px=kp, joints_cam_m=rel / 1000, confidence=conf, frame_index=np.arange(len(kp)),
                          model={}, source="model")
    placed = from_pose_sequence(seq, cam, fps).joints_lab_mm
    with_lifter = reconstruct(kp, rel / 1000, conf, cam, fps, prior="lifter", lifter=shipped).joints_lab_mm
    with_network = reconstruct(kp, rel / 1000, conf, cam, fps, prior="network").joints_lab_mm
    np.testing.assert_allclose(placed, with_lifter, atol=1e-6)
    assert np.nanmax(np.abs(placed - with_network)) > 10.0


def test_lifter_training_data_with_generic_motion():
    """``--task all``: the training windows include walking and standing trials (the synthesiser's
    generic motions), each with a finite target; ``mix`` has drop jumps and squats only."""
    from kneeview.synth.dataset import plan_dataset
    from trainer.lifter import make_dataset

    tasks_all = {s.task for s in plan_dataset(12, 200000, task="all", size=(1920, 1080))}
    tasks_mix = {s.task for s in plan_dataset(12, 200000, task="mix", size=(1920, 1080))}
    assert tasks_all & {"WALK", "STAND"} and not tasks_mix & {"WALK", "STAND"}
    X, Y = make_dataset(12, 200000, task="all")
    assert X.shape[0] == Y.shape[0] > 0 and np.isfinite(X).all() and np.isfinite(Y).all()


def test_fit_validates_on_windows_drawn_like_its_training_windows(tmp_path, monkeypatch):
    """trainer.lifter.fit's validation windows (another seed) come from the same task mix, valgus, 2D noise,
    occlusion and window as its training windows, so the figure it prints is for what it was trained on."""
    import trainer.lifter as tl

    calls = []

    class Drawn(Exception):
        pass

    def record(n_trials, seed, **kw):
        calls.append((seed, kw))
        if seed == 200000 + 777_777:  # the validation draw: all that is needed
            raise Drawn
        return np.zeros((1, 4)), np.zeros((1, 18))

    monkeypatch.setattr(tl, "make_dataset", record)
    with pytest.raises(Drawn):
        tl.fit(tmp_path / "l.npz", n_trials=20, seed=200000, n_noise=2, task="all", occlusion=0.25, noise_scale=0.5)
    (val,) = [kw for seed, kw in calls if seed == 200000 + 777_777]
    train = [kw for seed, kw in calls if seed != 200000 + 777_777]
    assert len(train) == 2
    for key in ("task", "occlusion", "noise", "valgus", "window", "window_s"):
        assert val.get(key) == train[0].get(key), (key, val.get(key), train[0].get(key))


def test_occlusion_noise_moves_one_joint_for_a_long_stretch():
    """``--occlusion``: rate 0 adds nothing; rate 1 moves exactly one joint, over one contiguous
    run of 30-100 % of the trial, by 5-30 per-mille of the diagonal (with a little drift), and
    half the time that joint is the higher (lifted) ankle."""
    from trainer.lifter import occlusion_noise

    T, diag = 120, float(np.hypot(1920, 1080))
    joints = np.zeros((T, 6, 3))
    joints[:, 4, 2], joints[:, 5, 2] = 420.0, 70.0  # the right foot held up
    rng = np.random.default_rng(11)
    assert not occlusion_noise(rng, T, diag, joints, 0.0).any()
    picked = []
    for _ in range(200):
        out = occlusion_noise(rng, T, diag, joints, 1.0)
        moved = np.flatnonzero(np.abs(out).sum(axis=(0, 2)) > 0)
        assert len(moved) == 1
        j = int(moved[0])
        frames = np.flatnonzero(np.abs(out[:, j]).sum(-1) > 0)
        assert 0.3 * T - 1 <= len(frames) <= T and np.all(np.diff(frames) == 1)
        size = np.linalg.norm(out[frames, j], axis=-1) / (diag * 1e-3)
        assert np.median(size) > 2.0 and size.max() < 30.0 * 2.5
        picked.append(j)
    share_lifted = np.mean(np.array(picked) == 4)
    assert 0.45 < share_lifted < 0.75  # 1/2 + 1/2 x 1/6 expected
    assert np.mean(np.array(picked) == 5) < 0.2


def test_rear_reading_is_the_depth_reflected_relabelled_scene():
    """A person seen from behind, reflected in depth about the mid-hip and relabelled left <-> right,
    is a person facing the camera with the same 2D (to the depth extent over the distance), whose
    left hip shows on the image's right; the features are those of that scene, and reading back
    (rear_pose) the reflected pose gives the original exactly (an involution)."""
    joints, cam, _ = placed_trial("rear")
    X = cam.world_to_camera(joints)  # mm, camera frame
    hip = X[:, list(HIPS)].mean(1, keepdims=True)
    reflected = rear_pose(X)  # the reflected, relabelled scene (rear_pose is its own inverse)
    np.testing.assert_allclose(rear_pose(reflected), X, atol=1e-9)
    np.testing.assert_allclose(reflected[:, list(HIPS)].mean(1), hip[:, 0], atol=1e-9)  # same place
    # same 2D up to perspective: the relative depth (< 0.5 m) against the distance (3.5-6.5 m)
    n_orig = X[..., :2] / X[..., 2:]
    n_refl = reflected[..., :2] / reflected[..., 2:]
    assert np.abs(n_refl - n_orig[:, list(FLIP_INDEX)]).max() < 0.03
    up = up_in_camera(cam)
    norm = n_orig  # noise-free normalised keypoints
    norm_r, up_r = rear_features(norm, up)
    np.testing.assert_allclose(norm_r, norm[:, list(FLIP_INDEX)])
    np.testing.assert_allclose(up_r, up * [1, 1, -1])
    # the reflected scene faces the camera: its forward (left x up) points back along the viewing ray
    left = reflected[:, 1] - reflected[:, 0]
    forward = np.cross(left, up_r)
    assert np.all(np.sum(forward * reflected[:, list(HIPS)].mean(1), -1) < 0)
    assert np.all(behind_score(norm, up) > 0) and np.all(behind_score(norm_r, up_r) < 0)


@pytest.mark.parametrize("placement, behind", [("frontal", False), ("oblique", False), ("rear", True)])
def test_seen_from_behind_follows_the_camera_placement(placement, behind):
    for task in ("DJ", "SLS"):
        joints, cam, fps = placed_trial(placement, task)
        norm = normalised_keypoints(cam.project(joints), None, cam)
        assert np.all(seen_from_behind(norm, up_in_camera(cam), fps) == behind), (placement, task)


def test_the_shipped_lifter_reads_a_camera_behind_the_athlete(shipped):
    """The lifter was trained on cameras in front of the athlete. Seen from behind (true 2D, a
    rear camera) its hip axis was 90-100 degrees off (a person facing the camera has its left hip
    on the other side) until the rear frames were read on the depth-reflected scene."""
    for task in ("DJ", "SLS"):
        joints, cam, fps = placed_trial("rear", task)
        kp = cam.project(joints)
        leg = leg_length(joints) / 1000
        out = lift(kp, np.ones(kp.shape[:2]), cam, shipped, rate_hz=fps, leg_length_m=leg)
        gt = cam.world_to_camera(joints)
        gt = (gt - gt[:, list(HIPS)].mean(1, keepdims=True)) / 1000
        err = np.linalg.norm(out - gt, axis=-1) * 1000
        assert np.median(hip_axis_error_deg(out, joints, cam)) < 20.0, task
        assert np.median(err) < 40.0, task
        shipped.rear = False
        try:
            front_only = lift(kp, np.ones(kp.shape[:2]), cam, shipped, rate_hz=fps, leg_length_m=leg)
        finally:
            shipped.rear = True
        assert np.median(hip_axis_error_deg(front_only, joints, cam)) > 60.0, task
        # and a frontal camera is read as before: nothing is seen from behind
        joints_f, cam_f, _ = placed_trial("frontal", task)
        kp_f = cam_f.project(joints_f)
        a = lift(kp_f, None, cam_f, shipped, rate_hz=fps, leg_length_m=leg)
        shipped.rear = False
        try:
            b = lift(kp_f, None, cam_f, shipped, rate_hz=fps, leg_length_m=leg)
        finally:
            shipped.rear = True
        np.testing.assert_array_equal(a, b)


def test_the_frames_read_from_behind_can_be_given(shipped):
    """lift_with_spread reads the frames it is told are seen from behind on the reflected scene (the
    reconstruction decides them once, seen_from_behind_2d, for the lifter and its bands): the frames
    that function finds give the reading it makes by itself, none gives the front-only reading."""
    from kneeview.analysis.lifting import lift_with_spread, seen_from_behind_2d

    joints, cam, fps = placed_trial("rear", "DJ")
    kp = cam.project(joints)
    conf = np.ones(kp.shape[:2])
    behind = seen_from_behind_2d(kp, conf, cam, fps)
    assert behind.all()
    own, _ = lift_with_spread(kp, conf, cam, shipped, rate_hz=fps)
    given, _ = lift_with_spread(kp, conf, cam, shipped, rate_hz=fps, behind=behind)
    np.testing.assert_array_equal(given, own)
    none, _ = lift_with_spread(kp, conf, cam, shipped, rate_hz=fps, behind=np.zeros(len(kp), bool))
    shipped.rear = False
    try:
        front_only, _ = lift_with_spread(kp, conf, cam, shipped, rate_hz=fps)
    finally:
        shipped.rear = True
    np.testing.assert_array_equal(none, front_only)
    assert np.median(hip_axis_error_deg(none, joints, cam)) > 60.0


def test_reading_spread_is_the_mean_angle_to_the_members_mean_direction():
    """Two members that agree except on the right thigh, turned +-10 degrees about the camera's
    z axis: that segment's spread is 10 degrees, the mean over the five segments 2; members that
    agree everywhere: 0."""
    from kneeview.analysis.lifting import SPREAD_SEGMENTS, reading_spread_deg

    base = np.array([[-0.1, 0, 0], [0.1, 0, 0], [-0.1, 0.45, 0.0], [0.1, 0.45, 0.05], [-0.1, 0.9, 0], [0.1, 0.9, 0]])
    assert (0, 2) in SPREAD_SEGMENTS and len(SPREAD_SEGMENTS) == 5

    def turned(deg):
        t = np.radians(deg)
        R = np.array([[np.cos(t), -np.sin(t), 0], [np.sin(t), np.cos(t), 0], [0, 0, 1]])
        pose = base.copy()
        pose[2] = base[0] + R @ (base[2] - base[0])
        pose[4] = pose[2] + (base[4] - base[2])  # the shank keeps its direction
        return pose

    readings = np.stack([turned(10.0)[None], turned(-10.0)[None]])  # (M=2, N=1, 6, 3)
    np.testing.assert_allclose(reading_spread_deg(readings), [2.0], atol=1e-9)
    np.testing.assert_allclose(reading_spread_deg(np.stack([base[None]] * 4)), [0.0], atol=1e-6)
    assert np.isnan(reading_spread_deg(np.full((2, 1, 6, 3), np.nan))).all()


def test_the_lifters_networks_disagree_on_a_pose_they_never_saw_and_the_fit_says_unreliable(shipped, trial):
    """The trial as filmed: the networks agree (spread well under the threshold) and the readings'
    mean is :func:`lift`'s pose. The same 2D turned upside down about the hips (a handstand, which
    no training trial has): they disagree by tens of degrees and the reconstruction marks every
    such frame unreliable; with the network's prior there is no spread to read."""
    from kneeview.analysis.lifting import UNFAMILIAR_SPREAD_DEG, lift_with_spread

    joints, cam, fps = trial
    kp = cam.project(joints)
    pose, spread = lift_with_spread(kp, None, cam, shipped, rate_hz=fps)
    np.testing.assert_allclose(pose, lift(kp, None, cam, shipped, rate_hz=fps), atol=1e-12)
    assert np.percentile(spread, 95) < 0.25 * UNFAMILIAR_SPREAD_DEG
    mid = kp[:, list(HIPS)].mean(1, keepdims=True)
    upside = kp.copy()
    upside[..., 1] = 2 * mid[..., 1] - kp[..., 1]
    _, odd = lift_with_spread(upside, None, cam, shipped, rate_hz=fps)
    assert np.percentile(odd, 5) > 2 * UNFAMILIAR_SPREAD_DEG

    rel = cam.world_to_camera(joints) / 1000
    rel = rel - rel[:, list(HIPS)].mean(1, keepdims=True)
    conf = np.ones(kp.shape[:2])
    good = reconstruct(kp, rel, conf, cam, fps, prior="lifter", lifter=shipped)
    np.testing.assert_allclose(good.prior_spread_deg, spread, atol=1e-9)
    assert good.reliable.mean() > 0.9
    bad = reconstruct(upside, rel, conf, cam, fps, prior="lifter", lifter=shipped)
    assert (bad.prior_spread_deg > UNFAMILIAR_SPREAD_DEG).all() and not bad.reliable.any()
    assert reconstruct(kp, rel, conf, cam, fps, prior="network").prior_spread_deg is None


def test_high_training_cameras_stand_high_in_front_and_leave_the_rest_as_before():
    """``--high-fraction 1``: every camera 1.7-3.2 m up, 2.5-6.5 m from the movement, still in
    front of the athlete (the lifter reads a rear view through the reflected scene); 0: the
    default recipe's trials, bit for bit."""
    from trainer.lifter import HIGH_CAMERA_MM

    for spec in plan_dataset(4, SEED, size=(1920, 1080)):
        x0, y0, _, cam0, _ = make_trial(SEED, spec, np.random.default_rng(0), noise=False)
        x1, y1, _, cam1, _ = make_trial(SEED, spec, np.random.default_rng(0), noise=False, high_fraction=0.0)
        np.testing.assert_array_equal(x0, x1)
        np.testing.assert_array_equal(y0, y1)
        assert cam0.position_mm[2] < HIGH_CAMERA_MM[0]
        _, _, _, cam, joints = make_trial(SEED, spec, np.random.default_rng(0), noise=False, high_fraction=1.0)
        assert HIGH_CAMERA_MM[0] <= cam.position_mm[2] <= HIGH_CAMERA_MM[1]
        assert up_in_camera(cam)[2] < -0.1  # looking down
        facing = np.asarray(joints[:, 1] - joints[:, 0], float)  # right -> left hip
        fwd = np.cross(facing.mean(0), [0.0, 0.0, 1.0])  # the athlete's forward: left x up
        to_cam = cam.position_mm - joints[:, :2].mean(axis=(0, 1))
        assert np.dot(fwd[:2], to_cam[:2]) > 0  # in front


def test_the_bands_widen_with_the_lifters_spread(shipped, trial):
    """Each frame's sd and samples carry max(1, sqrt(spread / spread_sd_scale_deg)): with a scale far above
    the spread nothing changes, with one below it the sd is exactly that many times wider."""
    joints, cam, fps = trial
    kp = cam.project(joints)
    rel = cam.world_to_camera(joints) / 1000
    rel = rel - rel[:, list(HIPS)].mean(1, keepdims=True)
    conf = np.ones(kp.shape[:2])
    wide = reconstruct(kp, rel, conf, cam, fps, prior="lifter", lifter=shipped, spread_sd_scale_deg=1e9)
    narrow = reconstruct(kp, rel, conf, cam, fps, prior="lifter", lifter=shipped, spread_sd_scale_deg=0.1)
    factor = np.maximum(1.0, np.sqrt(wide.prior_spread_deg / 0.1))
    assert factor.min() > 1.5  # the spread (about 0.6 degrees here) is above the scale in every frame
    np.testing.assert_allclose(narrow.joints_lab_mm, wide.joints_lab_mm)
    ok = np.isfinite(wide.joints_sd_mm).all(axis=(1, 2))
    np.testing.assert_allclose(narrow.joints_sd_mm[ok], wide.joints_sd_mm[ok] * factor[ok, None, None], rtol=1e-9)
    a, b = narrow.sample(50, seed=4), wide.sample(50, seed=4)
    scaled = (b - wide.joints_lab_mm) * factor[None, :, None, None]
    np.testing.assert_allclose((a - narrow.joints_lab_mm)[:, ok], scaled[:, ok], atol=1e-6)
