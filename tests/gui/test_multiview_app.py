"""A multi-view recording in the window: the view selector, per-view frames, ground truth
projection and model results, remembering the view, and the screenshot tool's ``--view``."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from kneeview import joints as J
from kneeview.pose.card import ModelIdentity
from sessions import make_qualisys_session, standing_joints

N_FRAMES = 6


@pytest.fixture
def qualisys(tmp_path):
    """A 4-view Pose2Sim-layout session of noise videos, with a pseudo-label C3D where
    ``kneeview triangulate`` writes it (``videos/<session>.c3d``)."""
    from kneeview.io.c3d import write_ground_truth

    root = make_qualisys_session(tmp_path / "Lab", n_frames=N_FRAMES)
    write_ground_truth(root / "videos" / "Lab.c3d", standing_joints(N_FRAMES, sway_mm=30.0), 60.0)
    return root


def _truth(rec, view_index):
    """(keypoints_px, joints_cam_m) of the C3D through one view's camera, per frame."""
    cam = rec.views[view_index].camera
    gt = rec.ground_truth_frames(view_index)
    cam_mm = cam.world_to_camera(gt)
    return cam.project(gt), (cam_mm - cam_mm[:, :2].mean(axis=1, keepdims=True)) / 1000.0


def _key(frame) -> bytes:
    return np.ascontiguousarray(frame[::97, ::89]).tobytes()


class ViewAwareFake:
    """Answers each frame with the projected C3D of the view the frame comes from (found by
    its pixels), so an estimate written into the wrong view would show. With ``gate``, a run
    over ``hold_view`` holds before its frame ``hold_at`` until the gate is set."""

    card = {"name": "fake-multiview", "version": "0.0", "framework": "test"}

    def __init__(self, folder, gate=None, hold_view=None, hold_at=0):
        from kneeview.io.recording import open_recording

        rec = open_recording(folder)
        self.truth = [_truth(rec, v) for v in range(len(rec.views))]
        self.lookup = {}
        for v, view in enumerate(rec.views):
            with view.open_video() as reader:
                for i, frame in reader.iter_frames():
                    self.lookup[_key(frame)] = (v, i)
        self.default_batch_size = 2
        self.identity = ModelIdentity(name="fake-multiview", sha256="a" * 64, device="cpu")
        self.gate, self.hold_view, self.hold_at = gate, hold_view, hold_at
        self.frames_by_view = [0] * len(rec.views)

    def predict(self, frames):
        out = []
        for frame in frames:
            v, i = self.lookup[_key(frame)]
            if self.gate is not None and v == self.hold_view and i >= self.hold_at:
                self.gate.wait(10)
            self.frames_by_view[v] += 1
            kp, rel = self.truth[v]
            out.append({"score": 0.9, "keypoints_px": kp[i], "joints_cam_m": rel[i], "confidence": np.full(J.N_JOINTS, 0.9)})
        return out


def _choose(win, index):
    win.view_selector.setCurrentIndex(index)  # as the user picking an entry does
    assert win.state.view_index == index


def test_the_selector_lists_the_views_and_shows_each_camera(qualisys, make_window, monkeypatch, qtbot, dialogs):
    from kneeview.io.recording import open_recording
    from kneeview.io.video import VideoReader

    monkeypatch.setenv("KNEEVIEW_EXACT_DISPLAY", "1")  # FFmpeg's frames, comparable exactly
    rec = open_recording(qualisys)
    win = make_window(auto_run=False)
    assert win.open_path(qualisys)
    sel = win.view_selector
    assert all(a.isVisible() for a in win._view_selector_actions) and sel.count() == 4
    qtbot.waitUntil(lambda: sel.isVisibleTo(win), timeout=2000)  # the toolbar lays it out
    assert [sel.itemText(i) for i in range(4)] == ["cam01", "cam02", "cam03", "cam04"]
    assert [a.text() for a in win.camera_menu.actions()] == ["cam01", "cam02", "cam03", "cam04"]
    win.state.set_frame(3)
    for k in (2, 0, 3, 1):
        _choose(win, k)
        st = win.state
        assert st.frame == 3  # the views are synchronised: the frame is kept
        assert st.camera.device_id == rec.views[k].device_id
        assert win.camera_menu.actions()[k].isChecked()
        # the video shows this camera's frame
        with VideoReader(rec.views[k].video_path) as reader:
            expected = reader[3][..., ::-1]
        np.testing.assert_array_equal(win.video.image.image, expected)
        # the ground truth is drawn through this camera
        projected = rec.views[k].camera.project(rec.ground_truth_frames(k))[3]
        xs, ys = win.video.gt_points.getData()
        np.testing.assert_allclose(np.c_[xs, ys], projected, atol=1e-9)
        # the 3D ground truth is the same lab-frame data for every view
        np.testing.assert_allclose(win.view3d.skeletons_m(3)[1], rec.ground_truth_frames(0)[3] / 1000.0)
        assert f"cam0{k + 1}.avi" in win.info.toPlainText()
        assert win.analysed_gt is not None and st.gt_metrics is win.analysed_gt.metrics
    # the camera menu switches views too
    win.camera_menu.actions()[2].trigger()
    assert win.state.view_index == 2 and sel.currentIndex() == 2
    assert dialogs == []


