"""tools/merge_teachers.py: the two-teacher agreement rule on hand-made cases, its file, and the real demo."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sessions import load_tool, make_qualisys_session, standing_joints

from kneeview.analysis.multiview import load_detections, triangulate_recording
from kneeview.io.recording import open_recording

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "merge_teachers.py"
BLAZEPOSE_DEMO = ROOT / "tests" / "pose" / "data" / "Demo_SinglePerson.blazepose.npz"
MOVENET_DEMO = Path(__file__).resolve().parent / "data" / "Demo_SinglePerson.movenet.npz"


@pytest.fixture(scope="module")
def mt():
    return load_tool("merge_teachers")


def legs(thigh=200.0, gap=100.0, x0=300.0, y0=400.0):
    """Six joints (6, 2) px of a person facing the camera: right leg at x0, left at x0 + gap, thigh and shank ``thigh`` long."""
    right, left = x0, x0 + gap
    return np.array([[right, y0], [left, y0], [right, y0 + thigh], [left, y0 + thigh],
                     [right, y0 + 2 * thigh], [left, y0 + 2 * thigh]], dtype=float)


def teacher(mt, kp, conf=0.9, name="t"):
    kp = np.asarray(kp, float)
    kp = kp.reshape((1,) * (4 - kp.ndim) + kp.shape)  # (V, T, 6, 2)
    c = np.broadcast_to(np.asarray(conf, float), kp.shape[:3]).copy()
    return mt.Teacher(kp, c, tuple(f"cam{v + 1:02d}" for v in range(kp.shape[0])), name=name)


def test_agreeing_teachers_give_the_confidence_weighted_mean(mt):
    a = legs()
    b = legs() + np.array([[6.0, -8.0]] + [[3.0, 0.0]] * 5)  # 10 px and 3 px apart: well inside 0.25 x 200 px
    m = mt.merge(teacher(mt, a, 0.9), teacher(mt, b, 0.6))
    assert (m.reason == mt.LABELLED).all()
    np.testing.assert_allclose(m.keypoints_px[0, 0], (0.9 * a + 0.6 * b) / 1.5)
    np.testing.assert_allclose(m.confidence, 0.75)
    np.testing.assert_allclose(m.disagreement_px[0, 0], [10.0, 3, 3, 3, 3, 3])
    assert m.thigh_px[0, 0] == pytest.approx(200.0, abs=3.1)
    assert m.tolerance_px[0, 0] == pytest.approx(0.25 * m.thigh_px[0, 0])
    np.testing.assert_allclose(m.disagreement_thigh[0, 0, 0], 10.0 / m.thigh_px[0, 0])


def test_a_joint_beyond_the_tolerance_is_not_labelled(mt):
    a = legs()
    b = legs()
    b[4] += [0.0, 60.0]  # right ankle 60 px off: 0.3 thigh
    m = mt.merge(teacher(mt, a), teacher(mt, b))
    assert m.reason[0, 0].tolist() == [mt.LABELLED] * 4 + [mt.DISAGREE, mt.LABELLED]
    assert np.isnan(m.keypoints_px[0, 0, 4]).all() and m.confidence[0, 0, 4] == 0.0
    assert m.disagreement_px[0, 0, 4] == pytest.approx(60.0)  # stored for the report all the same
    np.testing.assert_allclose(m.keypoints_px[0, 0, 5], a[5])


def test_a_joint_one_teacher_missed_is_not_labelled_and_says_which(mt):
    a, b = legs(), legs()
    ca, cb = np.full(6, 0.9), np.full(6, 0.9)
    a[0] = np.nan            # first teacher: no right hip
    cb[2] = 0.1              # second teacher: right knee below min_confidence
    a[5] = np.nan            # left ankle: neither
    cb[5] = 0.0
    m = mt.merge(teacher(mt, a, ca), teacher(mt, b, cb))
    assert m.reason[0, 0].tolist() == [mt.FIRST_MISSING, mt.LABELLED, mt.SECOND_MISSING, mt.LABELLED, mt.LABELLED,
                                      mt.BOTH_MISSING]
    assert np.isnan(m.keypoints_px[0, 0, [0, 2, 5]]).all() and (m.confidence[0, 0, [0, 2, 5]] == 0).all()
    assert np.isnan(m.disagreement_px[0, 0, [0, 2, 5]]).all()


def test_left_and_right_exchanged_by_one_teacher_is_flagged(mt):
    a = legs()
    b = legs()[list(mt.FLIP)]  # the second teacher calls the right leg left
    m = mt.merge(teacher(mt, a), teacher(mt, b))
    assert m.swapped[0, 0]
    assert (m.reason == mt.SWAPPED).all() and np.isnan(m.keypoints_px).all()
    # trusting the second teacher's labelling: the first's legs are exchanged, then the rule as usual
    m2 = mt.merge(teacher(mt, a), teacher(mt, b + 4.0), on_swap="second")
    assert m2.swapped[0, 0] and (m2.reason == mt.LABELLED).all()
    np.testing.assert_allclose(m2.keypoints_px[0, 0], b + 2.0)
    m1 = mt.merge(teacher(mt, a), teacher(mt, b + 4.0), on_swap="first")
    np.testing.assert_allclose(m1.keypoints_px[0, 0], a + 2.0)


def test_legs_together_are_not_taken_for_a_swap(mt):
    """Legs 6 px apart: both labellings agree; nothing is flagged and every joint is labelled."""
    a = legs(gap=6.0)
    b = legs(gap=6.0)[list(mt.FLIP)] + 1.0
    m = mt.merge(teacher(mt, a), teacher(mt, b))
    assert not m.swapped.any() and (m.reason == mt.LABELLED).all()


def test_a_swap_is_judged_per_view_and_frame(mt):
    a = np.stack([np.stack([legs(), legs()]), np.stack([legs(), legs()])])  # (2 views, 2 frames, 6, 2)
    b = a.copy()
    b[1, 0] = b[1, 0][list(mt.FLIP)]
    m = mt.merge(teacher(mt, a), teacher(mt, b))
    assert m.swapped.tolist() == [[False, False], [True, False]]
    assert (m.reason[1, 0] == mt.SWAPPED).all() and (m.reason[[0, 0, 1], [0, 1, 1]] == mt.LABELLED).all()


def test_tolerance_scales_with_the_persons_size(mt):
    """The same 30 px disagreement agrees on a person with a 200 px thigh (tolerance 50 px) and not on one
    with an 80 px thigh (20 px)."""
    for thigh, expected in ((200.0, mt.LABELLED), (80.0, mt.DISAGREE)):
        a, b = legs(thigh=thigh, gap=thigh / 2), legs(thigh=thigh, gap=thigh / 2)
        b[3] += [30.0, 0.0]
        m = mt.merge(teacher(mt, a), teacher(mt, b))
        assert m.reason[0, 0, 3] == expected, thigh
        assert m.tolerance_px[0, 0] == pytest.approx(0.25 * thigh, rel=0.02)


def test_the_floor_applies_to_tiny_people_and_where_no_thigh_was_found(mt):
    a, b = legs(thigh=12.0, gap=6.0), legs(thigh=12.0, gap=6.0)
    m = mt.merge(teacher(mt, a), teacher(mt, b), floor_px=8.0)
    assert m.tolerance_px[0, 0] == 8.0  # 0.25 x 12 px = 3 px < the floor
    a, b = legs(), legs()
    a[[2, 3]] = np.nan  # no knee from the first teacher ...
    cb = np.full(6, 0.9)
    cb[[2, 3]] = 0.0    # ... nor from the second: no thigh length in this frame
    b[1] += [7.0, 0.0]
    b[4] += [9.0, 0.0]
    m = mt.merge(teacher(mt, a), teacher(mt, b, cb), floor_px=8.0)
    assert np.isnan(m.thigh_px[0, 0]) and m.tolerance_px[0, 0] == 8.0
    assert m.reason[0, 0, 1] == mt.LABELLED and m.reason[0, 0, 4] == mt.DISAGREE


def test_bad_parameters_are_refused(mt):
    with pytest.raises(ValueError, match="on_swap"):
        mt.merge(teacher(mt, legs()), teacher(mt, legs()), on_swap="guess")
    with pytest.raises(ValueError, match="differ"):
        mt.merge(teacher(mt, legs()), teacher(mt, np.stack([legs(), legs()])))


@pytest.fixture
def session(tmp_path):
    return make_qualisys_session(tmp_path / "Lab", n_frames=2)


def test_merged_file_is_read_by_load_detections_and_triangulates(mt, session, tmp_path):
    """Two noisy teachers on the real Qualisys calibration; the second swaps the legs in one view and frame and
    is 150 px off at one joint in another: the merged labels leave those out and triangulate to the truth."""
    rec = open_recording(session)
    T = 6
    truth = standing_joints(T, sway_mm=30.0)
    proj = np.stack([v.camera.project(truth) for v in rec.views])  # (4, T, 6, 2)
    rng = np.random.default_rng(7)
    a_kp = proj + rng.normal(0, 1.5, proj.shape)
    b_kp = proj + rng.normal(0, 1.5, proj.shape)
    b_kp[1, 2] = b_kp[1, 2][list(mt.FLIP)]
    b_kp[3, 4, 2] += [150.0, 0.0]
    names = ["cam01", "cam02", "cam03", "cam04"]
    sizes = np.array([v.video_info.size for v in rec.views])
    bp = load_tool("blazepose_detect")
    pa = bp.save_detections_npz(tmp_path / "a.npz", a_kp, np.full(proj.shape[:3], 0.9), names, fps=60.0,
                                frame_size_px=sizes, detector="teacher A")
    order = [2, 0, 3, 1]  # the second file lists its views in another order
    pb = bp.save_detections_npz(tmp_path / "b.npz", b_kp[order], np.full(proj.shape[:3], 0.7), [names[i] for i in order],
                                fps=60.0, frame_size_px=sizes[order], detector="teacher B")
    out = tmp_path / "merged.npz"
    report = tmp_path / "report.json"
    res = subprocess.run([sys.executable, str(TOOL), str(pa), str(pb), "--out", str(out), "--report", str(report)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    det = load_detections(out)
    assert det.view_names == tuple(names) and det.fps == 60.0 and det.frame_size_px == tuple(map(tuple, sizes))
    with np.load(out, allow_pickle=False) as z:
        reason, teachers, dis = z["reason"], z["teachers"].tolist(), z["disagreement_px"]
        assert json.loads(str(z["rule"]))["tolerance_thigh"] == 0.25
    assert teachers == ["teacher A", "teacher B"]
    assert (reason[1, 2] == mt.SWAPPED).all() and reason[3, 4, 2] == mt.DISAGREE
    assert (reason == mt.LABELLED).sum() == 4 * T * 6 - 6 - 1
    assert dis[3, 4, 2] == pytest.approx(150.0, abs=6.0)
    summary = json.loads(report.read_text())
    assert summary["swapped_frames"] == {"cam01": 0, "cam02": 1, "cam03": 0, "cam04": 0}
    assert summary["reasons"]["left_right_swapped"] == 6 and summary["reasons"]["disagree"] == 1
    tri = triangulate_recording(rec, det)
    assert np.isfinite(tri.joints_lab_mm).all()
    assert np.abs(tri.joints_lab_mm - truth).max() < 15.0
    # the second teacher alone, triangulated the same way, is pulled off by its errors
    alone = triangulate_recording(rec, load_detections(pb), outlier_px=1e6)
    assert np.abs(alone.joints_lab_mm - truth).max() > 50.0


def test_views_that_differ_are_refused(mt, tmp_path):
    bp = load_tool("blazepose_detect")
    kp = legs()[None, None]
    pa = bp.save_detections_npz(tmp_path / "a.npz", kp, np.full((1, 1, 6), 0.9), ["cam01"], frame_size_px=[(640, 480)])
    pb = bp.save_detections_npz(tmp_path / "b.npz", kp, np.full((1, 1, 6), 0.9), ["cam02"], frame_size_px=[(640, 480)])
    pc = bp.save_detections_npz(tmp_path / "c.npz", kp, np.full((1, 1, 6), 0.9), ["cam01"], frame_size_px=[(480, 640)])
    for other, message in ((pb, "views"), (pc, "frame sizes")):
        res = subprocess.run([sys.executable, str(TOOL), str(pa), str(other), "--out", str(tmp_path / "m.npz")],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode != 0 and message in res.stderr and not (tmp_path / "m.npz").exists()


def test_on_pose2sims_demo_the_flagged_frames_are_blazeposes_known_swaps(mt):
    """Shipped detections of the real demo (BlazePose static, MoveNet tracked). Triangulation found BlazePose
    labelling cam02's legs the other way round in frames 33-35, 41-62, 65, 67 and 72 (docs/real-recording.md);
    the two teachers flag exactly those (but 45, where BlazePose's cam02 legs are 80-210 px off either way)."""
    a = mt.load_teacher(BLAZEPOSE_DEMO)
    b = mt.align(a, mt.load_teacher(MOVENET_DEMO))
    m = mt.merge(a, b)
    flagged = {a.view_names[v]: np.nonzero(m.swapped[v])[0].tolist() for v in range(len(a.view_names))}
    known = set(range(33, 36)) | set(range(41, 63)) | {65, 67, 72}
    assert flagged["cam01"] == flagged["cam03"] == flagged["cam04"] == []
    assert set(flagged["cam02"]) == known - {45}
    s = mt.summary(a, b, m, mt.DEFAULT_MIN_CONFIDENCE)
    assert s["labelled_fraction"]["all"] > 0.88
    for v in ("cam01", "cam03", "cam04"):
        assert s["labelled_fraction_per_view"][v] > 0.9
    # the teachers agree to a small fraction of the thigh where they agree at all
    assert max(s["disagreement_thigh_median"].values()) < 0.12


def test_body_points_are_merged_where_both_teachers_have_them_and_follow_the_swap_flag(mt):
    a_kp = np.stack([legs(), legs()[list(mt.FLIP)]])[None]  # frame 1: the first teacher swaps the legs
    b_kp = np.stack([legs(), legs()])[None]
    ones = np.ones((1, 2))
    pts = lambda x, y: np.broadcast_to([x, y], (1, 2, 2)).astype(float)  # noqa: E731
    a = mt.Teacher(a_kp, np.full((1, 2, 6), 0.9), ("cam01",), "A",
                   body={"RSHO": (pts(300, 100), 0.9 * ones), "LSHO": (pts(400, 100), 0.9 * ones), "LHEE": (pts(410, 800), 0.8 * ones)})
    b = mt.Teacher(b_kp, np.full((1, 2, 6), 0.6), ("cam01",), "B",
                   body={"RSHO": (pts(306, 100), 0.6 * ones), "LSHO": (pts(400, 300), 0.6 * ones), "HEAD": (pts(350, 0), 0.7 * ones)})
    m = mt.merge(a, b)
    assert m.swapped.tolist() == [[False, True]]
    names, p, c = mt.merged_body_points(a, b, m, "drop", 0.3)
    got = dict(zip(names, zip(p, c)))
    assert names == ["RSHO", "LSHO", "LHEE", "HEAD"]
    np.testing.assert_allclose(got["RSHO"][0][0, 0], [(0.9 * 300 + 0.6 * 306) / 1.5, 100])  # 6 px apart: merged
    assert np.isnan(got["LSHO"][0][0, 0]).all() and got["LSHO"][1][0, 0] == 0  # 200 px apart: dropped
    np.testing.assert_allclose(got["LHEE"][0][0, 0], [410, 800])  # one teacher only: copied
    np.testing.assert_allclose(got["HEAD"][0][0, 0], [350, 0])
    assert all(np.isnan(got[n][0][0, 1]).all() for n in names)  # the flagged frame: none under "drop"
    m2 = mt.merge(a, b, on_swap="second")
    names, p, c = mt.merged_body_points(a, b, m2, "second", 0.3)
    got = dict(zip(names, zip(p, c)))
    # the first teacher's shoulders are exchanged with its legs in the flagged frame: its LSHO (400) vs B's RSHO (306)
    assert np.isnan(got["RSHO"][0][0, 1]).all()
    np.testing.assert_allclose(got["HEAD"][0][0, 1], [350, 0])
    assert np.isnan(got["LHEE"][0][0, 1]).all() and got["LHEE"][1][0, 1] == 0  # its side is in doubt, no RHEE to swap in
    np.testing.assert_allclose(got["LHEE"][0][0, 0], [410, 800])


# ------------------------------------------------------------------------------------- --people

def test_people_the_second_teacher_found_get_both_teachers_labels(mt):
    """Two people; the single-person teacher found the second one (a little off, and once with its legs
    exchanged, once somewhere else entirely)."""
    p0, p1 = legs(x0=100.0), legs(x0=600.0)
    people = np.stack([p0, p1])[None, None].repeat(3, axis=1)  # (1 view, 3 frames, 2 people, 6, 2)
    conf = np.full(people.shape[:4], 0.9)
    second = np.stack([p1 + 4.0, p1[list(mt.FLIP)] + 4.0, legs(x0=1500.0)])[None]
    b = mt.Teacher(second, np.full((1, 3, 6), 0.6), ("cam01",), "B")
    r = mt.merge_people(people, conf, b)
    assert r["matched"].tolist() == [[True, True, False]]
    assert r["teachers"].tolist() == [[[1, 2], [1, 2], [1, 1]]]
    np.testing.assert_allclose(r["keypoints_px"][0, 0, 1], (0.9 * p1 + 0.6 * (p1 + 4.0)) / 1.5)
    np.testing.assert_allclose(r["confidence"][0, 0, 1], 0.75)
    assert (r["reason"][0, 1, 1] == mt.SWAPPED).all() and np.isnan(r["keypoints_px"][0, 1, 1]).all()  # on_swap="drop"
    np.testing.assert_array_equal(r["keypoints_px"][0, :, 0], people[0, :, 0])  # not confirmable: the first teacher's
    np.testing.assert_array_equal(r["keypoints_px"][0, 2], people[0, 2])
    assert (r["reason"][0, :, 0] == -1).all() and np.isnan(r["disagreement_px"][0, :, 0]).all()
    kept = mt.merge_people(people, conf, b, on_swap="first")
    np.testing.assert_allclose(kept["keypoints_px"][0, 1, 1], p1 + 4.0 * 0.6 / 1.5)
    dropped = mt.merge_people(people, conf, b, unconfirmed="drop")
    assert np.isnan(dropped["keypoints_px"]).all() and (dropped["confidence"] == 0).all()  # every frame has person 0


def test_people_file_merge_is_read_by_the_trainer(mt, tmp_path):
    from trainer.people_labels import read_people_labels

    bp = load_tool("blazepose_detect")
    V, T = 2, 2
    lm = np.full((V, T, 2, 33, 2), np.nan)
    vis = np.full((V, T, 2, 33), np.nan)
    for p, x0 in enumerate((100.0, 600.0)):
        for k, idx in enumerate((24, 23, 26, 25, 28, 27)):
            lm[:, :, p, idx] = legs(x0=x0)[k]
            vis[:, :, p, idx] = 0.9
    videos = [tmp_path / "vids" / "cam01.mp4", tmp_path / "vids" / "cam02.mp4"]
    first = bp.save_people_npz(tmp_path / "labels" / "people.npz", lm, vis, videos, [(1280, 720)] * V, fps=30.0, detector="BP")
    second = bp.save_detections_npz(tmp_path / "mn.npz", np.broadcast_to(legs(x0=600.0) + 3.0, (V, T, 6, 2)),
                                    np.full((V, T, 6), 0.8), ["cam02", "cam01"], fps=30.0, frame_size_px=[(1280, 720)] * V,
                                    detector="MN")
    out = tmp_path / "elsewhere" / "merged_people.npz"
    res = subprocess.run([sys.executable, str(TOOL), str(first), str(second), "--people", "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    d = read_people_labels(out)
    assert d["videos"] == [v.resolve() for v in videos]  # relative to the new file's folder
    with np.load(out, allow_pickle=False) as z:
        assert z["people_teachers"].tolist() == [[[1, 2]] * T] * V and z["teachers"].tolist() == ["BP", "MN"]
        np.testing.assert_allclose(z["people_keypoints_px"][:, :, 1], np.broadcast_to(legs(x0=600.0) + 3.0 * 0.8 / 1.7, (V, T, 6, 2)))
        np.testing.assert_array_equal(z["people_landmarks_px"], lm)
