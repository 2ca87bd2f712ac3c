"""The main window's actions (with their shortcuts), menus and tool bar."""
from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from . import report_action, study_window
from .view_selector import ViewSelector


def add_action(win, text, slot, shortcut=None, tip=None, checkable=False):
    """A window action (its shortcut works even where its menu is hidden)."""
    act = QtGui.QAction(text, win)
    if shortcut is not None:
        act.setShortcuts(shortcut if isinstance(shortcut, list) else [shortcut])
        act.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)
    if tip:
        act.setStatusTip(tip)
        act.setToolTip(tip)
    act.setCheckable(checkable)
    act.triggered.connect(slot)
    win.addAction(act)
    return act


def build_actions(win) -> None:
    """The window's actions, as ``win.act_*`` attributes."""
    K = QtGui.QKeySequence
    Key = QtCore.Qt.Key
    Mod = QtCore.Qt.KeyboardModifier
    win.act_open = add_action(win, "Open recording (video)…", win.open_dialog, K.StandardKey.Open, "Open a reference video of a session")
    win.act_open_folder = add_action(win, "Open session folder…", win.open_folder_dialog, K("Ctrl+Shift+O"), "Open a Vicon session folder")
    win.act_calib = add_action(win, "Use calibration…", win.calibration_dialog, tip="Use another calibration file (.xcp, .qca.txt, .toml, .json) for this recording")
    win.act_c3d = add_action(win, "Use C3D ground truth…", win.c3d_dialog, tip="Use another C3D file as the ground truth")
    win.act_demo = add_action(win, "Open demo", win.open_demo, tip="Open the bundled demo recording")
    win.act_close = add_action(win, "Close recording", win.close_recording, K.StandardKey.Close)
    win.act_run = add_action(win, "Run model", win.run_model, K("Ctrl+R"), "Estimate the joint centres of every frame")
    win.act_rerun = add_action(win, "Re-run model (ignore cache)", lambda: win.run_model(use_cache=False))
    win.act_cancel = add_action(win, "Cancel model run", win.cancel_model, K("Esc"))
    win.act_checkpoint = add_action(win, "Use checkpoint…", win.checkpoint_dialog,
                                       tip="Use another trained model (.safetensors with its .json card)")
    win.act_export_csv = add_action(win, "Export CSV and TRC…", win.export_dialog, K("Ctrl+E"),
                                       "Per-frame joints and metrics (CSV), a trial summary (CSV) and the 3D joint centres for OpenSim (TRC)")
    win.act_export_img = add_action(win, "Export image of the views…", win.export_image_dialog, K("Ctrl+Shift+S"))
    win.act_export_report = add_action(win, "Export report…", lambda: report_action.export_report_dialog(win), K("Ctrl+P"),
                                       "A one-page screening report of the trial (PDF)")
    win.act_open_study = add_action(win, "Open study…", lambda: study_window.open_study_dialog(win),
                                    tip="Athletes of a summary CSV (kneeview batch), ranked by asymmetry or peak")
    win.act_quit = add_action(win, "Quit", win.close, K.StandardKey.Quit)
    st = win.state
    win.act_play = add_action(win, "Play / pause", win.timeline.toggle, K(Key.Key_Space))
    win.act_next = add_action(win, "Next frame", lambda: st.step(1), K(Key.Key_Right))
    win.act_prev = add_action(win, "Previous frame", lambda: st.step(-1), K(Key.Key_Left))
    win.act_next10 = add_action(win, "10 frames forward", lambda: st.step(10), K(Mod.ShiftModifier | Key.Key_Right))
    win.act_prev10 = add_action(win, "10 frames back", lambda: st.step(-10), K(Mod.ShiftModifier | Key.Key_Left))
    win.act_first = add_action(win, "First frame", lambda: st.set_frame(0), K(Key.Key_Home))
    win.act_last = add_action(win, "Last frame", lambda: st.set_frame(st.n_frames - 1), K(Key.Key_End))
    win.act_prev_event = add_action(win, "Previous event", lambda: win.timeline.jump_event(-1), [K(Key.Key_PageUp), K("Ctrl+Left")])
    win.act_next_event = add_action(win, "Next event", lambda: win.timeline.jump_event(+1), [K(Key.Key_PageDown), K("Ctrl+Right")])
    win.act_fit = add_action(win, "Fit video to window", win.video.fit, K("F"))
    win.act_rotate = add_action(win, "Auto-rotate 3D", win.view3d.set_auto_rotate, K("R"), checkable=True)
    win.act_show_gt = add_action(win, "Show ground truth", win._toggle_gt, K("G"), checkable=True)
    win.act_show_gt.setChecked(True)
    win.speed_actions = []
    for i, (label, factor) in enumerate((("1×", 1.0), ("1/2×", 0.5), ("1/4×", 0.25), ("1/10×", 0.1))):
        act = add_action(win, f"Speed {label}", lambda _=False, f=factor: win.timeline.set_speed(f), K(f"{i + 1}"))
        win.speed_actions.append(act)


def build_menus(win) -> None:
    """Menus, the tool bar and the view selector, from the actions."""
    mb = win.menuBar()
    f = mb.addMenu("&File")
    for a in (win.act_open, win.act_open_folder, win.act_demo, win.act_open_study):
        f.addAction(a)
    win.recent_menu = f.addMenu("Open recent")
    f.addSeparator()
    for a in (win.act_calib, win.act_c3d):
        f.addAction(a)
    f.addSeparator()
    for a in (win.act_export_csv, win.act_export_report, win.act_export_img):
        f.addAction(a)
    f.addSeparator()
    f.addAction(win.act_close)
    f.addAction(win.act_quit)
    m = mb.addMenu("&Model")
    for a in (win.act_run, win.act_rerun, win.act_cancel):
        m.addAction(a)
    m.addSeparator()
    m.addAction(win.act_checkpoint)
    p = mb.addMenu("&Playback")
    for a in (win.act_play, win.act_prev, win.act_next, win.act_prev10, win.act_next10, win.act_first,
              win.act_last, win.act_prev_event, win.act_next_event):
        p.addAction(a)
    p.addSeparator()
    for a in win.speed_actions:
        p.addAction(a)
    win.camera_menu = mb.addMenu("&Camera")
    win.camera_menu.setToolTipsVisible(True)
    v = mb.addMenu("&View")
    for a in (win.act_fit, win.act_show_gt, win.act_rotate):
        v.addAction(a)
    v.addSeparator()
    for dock in win.docks.values():
        v.addAction(dock.toggleViewAction())
    h = mb.addMenu("&Help")
    h.addAction(add_action(win, "Keyboard shortcuts", win._show_shortcuts))
    h.addAction(add_action(win, "About KneeView", win._about))
    tb = win.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    tb.setMovable(False)
    for a in (win.act_open, win.act_open_folder, win.act_run, win.act_cancel, win.act_export_csv, win.act_export_img):
        tb.addAction(a)
    win.view_selector = ViewSelector()
    label = QtWidgets.QLabel(" View: ")
    label.setToolTip(win.view_selector.toolTip())
    # widgets in a toolbar are shown and hidden through their actions
    win._view_selector_actions = [tb.addSeparator(), tb.addWidget(label), tb.addWidget(win.view_selector)]
    win.camera_group = QtGui.QActionGroup(win)
    win.camera_group.setExclusive(True)