def test_model_results_are_kept_per_view(qualisys, make_window, wait_done, qtbot, tmp_path, dialogs):
    import pandas as pd

    fake = ViewAwareFake(qualisys)
    win = make_window(fake)  # auto_run: the model runs on the view shown
    assert win.open_path(qualisys)
    wait_done(win)
    st = win.state
    np.testing.assert_allclose(st.pose.keypoints_px, fake.truth[0][0])
    assert fake.frames_by_view == [N_FRAMES, 0, 0, 0]
    model_0 = win.analysed_model
    assert model_0 is not None

    _choose(win, 1)  # no estimate for view 2 yet: the model runs on it
    wait_done(win)
    assert fake.frames_by_view == [N_FRAMES, N_FRAMES, 0, 0]
    np.testing.assert_allclose(st.pose.keypoints_px, fake.truth[1][0])
    st.set_frame(4)
    drawn = win.video.drawn_joints()
    np.testing.assert_allclose([drawn[j] for j in range(J.N_JOINTS)], fake.truth[1][0][4], atol=1e-9)
    assert win.analysed_model is not model_0 and st.metrics is win.analysed_model.metrics

    _choose(win, 0)  # back to view 1: its own results, at once, without running anything
    assert not win.is_running() and fake.frames_by_view == [N_FRAMES, N_FRAMES, 0, 0]
    assert st.frame == 4
    np.testing.assert_allclose(st.pose.keypoints_px, fake.truth[0][0])
    drawn = win.video.drawn_joints()
    np.testing.assert_allclose([drawn[j] for j in range(J.N_JOINTS)], fake.truth[0][0][4], atol=1e-9)
    assert win.analysed_model is model_0 and st.metrics is model_0.metrics
    mkd = win.plots.plots["MKD (mm)"].curves["left"].getData()[1]
    np.testing.assert_allclose(mkd, model_0.metrics.series["MKD (mm)"]["left"], equal_nan=True)

    # the export is of the view shown, and names it
    written = win.export_tables(tmp_path / "export")
    assert written["frames"].name == "Lab_cam01_frames.csv"
    frames = pd.read_csv(written["frames"])
    np.testing.assert_allclose(frames["RFEO_u_px"], model_0.analysis.keypoints_px[:, 2, 0])
    summary = pd.read_csv(written["summary"])
    assert summary.loc[0, "recording"].endswith("cam01.avi") and summary.loc[0, "source"] == "model"
    _choose(win, 1)
    assert win.export_tables(tmp_path / "export")["trc"].name == "Lab_cam02.trc"
    assert dialogs == []


