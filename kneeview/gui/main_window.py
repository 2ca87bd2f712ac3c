"""The main window: opening recordings, running the model, the views, export, errors."""
from __future__ import annotations

import json
from html import escape as html_escape
import logging
import math
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from .. import __version__
from ..errors import ExportError, KneeViewInputError
from . import metrics as metrics_bridge
from .plots import PlotPanel
from .state import SessionState
from .timeline import Timeline
from .video_view import VideoView
from .view3d import Skeleton3DView
from .view_selector import ViewSelector, remember_view, remembered_view, view_label
from .worker import InferenceRun, InferenceWorker

log = logging.getLogger(__name__)

MAX_RECENT = 10
VIDEO_FILTER = "Videos (*.avi *.mp4 *.mov *.mkv *.m4v *.mpg *.mpeg *.wmv);;All files (*)"


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def default_settings() -> QtCore.QSettings:
    """The user's settings: an INI file in the user's config folder (``QSettings.setPath``
    for IniFormat/UserScope moves it, as the tests do)."""
    return QtCore.QSettings(QtCore.QSettings.Format.IniFormat, QtCore.QSettings.Scope.UserScope, "KneeView", "KneeView")


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


class MainWindow(QtWidgets.QMainWindow):
    """KneeView's window. ``settings`` defaults to the user's QSettings (tests pass their own)."""

    def __init__(self, settings: QtCore.QSettings | None = None, estimator_factory=None, checkpoint=None,
                 device: str = "auto", auto_run: bool = True, parent=None):
        super().__init__(parent)
        self.settings = settings or default_settings()
        self.estimator_factory = estimator_factory
        self.checkpoint = checkpoint
        self.device = device
        self.auto_run = auto_run
        self._estimator = None  # loaded once, reused across recordings
        self.run: InferenceRun | None = None
        self._run_id = 0
        self._open_args: dict = {}
        self.model_info = None
        self._run_view = 0  # the view the current run estimates
        self._gt_analysed: dict = {}  # view index -> metrics.Analysed of the ground truth (or None)
        self.setWindowTitle("KneeView")
        self.setAcceptDrops(True)
        self.setDockOptions(QtWidgets.QMainWindow.DockOption.AnimatedDocks | QtWidgets.QMainWindow.DockOption.AllowTabbedDocks)

        self.state = SessionState(self)
        self.video = VideoView(self.state)
        self.timeline = Timeline(self.state)
        self.view3d = Skeleton3DView(self.state)
        self.plots = PlotPanel(self.state)
        self.info = QtWidgets.QTextBrowser()
        self.info.setOpenLinks(False)
        # keep the keyboard for scrubbing: the text pane would take PageUp/PageDown, arrows...
        self.info.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
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
        self._build_actions()
        self._build_menus()
        self._connect()
        self._update_enabled()
        self._refresh_recent()
        self._refresh_views()
        self._restore_settings()
        self._show_info()

    # ------------------------------------------------------------ construction
    def _build_status_bar(self):
        sb = self.statusBar()
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.rate_label = QtWidgets.QLabel()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_model)
        self.model_label = QtWidgets.QLabel("model: not loaded")
        self.model_label.setToolTip("The pose model and the device it runs on")
        sb.addWidget(self.progress)
        sb.addWidget(self.rate_label)
        sb.addWidget(self.cancel_button)
        sb.addPermanentWidget(self.model_label)

    def _action(self, text, slot, shortcut=None, tip=None, checkable=False):
        act = QtGui.QAction(text, self)
        if shortcut is not None:
            act.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
            act.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(tip)
        act.setCheckable(checkable)
        act.triggered.connect(slot)
        self.addAction(act)  # shortcuts work even when menus are hidden
        return act

    def _build_actions(self):
        K = QtGui.QKeySequence
        Key = QtCore.Qt.Key
        Mod = QtCore.Qt.KeyboardModifier
        self.act_open = self._action("Open recording (video)…", self.open_dialog, K.StandardKey.Open, "Open a reference video of a session")
        self.act_open_folder = self._action("Open session folder…", self.open_folder_dialog, K("Ctrl+Shift+O"), "Open a Vicon session folder")
        self.act_calib = self._action("Use calibration…", self.calibration_dialog, tip="Use another calibration (.xcp, .toml) for this recording")
        self.act_c3d = self._action("Use C3D ground truth…", self.c3d_dialog, tip="Use another C3D file as the ground truth")
        self.act_demo = self._action("Open demo", self.open_demo, tip="Open the bundled demo recording")
        self.act_close = self._action("Close recording", self.close_recording, K.StandardKey.Close)
        self.act_run = self._action("Run model", self.run_model, K("Ctrl+R"), "Estimate the joint centres of every frame")
        self.act_rerun = self._action("Re-run model (ignore cache)", lambda: self.run_model(use_cache=False))
        self.act_cancel = self._action("Cancel model run", self.cancel_model, K("Esc"))
        self.act_checkpoint = self._action("Use checkpoint…", self.checkpoint_dialog,
                                           tip="Use another trained model (.safetensors with its .json card)")
        self.act_export_csv = self._action("Export CSV and TRC…", self.export_dialog, K("Ctrl+E"),
                                           "Per-frame joints and metrics (CSV), a trial summary (CSV) and the 3D joint centres for OpenSim (TRC)")
        self.act_export_img = self._action("Export image of the views…", self.export_image_dialog, K("Ctrl+Shift+S"))
        self.act_quit = self._action("Quit", self.close, K.StandardKey.Quit)
        st = self.state
        self.act_play = self._action("Play / pause", self.timeline.toggle, K(Key.Key_Space))
        self.act_next = self._action("Next frame", lambda: st.step(1), K(Key.Key_Right))
        self.act_prev = self._action("Previous frame", lambda: st.step(-1), K(Key.Key_Left))
        self.act_next10 = self._action("10 frames forward", lambda: st.step(10), K(Mod.ShiftModifier | Key.Key_Right))
        self.act_prev10 = self._action("10 frames back", lambda: st.step(-10), K(Mod.ShiftModifier | Key.Key_Left))
        self.act_first = self._action("First frame", lambda: st.set_frame(0), K(Key.Key_Home))
        self.act_last = self._action("Last frame", lambda: st.set_frame(st.n_frames - 1), K(Key.Key_End))
        self.act_prev_event = self._action("Previous event", lambda: self.timeline.jump_event(-1), [K(Key.Key_PageUp), K("Ctrl+Left")])
        self.act_next_event = self._action("Next event", lambda: self.timeline.jump_event(+1), [K(Key.Key_PageDown), K("Ctrl+Right")])
        self.act_fit = self._action("Fit video to window", self.video.fit, K("F"))
        self.act_rotate = self._action("Auto-rotate 3D", self.view3d.set_auto_rotate, K("R"), checkable=True)
        self.act_show_gt = self._action("Show ground truth", self._toggle_gt, K("G"), checkable=True)
        self.act_show_gt.setChecked(True)
        self.speed_actions = []
        for i, (label, factor) in enumerate((("1×", 1.0), ("1/2×", 0.5), ("1/4×", 0.25), ("1/10×", 0.1))):
            act = self._action(f"Speed {label}", lambda _=False, f=factor: self.timeline.set_speed(f), K(f"{i + 1}"))
            self.speed_actions.append(act)

    def _build_menus(self):
        mb = self.menuBar()
        f = mb.addMenu("&File")
        for a in (self.act_open, self.act_open_folder, self.act_demo):
            f.addAction(a)
        self.recent_menu = f.addMenu("Open recent")
        f.addSeparator()
        for a in (self.act_calib, self.act_c3d):
            f.addAction(a)
        f.addSeparator()
        for a in (self.act_export_csv, self.act_export_img):
            f.addAction(a)
        f.addSeparator()
        f.addAction(self.act_close)
        f.addAction(self.act_quit)
        m = mb.addMenu("&Model")
        for a in (self.act_run, self.act_rerun, self.act_cancel):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_checkpoint)
        p = mb.addMenu("&Playback")
        for a in (self.act_play, self.act_prev, self.act_next, self.act_prev10, self.act_next10, self.act_first,
                  self.act_last, self.act_prev_event, self.act_next_event):
            p.addAction(a)
        p.addSeparator()
        for a in self.speed_actions:
            p.addAction(a)
        self.camera_menu = mb.addMenu("&Camera")
        self.camera_menu.setToolTipsVisible(True)
        v = mb.addMenu("&View")
        for a in (self.act_fit, self.act_show_gt, self.act_rotate):
            v.addAction(a)
        v.addSeparator()
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        h = mb.addMenu("&Help")
        h.addAction(self._action("Keyboard shortcuts", self._show_shortcuts))
        h.addAction(self._action("About KneeView", self._about))
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        for a in (self.act_open, self.act_open_folder, self.act_run, self.act_cancel, self.act_export_csv, self.act_export_img):
            tb.addAction(a)
        self.view_selector = ViewSelector()
        label = QtWidgets.QLabel(" View: ")
        label.setToolTip(self.view_selector.toolTip())
        # widgets in a toolbar are shown and hidden through their actions
        self._view_selector_actions = [tb.addSeparator(), tb.addWidget(label), tb.addWidget(self.view_selector)]
        self.camera_group = QtGui.QActionGroup(self)
        self.camera_group.setExclusive(True)

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
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str):
        items = [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", ([path] + items)[:MAX_RECENT])
        self._refresh_recent()

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

    def _last_dir(self) -> str:
        return str(self.settings.value("dialogs/last_dir", str(Path.home())))

    def _remember_dir(self, path):
        p = Path(path)
        self.settings.setValue("dialogs/last_dir", str(p if p.is_dir() else p.parent))

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
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open a reference video", self._last_dir(), VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self):
        path = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a session folder", self._last_dir())
        if path:
            self.open_path(path)

    def calibration_dialog(self):
        if not self._open_args:
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Calibration for this recording", self._last_dir(),
                                                        "Calibrations (*.xcp *.toml *.json);;All files (*)")
        if path:
            self.open_path(self._open_args["path"], calibration=path, c3d=self._open_args.get("c3d"))

    def c3d_dialog(self):
        if not self._open_args:
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "C3D ground truth for this recording", self._last_dir(),
                                                        "C3D files (*.c3d);;All files (*)")
        if path:
            self.open_path(self._open_args["path"], calibration=self._open_args.get("calibration"), c3d=path)

    def checkpoint_dialog(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Use a trained model", self._last_dir(),
                                                        "Checkpoints (*.safetensors);;All files (*)")
        if path:
            self.use_checkpoint(path)

    def use_checkpoint(self, path) -> None:
        """Use another checkpoint from now on (loaded, and checked, by the next run)."""
        self.checkpoint = str(path)
        self._estimator = None
        self.model_info = None
        self.model_label.setText(f"model: {Path(path).name} (not loaded yet)")
        self._stop_run()
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
        from ..io.recording import open_recording

        QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.WaitCursor)
        try:
            rec = open_recording(path, calibration=calibration, c3d=c3d, device_id=device_id)
            view_index = self._first_view(rec, path)
            reader = rec.views[view_index].open_video(cache_mb=64)  # display frames have their own cache
            gt_error = None
            if rec.c3d_path is not None:
                try:
                    rec.ground_truth()
                except KneeViewInputError as exc:  # show the video anyway, without ground truth
                    gt_error = exc
                    rec.problems.append(str(exc))
                    rec.c3d_path = None
        except KneeViewInputError as exc:
            QtWidgets.QApplication.restoreOverrideCursor()
            if not Path(path).exists():  # a recent entry that has gone: forget it
                self.settings.setValue("recent", [p for p in self.recent_files() if p != str(Path(path).absolute())])
                self._refresh_recent()
            self.show_error("Cannot open the recording", exc)
            return False
        finally:
            if QtWidgets.QApplication.overrideCursor() is not None:
                QtWidgets.QApplication.restoreOverrideCursor()
        self._stop_run()
        self._open_args = {"path": str(path), "calibration": calibration, "c3d": c3d}
        self._gt_analysed = {}
        self.state.set_recording(rec, reader, view_index)
        self.stack.setCurrentIndex(1)
        self.video.glw.setFocus()
        self.setWindowTitle(f"KneeView — {rec.name}")
        self._add_recent(str(Path(path).absolute()))
        self._remember_dir(path)
        self._show_view_metrics()
        self._show_info()
        self._refresh_views()
        if gt_error is not None:
            self.show_error("Ground truth ignored", gt_error)
        if self.state.camera is None:
            self.statusBar().showMessage("No camera calibration: the ground truth cannot be drawn on the video", 10000)
        if self.auto_run:
            self.run_model()
        return True

    def _first_view(self, rec, path) -> int:
        """The view to show first: the one shown when the same recording is reopened (another
        calibration or C3D); else for a folder the one chosen last time; a video opened, that video."""
        shown = self.state.view
        if shown is not None and str(path) == self._open_args.get("path"):
            names = [v.video_path.name for v in rec.views]
            if shown.video_path.name in names:
                return names.index(shown.video_path.name)
        return remembered_view(self.settings, rec) if Path(path).is_dir() else 0

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
        recording = [p for p in paths if not p.lower().endswith((".xcp", ".toml", ".c3d"))]
        calib = next((p for p in paths if p.lower().endswith((".xcp", ".toml"))), None)
        c3d = next((p for p in paths if p.lower().endswith(".c3d")), None)
        if recording:
            return self.open_path(recording[0], calibration=calib, c3d=c3d)
        if self._open_args and (calib or c3d):
            return self.open_path(self._open_args["path"], calibration=calib or self._open_args.get("calibration"),
                                  c3d=c3d or self._open_args.get("c3d"))
        self.show_error("Nothing to open", KneeViewInputError(paths[0], "drop a session folder or a video (a calibration or a C3D applies to an open recording)"))
        return False

    # --------------------------------------------------------------- the model
    def run_model(self, use_cache: bool = True) -> bool:
        if self.state.recording is None:
            return False
        self._stop_run()
        self._run_id += 1
        rid = self._run_id
        view = self._run_view = self.state.view_index
        worker = InferenceWorker(self.state.view.video_path, estimator_factory=self.estimator_factory,
                                 estimator=self._estimator, checkpoint=self.checkpoint, device=self.device,
                                 use_cache=use_cache)
        self.run = InferenceRun(worker, self)
        self.state.begin_pose()
        self.state.set_metrics(None, self.state.gt_metrics)

        def mine(fn):
            return lambda *a: fn(*a) if rid == self._run_id else None

        run = self.run
        run.status.connect(mine(lambda s: self.rate_label.setText(self._run_prefix() + s)))
        run.modelReady.connect(mine(self._on_model))
        run.progress.connect(mine(self._on_progress))
        # every result goes to the view the run estimates, whichever view is shown by then
        run.batchReady.connect(mine(lambda start, cols: self.state.add_pose_batch(start, cols, view)))
        run.finished.connect(mine(lambda seq, where: self._on_finished(seq, where, view)))
        run.cancelled.connect(mine(self._on_cancelled))
        run.failed.connect(mine(self._on_failed))
        run.thread.finished.connect(self._update_enabled)
        self.progress.setRange(0, max(self.state.n_frames, 1))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.rate_label.setText("starting…")
        self._update_enabled()
        self.run.start()
        return True

    def cancel_model(self):
        if self.run is not None and self.run.is_running():
            self.run.cancel()
            self.rate_label.setText("cancelling…")

    def _stop_run(self):
        if self.run is not None:
            self.run.cancel()
            self.run.wait(30000)
            self.run = None
            self._run_id += 1
        self._end_progress()

    def _end_progress(self):
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self._update_enabled()

    def is_running(self) -> bool:
        return self.run is not None and self.run.is_running()

    def _on_model(self, info):
        self.model_info = info
        self.state.model_info = info
        est = self.run.worker._estimator if self.run is not None else None
        if est is not None and self.checkpoint == self.run.worker._checkpoint:
            self._estimator = est
        self.model_label.setText(f"model: {info.name} · device: {info.device}")
        self.model_label.setToolTip(json.dumps(info.card, indent=1, default=str)[:3000])
        self._show_info()

    def _run_prefix(self) -> str:
        """``cam01: `` where the recording has several views (the run's view may not be the one shown)."""
        rec = self.state.recording
        if rec is None or len(rec.views) < 2 or self._run_view >= len(rec.views):
            return ""
        return f"{rec.views[self._run_view].video_path.stem}: "

    def _on_progress(self, done, total, rate, eta):
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(self._run_prefix() + "%v / %m frames")
        self.rate_label.setText(f"{self._run_prefix()}{rate:.1f} frames/s · ETA {format_eta(eta)}")

    def _on_finished(self, seq, where, view: int):
        est = self.state.set_pose(seq, view)
        self._end_progress()
        if where.startswith("cache:"):
            self.rate_label.setText(self._run_prefix() + "estimate loaded from the cache")
        else:
            self.rate_label.setText(self._run_prefix() + "estimate done"
                                    + ("" if "not cached" not in where else " (not cached: no writable folder)"))
        est.analysed = metrics_bridge.analyse_source(self.state.recording, est.pose, "model", view)
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

    def _on_cancelled(self, done):
        self._end_progress()
        est = self.state.estimates.get(self._run_view)
        n = int(est.done.sum()) if est is not None else 0
        self.rate_label.setText(f"{self._run_prefix()}cancelled after {n} frames; those are kept, not cached")

    def _on_failed(self, message, exc):
        self._end_progress()
        self.rate_label.setText(self._run_prefix() + "model run failed")
        self.show_error("The model could not run", exc if exc is not None else message)

    def _show_view_metrics(self):
        """The plots of the view shown: its estimate's metrics (when complete) and its ground truth's."""
        st = self.state
        if st.recording is None:
            return
        if st.view_index not in self._gt_analysed:
            self._gt_analysed[st.view_index] = metrics_bridge.analyse_source(st.recording, None, "gt", st.view_index)
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
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Export CSV and TRC into a folder", self._last_dir())
        if folder:
            self.export_tables(folder)

    def export_tables(self, out_dir) -> dict | None:
        from .export import export_recording

        try:
            written = export_recording(out_dir, self.export_source(), self.state.recording, view_index=self.state.view_index)
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
        default = str(Path(self._last_dir()) / f"kneeview-views{suffix}.png")
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
        done = self.state.pose is not None and bool(self.state.pose_done.all()) and len(self.state.pose_done) > 0
        self.act_export_csv.setEnabled(has_rec and not running and (self.analysed_model is not None or self.analysed_gt is not None))

    def _show_info(self):
        rec = self.state.recording
        if rec is None:
            self.info.setHtml("<p>No recording open.</p>")
            return
        v = self.state.reader.info
        view = self.state.view
        cam = view.camera
        rows = [("Recording", str(rec.root)), ("Trial", rec.trial)]
        if len(rec.views) > 1:
            rows.append(("View", f"{self.state.view_index + 1} of {len(rec.views)} synchronised videos"))
        rows += [
            ("Video", f"{view.video_path.name} — {v.width}×{v.height}, "
             f"{v.fps:g} frames/s, {v.frame_count} frames ({v.duration_s:.2f} s), {v.codec}"),
            ("Calibration", str(rec.calibration_path) if rec.calibration_path else "none"),
            ("Camera", f"{cam.device_id} {cam.name} (f = {cam.focal_length_px:.0f} px; {view.camera_match})" if cam else "none"),
            ("Ground truth", str(rec.c3d_path) if rec.c3d_path else "none"),
        ]
        for key in ("athlete_id", "task", "year"):
            if key in rec.metadata:
                rows.append((key.replace("_", " ").capitalize(), str(rec.metadata[key])))
        info = self.model_info
        if info is not None:
            rows.append(("Model", info.name))
            rows.append(("Device", info.device))
            rows.append(("Checkpoint", info.hash[:16]))
        html = "<table cellspacing=3>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{html_escape(v)}</td></tr>" for k, v in rows) + "</table>"
        if rec.problems:
            html += "<p><b>Notes</b></p><ul>" + "".join(f"<li>{html_escape(p)}</li>" for p in rec.problems) + "</ul>"
        if info is not None and info.card:
            card = {k: v for k, v in info.card.items() if not isinstance(v, (list, dict)) or len(json.dumps(v, default=str)) < 400}
            html += "<p><b>Model card</b></p><pre>" + html_escape(json.dumps(card, indent=1, default=str)) + "</pre>"
        self.info.setHtml(html)

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
