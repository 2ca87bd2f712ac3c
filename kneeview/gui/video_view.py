"""The video frame with the estimated joints and skeleton, and the projected ground truth.

Everything is drawn in raw (distorted) pixel coordinates of the frame, as the lens sees
it: integer coordinates are pixel centres, so a point at (u, v) is drawn at the centre
of pixel (u, v) (the frame covers [-0.5, W-0.5] x [-0.5, H-0.5]). Zoom with the
wheel, pan by dragging, double-click or "Fit" to see the whole frame.

Scrubbing shows each frame at the resolution of the screen: when the view shows the
frame at half its size or less, the frame is decoded 2, 4 or 8 times smaller (see
:mod:`.frames`), still drawn over the same raw-pixel rectangle, so the overlay is where
it always is. :data:`SETTLE_MS` after the last frame change (scrubbing stopped), and
before an image of the window is exported, the full-resolution frame replaces it; zooming
in asks for a finer frame at once.
"""
from __future__ import annotations

import sys

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from .. import joints as J
from . import style
from .state import LOW_CONFIDENCE, SessionState

_SIDE_EDGES = {
    "right": [(a, b) for a, b in J.EDGES if a % 2 == 0 and b % 2 == 0],
    "left": [(a, b) for a, b in J.EDGES if a % 2 == 1 and b % 2 == 1],
    "pelvis": [(a, b) for a, b in J.EDGES if (a % 2) != (b % 2)],
}

#: ms without a frame change after which a reduced frame is replaced by the full one
SETTLE_MS = 150
#: while scrubbing, a reduced frame may be magnified up to this much on screen (the full
#: frame follows when scrubbing stops)
SCRUB_MAGNIFICATION = 1.25

#: screen size (px) a low-confidence label needs; joints closer than that share one label
LABEL_PX = (130, 18)

# Qt's native raster format: 0xffRRGGBB words, i.e. B, G, R, 255 bytes on little-endian machines
if sys.byteorder == "little":
    _QFORMAT, _TO_NATIVE = QtGui.QImage.Format.Format_RGB32, cv2.COLOR_RGB2BGRA
else:  # pragma: no cover
    _QFORMAT, _TO_NATIVE = QtGui.QImage.Format.Format_RGBX8888, cv2.COLOR_RGB2RGBA


