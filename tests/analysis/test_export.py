"""CSV and TRC read back; atomic writing."""
import errno
import os

import numpy as np
import pandas as pd
import pytest

import kneeview
from analysis_fixtures import degrade, drop_jump
from kneeview import joints as J
from kneeview.analysis import analyse
from kneeview.errors import ExportError
from kneeview.io.export import (LAB_TO_OPENSIM, export_trial, read_trc, summary_row, write_frames_csv,
                                write_summary_csv, write_trc)

RATE = 100.0


@pytest.fixture(scope="module")
def trial():
    joints, truth = drop_jump(rate_hz=RATE, facing_deg=-90.0)
    joints = degrade(joints, noise_mm=1.0)
    kp = np.stack([joints[..., 0] * 0.2 + 320.0, 480.0 - joints[..., 2] * 0.2], axis=-1)  # a frontal "camera"
    a = analyse(joints, RATE, keypoints_px=kp, task="dj", frame_index=np.arange(len(joints)) + 10)
    return a, truth


def test_frames_csv_reads_back_with_pandas_defaults(trial, tmp_path):
    a, _ = trial
    conf = np.random.default_rng(0).uniform(0, 1, (len(a), J.N_JOINTS))
    path = write_frames_csv(tmp_path / "f.csv", a, conf)
    df = pd.read_csv(path)
    assert len(df) == len(a)
    assert list(df.columns[:2]) == ["frame", "time_s"]
    np.testing.assert_array_equal(df["frame"], a.frame_index)
    np.testing.assert_allclose(df["time_s"], a.frame_index / RATE)
    for k, name in enumerate(J.JOINTS):
        np.testing.assert_allclose(df[[f"{name}_x_mm", f"{name}_y_mm", f"{name}_z_mm"]].to_numpy(), a.joints_lab_mm[:, k],
                                   rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(df[[f"{name}_u_px", f"{name}_v_px"]].to_numpy(), a.keypoints_px[:, k],
                                   rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(df[f"{name}_confidence"], conf[:, k], rtol=1e-12)
    for col in ("mkd_left_mm", "mkd_right_mm", "fppa_left_deg", "fppa_right_deg", "mkd_ic_left_mm", "kasr",
                "knee_flexion_right_deg", "mkd_2d_left_px", "fppa_2d_right_deg"):
        np.testing.assert_allclose(df[col], a.metrics[col], rtol=1e-12, equal_nan=True)
    # gaps in the input are empty cells, read back as NaN
    assert df["RTIO_x_mm"].isna().sum() == np.isnan(a.joints_lab_mm[:, 4, 0]).sum() > 0


def test_summary_csv_has_events_peaks_and_versions(trial, tmp_path):
    a, truth = trial
    row = summary_row(a, "DJ01", "/data/S01/DJ01.avi", source="model",
                      model={"name": "kneeview-pose", "checkpoint_sha256": "abc123"}, metadata={"athlete_id": "A7"})
    path = write_summary_csv(tmp_path / "s.csv", [row, row])
    df = pd.read_csv(path)
    assert len(df) == 2
    r = df.iloc[0]
    assert r["trial"] == "DJ01" and r["source"] == "model" and r["athlete_id"] == "A7"
    assert r["software_version"] == kneeview.__version__ and r["model_version"] == "abc123"
    assert r["task"] == "drop_jump"
    for name, frame in truth.items():
        assert abs(r[f"{name}_frame"] - (frame + 10)) <= 3  # video frames (offset 10)
        assert r[f"{name}_time_s"] == pytest.approx(r[f"{name}_frame"] / RATE)
    assert pd.isna(r["start_frame"]) and pd.isna(r["end_frame"])  # squat events do not apply
    assert r["mkd_peak_left_mm"] == pytest.approx(a.peaks["mkd_peak_left_mm"])
    assert r["mkd_peak_asymmetry_mm"] == pytest.approx(r["mkd_peak_left_mm"] - r["mkd_peak_right_mm"])
    assert r["fppa_peak_right_frame"] == a.peaks["fppa_peak_right_frame"] + 10
    gt = summary_row(a, "DJ01", source="gt", model={"name": "x"})
    assert gt["model_version"] is None and gt["source"] == "gt"


def test_the_lifters_spread_is_a_per_frame_column_and_its_median_a_summary_column(trial, tmp_path):
    a, _ = trial
    T = len(a)
    spread = np.linspace(1.0, 3.0, T)
    spread[:5] = np.nan  # frames without a reading
    paths = export_trial(tmp_path, a, "DJ01", source="model", prior_spread_deg=spread)
    frames = pd.read_csv(paths["frames"])
    np.testing.assert_allclose(frames["lifter_spread_deg"], spread)
    summary = pd.read_csv(paths["summary"]).iloc[0]
    assert summary["lifter_spread_deg"] == pytest.approx(np.nanmedian(spread))
    assert summary_row(a, "x", prior_spread_deg=np.full(T, np.nan))["lifter_spread_deg"] is None
    assert summary_row(a, "x")["lifter_spread_deg"] is None
    assert "lifter_spread_deg" not in pd.read_csv(export_trial(tmp_path / "plain", a, "DJ01")["frames"]).columns

def test_trc_follows_the_opensim_layout_and_axes(trial, tmp_path):
    a, _ = trial
    path = write_trc(tmp_path / "t.trc", a.joints_lab_mm, RATE, a.frame_index)
    lines = path.read_text().splitlines()
    assert lines[0].split("\t")[:3] == ["PathFileType", "4", "(X/Y/Z)"]
    header, labels, data = read_trc(path)
    assert header["DataRate"] == header["CameraRate"] == header["OrigDataRate"] == "100"
    assert int(header["NumFrames"]) == len(a) and int(header["NumMarkers"]) == 6 and header["Units"] == "mm"
    assert labels == list(J.JOINTS)
    assert lines[3].split("\t")[:3] == ["Frame#", "Time", "RFEP"]
    assert lines[4].split("\t")[2:5] == ["X1", "Y1", "Z1"] and lines[4].split("\t")[-1] == "Z6"
    np.testing.assert_array_equal(data[:, 0], np.arange(1, len(a) + 1))
    np.testing.assert_allclose(data[:, 1], a.frame_index / RATE, atol=1e-6)
    xyz = data[:, 2:].reshape(len(a), 6, 3)
    lab = a.joints_lab_mm
    # OpenSim Y up: X = lab X, Y = lab Z, Z = -lab Y
    np.testing.assert_allclose(xyz[..., 0], lab[..., 0], atol=1e-5)
    np.testing.assert_allclose(xyz[..., 1], lab[..., 2], atol=1e-5)
    np.testing.assert_allclose(xyz[..., 2], -lab[..., 1], atol=1e-5)
    assert np.linalg.det(LAB_TO_OPENSIM) == pytest.approx(1.0)
    # the vertical is the largest-varying axis of the ankles in a drop jump, and it is Y
    assert np.nanstd(xyz[:, 4, 1]) > 5 * np.nanstd(xyz[:, 4, 0])


def test_export_trial_writes_three_files(trial, tmp_path):
    a, _ = trial
    paths = export_trial(tmp_path / "out" / "nested", a, "DJ01")
    assert {p.name for p in paths.values()} == {"DJ01_frames.csv", "DJ01_summary.csv", "DJ01.trc"}
    assert all(p.is_file() for p in paths.values())
    assert not [p for p in (tmp_path / "out" / "nested").iterdir() if p.name.startswith(".")]


def test_unwritable_folder_raises_export_error_and_keeps_the_old_file(trial, tmp_path, monkeypatch):
    a, _ = trial
    target = tmp_path / "f.csv"
    target.write_text("old content\n")
    if os.geteuid() != 0:  # a real read-only folder (root ignores permissions)
        tmp_path.chmod(0o555)
        try:
            with pytest.raises(ExportError, match="f.csv"):
                write_frames_csv(target, a)
        finally:
            tmp_path.chmod(0o755)
        assert target.read_text() == "old content\n"

    import kneeview.atomic

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(kneeview.atomic.tempfile, "mkstemp", read_only)
    for write in (lambda: write_frames_csv(target, a), lambda: write_trc(target, a.joints_lab_mm, RATE)):
        with pytest.raises(ExportError, match="f.csv.*not writable"):
            write()
    assert target.read_text() == "old content\n"


def test_full_disk_midway_leaves_the_old_file_and_no_temporary(trial, tmp_path, monkeypatch):
    a, _ = trial
    target = tmp_path / "t.trc"
    target.write_text("old trc\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(ExportError, match="t.trc.*disk is full"):
        write_trc(target, a.joints_lab_mm, RATE)
    with pytest.raises(ExportError, match="s.csv.*disk is full"):
        write_summary_csv(tmp_path / "s.csv", [summary_row(a, "x")])
    assert target.read_text() == "old trc\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.trc"]
