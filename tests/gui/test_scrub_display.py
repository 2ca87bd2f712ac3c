"""Scrubbing shows frames at the screen's resolution: a reduced frame covers the same raw
pixels as the full one (the overlay stays exact), the full frame follows when scrubbing
stops, when zooming in and before an export, and seeks in a burst paint only the last."""
from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from kneeview import joints as J

W, H = 640, 480
BLOCK = 32  # a white block on a dark frame, aligned with the JPEG's 16-pixel MCUs


def block_left(i: int) -> int:
    return 96 + 16 * i  # moves 16 raw pixels per frame: the frame shown can be told apart


def block_frames(n: int):
    frames = []
    for i in range(n):
        f = np.full((H, W, 3), 40, np.uint8)
        f[64:64 + BLOCK, block_left(i):block_left(i) + BLOCK] = 250
        frames.append(f)
    return frames


@pytest.fixture
def block_window(make_session, make_window, qtbot):
    """A 640x480 MJPG session whose frame i has a white block at raw x = block_left(i), y = 64,
    an estimate whose joints sit at raw pixel positions, and a view zoomed out so that the
    frame is shown reduced."""
    from sessions import write_video

    from kneeview.sequence import PoseSequence

    folder = make_session(n_frames=12, size=(W, H))
    video = next(folder.glob("*.avi"))
    write_video(video, block_frames(12))
    win = make_window(auto_run=False)
    win.resize(1400, 900)
    assert win.open_path(folder)
    st = win.state
    assert st.frames.raw_path
    seq = PoseSequence.empty(st.n_frames, st.fps)
    for i in range(st.n_frames):  # joints at the block's centre and nearby raw pixels, odd coordinates too
        cx, cy = block_left(i) + BLOCK / 2 - 0.5, 64 + BLOCK / 2 - 0.5
        seq.keypoints_px[i] = [[cx + dx, cy + dy] for dx, dy in ((0, 0), (7, 0), (0, 9), (13, 3), (-5, 11), (3.25, -6.75))]
    seq.joints_cam_m[:] = 0.1
    seq.confidence[:] = 0.9
    seq.score[:] = 0.99
    st.set_pose(seq)
    qtbot.waitUntil(lambda: win.video.vb.width() > 100, timeout=3000)
    zoom_out(win, 4.0)
    return win, seq


def zoom_out(win, factor: float):
    """Show ``factor`` times more than the frame, centred: several raw pixels per screen pixel."""
    win.video.vb.setRange(QtCore.QRectF(-0.5 - (factor - 1) * W / 2, -0.5 - (factor - 1) * H / 2, factor * W, factor * H),
                          padding=0.0)


def seek(win, qtbot, frame: int):
    win.state.request_frame(frame)
    qtbot.waitUntil(lambda: win.video.shown_frame == frame, timeout=5000)


def screen_colour(win, x: float, y: float) -> int:
    """Grey level on screen at raw pixel (x, y) (after the video view has painted)."""
    view = win.video.glw
    win.video.glw.viewport().repaint()
    pos = view.mapFromScene(win.video.vb.mapViewToScene(QtCore.QPointF(x, y)))
    img = view.viewport().grab().toImage()
    return img.pixelColor(pos).green()


