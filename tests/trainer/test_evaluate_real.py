"""evaluate-real: a model and BlazePose against a multi-view recording's pseudo-labels."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from sessions import QCA, load_tool, standing_joints, write_video

from kneeview import joints as J
from kneeview.analysis.multiview import Detections, save_detections
from kneeview.errors import KneeViewInputError
from kneeview.io.c3d import write_ground_truth
from kneeview.io.recording import open_recording
from kneeview.sequence import PoseSequence
from trainer import evaluate_real as er

T = 20
FPS = 60.0
TEST_FRAMES = list(range(4, 8)) + list(range(12, 16))


def truth_joints():
    """(T, 6, 3) lab mm: standing, swaying, knees moving in and out (a non-trivial MKD)."""
    j = standing_joints(T, sway_mm=30.0)
    j[:, 2, 0] += 25.0 * np.sin(np.arange(T) / 4.0)  # right knee
    j[:, 3, 0] -= 15.0 * np.sin(np.arange(T) / 5.0)  # left knee
    return j


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Pose2Sim layout: the real Qualisys calibration, four portrait videos (plain frames: the
    estimator is faked, and plain frames decode fast) and the pseudo-label C3D."""
    import shutil

    root = tmp_path_factory.mktemp("real") / "Lab"
    (root / "calibration").mkdir(parents=True)
    (root / "videos").mkdir()
    shutil.copy(QCA, root / "calibration" / "Calib.qca.txt")
    for i in range(1, 5):
        write_video(root / "videos" / f"cam0{i}.avi", [np.full((1920, 1088, 3), 40 * i, np.uint8)] * T, fps=FPS)
    write_ground_truth(root / "videos" / "Lab.c3d", truth_joints(), FPS)
    return root


@pytest.fixture(scope="module")
def rec(session):
    return open_recording(session)


def camera_rel_m(cam, joints_lab_mm):
    c = cam.world_to_camera(joints_lab_mm) / 1000.0
    return c - c[:, :2].mean(axis=1, keepdims=True)


def write_detections(path, rec, offset_px=(3.0, 4.0), world=True, frame_offsets=None):
    """BlazePose-like detections: exact projections + offset; world landmarks = the true camera-frame joints."""
    truth = truth_joints()
    kp = np.stack([v.camera.project(truth) for v in rec.views]) + np.asarray(offset_px)
    if frame_offsets is not None:
        kp += frame_offsets[None, :, None, :]
    det = Detections(kp, np.full(kp.shape[:3], 0.9), tuple(v.video_path.stem for v in rec.views), FPS)
    save_detections(path, det)
    if world:
        lm = np.full((len(rec.views), T, 33, 3), np.nan)
        for v, view in enumerate(rec.views):
            # MediaPipe's origin is between its hips; any origin must do, since the joints are re-centred
            lm[v][:, list(J.BLAZEPOSE_INDEX)] = camera_rel_m(view.camera, truth) + np.array([0.01, -0.02, 0.03])
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        np.savez_compressed(path, **arrays, world_landmarks_m=lm, detector=np.array("fake BlazePose"))
    return path


class FakeEstimator:
    """The model's answer for each view: exact 2D + ``offset_px``, 3D with both knees moved ``medial_mm`` medially."""

    def __init__(self, rec, offset_px=(6.0, 8.0), medial_mm=0.0, missing=()):
        self.cams = {Path(v.video_path).resolve(): v.camera for v in rec.views}
        self.offset = np.asarray(offset_px)
        self.medial_mm = medial_mm
        self.missing = list(missing)
        self.info = {"name": "fake-model", "framework": "A"}
        self.card = {"framework": "A", "training": {"iterations": 7}}

    def run(self, reader):
        cam = self.cams[Path(reader.path).resolve()]
        truth = truth_joints()
        moved = truth.copy()
        moved[:, 2, 0] += self.medial_mm  # right knee: medial is the athlete's left, +X here
        moved[:, 3, 0] -= self.medial_mm
        seq = PoseSequence.empty(len(reader), reader.fps, model=self.info)
        seq.keypoints_px[:] = cam.project(truth) + self.offset
        seq.joints_cam_m[:] = camera_rel_m(cam, moved)
        seq.confidence[:] = 1.0
        seq.score[:] = 0.9
        seq.score[self.missing] = np.nan
        seq.keypoints_px[self.missing] = np.nan
        seq.joints_cam_m[self.missing] = np.nan
        return seq


