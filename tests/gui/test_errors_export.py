"""Bad input shows a dialog naming the file; export writes what analysis computes; images."""
from __future__ import annotations

import errno
import logging
import sys

import numpy as np
import pytest

from kneeview.errors import CheckpointError


def _criticals(dialogs):
    return [d for d in dialogs if d[0] in ("critical", "exec")]


def test_missing_path_shows_a_dialog(make_window, dialogs, tmp_path):
    win = make_window(auto_run=False)
    missing = tmp_path / "nowhere" / "Trial.avi"
    assert not win.open_path(missing)
    (kind, title, text), = _criticals(dialogs)
    assert str(missing) in text and "no such file" in text
    assert win.state.recording is None and win.stack.currentIndex() == 0


def test_bad_calibration_names_the_xcp(make_session, make_window, dialogs):
    folder = make_session(n_frames=4)
    xcp = folder / "S01.xcp"
    xcp.write_text("<?xml version='1.0'?><Cameras><Camera DEVICEID='1'")  # truncated XML
    win = make_window(auto_run=False)
    assert not win.open_path(folder)
    (kind, title, text), = _criticals(dialogs)
    assert str(xcp) in text
    assert win.state.recording is None


def test_corrupt_video_names_the_video(make_session, make_window, dialogs):
    folder = make_session(n_frames=4)
    video = next(folder.glob("*.avi"))
    video.write_bytes(b"RIFF\x00\x00\x00\x00AVI junk" * 50)
    win = make_window(auto_run=False)
    assert not win.open_path(video)
    (kind, title, text), = _criticals(dialogs)
    assert video.name in text


def test_bad_c3d_opens_the_video_without_ground_truth(make_session, make_window, dialogs):
    folder = make_session(n_frames=4)
    c3d = folder / "DJ01.c3d"
    c3d.write_bytes(b"\x02P" + b"\x00" * 30)
    win = make_window(auto_run=False)
    assert win.open_path(folder)
    (kind, title, text), = _criticals(dialogs)
    assert str(c3d) in text and title == "Ground truth ignored"
    assert win.state.gt_px is None and win.state.recording is not None


def test_bad_checkpoint_shows_a_dialog(make_session, make_window, dialogs, qtbot, tmp_path):
    folder = make_session(n_frames=4)
    ckpt = tmp_path / "model.safetensors"

    def factory(path=None, device="auto"):
        raise CheckpointError(ckpt, "the file is truncated (expected 1048576 bytes, found 4096)", "weights")

    win = make_window(estimator_factory=factory)
    win.open_path(folder)
    qtbot.waitUntil(lambda: bool(_criticals(dialogs)), timeout=5000)
    (kind, title, text), = _criticals(dialogs)
    assert str(ckpt) in text and "truncated" in text and "[weights]" in text
    qtbot.waitUntil(lambda: not win.is_running(), timeout=5000)
    assert win.act_run.isEnabled() and "failed" in win.rate_label.text()


def test_a_buggy_estimator_is_reported_not_fatal(make_session, make_window, dialogs, qtbot, caplog):
    folder = make_session(n_frames=4)

    class Broken:
        from kneeview.pose.card import ModelIdentity

        identity = ModelIdentity(name="broken", sha256="b" * 64, device="cpu")
        default_batch_size = 1

        def predict(self, frames):
            raise ZeroDivisionError("oops")

    win = make_window(Broken())
    with caplog.at_level(logging.ERROR):
        win.open_path(folder)
        qtbot.waitUntil(lambda: bool(_criticals(dialogs)), timeout=5000)
    (kind, title, text), = _criticals(dialogs)
    assert "ZeroDivisionError" in text and "oops" in text
    assert any("inference failed" in r.message for r in caplog.records)


def test_unexpected_exception_is_logged_and_shown(qapp, dialogs, caplog, monkeypatch):
    from kneeview.gui.app import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    hook = install_excepthook()
    assert sys.excepthook is hook
    try:
        raise RuntimeError("something broke")
    except RuntimeError:
        exc_info = sys.exc_info()
    with caplog.at_level(logging.ERROR, logger="kneeview.gui"):
        hook(*exc_info)
    assert any("something broke" in r.getMessage() for r in caplog.records)
    (kind, title, text), = _criticals(dialogs)
    assert "RuntimeError: something broke" in text


