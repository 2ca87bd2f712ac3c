"""Knee metrics on analytic geometries, the athlete frame, and network output into the lab."""
import numpy as np
import pytest

from analysis_fixtures import leg_pose, place
from sessions import make_camera
from kneeview.analysis import (analyse, athlete_axes, camera_to_lab, knee_metrics_2d, knee_metrics_3d, locate_mid_hip,
                               mid_hip)

FACINGS = [0.0, 90.0, -90.0, 137.0, 200.0]


def trial(poses, facing, origin=(250.0, -1300.0, 0.0)):
    return place(np.asarray(poses), facing, origin)


@pytest.mark.parametrize("facing", FACINGS)
def test_straight_vertical_legs_give_zero_mkd_fppa_and_flexion(facing):
    pose = leg_pose(hip_half=100.0, ankle_half=100.0)  # hips straight above the ankles
    m = knee_metrics_3d(trial([pose] * 3, facing))
    for side in ("right", "left"):
        np.testing.assert_allclose(m[f"mkd_{side}_mm"], 0.0, atol=1e-9)
        np.testing.assert_allclose(m[f"fppa_{side}_deg"], 0.0, atol=1e-9)
        np.testing.assert_allclose(m[f"knee_flexion_{side}_deg"], 0.0, atol=1e-5)
    np.testing.assert_allclose(m["kasr"], 1.0)


@pytest.mark.parametrize("facing", FACINGS)
@pytest.mark.parametrize("shift", [25.0, -12.5])
def test_knee_moved_medially_gives_that_displacement_on_each_leg(facing, shift):
    hip_z, knee_z, ankle_z = 950.0, 500.0, 80.0
    for side in ("right", "left"):
        kw = {"medial_right": shift} if side == "right" else {"medial_left": shift}
        pose = leg_pose(hip_half=100.0, ankle_half=100.0, hip_z=hip_z, knee_z=knee_z, ankle_z=ankle_z, **kw)
        m = knee_metrics_3d(trial([pose] * 2, facing))
        other = "left" if side == "right" else "right"
        np.testing.assert_allclose(m[f"mkd_{side}_mm"], shift, atol=1e-9)
        np.testing.assert_allclose(m[f"mkd_{other}_mm"], 0.0, atol=1e-9)
        fppa = np.degrees(np.arctan(shift / (hip_z - knee_z)) + np.arctan(shift / (knee_z - ankle_z)))
        np.testing.assert_allclose(m[f"fppa_{side}_deg"], fppa, atol=1e-9)
        np.testing.assert_allclose(m[f"fppa_{other}_deg"], 0.0, atol=1e-9)
        np.testing.assert_allclose(m["kasr"], (200.0 - shift) / 200.0, atol=1e-12)


def test_mkd_is_the_perpendicular_distance_from_a_tilted_hip_ankle_line():
    # hips 80 mm, ankles 160 mm from the midline: the hip-ankle line leans outwards
    pose = leg_pose(hip_half=80.0, ankle_half=160.0, hip_z=950.0, knee_z=500.0, ankle_z=80.0, medial_right=30.0)
    m = knee_metrics_3d(trial([pose], 45.0))
    tilt = np.arctan(80.0 / 870.0)
    np.testing.assert_allclose(m["mkd_right_mm"], 30.0 * np.cos(tilt), atol=1e-9)
    np.testing.assert_allclose(m["mkd_left_mm"], 0.0, atol=1e-9)


@pytest.mark.parametrize("facing", FACINGS)
def test_sagittal_knee_flexion_does_not_count_as_valgus(facing):
    pose = leg_pose(hip_half=100.0, ankle_half=100.0, hip_z=900.0, knee_z=500.0, ankle_z=100.0, knee_forward=400.0)
    m = knee_metrics_3d(trial([pose], facing))
    for side in ("right", "left"):
        np.testing.assert_allclose(m[f"mkd_{side}_mm"], 0.0, atol=1e-9)
        np.testing.assert_allclose(m[f"fppa_{side}_deg"], 0.0, atol=1e-9)
        # thigh and shank both 400 forward, 400 down: 90 degrees between them
        np.testing.assert_allclose(m[f"knee_flexion_{side}_deg"], 90.0, atol=1e-9)