def write_split(run_dir: Path, entries) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "split.json").write_text(json.dumps({"train": [], "val": [], "test": [], "real": entries}))
    return run_dir


def real_entry(session, name="Lab", holdout=("cam04",)):
    views = ["cam01", "cam02", "cam03", "cam04"]
    return {"session": str(session), "name": name, "frames": T, "segments": 5, "test_segments": [1, 3],
            "guard_frames": 3, "train_frames": [f for f in range(T) if f not in TEST_FRAMES], "test_frames": TEST_FRAMES,
            "views": views, "train_views": [v for v in views if v not in holdout], "holdout_views": list(holdout)}


def test_blazepose_2d_is_the_offset_and_its_exact_3d_scores_perfectly(session, rec, tmp_path):
    npz = write_detections(tmp_path / "bp.npz", rec, offset_px=(3.0, 4.0))
    # the raw placement keeps the network's 3D as it is: its 20 mm knee error comes through exactly
    res = er.evaluate(session, detections=npz, estimator=FakeEstimator(rec, offset_px=(6.0, 8.0), medial_mm=20.0),
                      placement="raw")
    assert res["frames_evaluated"] == list(range(T)) and res["run"] is None
    assert list(res["views"]) == ["cam01", "cam02", "cam03", "cam04"]
    for name, view in zip(res["views"], rec.views):
        v = res["views"][name]
        assert v["status"] is None and v["frames_evaluated"] == T
        bp, model = v["blazepose"], v["model"]
        assert bp["detected_pct"] == 100.0 and model["detected_pct"] == 100.0
        assert bp["2d_median_px"] == pytest.approx(5.0, abs=1e-6)
        assert model["2d_median_px"] == pytest.approx(10.0, abs=1e-6)
        px = view.camera.project(truth_joints())
        thigh = np.linalg.norm(px[:, [0, 1]] - px[:, [2, 3]], axis=-1).mean(axis=1)
        assert bp["2d_median_thigh_frac"] == pytest.approx(5.0 / np.median(thigh), rel=0.02)
        assert bp["pck@0.10"] == 100.0 and bp["mpjpe_mm"] == pytest.approx(0.0, abs=1e-3)
        # exact 3D and a translated 2D: the same MKD as the labels
        assert bp["mkd_left_rms_mm"] == pytest.approx(0.0, abs=1e-3)
        assert bp["mkd_right_rms_mm"] == pytest.approx(0.0, abs=1e-3)
        # knees 20 mm medial: MKD 20 mm larger (the hip-ankle lines are all but vertical)
        assert model["mkd_left_rms_mm"] == pytest.approx(20.0, abs=0.1)
        assert model["mkd_right_rms_mm"] == pytest.approx(20.0, abs=0.1)
        assert model["mpjpe_mm"] == pytest.approx(20.0 * 2 / 6, abs=1e-3)  # two of six joints 20 mm off
        assert model["pck@0.10"] == 100.0
    s = res["summary"]
    assert s["scope"] == "all views" and s["views"] == list(res["views"])
    assert s["model_2d_median_px"] == pytest.approx(10.0) and s["blazepose_2d_median_px"] == pytest.approx(5.0)
    assert s["ratio_2d"] == pytest.approx(2.0)
    assert s["detection_pass"] is True and s["accuracy_pass"] is False
    assert res["model"]["name"] == "fake-model" and res["model"]["training"] == {"iterations": 7}
    assert res["detector"] == "fake BlazePose" and not res["notes"]


def test_missed_frames_lower_the_detection_rate_and_count_as_wrong_in_pck(session, rec, tmp_path):
    npz = write_detections(tmp_path / "bp.npz", rec)
    res = er.evaluate(session, detections=npz, estimator=FakeEstimator(rec, offset_px=(0.0, 7.0), missing=[0, 1, 2]))
    m = res["views"]["cam02"]["model"]
    assert m["detected_pct"] == pytest.approx(100.0 * (T - 3) / T)
    assert m["pck@0.10"] == pytest.approx(100.0 * (T - 3) / T)
    assert m["mpjpe_mm"] == pytest.approx(0.0, abs=1e-3) and m["2d_median_px"] == pytest.approx(7.0)
    s = res["summary"]
    assert s["model_detected_pct"] == pytest.approx(100.0 * (T - 3) / T) and s["detection_pass"] is False
    assert s["ratio_2d"] == pytest.approx(7.0 / 5.0) and s["accuracy_pass"] is True