class FrameItem(pg.GraphicsObject):
    """The video frame, drawn over the raw-pixel rectangle it covers.

    ``set_frame(rgb, (W, H))`` draws an RGB image over [-0.5, W-0.5] x [-0.5, H-0.5] in
    raw pixel coordinates, whatever its own size (a frame reduced for scrubbing covers the
    same rectangle as the full one). The image is handed to Qt in its native format once,
    so a paint is one ``drawImage`` (no level scaling, no per-paint conversion); it is
    smoothed when shown at less than 2/3 of its size, drawn pixel by pixel otherwise (so
    zooming in shows the frame's pixels). ``sigPainted`` follows every paint (the scrub
    benchmark waits on it).
    """

    sigPainted = QtCore.Signal()

    def __init__(self):
        super().__init__()
        self.image: np.ndarray | None = None  # the RGB array shown
        self.extent: tuple[int, int] | None = None  # raw (W, H) it covers
        self._native = None
        self._qimage = None
        self._rect = QtCore.QRectF()

    def set_frame(self, rgb: np.ndarray, extent) -> None:
        h, w = rgb.shape[:2]
        native = self._native
        if native is None or native.shape[:2] != (h, w):
            native = np.empty((h, w, 4), np.uint8)
        # into the same buffer frame after frame (a fresh 2-8 MB array costs page faults):
        # the image item is painted on this thread only, after this
        cv2.cvtColor(np.ascontiguousarray(rgb), _TO_NATIVE, dst=native)
        qimage = QtGui.QImage(native, w, h, native.strides[0], _QFORMAT)
        rect = QtCore.QRectF(-0.5, -0.5, float(extent[0]), float(extent[1]))
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
            self.informViewBoundsChanged()
        self.image, self.extent, self._native, self._qimage = rgb, (int(extent[0]), int(extent[1])), native, qimage
        self.update()

    def clear(self) -> None:
        self.prepareGeometryChange()
        self.image = self.extent = self._native = self._qimage = None
        self._rect = QtCore.QRectF()
        self.update()

    @property
    def reduction(self) -> float:
        """Raw pixels per pixel of the image shown (1: the full frame)."""
        if self.image is None:
            return 1.0
        return self.extent[0] / self.image.shape[1]

    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(self._rect)

    def paint(self, p, *args):
        if self._qimage is not None:
            # device pixels per pixel of the image
            scale = abs(p.worldTransform().m11()) * p.device().devicePixelRatioF() * self.reduction
            p.save()
            p.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, scale < 2 / 3)
            p.drawImage(self._rect, self._qimage)
            p.restore()
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
        self.image = FrameItem()
        self.vb.addItem(self.image)
        self.shown_frame: int | None = None  # the frame whose image is shown
        # plain curves (not PlotDataItems): the overlay is redrawn every frame, cheaply
        self.gt_lines = pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(style.GT, width=1.5, style=QtCore.Qt.PenStyle.DashLine))
        self.gt_points = pg.ScatterPlotItem(symbol="+", size=16, pen=pg.mkPen(style.GT, width=2.5), brush=None, pxMode=True)
        self.lines = {
            side: pg.PlotCurveItem(connect="pairs", pen=pg.mkPen(colour, width=3))
            for side, colour in (("right", style.RIGHT), ("left", style.LEFT), ("pelvis", style.PELVIS))
        }
        self.points = pg.ScatterPlotItem(size=11, pxMode=True)
        self.low_conf_labels: list[pg.TextItem] = []  # those shown at the current frame
        self._label_pool: list[pg.TextItem] = []
        self._spot_styles: dict = {}
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
        self._settle = QtCore.QTimer(self)  # scrubbing stopped: the full frame
        self._settle.setSingleShot(True)
        self._settle.setInterval(SETTLE_MS)
        self._settle.timeout.connect(self.show_full_resolution)
        self._rezoom = QtCore.QTimer(self)  # zoomed in past a reduced frame: a finer one
        self._rezoom.setSingleShot(True)
        self._rezoom.setInterval(0)
        self._rezoom.timeout.connect(self._sharpen)
        self.vb.sigTransformChanged.connect(self._on_transform)
        state.recordingChanged.connect(self._on_recording)
        state.viewChanged.connect(self._on_view)
        state.frameChanged.connect(self.show_frame)
        state.poseChanged.connect(self.refresh)

    # ------------------------------------------------------------------ updates
    def _on_recording(self):
        self.shown_frame = None
        if self.state.reader is None:
            self._settle.stop()
            self.image.clear()
            self._size = None
            self.caption.setText("")
            return
        self._size = self.state.reader.size
        self.fit()
        self.show_frame(self.state.frame)

    def _on_view(self):
        """Another camera: fit its frame (``frameChanged`` follows and paints it)."""
        self.shown_frame = None
        self._size = self.state.reader.size
        self.fit()

    def fit(self):
        if self._size:
            W, H = self._size
            self.vb.setRange(QtCore.QRectF(-0.5, -0.5, W, H), padding=0.0)

    def refresh(self):
        self.show_frame(self.state.frame)

    def display_reduction(self) -> int:
        """How many times smaller than the video a frame can be decoded for the view as it
        is now (1, 2, 4 or 8): the most that still gives about one image pixel per device
        pixel on screen (a magnification up to :data:`SCRUB_MAGNIFICATION` is allowed)."""
        if not self._size:
            return 1
        rect = self.vb.viewRect()
        w, h = self.vb.width(), self.vb.height()
        if w < 1 or h < 1 or rect.width() <= 0 or rect.height() <= 0:
            return 1
        raw_per_device = min(rect.width() / w, rect.height() / h) / max(self.glw.devicePixelRatioF(), 1e-6)
        r = 1
        while r < 8 and 2 * r <= raw_per_device * SCRUB_MAGNIFICATION:
            r *= 2
        return r

    @property
    def shown_reduction(self) -> float:
        """Raw pixels per pixel of the frame's image on screen (1: full resolution)."""
        return self.image.reduction

    def show_frame(self, frame: int):
        reduction = self.display_reduction()
        if frame != self.shown_frame or self.shown_reduction > reduction:
            if not self._show_image(frame, reduction):
                return
        self._draw_overlay(frame)

    def _show_image(self, frame: int, reduction: int) -> bool:
        got = self.state.display_image(frame, reduction)
        if got is None:
            return False
        rgb, extent = got
        self.image.set_frame(rgb, extent)
        self.shown_frame = frame
        if self.shown_reduction > 1:
            self._settle.start()  # restarted by every frame change while scrubbing
        else:
            self._settle.stop()
        return True

    def show_full_resolution(self) -> None:
        """Show the frame on screen at full resolution (scrubbing stopped; before an export)."""
        self._settle.stop()
        if self.shown_frame is not None and self.shown_reduction > 1 and self.state.frames is not None:
            self._show_image(self.shown_frame, 1)

    def _on_transform(self, *_):
        if self.shown_frame is not None and self.shown_reduction > self.display_reduction():
            self._rezoom.start()

    def _sharpen(self):
        reduction = self.display_reduction()
        if self.shown_frame is not None and self.shown_reduction > reduction and self.state.frames is not None:
            self._show_image(self.shown_frame, reduction)

    def _spot_style(self, joint: int, low: bool):
        """(pen, brush, size) of a joint's point, made once: the scatter item caches the
        rendered symbol per pen/brush object, so fresh pens every frame would render (and
        keep) new symbols every frame."""
        key = (joint, low)
        style_ = self._spot_styles.get(key)
        if style_ is None:
            colour = style.side_colour(joint)
            style_ = self._spot_styles[key] = (
                pg.mkPen(style.LOW_CONF if low else (0, 0, 0), width=2.5 if low else 1.2),
                pg.mkBrush(None) if low else pg.mkBrush(colour),
                15 if low else 11,
            )
        return style_

    def _low_conf_label(self, k: int) -> pg.TextItem:
        while len(self._label_pool) <= k:
            lab = pg.TextItem("", color=style.LOW_CONF, anchor=(0, 1))
            lab.setZValue(11)
            lab.setVisible(False)
            self.vb.addItem(lab)
            self._label_pool.append(lab)
        return self._label_pool[k]

    def _low_conf_groups(self, kp, low: list[int]) -> list[list[int]]:
        """Low-confidence joints whose labels would overlap on screen (a label is about
        :data:`LABEL_PX` wide and tall), grouped top to bottom: each group gets one label."""
        try:
            px_w, px_h = self.vb.viewPixelSize()
        except Exception:  # no view geometry yet
            px_w = px_h = 1.0
        groups: list[list[int]] = []
        for j in sorted(low, key=lambda j: kp[j, 1]):
            last = groups[-1][-1] if groups else None
            if last is not None and abs(kp[j, 0] - kp[last, 0]) < LABEL_PX[0] * px_w \
                    and abs(kp[j, 1] - kp[last, 1]) < LABEL_PX[1] * px_h:
                groups[-1].append(j)
            else:
                groups.append([j])
        return groups

    def _draw_overlay(self, frame: int):
        st = self.state
        pose = st.pose_at(frame) if self.show_estimate else None
        labels = []
        if pose is None:
            for item in self.lines.values():
                item.setData([], [])
            self.points.setData([])
        else:
            kp, conf, _ = pose
            for side, edges in _SIDE_EDGES.items():
                self.lines[side].setData(*_segments(kp, edges))
            joints, low_joints, pens, brushes, sizes = [], [], [], [], []
            for j in range(J.N_JOINTS):
                if not np.all(np.isfinite(kp[j])):
                    continue
                low = not (conf[j] >= LOW_CONFIDENCE)
                pen, brush, size = self._spot_style(j, low)
                joints.append(j)
                if low:
                    low_joints.append(j)
                pens.append(pen)
                brushes.append(brush)
                sizes.append(size)
            for k, group in enumerate(self._low_conf_groups(kp, low_joints)):
                lab = self._low_conf_label(k)
                lab.setText("\n".join(f"{J.JOINT_NAMES[J.JOINTS[j]]}? ({conf[j]:.2f})" for j in group))
                lab.setPos(float(kp[group[-1], 0]) + 6, float(kp[group[-1], 1]) - 4)
                labels.append(lab)
            self.points.setData(pos=np.asarray(kp, float)[joints].reshape(-1, 2), pen=pens, brush=brushes, size=sizes,
                                symbol="o", data=joints)
        for k, lab in enumerate(self._label_pool):  # labels are the pool's first len(labels)
            lab.setVisible(k < len(labels))
        self.low_conf_labels = labels
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
