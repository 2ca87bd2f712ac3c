"""The study across athletes: ranking, session means and sd, year-to-year change, PDF/HTML output."""
from __future__ import annotations

import math

import pandas as pd
import pytest
from pdftext import pdf_text

from kneeview.errors import KneeViewInputError
from kneeview.report import load_summary, study_tables, write_study


def _three_trials() -> pd.DataFrame:
    """Three trials, three athletes: asymmetry (left - right) -4.0, +12.5, -7.25 mm."""
    return pd.DataFrame([
        {"trial": "DJ01", "recording": "/data/A/DJ01.1.avi", "athlete_id": "A", "year": 1, "task": "drop_jump",
         "source": "model", "mkd_peak_left_mm": 10.0, "mkd_peak_right_mm": 14.0, "mkd_peak_asymmetry_mm": -4.0,
         "mkd_peak_left_mm_sd": 2.0, "mkd_peak_right_mm_sd": 3.0,
         "fppa_peak_left_deg": 5.0, "fppa_peak_right_deg": 9.0, "fppa_peak_asymmetry_deg": -4.0},
        {"trial": "DJ02", "recording": "/data/B/DJ02.1.avi", "athlete_id": "B", "year": 1, "task": "drop_jump",
         "source": "model", "mkd_peak_left_mm": 20.5, "mkd_peak_right_mm": 8.0, "mkd_peak_asymmetry_mm": 12.5,
         "mkd_peak_left_mm_sd": 1.0, "mkd_peak_right_mm_sd": 1.5,
         "fppa_peak_left_deg": 11.0, "fppa_peak_right_deg": 4.0, "fppa_peak_asymmetry_deg": 7.0},
        {"trial": "DJ03", "recording": "/data/C/DJ03.1.avi", "athlete_id": "C", "year": 1, "task": "drop_jump",
         "source": "model", "mkd_peak_left_mm": 3.0, "mkd_peak_right_mm": 10.25, "mkd_peak_asymmetry_mm": -7.25,
         "mkd_peak_left_mm_sd": 0.5, "mkd_peak_right_mm_sd": 0.5,
         "fppa_peak_left_deg": 2.0, "fppa_peak_right_deg": 6.0, "fppa_peak_asymmetry_deg": -4.0},
    ])


def test_the_ranking_matches_a_hand_computation_on_three_trials():
    sessions = study_tables(_three_trials())["sessions"]
    # |asymmetry|: B 12.5 > C 7.25 > A 4.0
    assert list(sessions["athlete_id"]) == ["B", "C", "A"]
    assert list(sessions["rank"]) == [1, 2, 3]
    b = sessions.iloc[0]
    assert b["mkd_left_mm"] == 20.5 and b["mkd_right_mm"] == 8.0 and b["mkd_asymmetry_mm"] == 12.5
    assert b["mkd_left_mm_sd"] == 1.0 and b["recording"] == "/data/B/DJ02.1.avi" and b["task"] == "DJ"


def test_a_session_of_several_trials_is_their_mean_with_the_sd_of_a_mean():
    df = _three_trials()
    df.loc[2, "athlete_id"] = "A"  # A's two trials of year 1
    sessions = study_tables(df)["sessions"].set_index("athlete_id")
    a = sessions.loc["A"]
    assert a["n_trials"] == 2
    assert a["mkd_left_mm"] == pytest.approx((10.0 + 3.0) / 2)
    assert a["mkd_asymmetry_mm"] == pytest.approx((-4.0 - 7.25) / 2)
    assert a["mkd_left_mm_sd"] == pytest.approx(math.sqrt(2.0 ** 2 + 0.5 ** 2) / 2)


def test_the_year_to_year_change_is_later_minus_earlier():
    df = _three_trials()
    df.loc[2, ["athlete_id", "year"]] = ["A", 2]  # A again in year 2
    tables = study_tables(df)
    changes = tables["changes"]
    assert len(changes) == 1
    c = changes.iloc[0]
    assert (c["athlete_id"], c["from_year"], c["to_year"]) == ("A", 1, 2)
    assert c["mkd_left_mm_change"] == pytest.approx(3.0 - 10.0)
    assert c["mkd_asymmetry_mm_change"] == pytest.approx(-7.25 - -4.0)
    assert c["fppa_right_deg_change"] == pytest.approx(6.0 - 9.0)


def test_ground_truth_rows_have_no_sd():
    df = _three_trials().drop(columns=["mkd_peak_left_mm_sd", "mkd_peak_right_mm_sd"])
    sessions = study_tables(df)["sessions"]
    assert sessions["mkd_left_mm_sd"].isna().all()


