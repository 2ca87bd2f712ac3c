"""File → Export report…: the PDF of the analysis the window shows, or a dialog saying why not."""
from __future__ import annotations

import pytest

pytest.importorskip("pypdf")


def _text(path) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(str(path)).pages)


def test_export_report_writes_the_pdf_of_the_shown_analysis(make_session, make_window, dialogs, monkeypatch, tmp_path):
    from PySide6 import QtWidgets

    folder = make_session(n_frames=20)
    win = make_window(auto_run=False)
    assert win.open_path(folder)
    shown = win.export_source()
    assert shown is not None and shown.result.source == "gt"
    out = tmp_path / "reports" / "DJ01_report.pdf"
    out.parent.mkdir()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "PDF (*.pdf)")))
    assert "Export report…" in [a.text() for a in win.menuBar().actions()[0].menu().actions()]
    win.act_export_report.trigger()
    assert out.is_file() and not [d for d in dialogs if d[0] == "critical"]
    text = _text(out)
    row = win.state.session.summary_row(shown.result)
    assert f"{row['mkd_peak_left_mm']:.1f}" in text and "screening report" in text
    assert f"frame {row['mkd_peak_right_frame']}" in text
    assert str(out) in win.statusBar().currentMessage()


def test_export_report_into_an_unwritable_place_shows_the_one_line_error(make_session, make_window, dialogs, tmp_path):
    from kneeview.gui.report_action import export_report

    win = make_window(auto_run=False)
    assert win.open_path(make_session(n_frames=10))
    target = tmp_path / "missing-folder" / "r.pdf"
    assert export_report(win, target) is None
    (kind, title, text), = [d for d in dialogs if d[0] == "critical"]
    assert title == "Export report failed" and "r.pdf" in text and "does not exist" in text


def test_export_report_without_a_recording_does_nothing(make_window, dialogs, monkeypatch):
    from PySide6 import QtWidgets

    win = make_window(auto_run=False)
    asked = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: asked.append(1) or ("", "")))
    win.act_export_report.trigger()
    assert not asked and not dialogs