def test_mkd_relative_to_initial_contact_and_leg_length_normalisation():
    poses = [leg_pose(hip_half=100.0, ankle_half=100.0, medial_right=d, medial_left=2 * d) for d in (0.0, 5.0, 10.0, 20.0)]
    joints = trial(poses, 30.0)
    m = knee_metrics_3d(joints, reference_frame=1)
    np.testing.assert_allclose(m["mkd_ic_right_mm"], [-5.0, 0.0, 5.0, 15.0], atol=1e-9)
    np.testing.assert_allclose(m["mkd_ic_left_mm"], [-10.0, 0.0, 10.0, 30.0], atol=1e-9)
    def leg_length(h, k, a):
        return (np.linalg.norm(joints[:, k] - joints[:, h], axis=-1).mean()
                + np.linalg.norm(joints[:, a] - joints[:, k], axis=-1).mean())

    np.testing.assert_allclose(m["mkd_right_pct_leg"], 100 * m["mkd_right_mm"] / leg_length(0, 2, 4))
    np.testing.assert_allclose(m["mkd_ic_left_pct_leg"][3], 100 * 30.0 / leg_length(1, 3, 5))


def test_athlete_axes_are_right_handed_and_face_where_the_athlete_faces():
    for facing in FACINGS:
        joints = trial([leg_pose()], facing)
        axes = athlete_axes(joints)[0]
        np.testing.assert_allclose(axes @ axes.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(axes) == pytest.approx(1.0)
        a = np.radians(facing)
        np.testing.assert_allclose(axes[0], [np.cos(a), np.sin(a), 0.0], atol=1e-12)
        np.testing.assert_allclose(axes[2], [0.0, 0.0, 1.0])
    hipless = trial([leg_pose()], 0.0)
    hipless[0, 0] = np.nan
    assert np.isnan(athlete_axes(hipless)).all()
    assert np.isnan(knee_metrics_3d(hipless)["mkd_right_mm"]).all()


def image_pose(facing_camera=True, medial_px=(0.0, 0.0)):
    """2D keypoints (6, 2): right leg on image-left when the athlete faces the camera."""
    s = 1.0 if facing_camera else -1.0  # +u is the athlete's left when facing the camera
    cx = 320.0
    kp = np.array([
        [cx - s * 40, 200.0], [cx + s * 40, 200.0],  # hips
        [cx - s * 40 + s * medial_px[0], 300.0], [cx + s * 40 - s * medial_px[1], 300.0],  # knees
        [cx - s * 40, 400.0], [cx + s * 40, 400.0],  # ankles
    ])
    return kp


@pytest.mark.parametrize("facing_camera", [True, False])
@pytest.mark.parametrize("medial", [(10.0, 0.0), (0.0, 10.0), (-6.0, 8.0)])
def test_2d_metrics_in_pixels_medial_positive_from_either_side(facing_camera, medial):
    m = knee_metrics_2d(np.stack([image_pose(facing_camera), image_pose(facing_camera, medial)]))
    for i, side in enumerate(("right", "left")):
        np.testing.assert_allclose(m[f"mkd_2d_{side}_px"], [0.0, medial[i]], atol=1e-9)
        np.testing.assert_allclose(m[f"fppa_2d_{side}_deg"], [0.0, 2 * np.degrees(np.arctan(medial[i] / 100.0))], atol=1e-9)
        np.testing.assert_allclose(m[f"mkd_ic_2d_{side}_px"], [0.0, medial[i]], atol=1e-9)
    np.testing.assert_allclose(m["kasr_2d"], [1.0, (80.0 - medial[0] - medial[1]) / 80.0])


def test_2d_and_3d_agree_through_a_frontal_camera():
    cam = make_camera(size=(640, 480), position=(0.0, -5000.0, 500.0), target=(0.0, 0.0, 500.0), w=(0.0, 0.0, 0.0))
    pose = leg_pose(hip_half=100.0, ankle_half=100.0, medial_right=30.0, medial_left=15.0)
    joints = trial([pose], -90.0, origin=(0.0, 0.0, 0.0))  # facing the camera (lab -Y)
    kp = cam.project(joints)
    m3, m2 = knee_metrics_3d(joints), knee_metrics_2d(kp)
    for side in ("right", "left"):
        assert np.sign(m2[f"mkd_2d_{side}_px"]) == np.sign(m3[f"mkd_{side}_mm"]) == 1
        np.testing.assert_allclose(m2[f"fppa_2d_{side}_deg"], m3[f"fppa_{side}_deg"], rtol=0.02)
        # pixels per mm at the athlete's distance
        np.testing.assert_allclose(m2[f"mkd_2d_{side}_px"], m3[f"mkd_{side}_mm"] * cam.focal_length_px / 5000.0, rtol=0.02)


def test_network_output_rotates_into_the_lab_and_the_mid_hip_is_recovered():
    cam = make_camera()  # Vicon radial distortion, oblique view
    rng = np.random.default_rng(3)
    joints = trial([leg_pose(medial_right=d) for d in rng.uniform(-20, 20, 5)], -70.0, origin=(100.0, 200.0, 0.0))
    joints += rng.normal(0, 5, joints.shape)
    hip = mid_hip(joints)
    rel_cam_m = ((joints - hip[:, None]) @ cam.R.T) / 1000.0  # what the network predicts
    np.testing.assert_allclose(camera_to_lab(rel_cam_m, cam), joints - hip[:, None], atol=1e-9)
    np.testing.assert_allclose(camera_to_lab(rel_cam_m, cam, hip), joints, atol=1e-9)
    kp = cam.project(joints)
    found = locate_mid_hip(rel_cam_m, kp, cam, confidence=np.ones(joints.shape[:2]))
    np.testing.assert_allclose(found, hip, atol=0.05)
    kp[2, :4] = np.nan  # too few joints seen in one frame
    found = locate_mid_hip(rel_cam_m, kp, cam)
    assert np.isnan(found[2]).all() and np.isfinite(found[[0, 1, 3, 4]]).all()


def test_analyse_bad_inputs_are_reported():
    from kneeview.errors import KneeViewInputError

    joints = trial([leg_pose()] * 30, 0.0)
    with pytest.raises(KneeViewInputError, match="cutoff"):
        analyse(joints, 10.0, cutoff_hz=6.0)
    with pytest.raises(KneeViewInputError, match="shape"):
        analyse(joints[:, :4], 100.0)
    with pytest.raises(KneeViewInputError, match="unknown task"):
        analyse(joints, 100.0, task="marathon")
    a = analyse(joints, 100.0, cutoff_hz=0)
    assert a.cutoff_hz is None and a.events.task is None
    np.testing.assert_array_equal(a.joints_lab_mm, joints)


def test_metrics_are_invariant_to_where_the_athlete_stands_and_faces_and_mirror_between_legs():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from kneeview import joints as J

    rng = np.random.default_rng(11)
    poses = np.array([leg_pose(hip_half=rng.uniform(70, 110), ankle_half=rng.uniform(60, 180),
                               knee_forward=rng.uniform(0, 200), medial_right=rng.uniform(-30, 40),
                               medial_left=rng.uniform(-30, 40)) for _ in range(8)])
    reference = knee_metrics_3d(trial(poses, 0.0, origin=(0.0, 0.0, 0.0)), reference_frame=0)

    @settings(max_examples=25, deadline=None)
    @given(st.floats(-180, 180), st.floats(-3000, 3000), st.floats(-3000, 3000))
    def check(facing, x, y):
        m = knee_metrics_3d(trial(poses, facing, origin=(x, y, 0.0)), reference_frame=0)
        for key, value in reference.items():
            np.testing.assert_allclose(m[key], value, atol=1e-6, err_msg=key)

    check()
    # a mirror image (lab X -> -X, left and right joints swapped) swaps the legs' metrics
    mirrored = trial(poses, 30.0) * np.array([-1.0, 1.0, 1.0])
    mirrored = mirrored[:, list(J.FLIP_INDEX)]
    m = knee_metrics_3d(mirrored, reference_frame=0)
    for key, value in reference.items():
        swapped = key.replace("right", "@").replace("left", "right").replace("@", "left")
        np.testing.assert_allclose(m[swapped], value, atol=1e-6, err_msg=key)


def test_a_squats_peaks_are_read_on_its_stance_leg_only():
    """stance_leg_peaks: every peak of the lifted leg (value NaN, frame None) and every left-right
    asymmetry go; the stance leg's peaks and the trial-wide ones (KASR) stay as they were."""
    from kneeview.analysis.pipeline import stance_leg_peaks

    peaks = {"mkd_peak_left_mm": 30.0, "mkd_peak_left_frame": 40, "mkd_peak_right_mm": 5.0, "mkd_peak_right_frame": 12,
             "mkd_peak_asymmetry_mm": 25.0, "fppa_peak_right_deg": 179.8, "fppa_peak_right_frame": 50,
             "fppa_peak_left_deg": 12.0, "fppa_peak_left_frame": 41, "fppa_peak_asymmetry_deg": -167.8,
             "knee_flexion_peak_right_deg": 104.0, "knee_flexion_peak_right_frame": 60, "kasr_min": 0.8, "kasr_min_frame": 3}
    out = stance_leg_peaks(peaks, "left")
    for key in ("mkd_peak_right_mm", "mkd_peak_asymmetry_mm", "fppa_peak_right_deg", "fppa_peak_asymmetry_deg",
                "knee_flexion_peak_right_deg"):
        assert np.isnan(out[key]), key
    assert out["mkd_peak_right_frame"] is None and out["fppa_peak_right_frame"] is None
    assert out["knee_flexion_peak_right_frame"] is None
    for key in ("mkd_peak_left_mm", "mkd_peak_left_frame", "fppa_peak_left_deg", "fppa_peak_left_frame", "kasr_min",
                "kasr_min_frame"):
        assert out[key] == peaks[key], key
    assert set(out) == set(peaks)
    assert stance_leg_peaks(peaks, "right")["mkd_peak_right_mm"] == 5.0
