"""Timeline: slider, play/pause at the recording's speed or slower, event jumps.

Playback follows the wall clock (frame = start + elapsed x fps x speed), so a slow
decode drops frames instead of slowing time down.
"""
from __future__ import annotations

import time

from PySide6 import QtCore, QtWidgets

from .state import SessionState

SPEEDS = (("1×", 1.0), ("1/2×", 0.5), ("1/4×", 0.25), ("1/10×", 0.1))


class Timeline(QtWidgets.QWidget):
    playingChanged = QtCore.Signal(bool)

    def __init__(self, state: SessionState, parent=None):
        super().__init__(parent)
        self.state = state
        self.play_button = QtWidgets.QToolButton()
        self._icons = {
            False: self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPlay),
            True: self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaPause),
        }
        self.play_button.setIcon(self._icons[False])
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.setCheckable(True)
        self.prev_event = QtWidgets.QToolButton()
        self.prev_event.setText("Prev. event")
        self.prev_event.setIcon(self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaSkipBackward))
        self.prev_event.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.prev_event.setToolTip("Previous event (Page Up)")
        self.next_event = QtWidgets.QToolButton()
        self.next_event.setText("Next event")
        self.next_event.setIcon(self.style().standardIcon(QtWidgets.QStyle.StandardPixmap.SP_MediaSkipForward))
        self.next_event.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.next_event.setToolTip("Next event (Page Down)")
        self.speed = QtWidgets.QComboBox()
        for label, value in SPEEDS:
            self.speed.addItem(label, value)
        self.speed.setToolTip("Playback speed (the recording's frame rate × this)")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setTracking(True)
        self.slider.setPageStep(10)
        self.slider.setFocusPolicy(QtCore.Qt.FocusPolicy.ClickFocus)
        self.position = QtWidgets.QLabel("–")
        self.position.setMinimumWidth(190)
        self.position.setAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        for w in (self.play_button, self.speed, self.prev_event):
            lay.addWidget(w)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.next_event)
        lay.addWidget(self.position)
        self._timer = QtCore.QTimer(self)
        self._timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._tick)
        self._t0 = 0.0
        self._f0 = 0
        self._last_tick = -1
        self.slider.valueChanged.connect(self._slider_moved)
        self.play_button.toggled.connect(self.set_playing)
        self.speed.currentIndexChanged.connect(self._restart_clock)
        self.prev_event.clicked.connect(lambda: self.jump_event(-1))
        self.next_event.clicked.connect(lambda: self.jump_event(+1))
        state.recordingChanged.connect(self._on_recording)
        state.viewChanged.connect(self._on_view)  # the views are synchronised: playback goes on
        state.frameChanged.connect(self._on_frame)
        self._on_recording()

    # ------------------------------------------------------------------ state
    def _on_recording(self):
        self.set_playing(False)
        self._on_view()

    def _on_view(self):
        n = self.state.n_frames
        self.setEnabled(n > 0)
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(n - 1, 0))
        self.slider.setValue(self.state.frame)
        self.slider.blockSignals(False)
        self._on_frame(self.state.frame)

    def _on_frame(self, frame: int):
        if self.playing and frame != self._last_tick:
            self._t0, self._f0 = time.perf_counter(), frame  # the user moved during playback
        self.slider.blockSignals(True)
        self.slider.setValue(frame)
        self.slider.blockSignals(False)
        st = self.state
        if st.n_frames:
            self.position.setText(f"frame {frame + 1}/{st.n_frames}  ·  {frame / st.fps:6.3f} s")
        else:
            self.position.setText("–")

    def _slider_moved(self, value: int):
        self.state.request_frame(value)

    # --------------------------------------------------------------- playback
    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    @property
    def speed_factor(self) -> float:
        return float(self.speed.currentData())

    def set_speed(self, factor: float):
        for i in range(self.speed.count()):
            if abs(self.speed.itemData(i) - factor) < 1e-9:
                self.speed.setCurrentIndex(i)
                return
        raise ValueError(f"speed {factor} is not offered")

    def toggle(self):
        self.set_playing(not self.playing)

    def set_playing(self, on: bool):
        on = bool(on) and self.state.n_frames > 1
        if on and self.state.frame >= self.state.n_frames - 1:
            self.state.set_frame(0)
        if on:
            self._restart_clock()
            self._timer.start()
        else:
            self._timer.stop()
        self.play_button.blockSignals(True)
        self.play_button.setChecked(on)
        self.play_button.setIcon(self._icons[on])
        self.play_button.blockSignals(False)
        self.playingChanged.emit(on)

    def _restart_clock(self, *_):
        self._t0 = time.perf_counter()
        self._f0 = self.state.frame

    def _tick(self):
        st = self.state
        target = self._f0 + int((time.perf_counter() - self._t0) * st.fps * self.speed_factor)
        if target >= st.n_frames - 1:
            self._last_tick = st.n_frames - 1
            st.set_frame(st.n_frames - 1)
            self.set_playing(False)
        elif target != st.frame:
            self._last_tick = target
            st.set_frame(target)
            st.prefetch(target + 1)  # decoded off the GUI thread while this one is painted

    # ----------------------------------------------------------------- events
    def jump_event(self, direction: int) -> bool:
        frames = self.state.event_frames()
        cur = self.state.frame
        cands = [f for f in frames if (f > cur if direction > 0 else f < cur)]
        if not cands:
            return False
        self.state.set_frame(min(cands) if direction > 0 else max(cands))
        return True
