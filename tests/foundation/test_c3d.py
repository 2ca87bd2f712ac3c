"""C3D ground truth: the real sample files, PiG joint centres, units, gaps, resampling."""
import struct

import numpy as np
import pytest

from bad_inputs import c3d
from sessions import C3D_DIR, standing_joints
from kneeview import joints as J
from kneeview.bundled import demo_path
from kneeview.errors import GroundTruthError
from kneeview.io.c3d import check_structure, read_ground_truth, read_points, write_ground_truth


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


# ------------------------------------------------------------------ files ezc3d crashes or hangs on
def _spoilt_demo(*edits: tuple[bytes, bytes], frames: tuple[int, int] | None = None, keep: float = 1.0) -> bytes:
    """The demo C3D with each ``old`` byte string (there exactly once) replaced by ``new``; with
    ``frames``, the header's first and last frame; with ``keep`` < 1, that fraction of the file."""
    data = c3d(demo_path()).read_bytes()
    for old, new in edits:
        assert data.count(old) == 1, old
        data = data.replace(old, new)
    if frames is not None:
        data = data[:6] + struct.pack("<2H", *frames) + data[10:]
    return data[:int(len(data) * keep)]


# Records of the demo's parameter section: name length, group id, name, offset to the next
# record, then (a parameter) type, number of dimensions, dimensions, values, description length.
_POINT_USED = b"\xfc\x01USED\x07\x00\x02\x00\x13\x00"  # 19
_POINT_RATE = b"\xfc\x01RATE\x09\x00\x04\x00\x00\x00\xc8\x42"  # 100.0
_POINT_FRAMES = b"\xfa\x01FRAMES\x07\x00\x02\x00\x90\x01"  # 400
_ANALOG_USED = b"\xfc\x02USED\x07\x00\x02\x00\x00\x00"  # 0
_ANALOG_RATE = b"\xfc\x02RATE\x09\x00\x04\x00\x00\x00\x00\x00"  # 0.0
_ROTATION_USED = b"\x04\x04USED\x07\x00\x02\x00\x00\x00"  # 0
_ROTATION_START = b"\x0a\x04DATA_START\x07\x00\x02\x00\xf2\x00"  # block 242
_ROTATION_RATIO = b"\x05\x04RATIO\x07\x00\x02\x00\x00\x00"  # 0

# What ezc3d does on each, in a process of its own: it is a C++ library, and a crash takes the
# whole process with it (the CLI, the app, or the test run), with no message.
SPOILT_C3D = {
    # segmentation fault: the EZC3D group record renamed EZION, 12 bytes shorter, so that its
    # description length is the next record's type, -1: a zero-length buffer to read into
    "group-renamed": (_spoilt_demo((b"EZC3D\x03\x00\x00\x07\x05VERSION", b"EZION")),
                      "the description of group 'EZION' has a negative length (-1)"),
    # ~4 GB allocated and zeroed, 15 s or more, then an error
    "negative-description": (_spoilt_demo((_POINT_RATE + b"\x00", _POINT_RATE + b"\xfe")),
                             "the description of parameter 'RATE' (group 1) has a negative length (-2)"),
    # segmentation fault: it indexes the first dimension of none
    "characters-without-dimensions": (_spoilt_demo((b"\x05\x01UNITS\x08\x00\xff\x01",
                                                    b"\x05\x01UNITS\x08\x00\xff\x00")),
                                      "parameter 'UNITS' (group 1) holds characters but has no dimensions"),
    # 255**4 loops before the dimension of 0 (seconds; more dimensions, forever)
    "dimensions-loop": (_spoilt_demo((b"\xff\x01\x051.7.2\x00", b"\xff\x07\xff\xff\xff\xff\x00\x00\x00\x00")),
                        "the dimensions of parameter 'VERSION' (group 5) describe more values than"),
    # segmentation fault: dimensions (19, 0), no value where it reads the number of points
    "empty-point-used": (_spoilt_demo((_POINT_USED + b"\x00", b"\xfc\x01USED\x07\x00\x02\x02\x13\x00\x00")),
                         "POINT:USED holds no number"),
    # segmentation fault: two analog channels sampled, no ANALOG:SCALE for them
    "analog-scale-missing": (_spoilt_demo((_ANALOG_USED, _ANALOG_USED[:-2] + b"\x02\x00"),
                                          (_ANALOG_RATE, _ANALOG_RATE[:-2] + b"\xc8\x42")),
                             "ANALOG:SCALE holds 0 values for 2 analog channels"),
    # never returns: 400 frames of 2**64 - 2 rotation sub-frames
    "negative-rotation-ratio": (_spoilt_demo((_ROTATION_RATIO, _ROTATION_RATIO[:-2] + b"\xfe\xff")),
                                "ROTATION:RATIO is negative (-2)"),
    # never returns: ANALOG:RATE 1e9 over POINT:RATE 100 is 10 million analog sub-frames a frame
    "huge-analog-rate": (_spoilt_demo((_ANALOG_RATE, _ANALOG_RATE[:-4] + b"\x28\x6b\x6e\x4e")),
                         "describe 4,000,000,000 analog and rotation samples to read"),
    # never returns: no point and no POINT:FRAMES, so it counts 5 - 10 + 1 frames, unsigned
    "last-frame-before-first": (_spoilt_demo((_POINT_USED, _POINT_USED[:-2] + b"\x00\x00"),
                                             (_POINT_FRAMES, _POINT_FRAMES[:-2] + b"\x00\x00"), frames=(10, 5)),
                                "the header's last frame (5) comes before its first (10)"),
    # aborts (an uncaught exception): one rotation a frame, and no rotation data in the file
    "rotations-past-the-end": (_spoilt_demo((_ROTATION_USED, _ROTATION_USED[:-2] + b"\x01\x00"),
                                            (_ROTATION_RATIO, _ROTATION_RATIO[:-2] + b"\x01\x00")),
                               "truncated C3D: its rotation data (400 frames of 1 x 1 rotations, from block 242)"),
    # corrupts its heap when frames are missing: a segmentation fault at a later read (the next
    # example of a fuzz test, the next trial of a batch)
    "rotation-block-0": (_spoilt_demo((_ROTATION_START, _ROTATION_START[:-2] + b"\x00\x00"), keep=0.5),
                         "ROTATION:DATA_START (0) is not a block of the file"),
}


@pytest.mark.parametrize("name", SPOILT_C3D)
def test_files_ezc3d_crashes_or_hangs_on_are_refused_first(tmp_path, name):
    data, problem = SPOILT_C3D[name]
    path = tmp_path / "spoilt.c3d"
    path.write_bytes(data)
    with pytest.raises(GroundTruthError) as err:
        read_ground_truth(path)
    assert err.value.path == path and problem in err.value.problem, str(err.value)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_every_real_file_passes_the_structure_check():
    for path in sorted(C3D_DIR.glob("*.c3d")) + [c3d(demo_path())]:
        assert check_structure(path) is not None, path
