"""The Study window: athletes of a summary CSV, sorted by asymmetry or peak; a double-click opens a trial."""
from __future__ import annotations

import pandas as pd


def _summary(tmp_path, recordings) -> str:
    rows = []
    for (athlete, left, right, fl, fr), rec in zip((("A", 10.0, 14.0, 5.0, 9.0), ("B", 20.5, 8.0, 11.0, 4.0),
                                                    ("C", 3.0, 30.25, 2.0, 6.0)), recordings):
        rows.append({"trial": "DJ01", "recording": str(rec), "athlete_id": athlete, "year": 1, "task": "drop_jump",
                     "source": "gt", "mkd_peak_left_mm": left, "mkd_peak_right_mm": right,
                     "mkd_peak_asymmetry_mm": left - right, "fppa_peak_left_deg": fl, "fppa_peak_right_deg": fr,
                     "fppa_peak_asymmetry_deg": fl - fr})
    path = tmp_path / "summary.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return str(path)


def test_the_study_window_sorts_and_opens_a_trial(make_session, make_window, dialogs, qtbot, monkeypatch, tmp_path):
    from PySide6 import QtWidgets

    from kneeview.gui.study_window import StudyWindow

    folders = [make_session(name=f"S0{i}", n_frames=6) for i in range(1, 4)]
    videos = [next(f.glob("*.avi")) for f in folders]
    csv = _summary(tmp_path, videos)
    win = make_window(auto_run=False)
    monkeypatch.setattr(QtWidgets.QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (csv, "")))
    win.act_open_study.trigger()
    study = win.findChild(StudyWindow)
    assert study is not None and study.isVisible() and not dialogs
    qtbot.addWidget(study)
    ids = lambda: [study.table.item(r, 1).text() for r in range(study.table.rowCount())]  # noqa: E731
    # |L-R| MKD: C 27.25 > B 12.5 > A 4.0
    assert ids() == ["C", "B", "A"] and study.table.item(0, 0).text() == "1"
    study.sort_by("Peak FPPA, larger leg")  # B 11 > A 9 > C 6
    assert ids() == ["B", "A", "C"]
    study.sort_by("Peak MKD, larger leg")  # C 30.25 > B 20.5 > A 14
    assert ids() == ["C", "B", "A"] and study.table.item(0, 6).text() == "30.2"
    opened = []
    monkeypatch.setattr(win, "open_path", lambda path, *a, **k: opened.append(path) or True)
    study.open_trial = win.open_path
    study.table.cellDoubleClicked.emit(1, 0)
    assert opened == [str(videos[1])]


def test_double_click_opens_the_trial_in_the_main_window(make_session, make_window, dialogs, qtbot, tmp_path):
    from kneeview.gui.study_window import open_study

    folders = [make_session(name=f"S0{i}", n_frames=6) for i in range(1, 4)]
    videos = [next(f.glob("*.avi")) for f in folders]
    win = make_window(auto_run=False)
    study = open_study(win, _summary(tmp_path, videos))
    qtbot.addWidget(study)
    study.table.cellDoubleClicked.emit(0, 2)  # C: the third session
    assert win.state.recording is not None and win.state.recording.root == folders[2]


def test_a_file_that_is_not_a_summary_shows_a_dialog(make_window, dialogs, tmp_path):
    from kneeview.gui.study_window import open_study

    bad = tmp_path / "notes.csv"
    bad.write_text("a,b\n1,2\n")
    win = make_window(auto_run=False)
    assert open_study(win, bad) is None
    (kind, title, text), = [d for d in dialogs if d[0] == "critical"]
    assert "not a KneeView summary" in text and "notes.csv" in text
