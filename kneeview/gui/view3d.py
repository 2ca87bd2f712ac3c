"""3D skeleton of the current frame in the lab frame (metres, Z up) over a floor grid.

The network's 3D output is hip-centred in the camera frame; it is turned into the lab
frame with the camera's rotation and drawn beside the C3D ground truth (offset sideways
as seen from the video camera, so the two never overlap). Without OpenGL the widget is
a label that says so; nothing else changes.
"""
from __future__ import annotations

import logging
import os

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from .. import joints as J
from . import style
from .state import SessionState

log = logging.getLogger(__name__)

_GL_OK: bool | None = None
_GL_REASON = ""
ANKLE_HEIGHT_M = 0.08  # where an estimate without ground truth stands: ankle centres this high
BESIDE_M = 0.9  # sideways offset of the estimate from the ground truth


def gl_available() -> tuple[bool, str]:
    """Whether an OpenGL context can be created on this display (cached), and why not."""
    global _GL_OK, _GL_REASON
    if _GL_OK is None:
        platform = QtGui.QGuiApplication.platformName()
        if os.environ.get("KNEEVIEW_NO_GL"):
            _GL_OK, _GL_REASON = False, "disabled by KNEEVIEW_NO_GL"
        elif platform in ("offscreen", "minimal", "vnc"):
            _GL_OK, _GL_REASON = False, f"the '{platform}' display has no OpenGL"
        else:
            try:
                import OpenGL.GL  # noqa: F401
                import pyqtgraph.opengl  # noqa: F401

                ctx = QtGui.QOpenGLContext()
                surface = QtGui.QOffscreenSurface()
                surface.create()
                ok = ctx.create() and surface.isValid() and ctx.makeCurrent(surface)
                if ok:
                    ctx.doneCurrent()
                _GL_OK, _GL_REASON = bool(ok), "" if ok else "no OpenGL context could be created"
            except Exception as exc:  # missing libGL, broken driver
                _GL_OK, _GL_REASON = False, f"OpenGL failed to load ({type(exc).__name__}: {exc})"
    return _GL_OK, _GL_REASON


def estimate_in_lab_m(joints_cam_m: np.ndarray, camera) -> np.ndarray:
    """Hip-centred camera-frame metres (6,3) -> hip-centred lab-frame metres (6,3)."""
    R = np.asarray(camera.R) if camera is not None else np.eye(3)
    return np.asarray(joints_cam_m, float) @ R  # row vectors: R^T x


