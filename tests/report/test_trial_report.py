"""The screening report of one trial: its text holds the summary CSV's numbers, the analysis'
peak frames, what is missing; it is written atomically, with the usual one-line errors."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pdftext import pdf_pages, pdf_text
from sessions import mounted

from kneeview.errors import ExportError
from kneeview.report import write_trial_report
from kneeview.report.style import fmt
from kneeview.session.trial import Session


def _trial(dataset, k=0) -> Path:
    root, entries = dataset
    return root / entries[k]["session"]


def _printed(value, decimals=1) -> str:
    """The CSV's value as the report prints it (fixed decimals, no "-0.0")."""
    text = f"{float(value):.{decimals}f}"
    return f"{0.0:.{decimals}f}" if float(text) == 0 else text


def _truth(session):
    from kneeview.analysis.frames import mid_hip

    cam = session.views[0].camera
    gt = session.recording.ground_truth_frames()
    return cam.project(gt), ((gt - mid_hip(gt)[:, None]) @ cam.R.T) / 1000.0


def _scripted_pose(session, noise_px=0.0):
    from sessions import ScriptedEstimator

    kp, rel = _truth(session)
    kp = kp + np.random.default_rng(0).normal(0.0, noise_px, kp.shape) if noise_px else kp
    return session.estimate(estimator=ScriptedEstimator(kp, rel, confidence=0.9), use_cache=False).pose


def test_the_pdf_holds_the_summary_csv_numbers_and_the_peak_frames(dataset, tmp_path):
    folder = _trial(dataset)
    session = Session.open(folder)
    analysed = session.analyse("gt")
    written = session.export(tmp_path / "csv", analysed)
    summary = pd.read_csv(written["summary"]).iloc[0]
    report = write_trial_report(tmp_path / "report.pdf", session, analysed)
    text = pdf_text(report)
    assert pdf_pages(report) == 1
    for column in ("mkd_peak_left_mm", "mkd_peak_right_mm", "mkd_peak_asymmetry_mm", "mkd_ic_peak_left_mm",
                   "mkd_ic_peak_right_mm", "mkd_ic_peak_asymmetry_mm", "fppa_peak_left_deg", "fppa_peak_right_deg",
                   "fppa_peak_asymmetry_deg", "knee_flexion_peak_left_deg", "knee_flexion_peak_right_deg"):
        assert _printed(summary[column]) in text, (column, summary[column])
    assert _printed(summary["kasr_min"], 2) in text
    a = analysed.analysis
    for side in ("left", "right"):
        frame = a.video_frame_of(a.peaks[f"mkd_peak_{side}_frame"])
        assert frame == summary[f"mkd_peak_{side}_frame"]
        assert f"{side.capitalize()} knee, peak MKD {_printed(summary[f'mkd_peak_{side}_mm'])} mm" in text
        assert f"{side} knee close-up, frame {frame}" in text
        # % of leg length at the peak frame, as the per-frame CSV has it
        frames = pd.read_csv(written["frames"])
        pct = frames.loc[frames["frame"] == frame, f"mkd_{side}_pct_leg"].iloc[0]
        assert _printed(pct) in text
    meta = session.recording.metadata
    for word in (meta["athlete_id"], "Drop jump", "both legs", "C3D ground truth", "Ellenberger", "Munro",
                 "not applicable (the source is the C3D itself)", session.views[0].camera.device_id):
        assert word in text, word
    from kneeview.session.cache import file_sha256

    assert file_sha256(session.views[0].video_path) in text.replace("\n", "")
    assert _printed(session.views[0].camera.image_error_px) + " px" in text


def test_a_model_report_prints_the_sd_and_the_2d_error_against_the_c3d(make_session, tmp_path):
    session = Session.open(make_session(n_frames=20))
    pose = _scripted_pose(session, noise_px=1.0)
    analysed = session.analyse("model", pose=pose, uncertainty_samples=20)
    assert analysed.uncertainty
    row = session.summary_row(analysed)
    text = pdf_text(write_trial_report(tmp_path / "model.pdf", session, analysed))
    for side in ("left", "right"):
        value, sd = row[f"mkd_peak_{side}_mm"], row[f"mkd_peak_{side}_mm_sd"]
        assert fmt(value, "mm", sd) in text
        assert f"{_printed(value)} ± {_printed(sd)}" in text
    assert "2D error against the C3D: median" in text
    assert "Model sha256:" in text and "5" * 64 in text.replace("\n", "")
    assert "video estimate (scripted)" in text


