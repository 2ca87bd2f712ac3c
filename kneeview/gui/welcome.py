"""The page shown when no recording is open: open buttons, the demo, recent recordings."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets


class WelcomePage(QtWidgets.QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        title = QtWidgets.QLabel("<h1>KneeView</h1>")
        blurb = QtWidgets.QLabel(
            "Dynamic knee valgus from a calibrated video.<br>Open a Vicon session folder (<i>.xcp</i>, "
            "reference video, optional <i>.c3d</i>) or one of its videos,<br>or drop it on this window.")
        blurb.setMinimumWidth(460)
        blurb.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.open_button = QtWidgets.QPushButton("Open recording…")
        self.open_folder_button = QtWidgets.QPushButton("Open session folder…")
        self.demo_button = QtWidgets.QPushButton("Open demo")
        self.demo_button.setObjectName("openDemo")
        for b in (self.open_button, self.open_folder_button, self.demo_button):
            b.setMinimumWidth(220)
            b.setMinimumHeight(34)
        self.recent = QtWidgets.QListWidget()
        self.recent.setMinimumWidth(460)
        self.recent.setMaximumWidth(640)
        self.recent.setMaximumHeight(170)
        self.recent_label = QtWidgets.QLabel("Recent recordings")
        lay = QtWidgets.QVBoxLayout(self)
        lay.addStretch(1)
        for w in (title, blurb, self.open_button, self.open_folder_button, self.demo_button, self.recent_label, self.recent):
            lay.addWidget(w, 0, QtCore.Qt.AlignmentFlag.AlignHCenter)
        lay.addStretch(2)
