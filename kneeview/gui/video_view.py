"""The video frame with the estimated joints and skeleton, and the projected ground truth.

Everything is drawn in raw (distorted) pixel coordinates of the frame, as the lens sees
it: integer coordinates are pixel centres, so a point at (u, v) is drawn at the centre
of pixel (u, v) (the image item covers [-0.5, W-0.5] x [-0.5, H-0.5]). Zoom with the
wheel, pan by dragging, double-click or "Fit" to see the whole frame.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from .. import joints as J
from . import style
from .state import LOW_CONFIDENCE, SessionState

_SIDE_EDGES = {
    "right": [(a, b) for a, b in J.EDGES if a % 2 == 0 and b % 2 == 0],
    "left": [(a, b) for a, b in J.EDGES if a % 2 == 1 and b % 2 == 1],
    "pelvis": [(a, b) for a, b in J.EDGES if (a % 2) != (b % 2)],
}


class PaintedImageItem(pg.ImageItem):
    """An ImageItem that tells when it has been painted (for the scrub benchmark)."""

    sigPainted = QtCore.Signal()

    def paint(self, p, *args):
        super().paint(p, *args)
        self.sigPainted.emit()


def _segments(points: np.ndarray, edges) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for a, b in edges:
        if np.all(np.isfinite(points[[a, b]])):
            xs += [points[a, 0], points[b, 0]]
            ys += [points[a, 1], points[b, 1]]
    return np.asarray(xs, float), np.asarray(ys, float)


class _ViewBox(pg.ViewBox):
    def mouseDoubleClickEvent(self, ev):
        self.autoRange(padding=0.0)
        ev.accept()


class VideoView(QtWidgets.QWidget):
    def __init__(self, state: SessionState, parent=None):
        super().__init__(parent)
        self.state = state
        self.show_estimate = True
        self.show_gt = True
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground((20, 20, 24))
        self.vb = _ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.vb.setDefaultPadding(0.0)
        self.glw.addItem(self.vb)
        self.image = PaintedImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.gt_lines = pg.PlotDataItem(connect="pairs", pen=pg.mkPen(style.GT, width=1.5, style=QtCore.Qt.PenStyle.DashLine))
        self.gt_points = pg.ScatterPlotItem(symbol="+", size=16, pen=pg.mkPen(style.GT, width=2.5), brush=None, pxMode=True)
        self.lines = {
            side: pg.PlotDataItem(connect="pairs", pen=pg.mkPen(colour, width=3))
            for side, colour in (("right", style.RIGHT), ("left", style.LEFT), ("pelvis", style.PELVIS))
        }
        self.points = pg.ScatterPlotItem(size=11, pxMode=True)
        self.low_conf_labels: list[pg.TextItem] = []
        for item in (self.gt_lines, self.gt_points, *self.lines.values(), self.points):
            item.setZValue(10)
            self.vb.addItem(item)
        self.caption = QtWidgets.QLabel()
        self.caption.setObjectName("videoCaption")
        self.caption.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.caption.setStyleSheet("QLabel#videoCaption { background: #141418; color: #e6e6e6; padding: 4px 8px; }")
        legend = QtWidgets.QLabel(
            f"<span style='color:{style.hexcolour(style.RIGHT)}'>&#9679; right</span> &nbsp; "
            f"<span style='color:{style.hexcolour(style.LEFT)}'>&#9679; left</span> &nbsp; "
            f"<span style='color:#dddddd'>&#9675; low confidence (&lt;{LOW_CONFIDENCE:.1f})</span> &nbsp; "
            f"<span style='color:{style.hexcolour(style.GT)}'>+ ground truth (C3D)</span>"
            f" &nbsp; <span style='color:#9a9aa8'>wheel: zoom · drag: pan · double-click: fit</span>")
        legend.setStyleSheet("background: #141418; color: #e6e6e6; padding: 2px 8px;")
        # never let the legend (or the caption) set the window's minimum width: they are clipped instead
        for label in (legend, self.caption):
            label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.legend = legend
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.caption)
        lay.addWidget(self.glw, 1)
        lay.addWidget(legend)
        self._size = None
        state.recordingChanged.connect(self._on_recording)
        state.viewChanged.connect(self._on_view)
        state.frameChanged.connect(self.show_frame)
        state.poseChanged.connect(self.refresh)

    # ------------------------------------------------------------------ updates
    def _on_recording(self):
        if self.state.reader is None:
            self.image.clear()
            self._size = None
            self.caption.setText("")
            return
        self._size = self.state.reader.size
        self.show_frame(self.state.frame)
        self.fit()

    def _on_view(self):
        """Another camera: fit its frame (``frameChanged`` follows and paints it)."""
        self._size = self.state.reader.size
        self.fit()

    def fit(self):
        if self._size:
            W, H = self._size
            self.vb.setRange(QtCore.QRectF(-0.5, -0.5, W, H), padding=0.0)

    def refresh(self):
        self.show_frame(self.state.frame)

    def show_frame(self, frame: int):
        img = self.state.image(frame)
        if img is None:
            return
        rgb = img
        H, W = rgb.shape[:2]
        self.image.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.image.setRect(QtCore.QRectF(-0.5, -0.5, W, H))
        self._draw_overlay(frame)

    def _draw_overlay(self, frame: int):
        st = self.state
        pose = st.pose_at(frame) if self.show_estimate else None
        for lab in self.low_conf_labels:
            self.vb.removeItem(lab)
        self.low_conf_labels = []
        if pose is None:
            for item in self.lines.values():
                item.setData([], [])
            self.points.setData([])
        else:
            kp, conf, _ = pose
            for side, edges in _SIDE_EDGES.items():
                self.lines[side].setData(*_segments(kp, edges))
            spots = []
            for j in range(J.N_JOINTS):
                if not np.all(np.isfinite(kp[j])):
                    continue
                colour = style.side_colour(j)
                low = not (conf[j] >= LOW_CONFIDENCE)
                spots.append({
                    "pos": (float(kp[j, 0]), float(kp[j, 1])),
                    "brush": None if low else pg.mkBrush(colour),
                    "pen": pg.mkPen(style.LOW_CONF if low else (0, 0, 0), width=2.5 if low else 1.2),
                    "size": 15 if low else 11,
                    "symbol": "o",
                    "data": j,
                })
                if low:
                    lab = pg.TextItem(f"{J.JOINT_NAMES[J.JOINTS[j]]}? ({conf[j]:.2f})", color=style.LOW_CONF, anchor=(0, 1))
                    lab.setPos(float(kp[j, 0]) + 6, float(kp[j, 1]) - 4)
                    lab.setZValue(11)
                    self.vb.addItem(lab)
                    self.low_conf_labels.append(lab)
            self.points.setData(spots)
        gt = st.gt_px[frame] if (st.gt_px is not None and self.show_gt and frame < len(st.gt_px)) else None
        if gt is None:
            self.gt_lines.setData([], [])
            self.gt_points.setData([])
        else:
            self.gt_lines.setData(*_segments(gt, J.EDGES))
            ok = np.all(np.isfinite(gt), axis=1)
            self.gt_points.setData(gt[ok, 0], gt[ok, 1])
        self.caption.setText(self._caption(frame, pose, gt))

    def _caption(self, frame, pose, gt) -> str:
        st = self.state
        n = st.n_frames
        parts = [f"<b>Frame {frame + 1} / {n}</b>", f"t = {frame / st.fps:.3f} s"]
        if st.pose is None:
            parts.append("no estimate yet")
        elif pose is None:
            parts.append("estimate not computed yet for this frame")
        else:
            score = st.pose.score[frame]
            parts.append("no person detected" if not np.isfinite(score) else f"detection score {score:.2f}")
        err = self.frame_error_px(frame)
        if err is not None:
            parts.append(f"2D error vs C3D: mean {np.nanmean(err):.1f} px, max {np.nanmax(err):.1f} px")
        elif gt is not None and pose is not None:
            parts.append("2D error vs C3D: n/a")
        elif st.gt_px is None:
            parts.append("no ground truth")
        return " &nbsp;·&nbsp; ".join(parts)

    def frame_error_px(self, frame: int) -> np.ndarray | None:
        """Per-joint distance (px) between the estimate and the projected C3D; None if either is absent."""
        st = self.state
        pose = st.pose_at(frame)
        if pose is None or st.gt_px is None or frame >= len(st.gt_px):
            return None
        err = np.linalg.norm(pose[0] - st.gt_px[frame], axis=1)
        return err if np.any(np.isfinite(err)) else None

    # ------------------------------------------------------------- for tests
    def drawn_joints(self) -> dict[int, tuple[float, float]]:
        """Joint index -> drawn position of the estimate at the current frame."""
        pts = self.points.points()
        return {int(p.data()): (p.pos().x(), p.pos().y()) for p in pts}