def test_the_pdf_and_html_hold_the_table(tmp_path):
    csv = tmp_path / "summary.csv"
    _three_trials().to_csv(csv, index=False)
    pdf = write_study(csv, tmp_path / "out" / "study.pdf")
    text = pdf_text(pdf)
    for s in ("20.5 ± 1.0", "8.0 ± 1.5", "12.5", "-7.2", "10.2 ± 0.5", "Athletes ranked by MKD asymmetry", "Munro"):
        assert s in text, s
    assert text.index("12.5") < text.index("-4.0")
    page = (tmp_path / "out" / "study.html")
    write_study(csv, page)
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "20.5 ± 1.0" in html
    rows = [r for r in html.split("<tr>")[2:5]]
    assert [("B" in rows[0]), ("C" in rows[1]), ("A" in rows[2])] == [True, True, True]


def test_a_summary_from_kneeview_batch_carries_the_year(dataset, tmp_path):
    from kneeview.cli import main

    root, entries = dataset
    out = tmp_path / "summary.csv"
    assert main(["batch", str(root), "--source", "gt", "--out", str(out)]) == 0
    summary = load_summary(out)
    assert sorted(summary["year"]) == sorted(e["year"] for e in entries)
    assert main(["study", str(out), "--out", str(tmp_path / "study.pdf")]) == 0
    tables = study_tables(summary)
    years = {e["year"] for e in entries}
    assert len(tables["changes"]) == (len(years) - 1 if len({e["athlete_id"] for e in entries}) == 1 else len(tables["changes"]))
    text = pdf_text(tmp_path / "study.pdf")
    for value in tables["sessions"]["mkd_asymmetry_mm"]:
        assert f"{value:.1f}" in text


def test_not_a_summary_is_one_clear_error(tmp_path):
    bad = tmp_path / "frames.csv"
    bad.write_text("frame,time_s\n0,0.0\n")
    with pytest.raises(KneeViewInputError, match="not a KneeView summary"):
        load_summary(bad)
    with pytest.raises(KneeViewInputError, match="no such file"):
        load_summary(tmp_path / "missing.csv")


def test_a_session_with_an_unsure_or_rear_trial_carries_a_caution(tmp_path):
    from kneeview.analysis.lifting import UNFAMILIAR_SPREAD_DEG

    df = _three_trials()
    df["lifter_spread_deg"] = [0.5, UNFAMILIAR_SPREAD_DEG + 4.0, 0.7]
    df["seen_from_behind_pct"] = [0.0, 0.0, 100.0]
    df.loc[2, "athlete_id"] = "A"  # A: one trial from the front, one from behind
    sessions = study_tables(df)["sessions"].set_index("athlete_id")
    assert sessions.loc["B", "caution"] == "3D unsure (1 of 1)"
    assert sessions.loc["A", "caution"] == "from behind (1 of 2)"
    assert study_tables(_three_trials())["sessions"]["caution"].isna().all()  # columns absent: nothing said
    df["length_asymmetry_mm"] = [5.0, 3.0, 60.0]
    sessions = study_tables(df)["sessions"].set_index("athlete_id")
    assert sessions.loc["A", "caution"] == "legs disagree (1 of 2); from behind (1 of 2)"
    assert sessions.loc["B", "caution"] == "3D unsure (1 of 1)"
    path = tmp_path / "summary.csv"
    df.to_csv(path, index=False)
    text = " ".join(pdf_text(write_study(path, tmp_path / "study.pdf")).split())
    assert "3D unsure (1 of 1)" in text and "from behind (1 of 2)" in text


def test_single_leg_squats_compare_the_squats_on_each_leg():
    """A squat's summary row carries its stance leg's peaks only (the lifted leg's and its asymmetry
    empty): a session of two squats on the left and one on the right reads the left mean against the
    right, by hand 18.0 - 11.0 = 7.0 mm; a session of squats on one leg has no asymmetry and no rank."""
    nan = float("nan")
    rows = [{"trial": f"SLS0{i}", "recording": f"/data/D/SLS0{i}.1.avi", "athlete_id": "D", "year": 1,
             "task": "single_leg_squat", "source": "model", "stance_leg": leg,
             "mkd_peak_left_mm": left, "mkd_peak_right_mm": right, "mkd_peak_asymmetry_mm": nan,
             "fppa_peak_left_deg": left / 2, "fppa_peak_right_deg": right / 2, "fppa_peak_asymmetry_deg": nan}
            for i, (leg, left, right) in enumerate((("left", 16.0, nan), ("left", 20.0, nan), ("right", nan, 11.0)))]
    rows.append({**rows[0], "trial": "SLS09", "athlete_id": "E", "recording": "/data/E/SLS09.1.avi"})
    sessions = study_tables(pd.DataFrame(rows))["sessions"].set_index("athlete_id")
    d = sessions.loc["D"]
    assert d["mkd_left_mm"] == 18.0 and d["mkd_right_mm"] == 11.0 and d["n_trials"] == 3
    assert d["mkd_asymmetry_mm"] == pytest.approx(7.0) and d["fppa_asymmetry_deg"] == pytest.approx(3.5)
    assert d["rank"] == 1
    e = sessions.loc["E"]
    assert e["mkd_left_mm"] == 16.0 and pd.isna(e["mkd_right_mm"]) and pd.isna(e["mkd_asymmetry_mm"])
    assert pd.isna(e["rank"])
