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
