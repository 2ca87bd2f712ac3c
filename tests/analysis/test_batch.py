"""`kneeview export` and `kneeview batch` over a small tree of Vicon-style sessions."""
import argparse
import json

import numpy as np
import pandas as pd
import pytest

from analysis_fixtures import drop_jump, single_leg_squat
from sessions import make_camera, noise_frames, write_video
from kneeview import joints as J
from kneeview.session.cli import register
from kneeview.errors import KneeViewInputError

C3D_RATE, FPS, SIZE = 100.0, 50.0, (160, 120)


def cli(*argv):
    parser = argparse.ArgumentParser(prog="kneeview")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def write_session(folder, trial, joints, task=None, with_c3d=True):
    from kneeview.camera import write_xcp
    from kneeview.io.c3d import write_ground_truth

    folder.mkdir(parents=True, exist_ok=True)
    # the camera in front of the athlete, who faces lab -Y
    cam = make_camera(size=SIZE, position=(200.0, -4500.0, 1000.0), target=(0.0, 0.0, 700.0), focal=150.0)
    write_xcp([cam], folder / f"{folder.name}.xcp")
    if with_c3d:
        write_ground_truth(folder / f"{trial}.c3d", joints, C3D_RATE, subject="Athlete")
    n_video = int(len(joints) * FPS / C3D_RATE)
    write_video(folder / f"{trial}.{cam.device_id}.avi", noise_frames(n_video, SIZE), fps=FPS)
    if task:
        (folder / f"{trial}.json").write_text(json.dumps({"athlete_id": f"A-{trial}", "task": task}))
    return folder


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    dj, dj_truth = drop_jump(rate_hz=C3D_RATE, facing_deg=-90.0, valgus_mm=(15.0, 25.0))
    sls, sls_truth = single_leg_squat(rate_hz=C3D_RATE, stance="left", facing_deg=-90.0)
    write_session(root / "S01", "DJ01", dj, task="DJ")
    write_session(root / "S02", "SLS01", sls)  # no metadata: the task is detected
    broken = root / "S03"  # a corrupt video
    write_session(broken, "DJ02", dj, task="DJ")
    (broken / "DJ02.2107395.avi").write_bytes(b"not a video" * 100)
    write_session(root / "S04", "DJ03", dj, task="DJ", with_c3d=False)  # no ground truth
    truth = {"DJ01": {k: v / 2 for k, v in dj_truth.items()}, "SLS01": {k: v / 2 for k, v in sls_truth.items()}}
    return root, truth


def test_export_ground_truth_writes_csv_summary_and_trc(tree, tmp_path, capsys):
    from kneeview.io.recording import open_recording

    root, truth = tree
    out = tmp_path / "out"
    assert cli("export", root / "S01", "--source", "gt", "--out", out, "--cutoff", "0") == 0
    assert sorted(p.name for p in out.iterdir()) == ["DJ01.trc", "DJ01_frames.csv", "DJ01_summary.csv"]
    rec = open_recording(root / "S01")
    gt = rec.ground_truth_frames()
    frames = pd.read_csv(out / "DJ01_frames.csv")
    assert len(frames) == len(gt) == 103
    for k, name in enumerate(J.JOINTS):
        np.testing.assert_allclose(frames[[f"{name}_x_mm", f"{name}_y_mm", f"{name}_z_mm"]], gt[:, k], atol=1e-9)
        np.testing.assert_allclose(frames[[f"{name}_u_px", f"{name}_v_px"]], rec.view.camera.project(gt[:, k]), atol=1e-9)
    summary = pd.read_csv(out / "DJ01_summary.csv")
    row = summary.iloc[0]
    assert row["source"] == "gt" and row["task"] == "drop_jump" and row["athlete_id"] == "A-DJ01"
    for name, frame in truth["DJ01"].items():
        assert abs(row[f"{name}_frame"] - frame) <= 1.5, name  # 50 fps video: 30 ms
    assert row["mkd_peak_right_mm"] == pytest.approx(15.0, abs=1.0)
    assert row["mkd_peak_left_mm"] == pytest.approx(25.0, abs=1.0)
    # 2D from the frontal camera: the same side is medial
    assert row["mkd_2d_peak_left_px"] > row["mkd_2d_peak_right_px"] > 0
    # default 6 Hz filter changes the trajectories but keeps the columns
    cli("export", root / "S01", "--source", "gt", "--out", tmp_path / "f6")
    f6 = pd.read_csv(tmp_path / "f6" / "DJ01_frames.csv")
    assert list(f6.columns) == list(frames.columns) and not np.allclose(f6["RTIO_z_mm"], frames["RTIO_z_mm"])


def test_export_bad_input_is_a_clear_error(tree, tmp_path):
    root, _ = tree
    with pytest.raises(KneeViewInputError, match="no ground truth"):
        cli("export", root / "S04", "--source", "gt", "--out", tmp_path)
    with pytest.raises(KneeViewInputError, match="cutoff"):
        cli("export", root / "S01", "--source", "gt", "--out", tmp_path, "--cutoff", "40")
    with pytest.raises(KneeViewInputError, match="unknown task"):
        cli("batch", root, "--source", "gt", "--out", tmp_path / "s.csv", "--task", "hop")
    assert not (tmp_path / "s.csv").exists()