def test_a_reduced_frame_covers_the_same_raw_pixels(block_window, qtbot):
    win, seq = block_window
    video = win.video
    video._settle.setInterval(60_000)  # keep the reduced frame on screen for the test
    r = video.display_reduction()
    assert r >= 2
    seek(win, qtbot, 5)
    assert video.shown_reduction == r
    img = video.image.image
    assert img.shape == (-(-H // r), -(-W // r), 3)
    # drawn over the full frame's raw rectangle, pixel centres at integer raw coordinates
    assert video.image.boundingRect() == QtCore.QRectF(-0.5, -0.5, W, H)
    # the overlay is the estimate, at raw pixels, whatever the image's size
    drawn = video.drawn_joints()
    assert sorted(drawn) == list(range(J.N_JOINTS))
    for j, (x, y) in drawn.items():
        assert (x, y) == pytest.approx(tuple(seq.keypoints_px[5, j]), abs=1e-9)
    # the reduced image's content sits where the raw frame has it (libjpeg's scaled decode)
    left = block_left(5)
    assert img[(64 + BLOCK // 2) // r, (left + BLOCK // 2) // r].min() > 200
    assert img[(64 + BLOCK // 2) // r, (left - 16) // r].max() < 80
    # and on screen: the block is under the joint drawn at its centre, not beside it
    # (the overlay hidden, so as to see the frame under it)
    cx, cy = drawn[0]
    video.show_estimate = video.show_gt = False
    video.refresh()
    reduced = [screen_colour(win, x, cy) for x in (left - 12, cx, left + BLOCK + 11)]
    assert reduced[1] > 200 and reduced[0] < 80 and reduced[2] < 80
    # the full frame, drawn in its place, looks the same at those raw positions
    video.show_full_resolution()
    assert video.shown_reduction == 1
    full = [screen_colour(win, x, cy) for x in (left - 12, cx, left + BLOCK + 11)]
    assert np.abs(np.subtract(full, reduced)).max() <= 12


def test_full_resolution_once_scrubbing_stops(block_window, qtbot):
    win, _ = block_window
    video = win.video
    for f in (2, 3, 4, 5, 6):
        seek(win, qtbot, f)
    assert video.shown_reduction > 1  # while scrubbing
    qtbot.waitUntil(lambda: video.shown_reduction == 1, timeout=5000)
    assert video.shown_frame == 6 == win.state.frame
    np.testing.assert_array_equal(video.image.image, win.state.frames[6])
    assert video.image.image.shape == (H, W, 3)


def test_zooming_in_shows_the_full_frame_at_once(block_window, qtbot):
    win, _ = block_window
    video = win.video
    video._settle.setInterval(60_000)
    seek(win, qtbot, 4)
    assert video.shown_reduction > 1
    video.vb.setRange(QtCore.QRectF(100, 50, 200, 150), padding=0.0)  # about a screen pixel per raw pixel or more
    assert video.display_reduction() == 1
    qtbot.waitUntil(lambda: video.shown_reduction == 1, timeout=3000)
    assert video.shown_frame == 4
    np.testing.assert_array_equal(video.image.image, win.state.frames[4])


def test_a_burst_of_seeks_paints_only_the_last(block_window, qtbot, monkeypatch):
    win, seq = block_window
    st, video = win.state, win.video
    asked, changed, painted = [], [], []
    real_get = st.frames.get
    monkeypatch.setattr(st.frames, "get", lambda i, r=1: asked.append(int(i)) or real_get(i, r))
    st.frameChanged.connect(changed.append)
    video.image.sigPainted.connect(lambda: painted.append(video.shown_frame))
    for f in (3, 8, 1, 9):  # a fast slider drag: requests before the event loop runs
        st.request_frame(f)
    qtbot.waitUntil(lambda: 9 in painted, timeout=5000)
    assert changed == [9] and asked[:1] == [9] and set(asked) == {9}
    assert set(painted) == {9}
    img = video.image.image
    r = video.shown_reduction
    assert img[(64 + BLOCK // 2) // int(r), int(block_left(9) + BLOCK // 2) // int(r)].min() > 200
    assert video.drawn_joints()[0] == pytest.approx(tuple(seq.keypoints_px[9, 0]))


def test_an_exported_image_shows_the_full_frame(block_window, qtbot, tmp_path):
    win, _ = block_window
    win.video._settle.setInterval(60_000)
    seek(win, qtbot, 7)
    assert win.video.shown_reduction > 1
    assert win.export_image(tmp_path / "views.png")
    assert win.video.shown_reduction == 1 and win.video.shown_frame == 7
    assert (tmp_path / "views.png").stat().st_size > 0


def test_stepping_decodes_the_next_frame_ahead(block_window, qtbot):
    win, _ = block_window
    st = win.state
    r = win.video.display_reduction()
    st.set_frame(2)
    st.step(1)
    qtbot.waitUntil(lambda: st.frame == 3, timeout=3000)
    qtbot.waitUntil(lambda: st.frames.cached(4, r), timeout=5000)  # decoded off the GUI thread
    st.step(-1)
    qtbot.waitUntil(lambda: st.frame == 2, timeout=3000)
    qtbot.waitUntil(lambda: st.frames.cached(1, r), timeout=5000)


def test_playback_decodes_the_next_frame_ahead(block_window, qtbot, monkeypatch):
    win, _ = block_window
    st = win.state
    ahead = []
    real = st.frames.prefetch
    monkeypatch.setattr(st.frames, "prefetch", lambda i, r=1: ahead.append(int(i)) or real(i, r))
    win.timeline.set_speed(0.25)
    win.timeline.set_playing(True)
    qtbot.waitUntil(lambda: st.frame >= 3 or not win.timeline.playing, timeout=10000)
    win.timeline.set_playing(False)
    assert ahead and all(i >= 1 for i in ahead)
    qtbot.waitUntil(lambda: st.frames.cached(ahead[-1], win.video.display_reduction()), timeout=5000)
