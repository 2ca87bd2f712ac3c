"""C3D ground truth: the real sample files, PiG joint centres, units, gaps, resampling."""
import numpy as np
import pytest

from sessions import C3D_DIR, standing_joints
from kneeview import joints as J
from kneeview.errors import GroundTruthError
from kneeview.io.c3d import read_ground_truth, read_points, write_ground_truth


def test_storage_variants_hold_the_same_trial():
    """Intel integer, DEC float and SGI (big-endian) float copies of one trial agree."""
    pc_int = read_points(C3D_DIR / "pc_int.c3d")
    dec = read_points(C3D_DIR / "dec_real.c3d")
    sgi = read_points(C3D_DIR / "sgi_real.c3d")  # ezc3d refuses MIPS; the c3d package reads it
    assert sgi.reader == "c3d" and dec.reader == "ezc3d"
    assert pc_int.points.shape == dec.points.shape == sgi.points.shape == (89, 36, 3)
    assert pc_int.labels == dec.labels == sgi.labels
    np.testing.assert_array_equal(np.isnan(dec.points), np.isnan(sgi.points))
    np.testing.assert_allclose(dec.points, sgi.points, equal_nan=True)
    # integer storage is quantised by POINT:SCALE (here below 0.3 mm)
    np.testing.assert_allclose(pc_int.points, dec.points, atol=0.3, equal_nan=True)
    a, b = read_points(C3D_DIR / "Eb015pi.c3d"), read_points(C3D_DIR / "Eb015pr.c3d")
    np.testing.assert_allclose(a.points, b.points, atol=0.3, equal_nan=True)


def test_subject_prefix_units_and_gaps_of_a_real_nexus_capture():
    import c3d as c3d_pkg

    data = read_points(C3D_DIR / "kinematics_tennis_serve_nan.c3d")
    assert data.units == "m" and data.rate_hz == 50.0 and data.points.shape == (1092, 39, 3)
    assert all(lab.startswith("Derrick:") for lab in data.labels)
    assert np.isnan(data.points).any()  # the file has gaps
    # independent reader: the c3d package, frame 100 of LANK
    with open(C3D_DIR / "kinematics_tennis_serve_nan.c3d", "rb") as fh:
        reader = c3d_pkg.Reader(fh)
        labels = [s.strip() for s in reader.point_labels]
        frame = next(p for i, (_, p, _) in enumerate(reader.read_frames()) if i == 100)
    k = labels.index("Derrick:LANK")
    np.testing.assert_allclose(data.points[100, data.labels.index("Derrick:LANK")], frame[k, :3], rtol=1e-6)


def test_files_without_joint_centres_are_a_clear_error():
    for name in ("kinematics_tennis_serve_nan.c3d", "Eb015pi.c3d", "sgi_real.c3d", "c3d_sample.c3d"):
        with pytest.raises(GroundTruthError, match="no Plug-in Gait joint centres") as err:
            read_ground_truth(C3D_DIR / name)
        assert err.value.path.name == name and err.value.field == "POINT:LABELS"


def test_real_marker_motion_as_joint_centres_round_trip(tmp_path):
    """Real human motion (the tennis serve's hip/knee/ankle markers, m) written as PiG
    joint centres with a subject prefix, read back in mm with the same gaps."""
    data = read_points(C3D_DIR / "kinematics_tennis_serve_nan.c3d")
    markers = ["RASI", "LASI", "RKNE", "LKNE", "RANK", "LANK"]
    cols = [data.labels.index(f"Derrick:{m}") for m in markers]
    joints_m = data.points[:, cols]
    path = tmp_path / "serve.c3d"
    write_ground_truth(path, joints_m * 1000.0, data.rate_hz, subject="Derrick")
    gt = read_ground_truth(path)
    assert gt.labels == {j: f"Derrick:{j}" for j in J.JOINTS} and gt.missing == []
    np.testing.assert_allclose(gt.joints_lab_mm, joints_m * 1000.0, atol=1e-3, equal_nan=True)
    assert gt.gaps()["RFEP"]["missing_samples"] == int(np.isnan(joints_m[:, 0, 0]).sum())