def test_run_restricts_to_its_test_frames_and_labels_the_held_out_view(session, rec, tmp_path):
    bad = np.full((T, 2), 40.0)
    bad[TEST_FRAMES] = 0.0  # BlazePose is 5 px off on the test frames, 45 px elsewhere
    npz = write_detections(tmp_path / "bp.npz", rec, offset_px=(3.0, 4.0), frame_offsets=bad)
    run = write_split(tmp_path / "runs" / "A", [real_entry("/elsewhere/Other", name="Other"), real_entry(session)])
    res = er.evaluate(session, detections=npz, run=run, estimator=FakeEstimator(rec, offset_px=(4.0, 0.0)))
    assert res["frames_evaluated"] == TEST_FRAMES and res["real_entry"] == "Lab"
    assert {n: v["status"] for n, v in res["views"].items()} == {
        "cam01": "trained", "cam02": "trained", "cam03": "trained", "cam04": "held out"}
    for v in res["views"].values():
        assert v["frames_evaluated"] == len(TEST_FRAMES) and v["model"]["frames"] == len(TEST_FRAMES)
        assert v["blazepose"]["2d_median_px"] == pytest.approx(5.0)
    s = res["summary"]
    assert s["scope"] == "held-out views" and s["views"] == ["cam04"]
    assert s["ratio_2d"] == pytest.approx(4.0 / 5.0) and s["accuracy_pass"] is True and s["detection_pass"] is True
    text = er.format_report(res)
    assert "cam04 (held out)" in text and "cam01 (trained)" in text and "PASS" in text and "FAIL" not in text


def test_the_entry_is_found_by_name_when_the_session_moved(session, tmp_path):
    run = write_split(tmp_path / "run", [real_entry("/data/moved/Lab", name="Lab", holdout=("cam02",))])
    assert er.real_split_entry(run, session)["holdout_views"] == ["cam02"]
    assert er.real_split_entry(run / "split.json", session)["name"] == "Lab"  # the split file itself
    # another session of the same name does not shadow this folder's own entry
    run = write_split(tmp_path / "run2", [real_entry("/data/other/Lab", holdout=("cam02",)), real_entry(session)])
    assert er.real_split_entry(run, session)["holdout_views"] == ["cam04"]


def test_a_run_without_an_entry_for_the_session_is_a_clear_error(session, tmp_path):
    run = write_split(tmp_path / "run", [real_entry("/elsewhere/Other", name="Other")])
    with pytest.raises(KneeViewInputError, match=r"split\.json.*no held-out entry for .*Lab.*Other"):
        er.real_split_entry(run, session)
    (run / "split.json").write_text(json.dumps({"train": [], "val": [], "test": []}))
    with pytest.raises(KneeViewInputError, match=r"split\.json.*no real recording"):
        er.real_split_entry(run, session)
    with pytest.raises(KneeViewInputError, match=r"split\.json.*no split file"):
        er.real_split_entry(tmp_path / "no-run", session)


def test_detections_without_world_landmarks_give_nan_3d_and_a_note(session, rec, tmp_path):
    npz = write_detections(tmp_path / "bp.npz", rec, world=False)
    res = er.evaluate(session, detections=npz, estimator=FakeEstimator(rec))
    bp = res["views"]["cam01"]["blazepose"]
    assert bp["2d_median_px"] == pytest.approx(5.0)
    for key in ("pck@0.10", "mpjpe_mm", "mkd_left_rms_mm", "mkd_right_rms_mm"):
        assert np.isnan(bp[key])
    assert any("world_landmarks_m" in n for n in res["notes"])


def test_the_subcommand_writes_json_and_a_plot(session, rec, tmp_path, monkeypatch, capsys):
    import kneeview.pose

    npz = write_detections(tmp_path / "bp.npz", rec)
    run = write_split(tmp_path / "run", [real_entry(session)])
    monkeypatch.setattr(kneeview.pose, "load_estimator", lambda checkpoint, device: FakeEstimator(rec))
    parser = argparse.ArgumentParser()
    er.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate-real", "--session", str(session), "--detections", str(npz), "--run", str(run),
                              "--json", str(tmp_path / "out.json"), "--plot", str(tmp_path / "mkd.png"), "--quiet"])
    assert args.func(args) == 0
    assert "cam04 (held out)" in capsys.readouterr().out
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["frames_evaluated"] == TEST_FRAMES and out["summary"]["views"] == ["cam04"]
    assert out["views"]["cam04"]["blazepose"]["pck@0.10"] == 100.0
    assert len(out["mkd_curves_mm"]["views"]["cam01"]["model"]["left"]) == T
    img = cv2.imread(str(tmp_path / "mkd.png"))
    assert img is not None and img.shape[0] > 4 * 230 and img.shape[1] > 2 * 620
    # an input error is a message and exit status 2, not a traceback
    assert er.main(["--session", str(session), "--detections", str(npz), "--run", str(tmp_path / "none")]) == 2
    assert "no split file" in capsys.readouterr().err


