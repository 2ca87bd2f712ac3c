"""Choosing the view (video and camera) of a multi-view recording, and naming views.

A view is named by its video's stem (``cam02``, ``DJ01.2107396``) and, where the stem
does not already say it, its camera's device id and name. ``find_view`` accepts either.
The last view chosen is remembered per recording (by its folder) in the settings.
"""
from __future__ import annotations

import hashlib

from PySide6 import QtCore, QtWidgets

from ..errors import KneeViewInputError

SETTINGS_GROUP = "last_view"


def view_label(view) -> str:
    """``cam02``; ``DJ01.2107396 — Vue 2107396``: the stem, then what it does not say."""
    stem = view.video_path.stem
    extra = []
    for part in (view.device_id, view.camera.name if view.camera is not None else None):
        if part and part.lower() not in stem.lower() and all(part.lower() not in e.lower() for e in extra):
            extra.append(part)
    return stem + (f" — {' · '.join(extra)}" if extra else "")


def find_view(recording, name: str) -> int:
    """The index of the view whose video stem, file name or device id is ``name`` (any case)."""
    wanted = str(name).lower()
    for i, view in enumerate(recording.views):
        names = {view.video_path.stem, view.video_path.name, view.device_id or ""}
        if view.camera is not None:
            names.add(view.camera.device_id)
        if wanted in {n.lower() for n in names if n}:
            return i
    choices = ", ".join(view_label(v) for v in recording.views)
    raise KneeViewInputError(recording.root, f"no view named {name!r} (the views: {choices})", "--view")


def _settings_key(recording) -> str:
    digest = hashlib.sha1(str(recording.root).encode("utf-8")).hexdigest()[:16]
    return f"{SETTINGS_GROUP}/{digest}"


def remember_view(settings: QtCore.QSettings, recording, view_index: int) -> None:
    settings.setValue(_settings_key(recording), recording.views[view_index].video_path.name)


def remembered_view(settings: QtCore.QSettings, recording) -> int:
    """The view last chosen for this recording (by its video's file name), else 0."""
    name = settings.value(_settings_key(recording))
    for i, view in enumerate(recording.views):
        if name and view.video_path.name == str(name):
            return i
    return 0


class ViewSelector(QtWidgets.QComboBox):
    """One entry per view; ``viewChosen(index)`` when another is picked (by the user, or
    ``setCurrentIndex``); the window's own updates go through ``set_views``/``show_view``."""

    viewChosen = QtCore.Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("viewSelector")
        self.setToolTip("The camera whose video is shown; the model runs on, and the export uses, this view")
        self.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # keep the keyboard for scrubbing
        self.currentIndexChanged.connect(self.viewChosen)

    def set_views(self, views, current: int = 0) -> None:
        self.blockSignals(True)
        self.clear()
        for view in views:
            self.addItem(view_label(view))
            self.setItemData(self.count() - 1, str(view.video_path), QtCore.Qt.ItemDataRole.ToolTipRole)
        if views:
            self.setCurrentIndex(current)
        self.blockSignals(False)

    def show_view(self, index: int) -> None:
        """Select an entry without emitting ``viewChosen``."""
        self.blockSignals(True)
        self.setCurrentIndex(index)
        self.blockSignals(False)
