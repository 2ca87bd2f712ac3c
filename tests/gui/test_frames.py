"""Display frames: the fast MJPG path shows the right frame, in both directions, and gives way
to the exact reader when it cannot be trusted."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from kneeview.io.video import VideoReader


@pytest.fixture
def mjpg_video(make_session):
    folder = make_session(n_frames=40, size=(320, 240))
    return next(folder.glob("*.avi"))


def _mean_diff(a, b):
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


def test_fast_path_matches_the_exact_frame_in_any_order(mjpg_video):
    from kneeview.gui.frames import MAX_MEAN_DIFF, DisplayFrames

    reader = VideoReader(mjpg_video)
    exact = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in reader]
    frames = DisplayFrames(reader)
    assert frames.raw_path
    order = [39, 0, 17, 16, 15, 30, 2, 38, 21, 21, 5]
    for i in order:
        img = frames[i]
        assert img.shape == exact[i].shape and not img.flags.writeable
        diffs = [_mean_diff(img, e) for e in exact]
        # the closest exact frame is the one asked for, and it is close to identical
        assert int(np.argmin(diffs)) == i
        assert diffs[i] <= MAX_MEAN_DIFF
    assert frames.raw_path


def test_exact_display_when_asked(mjpg_video, monkeypatch):
    from kneeview.gui.frames import DisplayFrames

    monkeypatch.setenv("KNEEVIEW_EXACT_DISPLAY", "1")
    reader = VideoReader(mjpg_video)
    frames = DisplayFrames(reader)
    assert not frames.raw_path
    np.testing.assert_array_equal(frames[7], cv2.cvtColor(VideoReader(mjpg_video)[7], cv2.COLOR_BGR2RGB))


def test_other_codecs_use_the_exact_reader(tmp_path):
    from kneeview.gui.frames import DisplayFrames

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 25.0, (64, 48))
    if not writer.isOpened():
        pytest.skip("this OpenCV cannot write FFV1")
    rng = np.random.default_rng(0)
    frames_in = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(6)]
    for f in frames_in:
        writer.write(f)
    writer.release()
    reader = VideoReader(path)
    frames = DisplayFrames(reader)
    assert not frames.raw_path
    np.testing.assert_array_equal(frames[4], cv2.cvtColor(frames_in[4], cv2.COLOR_BGR2RGB))  # FFV1 is lossless


def test_disagreement_switches_to_the_exact_reader(mjpg_video, monkeypatch):
    from kneeview.gui import frames as F

    reader = VideoReader(mjpg_video)
    frames = F.DisplayFrames(reader)
    assert frames.raw_path
    # a decoder that answers with the wrong frame is caught by the periodic check
    real = frames._decode_raw
    monkeypatch.setattr(frames, "_decode_raw", lambda i: real((i + 7) % 40))
    monkeypatch.setattr(F, "CHECK_EVERY", 1)
    img = frames[3]
    assert not frames.raw_path
    np.testing.assert_array_equal(img, cv2.cvtColor(VideoReader(mjpg_video)[3], cv2.COLOR_BGR2RGB))


def test_a_checked_frame_is_decoded_once(mjpg_video, monkeypatch):
    """The periodic check's decoding is the frame shown: one JPEG decode per frame, checked or not."""
    from kneeview.gui import frames as F

    reader = VideoReader(mjpg_video)
    exact = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in VideoReader(mjpg_video)]
    frames = F.DisplayFrames(reader)
    monkeypatch.setattr(F, "CHECK_EVERY", 2)
    decoded = []
    real = frames._decode_packet
    monkeypatch.setattr(frames, "_decode_packet", lambda packet, *a: decoded.append(1) or real(packet, *a))
    for i in (5, 6, 7, 8):
        assert _mean_diff(frames[i], exact[i]) <= F.MAX_MEAN_DIFF
    assert frames.raw_path and len(decoded) == 4


@pytest.mark.parametrize("r", [2, 4, 8])
def test_reduced_frames_cover_the_raw_frame(make_session, r):
    """libjpeg's scaled decode: ceil(W/r) x ceil(H/r) pixels, pixel k averaging raw pixels
    [k r, (k + 1) r), so it covers [-0.5, w r - 0.5] in raw pixel coordinates."""
    from kneeview.gui.frames import MAX_MEAN_DIFF, DisplayFrames

    folder = make_session(n_frames=6, size=(328, 244))  # not multiples of 8: partial blocks at the edges
    reader = VideoReader(next(folder.glob("*.avi")))
    frames = DisplayFrames(reader)
    assert frames.raw_path
    img, extent = frames.get(3, r)
    h, w = -(-244 // r), -(-328 // r)
    assert img.shape == (h, w, 3) and not img.flags.writeable
    assert extent == (w * r, h * r)
    exact = cv2.cvtColor(reader[3], cv2.COLOR_BGR2RGB)
    padded = np.pad(exact, ((0, h * r - 244), (0, w * r - 328), (0, 0)), mode="edge")
    area = padded.reshape(h, r, w, r, 3).mean(axis=(1, 3))
    assert _mean_diff(img, area) <= MAX_MEAN_DIFF
    # a finer frame in the cache answers a coarser request; never the other way round
    full, full_extent = frames.get(3, 1)
    assert full.shape == (244, 328, 3) and full_extent == (328, 244)
    assert frames.get(3, r)[0] is img
    assert frames.get(4, 1)[0].shape == (244, 328, 3) and frames.get(4, r)[0].shape == (244, 328, 3)


def test_reduction_off_the_raw_path_is_the_full_frame(mjpg_video, monkeypatch):
    from kneeview.gui.frames import DisplayFrames

    monkeypatch.setenv("KNEEVIEW_EXACT_DISPLAY", "1")
    frames = DisplayFrames(VideoReader(mjpg_video))
    img, extent = frames.get(5, 4)
    assert img.shape == (240, 320, 3) and extent == (320, 240)


def test_read_ahead_and_concurrent_requests_decode_once(mjpg_video, monkeypatch):
    import threading

    from kneeview.gui.frames import DisplayFrames

    frames = DisplayFrames(VideoReader(mjpg_video))
    decoded = []
    gate = threading.Event()
    real = frames._decode_packet

    def slow(packet, reduction=1):
        gate.wait(5)
        decoded.append(reduction)
        return real(packet, reduction)

    monkeypatch.setattr(frames, "_decode_packet", slow)
    frames.prefetch(9, 2)  # the read-ahead thread starts on it and holds at the gate
    import time

    deadline = time.monotonic() + 10
    while (9, 2) not in frames._inflight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (9, 2) in frames._inflight
    out = []
    t = threading.Thread(target=lambda: out.append(frames.get(9, 2)))
    t.start()
    t.join(0.3)
    assert t.is_alive()  # waits for the read-ahead's decode instead of decoding again
    gate.set()
    t.join(5)
    assert len(out) == 1 and out[0][0].shape == (120, 160, 3)
    assert decoded == [2] and frames.cached(9, 2)
    frames.prefetch(9, 2)  # cached: nothing to do
    frames.prefetch(10_000, 2)  # not a frame
    assert decoded == [2]
    frames.close()
    assert frames._worker is not None and not frames._worker.is_alive()