def _edge_vertices(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pos, col = [], []
    for a, b in J.EDGES:
        if np.all(np.isfinite(points[[a, b]])):
            c = style.PELVIS if (a % 2) != (b % 2) else style.side_colour(a)
            pos += [points[a], points[b]]
            col += [c, c]
    if not pos:
        return np.zeros((0, 3)), np.zeros((0, 4))
    colours = np.concatenate([np.asarray(col, float) / 255.0, np.ones((len(col), 1))], axis=1)
    return np.asarray(pos, float), colours


class Skeleton3DView(QtWidgets.QWidget):
    def __init__(self, state: SessionState, parent=None):
        super().__init__(parent)
        self.state = state
        self.gl = None
        self.auto_rotate = QtWidgets.QCheckBox("Auto-rotate")
        self.auto_rotate.setToolTip("Orbit the 3D view slowly (drag to orbit by hand, wheel to zoom)")
        self.caption = QtWidgets.QLabel()
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("padding: 2px 6px;")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        bar = QtWidgets.QHBoxLayout()
        bar.setContentsMargins(6, 2, 6, 2)
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.auto_rotate)
        ok, reason = gl_available()
        if ok:
            try:
                self._build_gl()
            except Exception as exc:
                log.warning("3D view disabled: %s", exc)
                ok, reason = False, f"{type(exc).__name__}: {exc}"
                self.gl = None
        if ok:
            lay.addWidget(self.gl, 1)
        else:
            self.fallback = QtWidgets.QLabel(
                "<b>3D view unavailable</b><br>OpenGL could not be started on this display "
                f"({reason}).<br>The video, the plots and the export work normally.")
            self.fallback.setObjectName("gl_fallback")
            self.fallback.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
            self.fallback.setWordWrap(True)
            self.fallback.setStyleSheet("color: #d0d0d0; background: #1b1b20; padding: 16px;")
            self.auto_rotate.setEnabled(False)
            lay.addWidget(self.fallback, 1)
        lay.addLayout(bar)
        self._timer = QtCore.QTimer(self)
        self._timer.setInterval(33)
        self._timer.timeout.connect(self._rotate)
        self.auto_rotate.toggled.connect(self.set_auto_rotate)
        state.recordingChanged.connect(self._on_recording)
        state.viewChanged.connect(self._on_recording)  # look from the new view's camera
        state.frameChanged.connect(self.show_frame)
        state.poseChanged.connect(lambda: self.show_frame(self.state.frame))

    @property
    def available(self) -> bool:
        return self.gl is not None

    def _build_gl(self):
        import pyqtgraph.opengl as gl

        self.gl = gl.GLViewWidget()
        self.gl.setBackgroundColor((22, 22, 28))
        grid = gl.GLGridItem()
        grid.setSize(6, 6, 1)
        grid.setSpacing(0.5, 0.5, 1)
        grid.setColor((110, 110, 130, 140))
        self.gl.addItem(grid)
        axis = gl.GLAxisItem()
        axis.setSize(0.4, 0.4, 0.4)
        self.gl.addItem(axis)
        self.est_lines = gl.GLLinePlotItem(mode="lines", width=4, antialias=True)
        self.est_points = gl.GLScatterPlotItem(size=12, pxMode=True)
        self.gt_lines = gl.GLLinePlotItem(mode="lines", width=2, antialias=True)
        self.gt_points = gl.GLScatterPlotItem(size=10, pxMode=True)
        self.est_label = gl.GLTextItem(text="estimate", color=QtGui.QColor(230, 230, 230))
        self.gt_label = gl.GLTextItem(text="ground truth (C3D)", color=QtGui.QColor(*style.GT))
        for item in (self.gt_lines, self.gt_points, self.est_lines, self.est_points, self.est_label, self.gt_label):
            self.gl.addItem(item)
        self.gl.setCameraPosition(distance=4.5, elevation=14, azimuth=-90)
        self.gl.opts["center"] = QtGui.QVector3D(0, 0, 0.7)

    # -------------------------------------------------------------- geometry
    def _offset_dir(self) -> np.ndarray:
        """Unit horizontal vector to the right of the video camera's view (lab frame)."""
        cam = self.state.camera
        if cam is None:
            return np.array([1.0, 0.0, 0.0])
        x_img = np.asarray(cam.R)[0]  # camera x axis (image right) in the lab frame
        x_img = np.array([x_img[0], x_img[1], 0.0])
        n = np.linalg.norm(x_img)
        return x_img / n if n > 1e-9 else np.array([1.0, 0.0, 0.0])

    def skeletons_m(self, frame: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(estimate, ground truth) lab-frame metres (6,3) as drawn at a frame."""
        st = self.state
        gt = None
        if st.gt_lab_mm is not None and frame < len(st.gt_lab_mm):
            g = st.gt_lab_mm[frame] / 1000.0
            gt = g if np.any(np.isfinite(g)) else None
        pose = st.pose_at(frame)
        est = None
        if pose is not None and np.any(np.isfinite(pose[2])):
            rel = estimate_in_lab_m(pose[2], st.camera)
            if gt is not None and np.all(np.isfinite(gt[:2])):
                anchor = gt[:2].mean(axis=0) + BESIDE_M * self._offset_dir()
            else:
                anchor = np.array([0.0, 0.0, ANKLE_HEIGHT_M - np.nanmin(rel[4:6, 2])])
            est = rel + anchor
        return est, gt

    # ---------------------------------------------------------------- views
    def _on_recording(self):
        if self.gl is None or self.state.recording is None:
            return
        cam = self.state.camera
        if cam is not None:
            view = -np.asarray(cam.R)[2]  # from the subject towards the camera
            az = float(np.degrees(np.arctan2(view[1], view[0])))
            self.gl.setCameraPosition(azimuth=az, elevation=12, distance=2.4)
        gt = self.state.gt_lab_mm
        if gt is not None and np.any(np.isfinite(gt)):
            c = np.nanmean(gt[:, :2].reshape(-1, 3), axis=0) / 1000.0
            c = c + 0.5 * BESIDE_M * self._offset_dir()
            self.gl.opts["center"] = QtGui.QVector3D(float(c[0]), float(c[1]), 0.6)
        self.show_frame(self.state.frame)

    def show_frame(self, frame: int):
        if self.gl is None:
            self.caption.setText(self._describe(frame))
            return
        est, gt = self.skeletons_m(frame)
        for lines, points, label, pts, pen in (
            (self.est_lines, self.est_points, self.est_label, est, None),
            (self.gt_lines, self.gt_points, self.gt_label, gt, style.GT),
        ):
            if pts is None:
                lines.setVisible(False)
                points.setVisible(False)
                label.setVisible(False)
                continue
            pos, col = _edge_vertices(pts)
            if pen is not None:
                col[:, :3] = np.asarray(pen) / 255.0
            ok = np.all(np.isfinite(pts), axis=1)
            pcol = np.array([list(np.asarray(style.side_colour(j)) / 255.0) + [1.0] for j in range(J.N_JOINTS)])[ok]
            if pen is not None:
                pcol[:, :3] = np.asarray(pen) / 255.0
            lines.setData(pos=pos, color=col)
            points.setData(pos=pts[ok], color=pcol)
            top = pts[ok][np.argmax(pts[ok][:, 2])] if ok.any() else np.zeros(3)
            label.setData(pos=top + np.array([0.0, 0.0, 0.25]))
            for item in (lines, points, label):
                item.setVisible(bool(len(pos)) or item is points)
        self.caption.setText(self._describe(frame))

    def _describe(self, frame: int) -> str:
        st = self.state
        if st.recording is None:
            return ""
        has_est = st.pose_at(frame) is not None
        has_gt = st.gt_lab_mm is not None
        if has_est and has_gt:
            what = f"estimate (green/red) {BESIDE_M:.1f} m beside the ground truth (amber)"
        elif has_est:
            what = "estimate (green right, red left); no ground truth"
        elif has_gt:
            what = "ground truth (amber); no estimate for this frame yet"
        else:
            what = "nothing to show for this frame"
        return f"Lab frame, Z up, grid 0.5 m · {what}"

    def set_auto_rotate(self, on: bool):
        if self.auto_rotate.isChecked() != on:
            self.auto_rotate.setChecked(on)
        if self.gl is None:
            return
        self._timer.start() if on else self._timer.stop()

    def _rotate(self):
        if self.gl is not None:
            self.gl.orbit(0.6, 0)