def test_model_source_uses_the_estimator_and_recovers_the_lab_trajectories(tree, tmp_path):
    """A stand-in estimator that returns what a perfect network would: the PoseSequence fields."""
    from sessions import ScriptedEstimator

    from kneeview.analysis.frames import mid_hip
    from kneeview.session import Session

    root, _ = tree
    session = Session.open(root / "S01")
    cam = session.views[0].camera
    gt = session.recording.ground_truth_frames()
    perfect = ScriptedEstimator(cam.project(gt), ((gt - mid_hip(gt)[:, None]) @ cam.R.T) / 1000.0,
                                name="perfect", card={"version": "1"})
    analysed = session.analyse("model", cutoff_hz=None, estimator=perfect, use_cache=False, placement="raw")
    model, inputs = analysed.analysis, analysed.inputs
    truth = session.analyse("gt", cutoff_hz=None).analysis
    assert inputs.source == "model" and inputs.model["name"] == "perfect"
    np.testing.assert_allclose(model.joints_lab_mm, truth.joints_lab_mm, atol=0.1)
    assert model.events.frames == truth.events.frames
    assert model.peaks["mkd_peak_left_mm"] == pytest.approx(truth.peaks["mkd_peak_left_mm"], abs=0.1)


def test_batch_summarises_every_trial_and_skips_the_broken_ones(tree, tmp_path, capsys):
    root, truth = tree
    out = tmp_path / "summary.csv"
    assert cli("batch", root, "--out", out, "--source", "gt") == 3  # some trials skipped
    df = pd.read_csv(out)
    assert list(df["trial"]) == ["S01/DJ01", "S02/SLS01"]
    assert list(df["task"]) == ["drop_jump", "single_leg_squat"]
    assert df.loc[1, "stance_leg"] == "left"
    for name, frame in truth["SLS01"].items():
        assert abs(df.loc[1, f"{name}_frame"] - frame) <= 2.5, name
    errors = pd.read_csv(tmp_path / "summary.errors.csv")
    assert len(errors) == 2
    assert "DJ02" in errors.loc[0, "recording"] and "video" in errors.loc[0, "error"]
    assert "DJ03" in errors.loc[1, "recording"] and "no ground truth" in errors.loc[1, "error"]
    err = capsys.readouterr().err
    assert "skipped" in err and "DJ02" in err


def test_batch_sharded_by_torchrun_ranks_merges_to_the_same_summary(tree, tmp_path, monkeypatch):
    root, _ = tree
    single = tmp_path / "single.csv"
    cli("batch", root, "--out", single, "--source", "gt")
    out = tmp_path / "sharded.csv"
    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    # rank 0 first: it cannot merge before the others have written their parts
    assert cli("batch", root, "--out", out, "--source", "gt", "--merge-timeout", "0") == 1
    assert not out.exists()
    for rank in (1, 2):
        monkeypatch.setenv("RANK", str(rank))
        assert cli("batch", root, "--out", out, "--source", "gt") == 0
    parts = sorted(p.name for p in tmp_path.glob("sharded.csv.part-*"))
    assert parts == [f"sharded.csv.part-0000{r}-of-00003.csv" for r in range(3)]
    # rank r took trials r, r + 3 of the sorted list S01..S04
    sessions = [list(pd.read_csv(tmp_path / p)["recording"].map(lambda v: v.split("/")[-2])) for p in parts]
    assert sessions == [["S01", "S04"], ["S02"], ["S03"]]
    monkeypatch.setenv("RANK", "0")
    assert cli("batch", root, "--out", out, "--merge") == 3  # the merged run skipped some trials
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(single))
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "sharded.errors.csv"), pd.read_csv(tmp_path / "single.errors.csv"))
    assert not list(tmp_path.glob("sharded.csv.part-*"))
    # a normal sharded run: the last rank 0 merges by itself
    out2 = tmp_path / "again.csv"
    for rank in (2, 1, 0):
        monkeypatch.setenv("RANK", str(rank))
        assert cli("batch", root, "--out", out2, "--source", "gt") == (3 if rank == 0 else 0)
    pd.testing.assert_frame_equal(pd.read_csv(out2), pd.read_csv(single))


def test_bad_rank_environment_is_reported(tree, tmp_path, monkeypatch):
    root, _ = tree
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(KneeViewInputError, match="RANK"):
        cli("batch", root, "--out", tmp_path / "s.csv", "--source", "gt")


def test_the_batch_message_names_the_trials_the_summary_cautions_against(tmp_path):
    from kneeview.analysis.lifting import UNFAMILIAR_SPREAD_DEG
    from kneeview.session.cli import batch_message

    out = tmp_path / "summary.csv"
    pd.DataFrame({"trial": ["a", "b", "c"], "lifter_spread_deg": [0.5, UNFAMILIAR_SPREAD_DEG + 1.0, 1.0],
                  "seen_from_behind_pct": [0.0, 0.0, 40.0]}).to_csv(out, index=False)
    msg = batch_message(out, 3, 1)
    assert msg.startswith(f"{out}: 3 trials, 1 skipped")
    assert "caution: 3D unsure (1 of 3); from behind (1 of 3)" in msg
    pd.DataFrame({"trial": ["a"], "lifter_spread_deg": [0.5], "seen_from_behind_pct": [0.0]}).to_csv(out, index=False)
    assert batch_message(out, 1, 0) == f"{out}: 1 trials"