def test_landmark_mapping_is_the_detector_tools(rec):
    tool = load_tool("blazepose_detect")
    assert tool.BLAZEPOSE_INDEX is J.BLAZEPOSE_INDEX and tool.JOINTS is J.JOINTS
    world = np.zeros((1, 33, 3))
    world[0, 24] = [-0.1, 0.0, 0.0]  # right hip
    world[0, 23] = [0.1, 0.0, 0.02]  # left hip
    world[0, 26] = [-0.1, 0.4, 0.0]  # right knee
    joints = er.world_to_joints_m(world)
    np.testing.assert_allclose(joints[0, 0], [-0.1, 0.0, -0.01])
    np.testing.assert_allclose(joints[0, 2], [-0.1, 0.4, -0.01])
    np.testing.assert_allclose(joints[0, :2].mean(axis=0), 0.0, atol=1e-12)


def test_other_views_reference_is_triangulated_without_the_view_itself(session, rec, tmp_path):
    """Exact detections in three views and cam02's knees 40 px off: cam02's reference (from the
    three exact views) is the labels' exactly; every other view's includes cam02 and moves."""
    bad = np.zeros((len(rec.views), T, J.N_JOINTS, 2))
    bad[1, :, 2:4] = (40.0, 0.0)  # cam02, both knees
    npz = write_detections(tmp_path / "bp.npz", rec, offset_px=(0.0, 0.0))
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["keypoints_px"] = arrays["keypoints_px"] + bad
    np.savez_compressed(npz, **arrays)
    res = er.evaluate(session, detections=npz, estimator=FakeEstimator(rec))
    for name, v in res["views"].items():
        o = v["other_views"]
        assert o["views"] == [n for n in ("cam01", "cam02", "cam03", "cam04") if n != name]
        if name == "cam02":
            assert o["knee_position_mm"] == pytest.approx(0.0, abs=0.05)
            assert o["mkd_left_rms_mm"] == pytest.approx(0.0, abs=0.05)
            assert o["mkd_right_rms_mm"] == pytest.approx(0.0, abs=0.05)
        else:
            assert o["knee_position_mm"] > 3.0
            assert max(o["mkd_left_rms_mm"], o["mkd_right_rms_mm"]) > 0.5
        assert len(res["mkd_curves_mm"]["views"][name]["other_views"]["left"]) == T
    assert "triangulated from cam01+cam03+cam04" in er.format_report(res)


def test_without_view_keeps_the_other_views_in_order(rec, tmp_path):
    from kneeview.analysis.multiview import load_detections

    det = load_detections(write_detections(tmp_path / "bp.npz", rec))
    sub = er.without_view(det, "cam03")
    assert sub.view_names == ("cam01", "cam02", "cam04")
    np.testing.assert_array_equal(sub.keypoints_px, det.keypoints_px[[0, 1, 3]])
    np.testing.assert_array_equal(sub.confidence, det.confidence[[0, 1, 3]])


def test_model_on_the_labels_2d_does_not_depend_on_the_models_2d(session, rec, tmp_path):
    npz = write_detections(tmp_path / "bp.npz", rec)
    near = er.evaluate(session, detections=npz, estimator=FakeEstimator(rec, offset_px=(2.0, 1.0), medial_mm=10.0))
    far = er.evaluate(session, detections=npz, estimator=FakeEstimator(rec, offset_px=(25.0, -30.0), medial_mm=10.0))
    for name in near["views"]:
        a, b = near["views"][name]["model"], far["views"][name]["model"]
        assert a["2d_median_px"] < 3.0 < 30.0 < b["2d_median_px"]
        for side in ("left", "right"):
            key = f"mkd_{side}_rms_mm_labels_2d"
            assert np.isfinite(a[key]) and a[key] == pytest.approx(b[key], abs=1e-6)
    assert "on the labels' own 2D" in er.format_report(near)
    raw = er.evaluate(session, detections=npz, estimator=FakeEstimator(rec), placement="raw")
    assert "mkd_left_rms_mm_labels_2d" not in raw["views"]["cam01"]["model"]