def test_a_camera_behind_the_athlete_is_said_in_the_summary_and_the_report(make_session, tmp_path):
    """The athlete faces -Y: a camera at +Y sees the back in every frame (the estimate's 3D turns
    away), one at -Y none; the summary row says which share, the report cautions only from behind."""
    for position, pct in (((-300.0, 4000.0, 1100.0), 100.0), ((300.0, -4000.0, 1100.0), 0.0)):
        session = Session.open(make_session(name=f"S{int(pct)}", n_frames=20, camera_position=position))
        analysed = session.analyse("model", pose=_scripted_pose(session), uncertainty_samples=0)
        row = session.summary_row(analysed)
        assert row["seen_from_behind_pct"] == pct
        text = pdf_text(write_trial_report(tmp_path / f"r{int(pct)}.pdf", session, analysed)).replace("\n", " ")
        assert ("Camera behind the athlete in 100 % of the frames" in text) == (pct == 100.0)
    gt = session.analyse("gt", uncertainty_samples=0)
    assert session.summary_row(gt)["seen_from_behind_pct"] is None


def test_a_report_without_ground_truth_says_so(make_session, tmp_path):
    folder = make_session(n_frames=20)
    session = Session.open(folder)
    pose = _scripted_pose(session)
    (folder / "DJ01.c3d").unlink()
    session = Session.open(folder)
    analysed = session.analyse("model", pose=pose, placement="raw")
    text = pdf_text(write_trial_report(tmp_path / "no-gt.pdf", session, analysed))
    assert "No ground truth: this trial has no C3D (DJ01.c3d)" in text
    assert "C3D: none" in text


def test_a_partial_estimate_names_the_missing_frames(make_session, tmp_path):
    session = Session.open(make_session(n_frames=20))
    pose = _scripted_pose(session)
    keep = np.r_[0:5, 9:17]  # frames 5-8 and 17-19 never estimated
    kp = pose.keypoints_px[keep].copy()
    kp[3] = np.nan  # frame 3: nobody detected
    partial = replace(pose, frame_index=pose.frame_index[keep], time_s=pose.time_s[keep], score=pose.score[keep],
                      keypoints_px=kp, joints_cam_m=pose.joints_cam_m[keep], confidence=pose.confidence[keep])
    analysed = session.analyse("model", pose=partial, placement="raw")
    text = pdf_text(write_trial_report(tmp_path / "partial.pdf", session, analysed))
    assert "Missing estimate (no pose): 8 of 20 frames (3, 5-8, 17-19)" in text


def test_a_long_list_of_missing_frames_goes_on_page_two(make_session, tmp_path):
    session = Session.open(make_session(n_frames=60))
    pose = _scripted_pose(session)
    keep = np.arange(0, 60, 2)  # every other frame
    partial = replace(pose, frame_index=pose.frame_index[keep], time_s=pose.time_s[keep], score=pose.score[keep],
                      keypoints_px=pose.keypoints_px[keep], joints_cam_m=pose.joints_cam_m[keep],
                      confidence=pose.confidence[keep])
    report = write_trial_report(tmp_path / "long.pdf", session, session.analyse("model", pose=partial, placement="raw"))
    assert pdf_pages(report) == 2
    text = " ".join(pdf_text(report).split())  # lines wrapped on the page joined again
    assert "30 of 60 frames" in text and "full list on page 2" in text
    assert ", ".join(str(f) for f in range(1, 60, 2)) in text