def test_export_csv_trc_of_the_model_and_read_back(make_session, make_window, fake_for, wait_done, tmp_path, dialogs):
    import pandas as pd

    from kneeview.io.export import read_trc

    folder = make_session(n_frames=40)
    fake = fake_for(folder, batch_size=8)
    win = make_window(fake)
    win.open_path(folder)
    wait_done(win)
    assert win.analysed_model is not None, "analysis of the estimate failed"
    assert win.act_export_csv.isEnabled()
    out = tmp_path / "export"
    written = win.export_tables(out)
    assert dialogs == []
    frames = pd.read_csv(written["frames"])
    assert len(frames) == 40 and list(frames["frame"]) == list(range(40))
    for col in ("mkd_left_mm", "mkd_right_mm", "fppa_left_deg", "fppa_right_deg", "LFEO_u_px", "RTIO_z_mm"):
        assert col in frames.columns
    expected_conf = np.array([fake.confidence(i)[3] for i in range(40)])
    np.testing.assert_allclose(frames["LFEO_confidence"], expected_conf)
    # the plotted MKD is the exported one
    np.testing.assert_allclose(win.plots.plots["MKD (mm)"].curves["left"].getData()[1], frames["mkd_left_mm"], equal_nan=True)
    summary = pd.read_csv(written["summary"])
    assert summary.loc[0, "source"] == "model"
    header, labels, data = read_trc(written["trc"])
    assert len(data) == 40 and len(labels) == 6


def test_export_to_an_unwritable_place_shows_a_dialog_and_keeps_old_files(make_session, make_window, tmp_path, dialogs, monkeypatch):
    import os

    folder = make_session(n_frames=20)
    win = make_window(auto_run=False)
    win.open_path(folder)
    assert win.analysed_gt is not None  # ground truth alone can be exported
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert win.export_tables(blocker / "sub") is None
    (kind, title, text), = _criticals(dialogs)
    assert str(blocker / "sub") in text
    dialogs.clear()
    # a full disk: the previous export stays as it was
    out = tmp_path / "out"
    first = win.export_tables(out)
    before = {k: p.read_bytes() for k, p in first.items()}

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    assert win.export_tables(out) is None
    (kind, title, text), = _criticals(dialogs)
    assert "disk is full" in text
    assert {k: p.read_bytes() for k, p in first.items()} == before
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def test_export_image_of_the_views(make_session, make_window, fake_for, wait_done, tmp_path, dialogs):
    import cv2

    folder = make_session(n_frames=8)
    win = make_window(fake_for(folder))
    win.open_path(folder)
    wait_done(win)
    path = tmp_path / "views.png"
    assert win.export_image(path)
    img = cv2.imread(str(path))
    assert img is not None
    expected = win.grab_views()
    assert img.shape[:2] == (expected.height(), expected.width())
    assert img.std() > 5  # not a blank image
    assert not win.export_image(tmp_path / "missing-dir" / "views.png")
    (kind, title, text), = _criticals(dialogs)
    assert "missing-dir" in text


def test_3d_view_falls_back_cleanly_without_opengl(make_session, make_window, fake_for, wait_done, qapp):
    from PySide6 import QtGui

    if QtGui.QGuiApplication.platformName() != "offscreen":
        pytest.skip("this checks the offscreen platform, which has no OpenGL")
    folder = make_session(n_frames=6)
    win = make_window(fake_for(folder))
    win.open_path(folder)
    wait_done(win)
    v = win.view3d
    assert not v.available
    assert "3D view unavailable" in v.fallback.text()
    assert not v.auto_rotate.isEnabled()
    win.act_rotate.trigger()  # harmless
    win.state.set_frame(3)
    assert "ground truth" in v.caption.text()


def test_screenshots_of_each_view(make_session, tmp_path, qapp):
    import cv2

    from kneeview.gui.screenshot import main

    folder = make_session(n_frames=10)
    assert main([str(folder), str(tmp_path / "shots"), "--frame", "3", "--size", "900x700"]) == 0
    for name in ("app", "video", "3d", "plots"):
        img = cv2.imread(str(tmp_path / "shots" / f"{name}.png"))
        assert img is not None and img.shape[0] > 50 and img.shape[1] > 50, name


def test_an_exception_in_a_qt_slot_reaches_the_dialog(qapp, qtbot, dialogs, monkeypatch):
    from PySide6 import QtCore

    from kneeview.gui.app import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    install_excepthook()

    def broken_slot():
        raise ZeroDivisionError("in a slot")

    QtCore.QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: bool(_criticals(dialogs)), timeout=3000)
    assert "ZeroDivisionError: in a slot" in _criticals(dialogs)[0][2]