def test_aliases_and_missing_joints(tmp_path):
    import ezc3d

    T = 30
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [100.0]
    c["parameters"]["POINT"]["LABELS"]["value"] = ["Sub:RHJC", "Sub:LHJC", "Sub:RKJC", "Sub:LKJC", "Sub:RAJC", "Sub:LTOE"]
    c["parameters"]["POINT"]["UNITS"]["value"] = ["cm"]
    pts = np.ones((4, 6, T))
    pts[:3] = np.arange(6 * 3 * T).reshape(3, 6, T)
    c["data"]["points"] = pts
    c.write(str(tmp_path / "alias.c3d"))
    gt = read_ground_truth(tmp_path / "alias.c3d")
    assert gt.labels == {"RFEP": "Sub:RHJC", "LFEP": "Sub:LHJC", "RFEO": "Sub:RKJC", "LFEO": "Sub:LKJC", "RTIO": "Sub:RAJC"}
    assert gt.missing == ["LTIO"] and np.isnan(gt.joints_lab_mm[:, 5]).all()
    np.testing.assert_allclose(gt.joints_lab_mm[:, J.index("RFEO")], pts[:3, 2].T * 10.0)  # cm -> mm


def test_truncated_and_garbage_files(tmp_path):
    good = tmp_path / "good.c3d"
    write_ground_truth(good, standing_joints(200), 100.0)
    cut = tmp_path / "cut.c3d"
    cut.write_bytes(good.read_bytes()[:700])
    with pytest.raises(GroundTruthError) as err:
        read_ground_truth(cut)
    assert err.value.path == cut
    junk = tmp_path / "junk.c3d"
    junk.write_bytes(b"\x00" * 50)
    with pytest.raises(GroundTruthError):
        read_ground_truth(junk)
    with pytest.raises(GroundTruthError, match="not found"):
        read_ground_truth(tmp_path / "missing.c3d")


def test_resampling_to_video_frames_is_exact_for_linear_motion(tmp_path):
    T, rate = 101, 100.0
    t = np.arange(T) / rate
    joints = np.zeros((T, 6, 3)) + (1000.0 * t)[:, None, None] + 1.0 + np.arange(6)[None, :, None]
    joints[40:43, 2] = np.nan  # a gap
    path = tmp_path / "lin.c3d"
    write_ground_truth(path, joints, rate)
    gt = read_ground_truth(path)
    video_t = np.arange(0, 1.2, 1 / 30.0) + 0.004  # 30 fps video starting 4 ms late
    res = gt.resample(video_t).joints_lab_mm
    inside = video_t <= 1.0
    expected = (1000.0 * video_t)[:, None] + 1.0 + np.arange(6)[None, :]
    ok = inside & ~((video_t > 0.39) & (video_t < 0.43))
    np.testing.assert_allclose(res[ok, :, 0], expected[ok], atol=1e-3)
    assert np.isnan(res[~inside]).all()  # after the capture ended
    near_gap = (video_t > 0.39) & (video_t < 0.43)
    assert np.isnan(res[near_gap, 2]).all() and not np.isnan(res[near_gap, 3]).any()


def test_a_cropped_trial_is_aligned_by_its_first_frame(tmp_path):
    """Nexus crops a trial by moving the C3D's first frame; the reference video still starts
    at the beginning of the capture, so C3D sample 0 of a trial cropped at frame 101 (100 Hz)
    belongs to the video frame at t = 1.0 s."""
    T, rate = 50, 100.0
    joints = np.zeros((T, 6, 3)) + 1.0 + np.arange(T)[:, None, None]
    path = tmp_path / "cropped.c3d"
    write_ground_truth(path, joints, rate, first_frame=101)
    gt = read_ground_truth(path)
    assert gt.time_s[0] == pytest.approx(1.0)
    at_video = gt.resample(np.arange(0, 80) / 50.0).joints_lab_mm  # 50 fps video
    assert np.isnan(at_video[:50]).all()  # before the crop
    np.testing.assert_allclose(at_video[50:75, 0, 0], joints[0:50:2, 0, 0])