def test_switching_during_a_run_keeps_each_views_results_apart(qualisys, make_window, wait_done, qtbot, dialogs):
    gate = threading.Event()
    fake = ViewAwareFake(qualisys, gate=gate, hold_view=0, hold_at=2)
    win = make_window(fake)
    win.open_path(qualisys)
    st = win.state
    qtbot.waitUntil(lambda: st.pose_done.sum() >= 2, timeout=10000)
    assert win.is_running()
    _choose(win, 2)  # the run on view 1 goes on; view 3 has nothing yet
    assert win.is_running() and st.pose is None and win.video.drawn_joints() == {}
    assert "cam01" in win.rate_label.text() or "cam01" in win.progress.format()
    gate.set()
    # view 1's run completes into view 1; then the model runs on the view shown
    qtbot.waitUntil(lambda: 2 in st.estimates and st.estimates[2].complete and not win.is_running(), timeout=20000)
    assert st.estimates[0].complete
    np.testing.assert_allclose(st.estimates[0].pose.keypoints_px, fake.truth[0][0])
    np.testing.assert_allclose(st.estimates[2].pose.keypoints_px, fake.truth[2][0])
    np.testing.assert_allclose(st.pose.keypoints_px, fake.truth[2][0])
    assert fake.frames_by_view == [N_FRAMES, 0, N_FRAMES, 0]
    assert st.estimates[0].analysed is not None and win.analysed_model is st.estimates[2].analysed
    assert dialogs == []


def test_a_new_checkpoint_drops_every_views_estimate(qualisys, make_window, wait_done, dialogs):
    fake = ViewAwareFake(qualisys)
    win = make_window(fake)
    win.open_path(qualisys)
    wait_done(win)
    _choose(win, 3)
    wait_done(win)
    assert sorted(win.state.estimates) == [0, 3]
    fake.identity = ModelIdentity(name="fake-multiview", sha256="b" * 64, device="cpu")  # another model: the cached estimates do not apply
    win.use_checkpoint("another.safetensors")  # reruns the view shown; the others' estimates are stale
    wait_done(win)
    assert sorted(win.state.estimates) == [3] and fake.frames_by_view == [N_FRAMES, 0, 0, 2 * N_FRAMES]
    win.auto_run = False
    _choose(win, 0)
    assert win.state.pose is None and win.analysed_model is None and win.state.metrics is None


def test_the_last_view_is_remembered_per_recording(qualisys, make_window, settings, dialogs):
    win = make_window(auto_run=False)
    win.open_path(qualisys)
    assert win.state.view_index == 0
    _choose(win, 2)
    win.close()
    win2 = make_window(auto_run=False)
    assert win2.open_path(qualisys)
    assert win2.state.view_index == 2 and win2.view_selector.currentIndex() == 2
    assert win2.state.view.video_path.name == "cam03.avi"
    # opening one of its videos shows that video
    assert win2.open_path(qualisys / "videos" / "cam02.avi")
    assert win2.state.view.video_path.name == "cam02.avi"
    # reopened with another C3D, it stays on the view shown
    _choose(win2, 3)
    assert win2.open_dropped([str(qualisys / "videos" / "Lab.c3d")])
    assert win2.state.view.video_path.name == "cam04.avi" and win2.view_selector.currentText() == "cam04"
    assert dialogs == []


def test_a_single_view_recording_has_no_selector(make_session, make_window, qualisys, qtbot):
    win = make_window(auto_run=False)
    win.open_path(qualisys)
    win.open_path(make_session(n_frames=4))
    assert all(not a.isVisible() for a in win._view_selector_actions) and not win.camera_menu.isEnabled()
    qtbot.waitUntil(lambda: not win.view_selector.isVisibleTo(win), timeout=2000)


def test_find_view_by_stem_or_device_id(qualisys):
    from kneeview.errors import KneeViewInputError
    from kneeview.gui.view_selector import find_view
    from kneeview.io.recording import open_recording

    rec = open_recording(qualisys)
    assert find_view(rec, "cam03") == 2 and find_view(rec, "CAM02.avi") == 1
    with pytest.raises(KneeViewInputError, match="cam01"):
        find_view(rec, "cam09")


def test_screenshot_of_a_chosen_view(qualisys, tmp_path, monkeypatch, capsys):
    from kneeview.gui import screenshot

    seen = {}

    def fake_save(window, out_dir):
        seen["view"] = window.state.view.video_path.name
        seen["frame"] = window.state.frame
        seen["selector"] = window.view_selector.currentText()
        return {}

    monkeypatch.setattr(screenshot, "save_screenshots", fake_save)
    assert screenshot.main([str(qualisys), str(tmp_path / "shots"), "--frame", "4", "--view", "cam03"]) == 0
    assert seen == {"view": "cam03.avi", "frame": 4, "selector": "cam03"}
    assert screenshot.main([str(qualisys), str(tmp_path / "shots"), "--view", "nope"]) == 2
    assert "no view named 'nope'" in capsys.readouterr().err
