"""The main window: the views, the menus, and the pieces they are composed of.

Opening recordings is :class:`.opener.RecordingOpener`'s, running the model
:class:`.run_controller.RunController`'s, the info pane :class:`.info_panel.InfoPanel`'s;
every state the views show lives in :class:`.state.SessionState`; every number comes from
the session layer (:mod:`kneeview.session`).
"""
from __future__ import annotations

from html import escape as html_escape
import logging
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..errors import ExportError, KneeViewInputError
from . import metrics
from .info_panel import InfoPanel
from .menus import build_actions, build_menus
from .opener import RecordingOpener, split_dropped
from .plots import PlotPanel
from .run_controller import RunController
from .state import SessionState
from .timeline import Timeline
from .video_view import VideoView
from .view3d import Skeleton3DView
from .view_selector import remember_view, view_label
from .welcome import WelcomePage

log = logging.getLogger(__name__)


def default_settings() -> QtCore.QSettings:
    """The user's settings: an INI file in the user's config folder (``QSettings.setPath``
    for IniFormat/UserScope moves it, as the tests do)."""
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, "KneeView", "KneeView")


class MainWindow(QtWidgets.QMainWindow):
    """KneeView's window. ``settings`` defaults to the user's QSettings (tests pass their own)."""

    def __init__(self, settings: QtCore.QSettings | None = None, estimator_factory=None, checkpoint=None,
                 device: str = "auto", auto_run: bool = True, parent=None):
        super().__init__(parent)
        self.settings = settings or default_settings()
        self.auto_run = auto_run
        self._open_args: dict = {}
        self._gt_analysed: dict = {}  # view index -> metrics.Analysed of the ground truth (or None)
        self.setWindowTitle("KneeView")
        self.setAcceptDrops(True)
        self.setDockOptions(QtWidgets.QMainWindow.DockOption.AnimatedDocks | QtWidgets.QMainWindow.DockOption.AllowTabbedDocks)

        self.state = SessionState(self)
        self.opener = RecordingOpener(self.settings, self)
        self.runner = RunController(self.state, estimator_factory, checkpoint, device, self)
        self.video = VideoView(self.state)
        self.timeline = Timeline(self.state)
        self.view3d = Skeleton3DView(self.state)
        self.plots = PlotPanel(self.state)
        self.info = InfoPanel()
        self.welcome = WelcomePage()
        video_page = QtWidgets.QWidget()
        vl = QtWidgets.QVBoxLayout(video_page)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.setSpacing(0)
        vl.addWidget(self.video, 1)
        vl.addWidget(self.timeline)
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(video_page)
        self.setCentralWidget(self.stack)
        self.docks = {}
        for name, title, widget, area in (
            ("plots", "Knee metrics", self.plots, QtCore.Qt.DockWidgetArea.BottomDockWidgetArea),
            ("view3d", "3D (lab frame)", self.view3d, QtCore.Qt.DockWidgetArea.RightDockWidgetArea),
            ("info", "Recording and model", self.info, QtCore.Qt.DockWidgetArea.RightDockWidgetArea),
        ):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock_{name}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[name] = dock
        self._build_status_bar()
        build_actions(self)
        build_menus(self)
        self._connect()
        self._update_enabled()
        self._refresh_recent()
        self._refresh_views()
        self._restore_settings()
        self._show_info()

    # ------------------------------------------------------------ construction
    def _build_status_bar(self):
        self.runner.add_to(self.statusBar())
        # the status bar's widgets, under the names the window has always had
        self.progress, self.rate_label = self.runner.progress, self.runner.rate_label
        self.cancel_button, self.model_label = self.runner.cancel_button, self.runner.model_label

    def _connect(self):
        w = self.welcome
        w.open_button.clicked.connect(self.open_dialog)
        w.open_folder_button.clicked.connect(self.open_folder_dialog)
        w.demo_button.clicked.connect(self.open_demo)
        w.recent.itemActivated.connect(lambda item: self.open_path(item.data(QtCore.Qt.ItemDataRole.UserRole)))
        self.state.recordingChanged.connect(self._update_enabled)
        self.state.poseChanged.connect(self._update_enabled)
        self.view3d.auto_rotate.toggled.connect(self.act_rotate.setChecked)
        self.timeline.speed.currentIndexChanged.connect(lambda _: self.settings.setValue("playback/speed", self.timeline.speed_factor))
        self.view_selector.viewChosen.connect(self.set_view)
        self.opener.recentChanged.connect(self._refresh_recent)
        self.runner.runChanged.connect(self._update_enabled)
        self.runner.modelChanged.connect(lambda _: self._show_info())
        self.runner.estimateDone.connect(self._on_estimate_done)
        self.runner.failed.connect(self.show_error)

    # ---------------------------------------------------------------- settings
    def _restore_settings(self):
        s = self.settings
        geo = s.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
        else:
            self.resize(1400, 900)
        layout = s.value("window/state")
        if layout is not None:
            self.restoreState(layout)
        else:
            self.resizeDocks([self.docks["view3d"], self.docks["info"]], [300, 200], QtCore.Qt.Orientation.Vertical)
            self.resizeDocks([self.docks["view3d"]], [430], QtCore.Qt.Orientation.Horizontal)
            self.resizeDocks([self.docks["plots"]], [300], QtCore.Qt.Orientation.Vertical)
        try:
            self.timeline.set_speed(float(s.value("playback/speed", 1.0)))
        except (TypeError, ValueError):
            pass
        if str(s.value("view/auto_rotate", "false")).lower() == "true":
            self.view3d.set_auto_rotate(True)

    def save_settings(self):
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("view/auto_rotate", self.view3d.auto_rotate.isChecked())
        s.sync()

    def recent_files(self) -> list[str]:
        return self.opener.recent_files()

    def _refresh_recent(self):
        files = self.recent_files()
        self.recent_menu.clear()
        self.welcome.recent.clear()
        for p in files:
            act = self.recent_menu.addAction(p)
            act.triggered.connect(lambda _=False, p=p: self.open_path(p))
            item = QtWidgets.QListWidgetItem(p)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, p)
            self.welcome.recent.addItem(item)
        self.recent_menu.setEnabled(bool(files))
        self.welcome.recent.setVisible(bool(files))
        self.welcome.recent_label.setVisible(bool(files))

    # ------------------------------------------------------------------ errors
    def show_error(self, title: str, error) -> None:
        """A dialog naming the file and the problem (KneeViewInputError) or the message."""
        if isinstance(error, KneeViewInputError):
            where = str(error.path) if error.path else "input"
            field = f" [{error.field}]" if error.field else ""
            text = f"<b>{html_escape(where)}</b>{html_escape(field)}<br><br>{html_escape(error.problem)}"
        else:
            text = str(error)
        log.warning("%s: %s", title, error)
        self.statusBar().showMessage(f"{title}: {error}", 10000)
        QtWidgets.QMessageBox.critical(self, title, text)

    # ----------------------------------------------------------------- opening
    def open_dialog(self):
        path = self.opener.ask(self, "video")
        if path:
            self.open_path(path)

    def open_folder_dialog(self):
        path = self.opener.ask(self, "folder")
        if path:
            self.open_path(path)

    def calibration_dialog(self):
        path = self.opener.ask(self, "calibration") if self._open_args else None
        if path:
            self.open_path(self._open_args["path"], calibration=path, c3d=self._open_args.get("c3d"))

    def c3d_dialog(self):
        path = self.opener.ask(self, "c3d") if self._open_args else None
        if path:
            self.open_path(self._open_args["path"], calibration=self._open_args.get("calibration"), c3d=path)

    def checkpoint_dialog(self):
        path = self.opener.ask(self, "checkpoint")
        if path:
            self.use_checkpoint(path)

    def use_checkpoint(self, path) -> None:
        """Use another checkpoint from now on (loaded, and checked, by the next run)."""
        self.runner.use_checkpoint(path)
        self.state.forget_estimates()  # every view's estimate came from the previous model
        if self.state.recording is not None:
            self.run_model()

    def open_demo(self) -> bool:
        from ..bundled import demo_path

        path = demo_path()
        if not path.exists():
            self.show_error("Demo not found", KneeViewInputError(path, "the bundled demo recording is missing from this installation"))
            return False
        return self.open_path(path)

    def open_path(self, path, calibration=None, c3d=None, device_id=None) -> bool:
        """Open a session folder or a video. Bad input -> a dialog; returns success."""
        reopening = str(path) == self._open_args.get("path") and self.state.view is not None
        shown = self.state.view.video_path.name if reopening else None
        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            opened = self.opener.load(path, calibration=calibration, c3d=c3d, device_id=device_id, shown_video=shown)
        except KneeViewInputError as exc:
            QtWidgets.QApplication.restoreOverrideCursor()
            if not Path(path).exists():  # a recent entry that has gone: forget it
                self.opener.forget_recent(str(Path(path).absolute()))
            self.show_error("Cannot open the recording", exc)
            return False
        finally:
            if QtWidgets.QApplication.overrideCursor() is not None:
                QtWidgets.QApplication.restoreOverrideCursor()
        self._stop_run()
        self._open_args = {"path": str(path), "calibration": calibration, "c3d": c3d}
        self._gt_analysed = {}
        self.state.set_recording(opened.session, opened.reader, opened.view_index)
        rec = opened.session.recording
        self.stack.setCurrentIndex(1)
        self.video.glw.setFocus()
        self.setWindowTitle(f"KneeView — {rec.name}")
        self.opener.add_recent(str(Path(path).absolute()))
        self.opener.remember_dir(path)
        self._show_view_metrics()
        self._show_info()
        self._refresh_views()
        if opened.ground_truth_error is not None:
            self.show_error("Ground truth ignored", opened.ground_truth_error)
        if self.state.camera is None:
            self.statusBar().showMessage("No camera calibration: the ground truth cannot be drawn on the video", 10000)
        if self.auto_run:
            self.run_model()
        return True

    def _refresh_views(self):
        """The view selector and the Camera menu: one entry per view, shown only when there are several."""
        self.camera_menu.clear()
        for act in self.camera_group.actions():
            self.camera_group.removeAction(act)
        rec = self.state.recording
        views = rec.views if rec is not None else []
        for i, view in enumerate(views):
            act = self.camera_menu.addAction(view_label(view))
            act.setToolTip(str(view.video_path))
            act.setCheckable(True)
            act.setChecked(i == self.state.view_index)
            act.triggered.connect(lambda _=False, i=i: self.set_view(i))
            self.camera_group.addAction(act)
        self.camera_menu.setEnabled(len(views) > 1)
        self.view_selector.set_views(views, self.state.view_index)
        for act in self._view_selector_actions:
            act.setVisible(len(views) > 1)

    def set_view(self, index: int) -> bool:
        """Show another view of the open recording at the same frame, with its own estimate,
        metrics and ground-truth projection. A run on another view goes on; with ``auto_run``
        the model runs on this view if it has no estimate yet (and nothing else runs)."""
        st = self.state
        index = int(index)
        if st.recording is None or not 0 <= index < len(st.recording.views):
            return False
        if index == st.view_index:
            self._show_selected_view()
            return True
        try:
            reader = st.recording.views[index].open_video(cache_mb=64)
        except KneeViewInputError as exc:
            self._show_selected_view()
            self.show_error("Cannot show this view", exc)
            return False
        st.set_view(index, reader)
        remember_view(self.settings, st.recording, index)
        self._show_selected_view()
        self._show_view_metrics()
        self._show_info()
        self._update_enabled()
        if self.auto_run and st.estimate is None and not self.is_running():
            self.run_model()
        return True

    def _show_selected_view(self):
        self.view_selector.show_view(self.state.view_index)
        actions = self.camera_group.actions()
        if self.state.view_index < len(actions):
            actions[self.state.view_index].setChecked(True)

    def close_recording(self):
        self._stop_run()
        self.state.close_recording()
        self._refresh_views()
        self._gt_analysed = {}
        self._open_args = {}
        self.stack.setCurrentIndex(0)
        self.setWindowTitle("KneeView")
        self._show_info()

    # ------------------------------------------------------------- drag & drop
    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent):
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent):
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.open_dropped(paths)

    def open_dropped(self, paths: list[str]) -> bool:
        """A dropped calibration/C3D applies to the open recording; a video/folder opens."""
        recordings, calib, c3d = split_dropped(paths)
        if recordings:
            return self.open_path(recordings[0], calibration=calib, c3d=c3d)
        if self._open_args and (calib or c3d):
            return self.open_path(self._open_args["path"], calibration=calib or self._open_args.get("calibration"),
                                  c3d=c3d or self._open_args.get("c3d"))
        self.show_error("Nothing to open", KneeViewInputError(paths[0], "drop a session folder or a video (a calibration or a C3D applies to an open recording)"))
        return False

    # --------------------------------------------------------------- the model
    @property
    def model_info(self):
        """The identity of the model last reported (ModelIdentity), or None."""
        return self.runner.model_info

    @property
    def run(self):
        return self.runner.run

    @property
    def estimator_factory(self):
        return self.runner.estimator_factory

    @estimator_factory.setter
    def estimator_factory(self, factory):
        self.runner.estimator_factory = factory

    def run_model(self, use_cache: bool = True) -> bool:
        return self.runner.start(use_cache)

    def cancel_model(self):
        self.runner.cancel()

    def _stop_run(self):
        self.runner.stop()

    def is_running(self) -> bool:
        return self.runner.is_running()

    def _on_estimate_done(self, view: int):
        if view == self.state.view_index:
            self._show_view_metrics()
        self._update_enabled()
        self._show_info()
        if self.auto_run and self.state.estimate is None:
            # the view shown was chosen while another view's run was going: its turn now
            QtCore.QTimer.singleShot(0, self._run_if_missing)

    def _run_if_missing(self):
        if self.state.recording is not None and self.state.estimate is None and not self.is_running():
            self.run_model()

    def _show_view_metrics(self):
        """The plots of the view shown: its estimate's metrics (when complete) and its ground truth's."""
        st = self.state
        if st.recording is None:
            return
        if st.view_index not in self._gt_analysed:
            self._gt_analysed[st.view_index] = metrics.analyse_source(st.session, None, "gt", st.view_index)
        model, gt = self.analysed_model, self.analysed_gt
        st.set_metrics(model.metrics if model else None, gt.metrics if gt else None)

    @property
    def analysed_model(self):
        """The analysis of the shown view's complete estimate, or None."""
        est = self.state.estimate
        return est.analysed if est is not None else None

    @property
    def analysed_gt(self):
        """The analysis of the ground truth through the shown view, or None."""
        return self._gt_analysed.get(self.state.view_index)

    # ------------------------------------------------------------------ export
    def export_source(self):
        """The model's analysis when the estimate is complete, else the ground truth's."""
        return self.analysed_model or self.analysed_gt

    def export_dialog(self):
        if self.state.recording is None:
            return
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Export CSV and TRC into a folder", self.opener.last_dir())
        if folder:
            self.export_tables(folder)

    def export_tables(self, out_dir) -> dict | None:
        analysed = self.export_source()
        try:
            if analysed is None:
                raise KneeViewInputError(self.state.recording.root if self.state.recording else None, "nothing to export: "
                                         "no joint centres (run the model, or open a recording with a C3D ground truth)")
            written = self.state.session.export(out_dir, analysed.result)
        except KneeViewInputError as exc:
            self.show_error("Export failed", exc)
            return None
        self.statusBar().showMessage("wrote " + ", ".join(p.name for p in written.values()) + f" in {out_dir}", 10000)
        return written

    def grab_views(self) -> QtGui.QPixmap:
        """The central view and the visible docks, as one image (the video at full resolution)."""
        self.video.show_full_resolution()
        return self.grab(QtCore.QRect(QtCore.QPoint(0, self.menuBar().height()),
                                      QtCore.QSize(self.width(), self.height() - self.menuBar().height() - self.statusBar().height())))

    def export_image_dialog(self):
        rec = self.state.recording
        suffix = f"-{self.state.view.video_path.stem}" if rec is not None and len(rec.views) > 1 else ""
        default = str(Path(self.opener.last_dir()) / f"kneeview-views{suffix}.png")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self, "Export an image of the views", default, "PNG (*.png);;JPEG (*.jpg)")
        if path:
            self.export_image(path)

    def export_image(self, path) -> bool:
        from ..atomic import atomic_write_bytes

        path = Path(path)
        fmt = "JPG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
        buf = QtCore.QBuffer()
        buf.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
        self.grab_views().save(buf, fmt)
        try:
            atomic_write_bytes(path, bytes(buf.data()))
        except ExportError as exc:
            self.show_error("Cannot save the image", exc)
            return False
        self.statusBar().showMessage(f"wrote {path}", 10000)
        return True

    # -------------------------------------------------------------------- misc
    def _toggle_gt(self, on: bool):
        self.video.show_gt = bool(on)
        self.video.refresh()

    def _update_enabled(self):
        has_rec = self.state.recording is not None
        running = self.is_running()
        for a in (self.act_calib, self.act_c3d, self.act_close, self.act_export_img):
            a.setEnabled(has_rec)
        self.act_run.setEnabled(has_rec and not running)
        self.act_rerun.setEnabled(has_rec and not running)
        self.act_cancel.setEnabled(running)
        self.act_export_csv.setEnabled(has_rec and not running and (self.analysed_model is not None or self.analysed_gt is not None))

    def _show_info(self):
        self.info.show_state(self.state, self.model_info)

    def _show_shortcuts(self):
        rows = [(a.text(), ", ".join(s.toString() for s in a.shortcuts())) for a in self.actions() if a.shortcuts()]
        QtWidgets.QMessageBox.information(self, "Keyboard shortcuts", "<table>" + "".join(
            f"<tr><td>{t}</td><td>&nbsp;&nbsp;<b>{k}</b></td></tr>" for t, k in rows) + "</table>")

    def _about(self):
        QtWidgets.QMessageBox.about(self, "About KneeView", f"<h3>KneeView {__version__}</h3>"
                                    "<p>Dynamic knee valgus from a calibrated Vicon video.</p>")

    def closeEvent(self, ev: QtGui.QCloseEvent):
        self._stop_run()
        self.save_settings()
        if self.state.reader is not None:
            self.state.reader.close()
        super().closeEvent(ev)
