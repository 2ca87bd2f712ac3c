"""Knee metrics over time (MKD, FPPA), left and right, with events, peaks and a cursor.

The panel draws what :class:`~kneeview.gui.state.Metrics` holds (arrays and an event
dict); it computes nothing clinical itself. Click or drag on a plot to seek the video.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from . import style
from .state import Metrics, SessionState

AXIS_LABELS = {"MKD (mm)": "MKD (mm)", "FPPA (deg)": "FPPA (deg)"}
EVENT_LABELS = {"initial_contact": "IC", "deepest": "deepest", "take_off": "take-off", "second_landing": "2nd landing",
                "start": "start", "end": "end"}


class _SeekViewBox(pg.ViewBox):
    """Left click/drag seeks; right drag and the wheel still zoom and pan."""

    sigSeek = QtCore.Signal(float)

    def mouseClickEvent(self, ev):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self.sigSeek.emit(self.mapSceneToView(ev.scenePos()).x())
            ev.accept()
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            self.sigSeek.emit(self.mapSceneToView(ev.scenePos()).x())
            ev.accept()
        else:
            super().mouseDragEvent(ev, axis)


def leg_pen(side: str, faint: bool = False, dashed: bool = False):
    """A leg's curve: its colour, solid (the estimate) or dashed (the C3D); faint for a single-leg
    squat's lifted leg, shown for context and not read."""
    colour = style.RIGHT if side == "right" else style.LEFT
    return pg.mkPen(*colour[:3], 70 if faint else 255, width=1 if (faint or dashed) else 2,
                    style=QtCore.Qt.PenStyle.DashLine if dashed else QtCore.Qt.PenStyle.SolidLine)


class MetricPlot(pg.PlotWidget):
    def __init__(self, title: str, parent=None):
        self.seek_vb = _SeekViewBox()
        super().__init__(parent, viewBox=self.seek_vb)
        self.setBackground((20, 20, 24))
        self.metric = title
        self.setLabel("left", AXIS_LABELS.get(title, title))
        self.setLabel("bottom", "time (s)")
        for axis in ("left", "bottom"):
            self.getAxis(axis).enableAutoSIPrefix(False)
            # the axes draw the grid over the whole plot: without a cache, every move of the
            # cursor replays their ticks, labels and grid lines (several ms per plot per frame)
            self.getAxis(axis).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMouseEnabled(x=True, y=False)
        self.addLegend(offset=(-10, 8), labelTextColor=(220, 220, 220))
        self.curves = {side: self.plot([], [], pen=leg_pen(side), name=side) for side in ("right", "left")}
        self.gt_curves = {side: self.plot([], [], pen=leg_pen(side, dashed=True)) for side in ("right", "left")}
        self.zero = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen((120, 120, 120), width=1))
        self.addItem(self.zero)
        self.cursor = pg.InfiniteLine(pos=0, angle=90, movable=True, pen=pg.mkPen(style.CURSOR, width=1.5),
                                      hoverPen=pg.mkPen((255, 255, 0), width=3))
        self.cursor.setZValue(20)
        self.addItem(self.cursor)
        self.decorations: list = []


