"""The Study window: athletes of a summary CSV (``kneeview batch``) in one table.

One row per athlete, task and year (:func:`kneeview.report.study_tables`): peak MKD and
FPPA per leg with their sd, the left-right asymmetry and its rank. Sorted by asymmetry or
by a peak; a double-click opens the row's trial in the main window. "Save study…" writes
the same study as ``kneeview study`` does (PDF or HTML).
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from PySide6 import QtCore, QtWidgets

from ..errors import KneeViewInputError

#: Sort choices: label -> (key of a sessions row, descending)
SORTS = {
    "MKD asymmetry |L-R| (rank)": lambda r: abs(r["mkd_asymmetry_mm"]),
    "Peak MKD, larger leg": lambda r: max(r["mkd_left_mm"], r["mkd_right_mm"]),
    "Peak FPPA, larger leg": lambda r: max(r["fppa_left_deg"], r["fppa_right_deg"]),
    "FPPA asymmetry |L-R|": lambda r: abs(r["fppa_asymmetry_deg"]),
}
#: header -> (column, sd column, decimals)
COLUMNS = [("Rank", "rank", None, 0), ("Athlete", "athlete_id", None, None), ("Task", "task", None, None),
           ("Year", "year", None, 0), ("Trials", "n_trials", None, 0),
           ("MKD left (mm)", "mkd_left_mm", "mkd_left_mm_sd", 1), ("MKD right (mm)", "mkd_right_mm", "mkd_right_mm_sd", 1),
           ("MKD L-R (mm)", "mkd_asymmetry_mm", None, 1),
           ("FPPA left (deg)", "fppa_left_deg", "fppa_left_deg_sd", 1),
           ("FPPA right (deg)", "fppa_right_deg", "fppa_right_deg_sd", 1),
           ("FPPA L-R (deg)", "fppa_asymmetry_deg", None, 1), ("Caution", "caution", None, None),
           ("Recording", "recording", None, None)]


def _value(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _text(r, col, sd, decimals) -> str:
    v = r.get(col)
    if decimals is None:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    f = _value(v)
    if f is None:
        return "—"
    text = f"{f:.{decimals}f}"
    s = _value(r.get(sd)) if sd else None
    return text + (f" ± {s:.{decimals}f}" if s is not None else "")


class StudyWindow(QtWidgets.QMainWindow):
    """The athletes of one summary CSV; ``open_trial(recording)`` opens a row's trial."""

    def __init__(self, summary_path, open_trial=None, parent=None):
        super().__init__(parent)
        from ..report import load_summary, study_tables

        self.summary_path = Path(summary_path)
        self.summary = load_summary(self.summary_path)
        self.sessions: pd.DataFrame = study_tables(self.summary)["sessions"]
        self.open_trial = open_trial
        self.setWindowTitle(f"Study — {self.summary_path.name}")
        self.resize(1100, 520)
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        bar = QtWidgets.QHBoxLayout()
        bar.addWidget(QtWidgets.QLabel("Sort by:"))
        self.sort_box = QtWidgets.QComboBox()
        self.sort_box.addItems(list(SORTS))
        self.sort_box.currentTextChanged.connect(self.sort_by)
        bar.addWidget(self.sort_box)
        bar.addStretch(1)
        self.info = QtWidgets.QLabel(f"{len(self.summary)} trials, {self.summary['athlete_id'].nunique()} athletes "
                                     "— double-click a row to open its trial")
        bar.addWidget(self.info)
        self.save_button = QtWidgets.QPushButton("Save study…")
        self.save_button.clicked.connect(self.save_dialog)
        bar.addWidget(self.save_button)
        layout.addLayout(bar)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([h for h, *_ in COLUMNS])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.cellDoubleClicked.connect(self._open_row)
        layout.addWidget(self.table)
        self.setCentralWidget(central)
        self.order: list[int] = []
        self.sort_by(self.sort_box.currentText())

    def sort_by(self, label: str) -> None:
        """Rows in descending order of the chosen key (rows without a value last)."""
        key = SORTS[label]

        def k(i):
            try:
                v = _value(key(self.sessions.iloc[i]))
            except TypeError:
                v = None
            return (v is None, -(v or 0.0))

        self.order = sorted(range(len(self.sessions)), key=k)
        if self.sort_box.currentText() != label:
            self.sort_box.setCurrentText(label)
        self._fill()

    def _fill(self) -> None:
        self.table.setRowCount(len(self.order))
        for row, i in enumerate(self.order):
            r = self.sessions.iloc[i]
            for c, (_, col, sd, decimals) in enumerate(COLUMNS):
                item = QtWidgets.QTableWidgetItem(_text(r, col, sd, decimals))
                if decimals is not None:
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, c, item)
        self.table.resizeColumnsToContents()

    def row_data(self, row: int) -> dict:
        """The sessions row shown at table row ``row``."""
        return self.sessions.iloc[self.order[row]].to_dict()

    def _open_row(self, row: int, _column: int = 0) -> None:
        recording = self.row_data(row).get("recording")
        if recording and self.open_trial is not None:
            self.open_trial(str(recording))

    def save_dialog(self) -> None:
        default = str(self.summary_path.with_name(self.summary_path.stem + "_study.pdf"))
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Save the study", default, "PDF (*.pdf);;HTML (*.html)")
        if path:
            self.save(path)

    def save(self, path) -> Path | None:
        from ..report import write_study

        try:
            return write_study(self.summary_path, path)
        except KneeViewInputError as exc:
            QtWidgets.QMessageBox.critical(self, "Cannot save the study", str(exc))
            return None


def open_study_dialog(win) -> None:
    path, _ = QtWidgets.QFileDialog.getOpenFileName(win, "Open a study (summary CSV from kneeview batch)",
                                                    win.opener.last_dir(), "Summary CSV (*.csv)")
    if path:
        open_study(win, path)


def open_study(win, path) -> StudyWindow | None:
    """A Study window over ``path``, whose rows open their trial in ``win``."""
    try:
        study = StudyWindow(path, open_trial=win.open_path, parent=win)
    except KneeViewInputError as exc:
        win.show_error("Cannot open the study", exc)
        return None
    study.setWindowFlag(QtCore.Qt.WindowType.Window, True)
    win.opener.remember_dir(path)
    study.show()
    return study
