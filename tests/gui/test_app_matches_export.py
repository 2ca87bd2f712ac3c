"""The app and `kneeview export` go through one session layer: the same trial reads the same
on screen and in the CSV, and the CLI reuses the estimate the app cached."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd


def _checkpoint_named(tmp_path, sha256):
    """A checkpoint whose card names ``sha256`` (the weights are never read: the cache answers)."""
    from kneeview.bundled import model_path

    card = json.loads(next(model_path().glob("*.json")).read_text())
    card["weights"]["sha256"] = sha256
    (tmp_path / "stand-in.json").write_text(json.dumps(card))
    (tmp_path / "stand-in.safetensors").write_bytes(b"not read")
    return tmp_path / "stand-in.safetensors"


def test_the_plots_and_the_exported_csv_agree_and_the_cli_reuses_the_cache(make_session, make_window, fake_for,
                                                                              wait_done, tmp_path, monkeypatch, capsys):
    from kneeview.cli import main

    folder = make_session(n_frames=40)
    fake = fake_for(folder)
    win = make_window(fake)
    assert win.open_path(folder)
    wait_done(win)
    shown = win.state.metrics
    assert shown is not None and shown.source == "model"

    def no_model(*_a, **_k):
        raise AssertionError("the CLI loaded a model although the app had cached the estimate")

    monkeypatch.setattr("kneeview.session.estimates.load_estimator", no_model)
    ckpt = _checkpoint_named(tmp_path, fake.identity.sha256)
    out = tmp_path / "out"
    assert main(["export", str(folder), "--source", "model", "--model", str(ckpt), "--out", str(out)]) == 0
    frames = pd.read_csv(out / "DJ01_frames.csv")
    for side in ("left", "right"):
        np.testing.assert_allclose(frames[f"mkd_{side}_mm"], shown.series["MKD (mm)"][side], rtol=1e-9, atol=1e-9,
                                   equal_nan=True)
        np.testing.assert_allclose(frames[f"fppa_{side}_deg"], shown.series["FPPA (deg)"][side], rtol=1e-9, atol=1e-9,
                                   equal_nan=True)
        # the uncertainty bands on screen are the CSV's _sd columns
        np.testing.assert_allclose(frames[f"mkd_{side}_mm_sd"], shown.sd["MKD (mm)"][side], rtol=1e-9, equal_nan=True)
        assert np.nanmax(shown.sd["MKD (mm)"][side]) > 0
    bands = [item for item in win.plots.plots["MKD (mm)"].decorations if getattr(item, "kneeview_band", None)]
    assert sorted(b.kneeview_band for b in bands) == ["left", "right"]
    assert all(b.boundingRect().height() > 0 for b in bands)  # a band that fills, not an empty path
    summary = pd.read_csv(out / "DJ01_summary.csv").iloc[0]
    assert summary["placement"] == "calibrated"
    analysis = win.analysed_model.analysis
    for key in ("mkd_peak_left_mm", "mkd_peak_right_mm", "fppa_peak_left_deg"):
        if np.isfinite(analysis.peaks[key]):
            assert summary[key] == analysis.peaks[key]
