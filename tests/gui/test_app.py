"""The main window over a real-format session: open, infer in the worker, scrub, overlay."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6 import QtCore

from kneeview import joints as J

Key = QtCore.Qt.Key
Shift = QtCore.Qt.KeyboardModifier.ShiftModifier


def test_open_run_and_scrub(make_session, make_window, fake_for, wait_done, qtbot):
    folder = make_session(n_frames=30)
    fake = fake_for(folder, batch_size=4)
    win = make_window(fake)
    assert win.open_path(folder)
    assert win.stack.currentIndex() == 1 and win.state.n_frames == 30
    wait_done(win)
    # the model ran off the GUI thread, and every frame's estimate arrived
    import threading
    assert threading.get_ident() not in fake.thread_ids
    assert fake.frames_seen == 30
    np.testing.assert_allclose(win.state.pose.keypoints_px, fake.keypoints_px)
    assert "fake" in win.model_label.text() and "cpu" in win.model_label.text()

    def at(frame):
        qtbot.waitUntil(lambda: win.state.frame == frame, timeout=3000)

    win.activateWindow()
    win.setFocus()
    qtbot.keyClick(win, Key.Key_Right)
    at(1)
    qtbot.keyClick(win, Key.Key_Right, Shift)
    at(11)
    qtbot.keyClick(win, Key.Key_Left)
    at(10)
    qtbot.keyClick(win, Key.Key_Left, Shift)
    at(0)
    qtbot.keyClick(win, Key.Key_End)
    at(29)
    qtbot.keyClick(win, Key.Key_Right)  # clamped at the end
    qtbot.wait(20)
    assert win.state.frame == 29
    qtbot.keyClick(win, Key.Key_Home)
    at(0)
    win.timeline.slider.setValue(17)
    at(17)
    assert win.timeline.position.text().startswith("frame 18/30")

    # the overlay's points are the estimator's output for that frame, at raw pixels
    drawn = win.video.drawn_joints()
    assert sorted(drawn) == list(range(J.N_JOINTS))
    for j, (x, y) in drawn.items():
        assert (x, y) == pytest.approx(tuple(fake.keypoints_px[17, j]), abs=1e-9)
    # frame 17 is odd: the left knee is drawn as a low-confidence (hollow) joint with a label
    spots = {int(p.data()): p for p in win.video.points.points()}
    assert spots[3].brush().style() == QtCore.Qt.BrushStyle.NoBrush
    assert spots[2].brush().style() != QtCore.Qt.BrushStyle.NoBrush
    assert [lab.toPlainText() for lab in win.video.low_conf_labels] == ["left knee? (0.20)"]
    # left and right are drawn in distinct colours
    assert win.video.lines["left"].opts["pen"].color() != win.video.lines["right"].opts["pen"].color()


def test_low_confidence_joints_at_one_spot_share_a_label(make_session, make_window, fake_for, wait_done, qtbot):
    """Knee and ankle estimated at the same spot (the real never-seen view, frame 30): one label,
    a line each, instead of two labels printed over each other; a joint far away keeps its own."""
    folder = make_session(n_frames=6)
    fake = fake_for(folder, batch_size=6)
    fake.keypoints_px[:, 4] = fake.keypoints_px[:, 2] + 3.0  # right ankle on the right knee
    fake.confidence = lambda i: np.array([0.2, 0.9, 0.1, 0.9, 0.3, 0.9])  # right hip, knee, ankle low
    win = make_window(fake)
    win.resize(1200, 900)
    assert win.open_path(folder)
    wait_done(win)
    win.state.set_frame(2)
    qtbot.waitUntil(lambda: len(win.video.low_conf_labels) > 0, timeout=3000)
    texts = sorted(lab.toPlainText() for lab in win.video.low_conf_labels)
    assert texts == ["right hip? (0.20)", "right knee? (0.10)\nright ankle? (0.30)"]
    shown = [lab for lab in win.video._label_pool if lab.isVisible()]
    assert len(shown) == 2


def test_ground_truth_projected_and_error_shown(make_session, make_window, fake_for, wait_done, qtbot):
    from kneeview.io.recording import open_recording

    folder = make_session(n_frames=12)
    fake = fake_for(folder)
    fake.keypoints_px = fake.keypoints_px + np.array([3.0, 4.0])  # every joint 5 px off
    win = make_window(fake)
    win.open_path(folder)
    wait_done(win)
    win.state.set_frame(5)
    rec = open_recording(folder)
    expected = rec.view.camera.project(rec.ground_truth_frames())[5]
    xs, ys = win.video.gt_points.getData()
    np.testing.assert_allclose(np.c_[xs, ys], expected, atol=1e-9)
    np.testing.assert_allclose(win.video.frame_error_px(5), 5.0, atol=1e-9)
    assert "mean 5.0 px" in win.video.caption.text()
    win.act_show_gt.trigger()  # hide
    assert len(win.video.gt_points.getData()[0]) == 0


def test_scrubbing_during_inference_shows_frames_done(make_session, make_window, fake_for, qtbot):
    import threading

    folder = make_session(n_frames=24)
    gate = threading.Event()
    fake = fake_for(folder, batch_size=4, gate=gate, hold_at=8)  # holds before frame 8
    win = make_window(fake)
    win.open_path(folder)
    qtbot.waitUntil(lambda: win.state.pose_done.sum() >= 8, timeout=10000)
    done = int(win.state.pose_done.sum())
    assert win.is_running() and done == 8
    win.state.set_frame(done - 1)
    assert sorted(win.video.drawn_joints()) == list(range(J.N_JOINTS))
    win.state.set_frame(23)
    assert win.video.drawn_joints() == {}
    assert "not computed yet" in win.video.caption.text()
    assert win.progress.isVisible() and "frames/s" in win.rate_label.text() and "ETA" in win.rate_label.text()
    gate.set()
    qtbot.waitUntil(lambda: not win.is_running(), timeout=10000)
    assert win.state.pose_done.all()
    assert sorted(win.video.drawn_joints()) == list(range(J.N_JOINTS))


def test_cancel_mid_run_keeps_frames_done_and_caches_nothing(make_session, make_window, fake_for, qtbot, isolated_cache):
    folder = make_session(n_frames=60)
    fake = fake_for(folder, batch_size=2, delay_s=0.05)
    win = make_window(fake)
    win.open_path(folder)
    qtbot.waitUntil(lambda: win.state.pose_done.sum() >= 4, timeout=10000)
    assert win.cancel_button.isVisible()
    qtbot.mouseClick(win.cancel_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not win.is_running(), timeout=10000)
    qtbot.waitUntil(lambda: "cancelled" in win.rate_label.text(), timeout=3000)
    done = int(win.state.pose_done.sum())
    assert 4 <= done < 60
    assert fake.frames_seen < 60
    assert not win.cancel_button.isVisible() and not win.progress.isVisible()
    assert not list(folder.glob(".kneeview/*.npz")) and not list(isolated_cache.rglob("*.npz"))
    assert win.act_run.isEnabled()


def test_results_are_cached_and_reopening_is_instant(make_session, make_window, fake_for, wait_done, qtbot, isolated_cache):
    from kneeview.sequence import PoseSequence

    folder = make_session(n_frames=16)
    fake = fake_for(folder, batch_size=4)
    win = make_window(fake)
    win.open_path(folder)
    wait_done(win)
    cached = list((folder / ".kneeview").glob("*.npz"))
    assert len(cached) == 1
    np.testing.assert_allclose(PoseSequence.load(cached[0]).keypoints_px, fake.keypoints_px)
    calls = fake.calls
    win.close_recording()
    win.open_path(folder)
    wait_done(win)
    assert fake.calls == calls  # no inference: the cache answered
    assert "cache" in win.rate_label.text()
    np.testing.assert_allclose(win.state.pose.keypoints_px, fake.keypoints_px)

    # a new checkpoint (another hash) does not reuse it
    fake.identity = replace(fake.identity, sha256="e" * 64)
    fake.frames_seen = 0
    win.run_model()
    wait_done(win)
    assert fake.calls > calls
    assert len(list((folder / ".kneeview").glob("*.npz"))) == 2


def test_cache_goes_to_user_dir_when_folder_is_not_writable(make_session, make_window, fake_for, wait_done, isolated_cache):
    folder = make_session(n_frames=8)
    (folder / ".kneeview").write_text("not a folder")  # the cache folder cannot be created here
    win = make_window(fake_for(folder))
    win.open_path(folder)
    wait_done(win)
    assert len(list(isolated_cache.rglob("*.pose.npz"))) == 1
    assert (folder / ".kneeview").read_text() == "not a folder"


def test_playback_speed_follows_the_clock(make_session, make_window, fake_for, wait_done, qtbot):
    import time

    folder = make_session(n_frames=200, fps=50.0)
    win = make_window(fake_for(folder, batch_size=50))
    win.open_path(folder)
    wait_done(win)
    win.timeline.set_speed(0.5)
    t0 = time.perf_counter()
    win.timeline.set_playing(True)
    qtbot.wait(600)
    win.timeline.set_playing(False)
    elapsed = time.perf_counter() - t0
    expected = elapsed * 50 * 0.5
    assert not win.timeline.playing
    assert abs(win.state.frame - expected) <= max(4, 0.25 * expected), (win.state.frame, expected)
    # Space toggles play; playing to the end stops there
    win.timeline.set_speed(1.0)
    win.state.set_frame(190)
    qtbot.keyClick(win, Key.Key_Space)
    assert win.timeline.playing
    qtbot.waitUntil(lambda: not win.timeline.playing, timeout=3000)
    assert win.state.frame == 199


def test_settings_and_recent_files_persist(make_session, make_window, settings, fake_for, wait_done, qtbot):
    folder = make_session(n_frames=8)
    win = make_window(fake_for(folder))
    win.open_path(folder)
    wait_done(win)
    win.resize(790, 700)
    size = (win.width(), win.height())
    assert size != (1400, 900)
    win.timeline.set_speed(0.25)
    win.docks["info"].hide()
    win.close()
    assert str(folder) in settings.value("recent")
    win2 = make_window(auto_run=False)
    assert win2.recent_files()[0] == str(folder)
    assert win2.welcome.recent.count() == 1 and win2.welcome.recent.isVisible()
    assert (win2.width(), win2.height()) == size
    assert win2.timeline.speed_factor == 0.25
    assert not win2.docks["info"].isVisible()
    assert win2.recent_menu.actions()[0].text() == str(folder)


def test_drop_a_folder_opens_it(make_session, make_window, fake_for, wait_done):
    folder = make_session(n_frames=6)
    win = make_window(fake_for(folder))
    assert win.open_dropped([str(folder)])
    wait_done(win)
    assert win.state.recording.root == folder


def test_open_demo_button(make_window, dialogs, monkeypatch, make_session, qtbot):
    folder = make_session(name="DemoSession", n_frames=6)
    monkeypatch.setattr("kneeview.bundled.demo_path", lambda: folder)
    win = make_window(auto_run=False)
    assert win.stack.currentIndex() == 0
    qtbot.mouseClick(win.welcome.demo_button, QtCore.Qt.MouseButton.LeftButton)
    assert win.state.recording is not None and win.state.recording.root == folder
    assert dialogs == []


def plots_window(make_session, make_window):
    """A 1200x900 window on a 100-frame recording, no model run: (window, its state, frame times s)."""
    win = make_window(auto_run=False)
    win.resize(1200, 900)
    win.open_path(make_session(n_frames=100))
    return win, win.state, np.arange(100) / win.state.fps


def test_event_labels_a_few_frames_apart_do_not_overlap(make_session, make_window, qtbot):
    """IC, deepest and take-off two frames apart (as on the Pose2Sim recording) stack into rows."""
    from kneeview.gui.state import Metrics

    win, st, t = plots_window(make_session, make_window)
    events = {"initial_contact": 20, "deepest": 22, "take_off": 24, "second_landing": 90}
    st.set_metrics(Metrics(time_s=t, series={"MKD (mm)": {"left": np.sin(t), "right": np.cos(t)},
                                             "FPPA (deg)": {"left": 2 * t, "right": -t}}, events=events, peaks={}))
    qtbot.wait(50)
    plot = win.plots.plots["MKD (mm)"]
    labels = {d.toPlainText(): d for d in plot.decorations if hasattr(d, "toPlainText")}
    assert set(labels) == {"IC", "deepest", "take-off", "2nd landing"}
    rects = {k: v.sceneBoundingRect() for k, v in labels.items()}
    for a in rects:
        for b in rects:
            if a < b:
                assert not rects[a].intersects(rects[b]), (a, b, rects[a], rects[b])
    # each label still sits on its event's line (centred on it) and inside the plot
    view = plot.getViewBox().sceneBoundingRect()
    for key, frame in events.items():
        label = labels[{"initial_contact": "IC", "deepest": "deepest", "take_off": "take-off",
                        "second_landing": "2nd landing"}[key]]
        assert label.pos().x() == pytest.approx(frame / st.fps)
        assert view.contains(label.sceneBoundingRect().center())
    # the lone late event stays in the bottom row
    assert labels["2nd landing"].pos().y() == pytest.approx(labels["IC"].pos().y())


def test_peak_labels_close_in_time_do_not_overlap(make_session, make_window, qtbot):
    """The right peak a few frames before the left one (as on the Pose2Sim recording's ground truth):
    the earlier label reaches left of its dot, the later one right, whichever side each is."""
    from kneeview.gui.state import Metrics

    win, st, t = plots_window(make_session, make_window)
    flat = np.zeros(100)
    for first, second in (("right", "left"), ("left", "right")):
        peaks = {"MKD (mm)": {first: 60, second: 63}}
        st.set_metrics(Metrics(time_s=t, series={"MKD (mm)": {"left": flat + 5.0, "right": flat + 1.0},
                                                 "FPPA (deg)": {"left": flat, "right": flat}}, events={}, peaks=peaks))
        qtbot.wait(50)
        plot = win.plots.plots["MKD (mm)"]
        labels = {d.toPlainText()[5]: d for d in plot.decorations if hasattr(d, "toPlainText")}
        assert set(labels) == {"L", "R"}
        a, b = labels[first[0].upper()].sceneBoundingRect(), labels[second[0].upper()].sceneBoundingRect()
        assert not a.intersects(b), (first, a, b)
        assert a.right() <= b.left()


def test_plots_show_metrics_events_and_seek(make_session, make_window, qtbot):
    import pyqtgraph as pg

    from kneeview.gui.state import Metrics

    folder = make_session(n_frames=50)
    win = make_window(auto_run=False)
    win.open_path(folder)
    st = win.state
    t = np.arange(50) / st.fps
    m = Metrics(time_s=t, series={"MKD (mm)": {"left": np.sin(t), "right": np.cos(t)},
                                   "FPPA (deg)": {"left": 2 * t, "right": -t}},
                events={"initial_contact": 10, "deepest": 25, "take_off": 40}, peaks={"MKD (mm)": {"left": 49, "right": 0}})
    st.set_metrics(m)
    plot = win.plots.plots["MKD (mm)"]
    x, y = plot.curves["left"].getData()
    np.testing.assert_allclose(y, np.sin(t))
    lines = sorted(d.value() for d in plot.decorations if isinstance(d, pg.InfiniteLine))
    assert lines == pytest.approx([10 / st.fps, 25 / st.fps, 40 / st.fps])
    texts = sorted(d.toPlainText() for d in plot.decorations if hasattr(d, "toPlainText"))
    assert texts == ["IC", "deepest", f"peak L {np.sin(t[49]):.1f} mm", "peak R 1.0 mm", "take-off"]
    # the cursor follows the frame; seeking from the plot moves the frame
    st.set_frame(20)
    assert plot.cursor.value() == pytest.approx(20 / st.fps)
    readout = win.plots.readout.text()
    assert f"{np.cos(t[20]):.1f} mm" in readout and f"{np.sin(t[20]):.1f} mm" in readout and f"{2 * t[20]:.1f}°" in readout
    plot.seek_vb.sigSeek.emit(30.2 / st.fps)
    qtbot.waitUntil(lambda: st.frame == 30, timeout=2000)
    plot.cursor.setValue(12 / st.fps)
    plot.cursor.sigDragged.emit(plot.cursor)
    qtbot.waitUntil(lambda: st.frame == 12, timeout=2000)
    # previous/next event
    qtbot.keyClick(win, Key.Key_PageDown)
    assert st.frame == 25
    qtbot.keyClick(win, Key.Key_PageDown)
    assert st.frame == 40
    qtbot.keyClick(win, Key.Key_PageDown)
    assert st.frame == 40
    qtbot.keyClick(win, Key.Key_PageUp)
    assert st.frame == 25


def test_keys_act_once_when_the_slider_has_focus(make_session, make_window, qtbot):
    folder = make_session(n_frames=30)
    win = make_window(auto_run=False)
    win.open_path(folder)
    win.state.set_frame(5)
    win.timeline.slider.setFocus()
    qtbot.keyClick(win.timeline.slider, Key.Key_Right)
    qtbot.wait(30)
    assert win.state.frame == 6
    qtbot.keyClick(win.timeline.slider, Key.Key_Left, Shift)
    qtbot.wait(30)
    assert win.state.frame == 0


def test_a_bare_video_without_calibration_opens(make_session, make_window, fake_for, wait_done, tmp_path, dialogs):
    import shutil

    folder = make_session(n_frames=8)
    fake = fake_for(folder)
    bare = tmp_path / "bare"
    bare.mkdir()
    video = shutil.copy(next(folder.glob("*.avi")), bare / "clip.avi")
    win = make_window(fake)
    assert win.open_path(video)
    wait_done(win)
    assert dialogs == []
    assert win.state.gt_px is None and win.state.camera is None
    assert sorted(win.video.drawn_joints()) == list(range(6))
    assert "no ground truth" in win.video.caption.text()
    assert "no camera calibration" in win.info.toPlainText()


@pytest.mark.parametrize("target", ["welcome", "video"])
def test_real_drag_and_drop(make_session, make_window, qtbot, target):
    from PySide6 import QtGui, QtWidgets

    folder = make_session(n_frames=6)
    other = make_session(name="S02", n_frames=6)
    win = make_window(auto_run=False)
    if target == "video":
        win.open_path(other)
        widget = win.video.glw.viewport()
    else:
        widget = win.welcome
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(folder))])
    pos = QtCore.QPointF(widget.width() / 2, widget.height() / 2)
    enter = QtGui.QDragEnterEvent(pos.toPoint(), QtCore.Qt.DropAction.CopyAction, mime,
                                  QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QtGui.QDropEvent(pos, QtCore.Qt.DropAction.CopyAction, mime, QtCore.Qt.MouseButton.LeftButton,
                            QtCore.Qt.KeyboardModifier.NoModifier)
    QtWidgets.QApplication.sendEvent(widget, drop)
    assert win.state.recording is not None and win.state.recording.root == folder


def test_calibration_and_c3d_chosen_for_a_bare_video(make_session, make_window, tmp_path, dialogs):
    import shutil

    folder = make_session(n_frames=8)
    bare = tmp_path / "bare"
    bare.mkdir()
    video = shutil.copy(next(folder.glob("*.avi")), bare / "clip.avi")
    win = make_window(auto_run=False)
    win.open_path(video)
    assert win.state.camera is None and win.state.gt_px is None
    # dropping the calibration, then the C3D, applies them to the open recording
    assert win.open_dropped([str(folder / "S01.xcp")])
    assert win.state.camera is not None and win.state.recording.calibration_path == folder / "S01.xcp"
    assert win.state.gt_px is None
    assert win.open_dropped([str(folder / "DJ01.c3d")])
    assert win.state.recording.c3d_path == folder / "DJ01.c3d"
    assert win.state.recording.calibration_path == folder / "S01.xcp"  # kept
    from kneeview.io.recording import open_recording

    rec = open_recording(folder)
    np.testing.assert_allclose(win.state.gt_px, rec.view.camera.project(rec.ground_truth_frames()), atol=1e-9)
    assert dialogs == []


def test_the_bundled_demo_opens_with_ground_truth_metrics_and_events(make_window, dialogs, qtbot):
    from kneeview.bundled import demo_path

    if not (demo_path() / "demo.xcp").is_file():
        pytest.skip("the bundled demo recording is not in this checkout yet")
    win = make_window(auto_run=False)
    qtbot.mouseClick(win.welcome.demo_button, QtCore.Qt.MouseButton.LeftButton)
    assert dialogs == []
    st = win.state
    assert st.recording.root == demo_path().absolute() and st.gt_px is not None
    assert st.gt_metrics is not None and st.metrics is None  # no model run: the plots show the ground truth
    events = st.event_frames()
    assert len(events) >= 2
    st.set_frame(0)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=2000)
    qtbot.keyClick(win, Key.Key_PageDown)
    assert st.frame == events[0]
    # with the keyboard focus on the video (where opening puts it), arrows still scrub
    view = win.video.glw
    assert view.hasFocus()
    qtbot.keyClick(view, Key.Key_Right)
    qtbot.waitUntil(lambda: st.frame == events[0] + 1, timeout=2000)
    qtbot.keyClick(view, Key.Key_Left, Shift)
    qtbot.waitUntil(lambda: st.frame == events[0] - 9, timeout=2000)
    assert win.plots.plots["MKD (mm)"].curves["right"].getData()[1] is not None


def test_switching_between_the_videos_of_a_trial(make_session, make_window, dialogs):
    import dataclasses
    import shutil

    from kneeview.camera import read_xcp, write_xcp

    folder = make_session(n_frames=6)
    # a second video camera of the same trial: another device id, same sensor size
    calib = read_xcp(folder / "S01.xcp")
    cam = calib.camera("2107395")
    second = dataclasses.replace(cam, device_id="2107396", name="Vue 2107396", position_mm=cam.position_mm + [800.0, 0, 0])
    write_xcp([*calib.cameras, second], folder / "S01.xcp")
    shutil.copy(folder / "DJ01.2107395.avi", folder / "DJ01.2107396.avi")
    win = make_window(auto_run=False)
    assert win.open_path(folder / "DJ01.2107395.avi")
    actions = win.camera_menu.actions()
    assert win.camera_menu.isEnabled() and len(actions) == 2 and actions[0].isChecked()
    assert [a.text() for a in actions] == ["DJ01.2107395 — Vue 2107395", "DJ01.2107396 — Vue 2107396"]
    actions[1].trigger()  # the same recording, through the other camera
    assert win.state.view.device_id == "2107396" and win.state.view_index == 1
    assert win.state.camera.device_id == "2107396"
    assert win.camera_menu.actions()[1].isChecked() and win.view_selector.currentIndex() == 1
    assert dialogs == []

def test_a_recent_recording_that_has_gone_is_forgotten(make_session, make_window, dialogs):
    import shutil

    folder = make_session(n_frames=4)
    win = make_window(auto_run=False)
    win.open_path(folder)
    win.close_recording()
    assert win.recent_files() == [str(folder)]
    shutil.rmtree(folder)
    win.welcome.recent.itemActivated.emit(win.welcome.recent.item(0))
    assert len(dialogs) == 1 and str(folder) in dialogs[0][2]
    assert win.recent_files() == [] and win.welcome.recent.count() == 0


def test_the_info_panel_says_when_the_camera_films_the_athletes_back(make_session, make_window, fake_for, wait_done):
    """The athlete faces -Y: from +Y the estimate's 3D turns its back in every frame and the panel
    says so with the caution; from -Y it says "from the front"."""
    for name, position, want in (("B", (-300.0, 4000.0, 1100.0), "from behind in 100 % of the frames"),
                                 ("F", (300.0, -4000.0, 1100.0), "from the front")):
        folder = make_session(name=name, n_frames=12, camera_position=position)
        win = make_window(fake_for(folder))
        assert win.open_path(folder)
        wait_done(win)
        text = win.info.toPlainText()
        assert "View of the athlete" in text and want in text, text



def test_the_info_panel_says_whether_the_3d_readings_networks_agree(make_session, make_window, fake_for, wait_done):
    """After the estimate's analysis the panel gives the lifter's spread; above the threshold (a
    recording unlike the training, as the real one) it says the reading is unsure, with the caution."""
    from kneeview.analysis.lifting import UNFAMILIAR_CAUTION

    folder = make_session(name="A", n_frames=12)
    win = make_window(fake_for(folder))
    assert win.open_path(folder)
    wait_done(win)
    text = win.info.toPlainText()
    assert "3D reading" in text and "its networks agree (spread" in text, text
    spread = win.state.estimate.analysed.inputs.reconstruction.prior_spread_deg
    spread[:] = 20.0
    win._show_info()
    text = " ".join(win.info.toPlainText().split())
    assert "unsure, its networks disagree by 20°" in text and UNFAMILIAR_CAUTION in text, text
    assert "Leg lengths" in text and "the two legs agree (thigh and shank within" in text, text
    lengths = win.state.estimate.analysed.inputs.reconstruction.segment_lengths_mm
    lengths["thigh_left"] = lengths["thigh_right"] - 40.0
    win._show_info()
    text = " ".join(win.info.toPlainText().split())
    assert "the two legs disagree: their fitted thighs or shanks differ by 40 mm (above 25 mm)" in text, text


def test_a_squats_lifted_leg_is_drawn_faint_and_left_out_of_the_scale(make_session, make_window, qtbot):
    """A single-leg squat on the left leg: the right (lifted) leg's FPPA flips near +-180 degrees as its
    shank folds behind the thigh; it is drawn faint without its band, the y range is the stance leg's, the
    message says so; a drop jump's two legs are drawn alike."""
    from kneeview.gui.state import Metrics

    win, st, t = plots_window(make_session, make_window)
    stance = 20.0 * np.sin(np.pi * t / t[-1])
    flipping = np.where(np.arange(len(t)) % 20 < 10, 178.0, -178.0)
    series = {"MKD (mm)": {"left": stance, "right": stance / 2}, "FPPA (deg)": {"left": stance / 2, "right": flipping}}
    sd = {name: {side: np.full(len(t), 1.0) for side in ("left", "right")} for name in series}
    st.set_metrics(Metrics(time_s=t, series=series, events={}, peaks={}, sd=sd, lifted="right"))
    qtbot.wait(50)
    plot = win.plots.plots["FPPA (deg)"]
    lo, hi = plot.getViewBox().viewRange()[1]
    assert hi < 30.0 and lo > -30.0  # the stance leg's range, not the lifted leg's +-178
    assert plot.curves["right"].opts["pen"].color().alpha() < 100 < plot.curves["left"].opts["pen"].color().alpha()
    assert {getattr(d, "kneeview_band", None) for d in plot.decorations} - {None} == {"left"}
    assert "the lifted right leg is drawn faint and not read" in win.plots.message.text()
    st.set_metrics(Metrics(time_s=t, series=series, events={}, peaks={}, sd=sd))  # a drop jump: both read
    qtbot.wait(50)
    assert plot.curves["right"].opts["pen"].color().alpha() == 255
    assert {getattr(d, "kneeview_band", None) for d in plot.decorations} - {None} == {"left", "right"}
    assert plot.getViewBox().viewRange()[1][1] > 178.0