# ----------------------------------------------------------------------------- command line
def kneeview(*argv, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(cwd / "cache"), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "kneeview.cli", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_kneeview_report_writes_the_pdf_and_refuses_a_bad_out_before_reading(dataset, tmp_path):
    from kneeview.cli import main

    folder = _trial(dataset, 1)
    out = tmp_path / "reports" / "r.pdf"
    out.parent.mkdir()
    assert main(["report", str(folder), "--source", "gt", "--out", str(out)]) == 0
    assert "screening report" in pdf_text(out)
    proc = kneeview("report", tmp_path / "nowhere", "--out", tmp_path / "r.txt", cwd=tmp_path)
    assert proc.returncode == 2 and "error: argument --out: " in proc.stderr.strip().splitlines()[-1]
    proc = kneeview("report", folder, "--source", "gt", "--cutoff", "nan", "--out", tmp_path / "r.pdf", cwd=tmp_path)
    assert proc.returncode == 2 and "error: argument --cutoff" in proc.stderr


def _one_line(proc, *words):
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_a_full_disk_gives_one_line_and_keeps_the_earlier_report(dataset, tmp_path):
    folder = _trial(dataset)
    with mounted(tmp_path / "small", "size=128k") as out:
        (out / "report.pdf").write_bytes(b"%PDF earlier report")
        with open(out / "filler.bin", "wb") as fh:  # leave less than a report (~250 kB... here a few kB)
            fh.write(b"\0" * (128 * 1024 - 6 * 4096))
        before = {p.name: p.read_bytes() for p in out.iterdir()}
        proc = kneeview("report", folder, "--source", "gt", "--out", out / "report.pdf", cwd=tmp_path)
        _one_line(proc, str(out / "report.pdf"), "disk is full")
        assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_read_only_folder_gives_one_line_and_keeps_the_earlier_report(dataset, tmp_path):
    folder = _trial(dataset)
    out = tmp_path / "readonly"
    with mounted(out, "size=1m"):
        (out / "report.pdf").write_bytes(b"%PDF earlier report")
        if subprocess.run(["mount", "-o", "remount,ro", str(out)], capture_output=True).returncode != 0:
            pytest.skip("cannot remount the tmpfs read-only here")
        proc = kneeview("report", folder, "--source", "gt", "--out", out / "report.pdf", cwd=tmp_path)
        _one_line(proc, str(out / "report.pdf"), "not writable")
        assert (out / "report.pdf").read_bytes() == b"%PDF earlier report"
        session = Session.open(folder)
        with pytest.raises(ExportError, match="not writable"):
            write_trial_report(out / "report.pdf", session, session.analyse("gt"))


def test_the_report_package_loads_neither_qt_nor_torch():
    code = ("import sys, kneeview.report, kneeview.cli_report; "
            "print(sorted(m for m in ('torch', 'PySide6', 'pyqtgraph', 'matplotlib.pyplot') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr


def test_the_low_confidence_threshold_is_the_apps():
    pytest.importorskip("PySide6")
    from kneeview.gui.state import LOW_CONFIDENCE
    from kneeview.report.trial_report import LOW_CONFIDENCE as REPORT_LOW

    assert REPORT_LOW == LOW_CONFIDENCE


def test_a_recording_unlike_the_lifters_training_is_said_in_the_summary_and_the_report(make_session, tmp_path):
    """A scripted drop jump: the lifter's networks agree, the summary row carries their spread and
    the report says nothing; the same trial with the spread above the threshold (as on a real
    recording) gets the caution, and the per-frame CSV the spread of each frame."""
    from kneeview.analysis.lifting import UNFAMILIAR_SPREAD_DEG

    session = Session.open(make_session(n_frames=20))
    analysed = session.analyse("model", pose=_scripted_pose(session), uncertainty_samples=0)
    spread = analysed.inputs.reconstruction.prior_spread_deg
    row = session.summary_row(analysed)
    assert row["lifter_spread_deg"] == pytest.approx(float(np.median(spread)))
    assert 0.0 < row["lifter_spread_deg"] < UNFAMILIAR_SPREAD_DEG
    text = pdf_text(write_trial_report(tmp_path / "agree.pdf", session, analysed)).replace("\n", " ")
    assert "3D reading unsure" not in text
    spread[:] = 3.0 * UNFAMILIAR_SPREAD_DEG
    text = pdf_text(write_trial_report(tmp_path / "unsure.pdf", session, analysed)).replace("\n", " ")
    assert "3D reading unsure: its networks disagree by 24°" in text
    frames = pd.read_csv(session.export(tmp_path / "csv", analysed)["frames"])
    np.testing.assert_allclose(frames["lifter_spread_deg"], spread)
    assert session.summary_row(session.analyse("gt", uncertainty_samples=0))["lifter_spread_deg"] is None


def test_legs_that_disagree_in_length_get_the_caution_in_the_summary_and_the_report(make_session, tmp_path):
    """The summary row carries the reconstruction's length_asymmetry_mm (none for the ground truth); the
    report says nothing while the fitted legs agree and gives the caution once they differ by more than
    LEGS_DISAGREE_MM (as where a squat's lifted foot was hidden)."""
    from kneeview.analysis.reconstruction import LEGS_DISAGREE_CAUTION, LEGS_DISAGREE_MM

    session = Session.open(make_session(n_frames=20))
    analysed = session.analyse("model", pose=_scripted_pose(session), uncertainty_samples=0)
    recon = analysed.inputs.reconstruction
    row = session.summary_row(analysed)
    assert row["length_asymmetry_mm"] == pytest.approx(recon.length_asymmetry_mm)
    assert row["length_asymmetry_mm"] < LEGS_DISAGREE_MM
    text = " ".join(pdf_text(write_trial_report(tmp_path / "agree.pdf", session, analysed)).split())
    assert "Legs disagree" not in text
    recon.segment_lengths_mm["shank_left"] = recon.segment_lengths_mm["shank_right"] + 49.0
    summary = pd.read_csv(session.export(tmp_path / "csv", analysed)["summary"])
    assert summary["length_asymmetry_mm"].iloc[0] == pytest.approx(49.0)
    text = " ".join(pdf_text(write_trial_report(tmp_path / "disagree.pdf", session, analysed)).split())
    assert "Legs disagree: their fitted thigh or shank lengths differ by 49 mm" in text
    assert " ".join(LEGS_DISAGREE_CAUTION.split()[:8]) in text
    assert session.summary_row(session.analyse("gt", uncertainty_samples=0))["length_asymmetry_mm"] is None


def test_a_long_quality_block_sends_the_reading_note_to_page_two(make_session, tmp_path):
    """From behind and with the 3D reading unsure, the quality lines grow; the reading note then goes
    to page two instead of running into the references (page one says where it is)."""
    from kneeview.report.trial_report import REFERENCES_TOP, _block_height, collect_trial, reading_note

    session = Session.open(make_session(name="B", n_frames=20, camera_position=(-300.0, 4000.0, 1100.0)))
    analysed = session.analyse("model", pose=_scripted_pose(session), uncertainty_samples=0)
    short = pdf_text(write_trial_report(tmp_path / "short.pdf", session, analysed))
    analysed.inputs.reconstruction.prior_spread_deg[:] = 30.0
    path = write_trial_report(tmp_path / "long.pdf", session, analysed)
    assert pdf_pages(path) == 2
    text = " ".join(pdf_text(path).split())
    assert "How to read MKD and FPPA On page 2." in text and "3D reading unsure" in text
    assert "How to read this page." in text.split("page 2 —", 1)[1]  # the note itself is on page two
    note = reading_note(collect_trial(session, analysed))
    assert _block_height(note, 150, 0.0104) > REFERENCES_TOP  # a block of real height
    assert "On page 2." not in short  # without the extra caution it fits on page one


def test_a_single_leg_squat_is_reported_on_its_stance_leg(make_session, tmp_path):
    """A squat on the left leg: the report shows the left knee's peak frame, says the right leg is the
    squat's lifted one, and prints no right peak and no left-right asymmetry (the analysis reads none,
    kneeview.analysis.pipeline.stance_leg_peaks)."""
    from kneeview.analysis.pipeline import stance_leg_peaks

    session = Session.open(make_session(n_frames=20))
    analysed = session.analyse("model", pose=_scripted_pose(session), uncertainty_samples=0)
    a = analysed.analysis
    a.events.task, a.events.leg = "single_leg_squat", "left"
    a.peaks = stance_leg_peaks(a.peaks, "left")
    row = session.summary_row(analysed)
    assert row["mkd_peak_right_mm"] is None and row["mkd_peak_asymmetry_mm"] is None
    assert row["mkd_peak_left_mm"] is not None
    text = " ".join(pdf_text(write_trial_report(tmp_path / "sls.pdf", session, analysed)).split())
    assert "Right knee: lifted" in text and "the squat's lifted leg: not read" in text
    assert "Left knee, peak MKD" in text and "Right knee, peak MKD" not in text
