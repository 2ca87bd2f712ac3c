"""Datasets: determinism, athletes over two years, the CLI and its errors, --from-c3d."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from kneeview.errors import KneeViewInputError
from kneeview.io.c3d import read_ground_truth, write_ground_truth
from kneeview.io.video import VideoReader
from kneeview.synth import cli as synth_cli
from kneeview.synth.dataset import plan_dataset, write_dataset

from .conftest import mkd_both

SIZE = (96, 72)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _run_cli(argv):
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    synth_cli.register(sub)
    args = parser.parse_args(["synth", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    a = tmp_path_factory.mktemp("a")
    b = tmp_path_factory.mktemp("b")
    write_dataset(a, 3, seed=7, task="mix", size=SIZE, progress=False)
    write_dataset(b, 3, seed=7, task="mix", size=SIZE, workers=2, progress=False)
    return a, b


def test_same_seed_same_files(two_runs):
    a, b = two_runs
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    assert sum(k.endswith(".avi") for k in fa) == 3
    for name in fa:
        assert fa[name] == fb[name], name  # one worker or two, byte for byte


def test_other_seed_other_files(two_runs, tmp_path):
    a, _ = two_runs
    write_dataset(tmp_path, 1, seed=8, task="mix", size=SIZE, progress=False)
    other = [v for k, v in _files(tmp_path).items() if k.endswith(".avi")][0]
    assert all(other != v for k, v in _files(a).items() if k.endswith(".avi"))


def test_index_and_videos(two_runs):
    a, _ = two_runs
    index = json.loads((a / "synth_index.json").read_text())
    assert len(index["trials"]) == 3
    for entry in index["trials"]:
        meta = json.loads((a / entry["json"]).read_text())
        assert meta["athlete_id"] == entry["athlete_id"] and meta["task"] in ("DJ", "SLS")
        r = VideoReader(a / entry["video"])
        assert (r.info.width, r.info.height) == SIZE and len(r) == meta["n_frames"] == entry["n_frames"]
        gt = read_ground_truth(a / entry["c3d"])
        assert gt.n_frames == meta["n_frames"] * round(meta["c3d_rate_hz"] / meta["fps"])


def test_athletes_recorded_in_two_years():
    specs = plan_dataset(40, seed=1, task="mix")
    by_athlete: dict[str, set] = {}
    for s in specs:
        by_athlete.setdefault(s.athlete_id, set()).add(s.year)
    assert 5 <= len(by_athlete) <= 15
    assert any(years == {1, 2} for years in by_athlete.values())
    assert any(years == {1} for years in by_athlete.values())
    assert {s.task for s in specs} == {"DJ", "SLS"}
    assert {s.task for s in plan_dataset(10, seed=1, task="sls")} == {"SLS"}


def test_cameras_keep_the_movement_in_frame():
    from kneeview.synth.dataset import TrialSpec, build_trial

    for i in range(6):
        built = build_trial(TrialSpec(seed=21, index=i, athlete_index=i, year=1, task=("DJ", "SLS")[i % 2], size=(320, 240)))
        cam = built.cameras[0]
        cam.distortion.check_invertible(cam.image_size)
        for c in built.cameras:
            c.distortion.check_invertible(c.image_size)
        uv = cam.project(built.motion.joints_lab_mm.reshape(-1, 3))
        assert np.all(np.isfinite(uv))
        assert np.all((uv >= 0) & (uv <= [319, 239]))


@pytest.mark.parametrize("placement", ["rear", "high"])
def test_rear_and_high_cameras(placement):
    """Viewpoints a clinic rarely films from but a lab's other cameras do: behind the athlete
    (125-180 degrees from the direction they face) and high up looking down."""
    from kneeview.synth.dataset import TrialSpec, build_trial

    for i in range(4):
        spec = TrialSpec(seed=22, index=i, athlete_index=i, year=1, task=("DJ", "SLS")[i % 2], size=(320, 240),
                         placements=(placement,))
        built = build_trial(spec)
        cam, motion = built.cameras[0], built.motion
        assert built.metadata["camera"]["placement"] == placement
        uv = cam.project(motion.joints_lab_mm.reshape(-1, 3))
        assert np.all((uv >= 0) & (uv <= [319, 239]))
        centre = motion.joints_lab_mm.reshape(-1, 3).mean(axis=0)
        to_cam = (cam.position_mm - centre)[:2]
        facing = np.asarray(motion.facing, float)[:2]
        angle = np.degrees(np.arccos(to_cam @ facing / np.linalg.norm(to_cam) / np.linalg.norm(facing)))
        optical_axis = cam.R[2]  # camera z in the lab frame
        if placement == "rear":
            assert angle > 110  # behind (the aim point's small offsets move the angle a little)
            assert 700 <= cam.position_mm[2] <= 1700
        else:
            assert 2200 <= cam.position_mm[2] <= 3200 and optical_axis[2] < -0.2  # looking down


def test_default_placements_keep_existing_datasets():
    """The default draw is the one every dataset so far was rendered with (same seed, same files)."""
    from kneeview.synth.dataset import TrialSpec, build_trial

    spec = TrialSpec(seed=21, index=3, athlete_index=3, year=1, task="DJ", size=(320, 240))
    explicit = TrialSpec(seed=21, index=3, athlete_index=3, year=1, task="DJ", size=(320, 240),
                         placements=("frontal", "oblique"))
    a, b = build_trial(spec).cameras[0], build_trial(explicit).cameras[0]
    np.testing.assert_array_equal(a.position_mm, b.position_mm)
    assert build_trial(spec).metadata["camera"]["placement"] in ("frontal", "oblique")


def test_cli_placements(tmp_path):
    assert _run_cli([str(tmp_path / "out"), "--trials", "2", "--seed", "4", "--size", "96x72", "--placements", "rear,HIGH",
                     "--no-progress"]) == 0
    index = json.loads((tmp_path / "out" / "synth_index.json").read_text())
    assert index["placements"] == ["rear", "high"]
    for trial in index["trials"]:
        meta = json.loads(next((tmp_path / "out").rglob(f"{trial['trial']}.json")).read_text())
        assert meta["camera"]["placement"] in ("rear", "high")


def test_rerun_into_the_same_folder_keeps_the_index_of_the_sessions_still_there(tmp_path):
    """issue 18: a second run added to the index instead of replacing it."""
    out = tmp_path / "out"
    first = write_dataset(out, 1, seed=11, task="sls", size=SIZE, progress=False)
    second = write_dataset(out, 1, seed=12, task="sls", size=SIZE, progress=False)
    index = json.loads((out / "synth_index.json").read_text())
    assert [e["session"] for e in index["trials"]] == [first[0]["session"], second[0]["session"]]
    assert [r["seed"] for r in index["runs"]] == [11, 12]
    import shutil

    shutil.rmtree(out / first[0]["session"])  # a session deleted by hand drops out of the index
    write_dataset(out, 1, seed=12, task="sls", size=SIZE, progress=False)  # the same trial again: listed once
    index = json.loads((out / "synth_index.json").read_text())
    assert [e["session"] for e in index["trials"]] == [second[0]["session"]]


def test_cli_writes_a_dataset(tmp_path, capsys):
    assert _run_cli([str(tmp_path / "out"), "--trials", "1", "--seed", "2", "--task", "sls", "--size", "96x72", "--no-progress"]) == 0
    assert "wrote 1 trials" in capsys.readouterr().out
    index = json.loads((tmp_path / "out" / "synth_index.json").read_text())
    assert index["trials"][0]["task"] == "SLS"


@pytest.mark.parametrize("argv, field", [
    (["--trials", "-1"], "--trials"),
    (["--task", "jump"], "--task"),
    (["--size", "wide"], "--size"),
    (["--size", "0x10"], "--size"),
    (["--size", "97x73"], "--size"),
    (["--workers", "-2"], "--workers"),
    (["--seed", "-5"], "--seed"),
    (["--from-c3d", "/nonexistent/trial.c3d"], "--from-c3d"),
    (["--placements", "ceiling"], "--placements"),
    (["--placements", ","], "--placements"),
])
def test_cli_bad_options(tmp_path, argv, field, capsys):
    # refused when the options are parsed (argparse: exit 2, the option named) or when run
    with pytest.raises((KneeViewInputError, SystemExit)) as err:
        _run_cli([str(tmp_path / "out"), "--no-progress", *argv])
    if isinstance(err.value, SystemExit):
        assert err.value.code == 2 and f"argument {field}" in capsys.readouterr().err
    else:
        assert field in str(err.value)
    assert not (tmp_path / "out" / "synth_index.json").exists()


def test_cli_demo(tmp_path):
    assert _run_cli([str(tmp_path / "demo"), "--demo"]) == 0
    names = {p.name for p in (tmp_path / "demo").iterdir()}
    assert {"demo.xcp", "DropJump01.c3d", "DropJump01.json"} <= names
    assert any(n.startswith("DropJump01.") and n.endswith(".avi") for n in names)


def test_unwritable_output_folder(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(KneeViewInputError) as err:
        _run_cli([str(blocker / "out"), "--trials", "1", "--no-progress"])
    assert "cannot write to the output folder" in str(err.value) and "a_file" in str(err.value)


def test_from_c3d_renders_the_captured_joint_centres(tmp_path):
    # a "captured" C3D with only the six joint centres (no body points), 100 Hz
    from kneeview.synth.anthropometrics import sample_athlete
    from kneeview.synth.motion import single_leg_squat

    m = single_leg_squat(sample_athlete(np.random.default_rng(0), "X"), np.random.default_rng(1), 100.0, 50.0,
                         stance="left", valgus_mm=25.0)
    # captured in another lab: the athlete faces lab -X, away from the origin
    Rz = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    joints = m.joints_lab_mm @ Rz.T + [1500.0, -700.0, 0.0]
    joints[30:34, 2] = np.nan  # a gap in the right knee
    src = write_ground_truth(tmp_path / "captured.c3d", joints, 100.0, subject="Subj")
    out = tmp_path / "out"
    entries = write_dataset(out, 1, seed=3, task="sls", size=(160, 120), from_c3d=src, progress=False)
    gt = read_ground_truth(out / entries[0]["c3d"])
    ok = np.all(np.isfinite(joints), axis=-1)
    np.testing.assert_allclose(gt.joints_lab_mm[ok], joints[ok], atol=1e-3)
    assert np.all(np.isfinite(gt.joints_lab_mm))  # the gap was filled
    meta = json.loads((out / entries[0]["json"]).read_text())
    assert meta["source_c3d"] == "captured.c3d" and meta["fps"] == 50.0 and meta["c3d_rate_hz"] == 100.0
    assert len(VideoReader(out / entries[0]["video"])) == meta["n_frames"] == joints.shape[0] // 2
    left = meta["valgus"]["left"]
    assert left["requested_mm"] is None
    np.testing.assert_allclose(meta["valgus"]["lateral_axis_lab"], [0.0, 1.0, 0.0], atol=0.02)  # athlete's right
    lateral = meta["valgus"]["lateral_axis_lab"]
    assert left["peak_mkd_mm"] == pytest.approx(np.max(mkd_both(gt.joints_lab_mm, lateral)[:, 1]), abs=0.05)
    assert left["peak_mkd_mm"] == pytest.approx(25.0, abs=0.5)
    # the camera was placed for this athlete's heading: the whole movement is in frame
    from kneeview.camera import read_xcp

    session = (out / entries[0]["video"]).parent
    cam = read_xcp(session / f"{session.name}.xcp").camera(meta["camera"]["device_id"])
    uv = cam.project(gt.joints_lab_mm.reshape(-1, 3))
    assert np.all((uv >= 0) & (uv <= [159, 119]))
    to_cam = cam.position_mm[:2] - gt.joints_lab_mm[:, :2, :2].mean((0, 1))
    assert to_cam[0] < 0  # in front of the athlete, who faces -X


def test_from_c3d_without_joint_centres_is_refused(tmp_path):
    bad = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "c3d" / "Eb015pr.c3d"
    if not bad.is_file():
        bad = Path("/work/shared/data/c3d/Eb015pr.c3d")
    with pytest.raises(KneeViewInputError) as err:
        write_dataset(tmp_path / "out", 1, seed=0, from_c3d=bad, progress=False)
    assert "joint centres" in str(err.value)


def test_from_c3d_with_plug_in_gait_markers_only(tmp_path):
    """A real Nexus capture (tennis serve, PiG markers, metres, gaps, subject prefix): the
    joint centres are estimated from the markers and the real head markers drive the head."""
    from kneeview.io.c3d import read_points
    from kneeview.synth.from_c3d import load_capture

    src = Path(__file__).resolve().parents[3] / "shared" / "data" / "c3d" / "kinematics_tennis_serve_nan.c3d"
    if not src.is_file():
        src = Path("/work/shared/data/c3d/kinematics_tennis_serve_nan.c3d")
    joints, rate, data = load_capture(src)
    assert rate == 50.0 and joints.shape == (1092, 6, 3) and np.all(np.isfinite(joints))
    for a, b, lo, hi in ((0, 2, 320, 480), (1, 3, 320, 480), (2, 4, 340, 480), (3, 5, 340, 480), (0, 1, 120, 260)):
        length = np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)
        assert lo < np.median(length) < hi and np.std(length) < 25.0, (a, b, np.median(length), np.std(length))
    assert np.all(joints[:, 0:2, 2] > joints[:, 2:4, 2]) and np.all(joints[:, 2:4, 2] > joints[:, 4:6, 2])
    entries = write_dataset(tmp_path, 1, seed=0, task="dj", size=(96, 72), from_c3d=src, progress=False)
    gt = read_ground_truth(tmp_path / entries[0]["c3d"])
    np.testing.assert_allclose(gt.joints_lab_mm, joints, atol=1e-2)
    head = read_points(tmp_path / entries[0]["c3d"])
    labels = [lab.split(":")[-1] for lab in head.labels]
    names = [lab.split(":")[-1] for lab in data.labels]
    raw = np.mean([data.points[:, names.index(n)] for n in ("LFHD", "RFHD", "LBHD", "RBHD")], axis=0) * 1000.0
    ok = np.all(np.isfinite(raw), axis=-1)
    np.testing.assert_allclose(head.points[ok, labels.index("HEAD")], raw[ok], atol=1e-2)
    assert len(VideoReader(tmp_path / entries[0]["video"])) == 1092
