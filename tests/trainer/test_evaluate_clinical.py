"""`kneeview-train evaluate-clinical` on two small synthetic trials: its rows, breakdown and
JSON, with a stand-in network that returns the truth (so the raw placement's errors are ~0)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sessions import ScriptedEstimator


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory):
    from kneeview.synth.dataset import write_dataset

    root = tmp_path_factory.mktemp("clinical")
    write_dataset(root, n_trials=2, seed=4242, task="mix", progress=False)
    return root


def _perfect(root):
    """The truth of every trial, in the order evaluate-clinical reads them."""
    from kneeview.analysis.frames import mid_hip
    from kneeview.io.recording import find_recordings, open_recording

    kp, rel = [], []
    for video in find_recordings(root):
        rec = open_recording(video)
        cam, gt = rec.views[0].camera, rec.ground_truth_frames()
        kp.append(cam.project(gt))
        rel.append(((gt - mid_hip(gt)[:, None]) @ cam.R.T) / 1000.0)
    return ScriptedEstimator(np.concatenate(kp), np.concatenate(rel), confidence=1.0)


def test_rows_breakdown_and_json(two_trials, tmp_path, monkeypatch, capsys):
    from trainer.cli import main

    monkeypatch.setenv("KNEEVIEW_CACHE_DIR", str(tmp_path / "cache"))
    perfect = _perfect(two_trials)
    monkeypatch.setattr("kneeview.session.estimates.load_estimator", lambda *a, **k: perfect)
    out = tmp_path / "clinical.json"
    assert main(["evaluate-clinical", "--data", str(two_trials), "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| calibrated | all |" in table and "| raw | all |" in table and "targets (calibrated)" in table
    result = json.loads(out.read_text())
    assert result["placements"] == ["calibrated", "raw"]
    rows = result["rows"]
    assert len(rows) == 2 * 2 * 2  # trials x placements x legs
    assert {r["side"] for r in rows} == {"left", "right"}
    sides = {f"{p.parent.name}/{p.stem}": json.loads(p.read_text()).get("side")
             for p in two_trials.glob("*/*.json")}
    for r in rows:
        stance = sides[r["trial"]]
        if r["task"] == "SLS":  # read on the stance leg; a squat has no within-trial asymmetry
            assert r["leg"] == ("stance" if r["side"] == stance else "lifted") and np.isnan(r["asymmetry_err_mm"])
        else:
            assert r["leg"] == "both" and np.isfinite(r["asymmetry_err_mm"])
    groups = set(result["summary"]["raw"])
    assert "all" in groups and "size=640x480" in groups and any(g.startswith("task=") for g in groups)
    assert any(g.startswith("camera=") for g in groups)
    for r in rows:  # the calibrated rows carry the fitted legs' asymmetry and its class; the raw ones none
        if r["placement"] == "calibrated":
            want = "disagree" if r["length_asymmetry_mm"] > 25 else "agree"
            assert r["length_asymmetry_mm"] >= 0 and r["lengths"] == want
        else:
            assert np.isnan(r["length_asymmetry_mm"]) and r["lengths"] == "n/a"
    for r in rows:
        assert r["knee_2d_err_px"] == pytest.approx(0.0, abs=1e-6)  # the stand-in's 2D is the truth
        if r["leg"] == "lifted":  # a squat's lifted leg has no peak, in the truth as in the model
            assert np.isnan(r["peak_mkd_err_mm"]) and np.isnan(r["peak_fppa_err_deg"])
        elif r["placement"] == "raw":  # the truth's own 3D, placed from its own 2D: the analysis agrees
            assert r["peak_mkd_err_mm"] < 0.5 and r["mkd_rms_mm"] < 0.5 and r["knee_position_err_mm"] < 1.0
            assert r["event_err_frames"] == 0
            assert r["pck_3d_pct"] == {"0.10": 100.0, "0.25": 100.0, "0.50": 100.0} and r["mpjpe_3d_mm"] < 1.0
    assert result["summary"]["raw"]["all"]["pck_3d_pct"]["0.10"] == 100.0
    assert "PCK@0.10" in table
    assert perfect.seen == sum(len(np.load(p)["frame_index"]) for p in two_trials.rglob("*.pose.npz"))  # once a frame


def test_legs_are_classed_by_their_ground_truth_valgus():
    from trainer.evaluate_clinical import STRONG_VALGUS_MM, summarise, valgus_class

    assert valgus_class(STRONG_VALGUS_MM) == "strong" and valgus_class(STRONG_VALGUS_MM - 0.1) == "small"
    assert valgus_class(None) == "unknown" and valgus_class(float("nan")) == "unknown"
    base = {"trial": "t", "task": "DJ", "camera": "frontal", "size": "640x480", "placement": "calibrated"}
    figs = {"peak_mkd_err_mm": 1.0, "peak_mkd_ic_err_mm": 1.0, "mkd_rms_mm": 1.0, "peak_fppa_err_deg": 1.0,
            "peak_fppa_2d_err_deg": 1.0, "asymmetry_err_mm": 1.0, "knee_position_err_mm": 1.0,
            "event_err_frames": 0.0, "knee_2d_err_px": 1.0}
    rows = [{**base, **figs, "side": "right", "valgus": "strong", "peak_mkd_err_mm": 20.0},
            {**base, **figs, "side": "left", "valgus": "small", "peak_mkd_err_mm": 2.0}]
    s = summarise(rows)["calibrated"]
    assert s["valgus=strong"]["peak_mkd_err_mm"]["median"] == 20.0
    assert s["valgus=small"]["peak_mkd_err_mm"]["median"] == 2.0
    assert s["all"]["legs"] == 2


def test_a_single_leg_squat_is_read_on_its_stance_leg():
    from trainer.evaluate_clinical import leg_role, summarise

    assert leg_role("SLS", "left", "left") == "stance" and leg_role("SLS", "left", "right") == "lifted"
    assert leg_role("DJ", "both", "left") == "both" and leg_role("SLS", None, "right") == "both"
    base = {"trial": "t", "camera": "frontal", "size": "640x480", "placement": "calibrated", "valgus": "small"}
    figs = {"peak_mkd_ic_err_mm": 1.0, "mkd_rms_mm": 1.0, "peak_fppa_err_deg": 1.0, "peak_fppa_2d_err_deg": 1.0,
            "asymmetry_err_mm": float("nan"), "knee_position_err_mm": 1.0, "event_err_frames": 0.0,
            "knee_2d_err_px": 1.0}
    rows = [{**base, **figs, "task": "SLS", "side": "left", "leg": "stance", "peak_mkd_err_mm": 4.0},
            {**base, **figs, "task": "SLS", "side": "right", "leg": "lifted", "peak_mkd_err_mm": 90.0},
            {**base, **figs, "task": "DJ", "trial": "u", "side": "left", "leg": "both", "peak_mkd_err_mm": 6.0,
             "asymmetry_err_mm": 3.0}]
    s = summarise(rows)["calibrated"]
    assert s["all"]["legs"] == 2 and s["all"]["peak_mkd_err_mm"]["max"] == 6.0
    assert s["task=SLS"]["legs"] == 1 and s["task=SLS"]["peak_mkd_err_mm"]["median"] == 4.0
    assert s["task=SLS"]["asymmetry_err_mm"]["median"] is None  # a squat has no left-right asymmetry
    assert s["all"]["asymmetry_err_mm"]["median"] == 3.0


def test_coverage_counts_frames_within_one_sd_and_the_peak_within_two():
    """Hand-made: errors 0, 1, 2, 3 mm against an sd of 1.5 mm -> 50 % of frames within 1 sd; the
    peaks differ by 2.5 mm at an sd of 1.5 -> within 2 sd (not within 1)."""
    from types import SimpleNamespace

    from trainer.evaluate_clinical import coverage

    truth = SimpleNamespace(metrics={"mkd_left_mm": np.array([10.0, 10.0, 10.0, 10.0])},
                            peaks={"mkd_peak_left_mm": 12.0})
    recon = SimpleNamespace(prior_spread_deg=np.array([0.5, 1.0, np.nan, 3.0]))
    model = SimpleNamespace(analysis=SimpleNamespace(metrics={"mkd_left_mm": np.array([10.0, 11.0, 8.0, 13.0])},
                                                     peaks={"mkd_peak_left_mm": 14.5, "mkd_peak_left_frame": 3}),
                            uncertainty={"mkd_left_mm_sd": np.full(4, 1.5)}, inputs=SimpleNamespace(reconstruction=recon))
    c = coverage(model, truth, "left")
    assert c["mkd_within_1sd_pct"] == pytest.approx(50.0)
    assert c["peak_mkd_sd_mm"] == pytest.approx(1.5) and c["peak_mkd_within_2sd"] is True
    assert c["lifter_spread_deg"] == pytest.approx(1.0)
    model.analysis.peaks["mkd_peak_left_mm"] = 16.0  # 4 mm off: beyond 2 sd
    assert coverage(model, truth, "left")["peak_mkd_within_2sd"] is False


def test_uncertainty_option_adds_coverage_to_the_calibrated_rows(two_trials, tmp_path, monkeypatch, capsys):
    from trainer.cli import main

    monkeypatch.setenv("KNEEVIEW_CACHE_DIR", str(tmp_path / "cache"))
    perfect = _perfect(two_trials)
    monkeypatch.setattr("kneeview.session.estimates.load_estimator", lambda *a, **k: perfect)
    out = tmp_path / "clinical.json"
    assert main(["evaluate-clinical", "--data", str(two_trials), "--placements", "calibrated",
                 "--uncertainty", "20", "--json", str(out)]) == 0
    assert "uncertainty (calibrated, all): peaks within 2 sd" in capsys.readouterr().out
    result = json.loads(out.read_text())
    rows = [r for r in result["rows"] if r["leg"] != "lifted"]
    for r in rows:
        assert 0.0 <= r["mkd_within_1sd_pct"] <= 100.0 and r["peak_mkd_sd_mm"] > 0
        assert r["peak_mkd_within_2sd"] == (r["peak_mkd_err_mm"] <= 2 * r["peak_mkd_sd_mm"])
        assert r["lifter_spread_deg"] < 8.0  # the truth's own 2D: the lifter's networks agree
    want = 100.0 * np.mean([r["peak_mkd_within_2sd"] for r in rows])
    assert result["summary"]["calibrated"]["all"]["peaks_within_2sd_pct"] == pytest.approx(want)


def test_a_peak_the_model_misses_counts_as_a_failure():
    """_abs_err: NaN where the truth has no value (a squat's lifted leg), infinite where the model has none
    and the truth has one (a squat read on the wrong stance leg), the difference otherwise."""
    from trainer.evaluate_clinical import _abs_err

    assert _abs_err(12.0, 10.5) == pytest.approx(1.5)
    assert np.isnan(_abs_err(12.0, float("nan"))) and np.isnan(_abs_err(float("nan"), float("nan")))
    assert _abs_err(float("nan"), 10.5) == float("inf")


def test_3d_scores_are_the_papers_relative_to_the_mid_hip():
    """PCK and MPJPE of the six joints relative to the mid-hip: a whole-body shift costs nothing, a
    knee 150 mm off is wrong at 0.10 m and right at 0.25 m, a frame without an estimate is wrong."""
    from trainer.evaluate_clinical import pose_3d_scores

    rng = np.random.default_rng(3)
    truth = rng.normal(scale=300.0, size=(10, 6, 3))
    model = truth + np.array([500.0, -200.0, 40.0])  # placed elsewhere in the lab: same pose
    assert pose_3d_scores(model, truth)["pck_3d_pct"]["0.10"] == 100.0
    assert pose_3d_scores(model, truth)["mpjpe_3d_mm"] == pytest.approx(0.0, abs=1e-9)
    model[:, 2, 0] += 150.0  # the right knee
    s = pose_3d_scores(model, truth)
    assert s["pck_3d_pct"]["0.10"] == pytest.approx(100.0 * 5 / 6)
    assert s["pck_3d_pct"]["0.25"] == 100.0
    assert s["mpjpe_3d_mm"] == pytest.approx(150.0 / 6)
    model[4] = np.nan  # no estimate in one frame: its six joints wrong, the MPJPE over the others
    s = pose_3d_scores(model, truth)
    assert s["pck_3d_pct"]["0.50"] == pytest.approx(90.0)
    assert s["mpjpe_3d_mm"] == pytest.approx(150.0 / 6)
    truth[7] = np.nan  # a frame the C3D lacks is not scored
    assert pose_3d_scores(model, truth)["pck_3d_pct"]["0.50"] == pytest.approx(100.0 * 8 / 9)
