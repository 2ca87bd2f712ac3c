"""File → Export report…: the screening report (PDF) of the analysis the window shows.

The page is drawn by :mod:`kneeview.report` from the same session-layer analysis the plots
show (:meth:`MainWindow.export_source`), so the report and the screen agree.
"""
from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets

from ..errors import KneeViewInputError


def default_report_path(win) -> Path:
    st = win.state
    name = st.session.export_name(st.view_index) if st.session is not None else "kneeview"
    return Path(win.opener.last_dir()) / f"{name}_report.pdf"


def export_report_dialog(win) -> None:
    if win.state.recording is None:
        return
    path, _ = QtWidgets.QFileDialog.getSaveFileName(win, "Export the screening report", str(default_report_path(win)),
                                                    "PDF (*.pdf)")
    if path:
        if not path.lower().endswith(".pdf"):
            path += ".pdf"
        export_report(win, path)


def export_report(win, path) -> Path | None:
    """Write the report of the shown source to ``path``; a dialog says why when it cannot."""
    from ..report import write_trial_report

    shown = win.export_source()
    st = win.state
    QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
    try:
        if shown is None:
            raise KneeViewInputError(st.recording.root if st.recording else None, "nothing to report: no joint centres "
                                     "(run the model, or open a recording with a C3D ground truth)")
        gt = win.analysed_gt
        written = write_trial_report(path, st.session, shown.result,
                                     gt=gt.result if gt is not None else "auto")
    except KneeViewInputError as exc:
        QtWidgets.QApplication.restoreOverrideCursor()
        win.show_error("Export report failed", exc)
        return None
    QtWidgets.QApplication.restoreOverrideCursor()
    win.opener.remember_dir(written)
    win.statusBar().showMessage(f"wrote {written}", 10000)
    return written