class PlotPanel(QtWidgets.QWidget):
    METRICS = ("MKD (mm)", "FPPA (deg)")

    def __init__(self, state: SessionState, parent=None):
        super().__init__(parent)
        self.state = state
        self.plots = {name: MetricPlot(name) for name in self.METRICS}
        first = self.plots[self.METRICS[0]]
        for p in self.plots.values():
            if p is not first:
                p.setXLink(first)
            p.seek_vb.sigSeek.connect(self._seek_time)
            p.cursor.sigDragged.connect(lambda line: self._seek_time(line.value()))
        self.message = QtWidgets.QLabel()
        self.message.setWordWrap(True)
        self.message.setStyleSheet("padding: 2px 8px;")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.readout = QtWidgets.QLabel()
        self.readout.setObjectName("metricReadout")
        self.readout.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.readout.setStyleSheet("padding: 0px 8px;")
        lay.addWidget(self.message)
        lay.addWidget(self.readout)
        for p in self.plots.values():
            lay.addWidget(p, 1)
        state.metricsChanged.connect(self.redraw)
        state.recordingChanged.connect(self.redraw)
        state.frameChanged.connect(self.move_cursor)
        self.redraw()

    def _seek_time(self, t: float):
        if self.state.reader is not None:
            self.state.request_frame(int(round(t * self.state.fps)))

    def move_cursor(self, frame: int):
        t = frame / self.state.fps
        for p in self.plots.values():
            p.cursor.blockSignals(True)
            p.cursor.setValue(t)
            p.cursor.blockSignals(False)
        self.readout.setText(self.readout_text(frame))

    def readout_text(self, frame: int) -> str:
        """The plotted values at a frame, per leg (what the cursor crosses)."""
        m = self.state.metrics or self.state.gt_metrics
        if m is None:
            return ""
        parts = []
        for name, series in m.series.items():
            short, unit = name.split(" (")[0], name[name.find("(") + 1: name.find(")")]
            unit = "°" if unit == "deg" else f" {unit}"
            vals = []
            for side, colour in (("right", style.RIGHT), ("left", style.LEFT)):
                y = series.get(side)
                v = float(y[frame]) if y is not None and 0 <= frame < len(y) else float("nan")
                text = f"{v:.1f}{unit}" if np.isfinite(v) else "–"
                vals.append(f"<span style='color:{style.hexcolour(colour)}'><b>{side[0].upper()}</b> {text}</span>")
            parts.append(f"{short}: " + " &nbsp;".join(vals))
        return f"At frame {frame + 1}: " + " &nbsp;·&nbsp; ".join(parts)

    def redraw(self):
        st = self.state
        m, g = st.metrics, st.gt_metrics
        for p in self.plots.values():
            for item in p.decorations:
                p.removeItem(item)
            p.decorations = []
            for c in (*p.curves.values(), *p.gt_curves.values()):
                c.setData([], [])
        for p in self.plots.values():
            p.setVisible(st.recording is not None)
        if st.recording is None:
            self.message.setText("Knee metrics over time appear here when a recording is open.")
            self.readout.setText("")
            return
        if m is None and g is None:
            self.message.setText("Knee metrics (medial knee displacement, frontal plane projection angle) "
                                 "appear here once joint centres are available.")
        else:
            src = "network estimate" if m is not None else "ground truth (C3D)"
            extra = " — dashed: ground truth (C3D)" if (m is not None and g is not None) else ""
            band = " Shaded: ±1 SD of the estimate; grey spans: unreliable frames." if m is not None and m.sd else ""
            lifted = (m if m is not None else g).lifted
            squat = (f" A single-leg squat on the {'left' if lifted == 'right' else 'right'} leg: the lifted "
                     f"{lifted} leg is drawn faint and not read." if lifted else "")
            self.message.setText(f"Medial knee displacement (MKD) and frontal plane projection angle (FPPA), valgus positive. "
                                 f"Solid: {src}{extra}.{band}{squat} Click or drag on a plot to seek; the wheel zooms time.")
        main = m if m is not None else g
        for name, p in self.plots.items():
            if main is None:
                continue
            self._draw_unreliable(p, main)
            self._draw_bands(p, main, name)
            self._draw(p, main, name, p.curves, main.lifted)
            if m is not None and g is not None:
                self._draw(p, g, name, p.gt_curves, main.lifted, dashed=True)
            top = self._fit_y(p, [x for x in (m, g) if x is not None], name, skip=main.lifted)
            self._draw_events(p, main, top)
            self._draw_peaks(p, main, name)
            if st.n_frames:
                p.setXRange(0, st.n_frames / st.fps, padding=0.01)
        self.move_cursor(st.frame)

    def _draw(self, p: MetricPlot, m: Metrics, name: str, curves, lifted: str | None, dashed: bool = False):
        """``m``'s curves of one metric; the leg ``lifted`` (the shown source's: estimate and C3D alike) faint."""
        series = m.series.get(name, {})
        for side, curve in curves.items():
            curve.setPen(leg_pen(side, faint=side == lifted, dashed=dashed))
            y = series.get(side)
            if y is not None:
                curve.setData(m.time_s, np.asarray(y, float), connect="finite")

    def _draw_bands(self, p: MetricPlot, m: Metrics, name: str):
        """Plus and minus one standard deviation around each leg's curve, in the leg's colour."""
        for side, colour in (("right", style.RIGHT), ("left", style.LEFT)):
            y, sd = m.series.get(name, {}).get(side), m.sd.get(name, {}).get(side)
            if y is None or sd is None or side == m.lifted:
                continue
            ok = np.isfinite(y) & np.isfinite(sd)
            # edges as pen-less curve items: a PlotDataItem without a pen has no path to fill between
            lo = pg.PlotCurveItem(m.time_s, np.where(ok, y - sd, np.nan), pen=pg.mkPen(None), connect="finite")
            hi = pg.PlotCurveItem(m.time_s, np.where(ok, y + sd, np.nan), pen=pg.mkPen(None), connect="finite")
            band = pg.FillBetweenItem(lo, hi, brush=pg.mkBrush(*colour[:3], 60))
            band.kneeview_band = side  # for tests and screenshots: which leg's band
            for item in (lo, hi, band):
                p.addItem(item)
                p.decorations.append(item)

    def _draw_unreliable(self, p: MetricPlot, m: Metrics):
        """Grey spans over the frames whose 3D fit is unreliable."""
        if m.unreliable is None or not m.unreliable.any():
            return
        bad = np.asarray(m.unreliable, bool)
        edges = np.flatnonzero(np.diff(np.r_[0, bad.astype(int), 0]))
        dt = (m.time_s[1] - m.time_s[0]) if len(m.time_s) > 1 else 0.02
        for a, b in zip(edges[::2], edges[1::2]):
            region = pg.LinearRegionItem((m.time_s[a] - dt / 2, m.time_s[b - 1] + dt / 2), movable=False,
                                         brush=pg.mkBrush(150, 150, 150, 45), pen=pg.mkPen(None))
            region.setZValue(-10)
            region.setToolTip("the 3D fit is unreliable here (poor 2D fit, low confidence or large uncertainty)")
            p.addItem(region)
            p.decorations.append(region)

    @staticmethod
    def _fit_y(p: MetricPlot, sources, name: str, skip: str | None = None) -> float:
        """Fix the y range with room for the peak labels above and the event labels below (the leg
        ``skip``, a squat's lifted one, left out: its FPPA can read near 180 degrees); returns the
        height of the event labels' baseline."""
        values = [np.asarray(v, float) for m in sources for side, v in m.series.get(name, {}).items() if side != skip]
        values = np.concatenate(values) if values else np.zeros(1)
        values = values[np.isfinite(values)]
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        lo, hi = min(lo, 0.0), max(hi, 0.0)
        span = max(hi - lo, 1.0)
        p.setYRange(lo - 0.32 * span, hi + 0.42 * span, padding=0)
        return lo - 0.3 * span

    def _draw_events(self, p: MetricPlot, m: Metrics, bottom: float):
        """A dashed line per event; its label under the curves, moved down a row (the plot
        growing to hold it) when it would overlap an earlier label (events a few frames apart:
        IC, deepest, take-off)."""
        vb = p.getViewBox()
        duration = max(self.state.n_frames / self.state.fps, 1e-6) if self.state.fps else 1.0
        px_per_s = max(vb.width(), 200.0) / duration  # before the first layout: a narrow guess
        placed = []  # (time, text item, row)
        row_ends: list[float] = []  # right edge (px) of the last label in each row
        for key, frame in sorted(m.events.items(), key=lambda kv: kv[1] if kv[1] is not None else -1):
            if frame is None or frame < 0:
                continue
            t = frame / self.state.fps
            text = pg.TextItem(EVENT_LABELS.get(key, key.replace("_", " ")), color=style.EVENT, anchor=(0.5, 1.0))
            rect = text.textItem.boundingRect()
            x_px = t * px_per_s
            row = next((r for r, end in enumerate(row_ends) if x_px - rect.width() / 2 > end + 4), len(row_ends))
            if row == len(row_ends):
                row_ends.append(0.0)
            row_ends[row] = x_px + rect.width() / 2
            placed.append((t, text, row))
        if not placed:
            return
        # rows below the first: extend the y range by what they need at the final scale
        y0, y1 = vb.viewRange()[1]
        height_px = max(vb.height(), 60.0)
        row_px = max(text.textItem.boundingRect().height() for _, text, _ in placed)
        extra_px = (len(row_ends) - 1) * row_px
        if extra_px:
            extra = extra_px * (y1 - y0) / max(height_px - extra_px, 0.25 * height_px)
            y0 -= extra
            p.setYRange(y0, y1, padding=0)
        units_per_px = (y1 - y0) / height_px
        for t, text, row in placed:
            text.setPos(t, bottom - row * row_px * units_per_px)
            line = pg.InfiniteLine(pos=t, angle=90, pen=pg.mkPen(style.EVENT, width=1, style=QtCore.Qt.PenStyle.DashLine))
            for item in (line, text):
                p.addItem(item)
                p.decorations.append(item)

    def _draw_peaks(self, p: MetricPlot, m: Metrics, name: str):
        series = m.series.get(name, {})
        unit = name[name.find("(") + 1: name.find(")")] if "(" in name else ""
        peaks = []
        for side, frame in (m.peaks.get(name) or {}).items():
            y = series.get(side)
            if y is None or frame is None or not (0 <= frame < len(y)) or not np.isfinite(y[frame]):
                continue
            peaks.append((m.time_s[frame], float(y[frame]), side))
        # two labels reach away from each other: the earlier peak's to the left of its dot, the later's
        # to the right (a lone one: right's to the right, left's to the left)
        peaks.sort(key=lambda pk: pk[0])
        for k, (t, v, side) in enumerate(peaks):
            reach_right = k == 1 if len(peaks) == 2 else side == "right"
            colour = style.RIGHT if side == "right" else style.LEFT
            dot = pg.ScatterPlotItem([t], [v], size=9, brush=pg.mkBrush(colour), pen=pg.mkPen("w"))
            # above the dot whatever its sign: below the curves is where the event labels go
            text = pg.TextItem(f"peak {side[0].upper()} {v:.1f} {unit}", color=colour,
                              anchor=(0.0 if reach_right else 1.0, 1.1))
            text.setPos(t, v)
            for item in (dot, text):
                p.addItem(item)
                p.decorations.append(item)
