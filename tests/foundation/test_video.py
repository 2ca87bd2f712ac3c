"""Exact random access, streaming and bad videos."""
import numpy as np
import pytest

from sessions import noise_frames, write_video
from kneeview.errors import VideoError
from kneeview.io.video import VideoReader, probe_video


def sequential(path):
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            return frames
        frames.append(f)


@pytest.mark.parametrize("fourcc,ext", [("MJPG", "avi"), ("mp4v", "mp4"), ("FFV1", "avi")])
def test_seek_returns_the_pixels_of_sequential_decoding(tmp_path, fourcc, ext):
    n = 90
    path = write_video(tmp_path / f"clip.{ext}", noise_frames(n, (160, 120)), fps=30.0, fourcc=fourcc)
    truth = sequential(path)
    assert len(truth) == n
    reader = VideoReader(path, cache_mb=0.2)  # tiny cache: most accesses really decode
    assert reader.frame_count == n and reader.size == (160, 120) and reader.fps == pytest.approx(30.0)
    order = np.random.default_rng(0).permutation(n).tolist() + [0, n - 1, 5, 4, 3, 89, 1]
    for i in order:
        np.testing.assert_array_equal(reader[i], truth[i], err_msg=f"frame {i} ({fourcc})")
    assert reader[-1] is not None and np.array_equal(reader[-1], truth[-1])
    with pytest.raises(IndexError):
        reader[n]


def test_streaming_iteration_and_step(tmp_path):
    path = write_video(tmp_path / "clip.avi", noise_frames(12, (64, 48)))
    truth = sequential(path)
    reader = VideoReader(path)
    streamed = list(reader.iter_frames(start=2, stop=11, step=3))
    assert [i for i, _ in streamed] == [2, 5, 8]
    for i, f in streamed:
        np.testing.assert_array_equal(f, truth[i])
    assert sum(1 for _ in reader) == 12


def test_lru_cache_is_bounded(tmp_path):
    path = write_video(tmp_path / "clip.avi", noise_frames(30, (64, 48)))
    reader = VideoReader(path, cache_mb=64 * 48 * 3 * 5 / 2**20)
    for i in range(30):
        reader[i]
    assert len(reader._cache) == 5
    assert set(reader._cache) == set(range(25, 30))


def test_not_a_video(tmp_path):
    p = tmp_path / "fake.avi"
    p.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 100)
    with pytest.raises(VideoError) as err:
        VideoReader(p)
    assert err.value.path == p
    with pytest.raises(VideoError, match="not found"):
        probe_video(tmp_path / "missing.avi")


def test_truncated_video_reports_the_frames_it_really_has(tmp_path):
    path = write_video(tmp_path / "clip.avi", noise_frames(40, (160, 120)))
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    truth = sequential(path)
    try:
        reader = VideoReader(cut)
    except VideoError as exc:  # acceptable: a clear error naming the file
        assert exc.path == cut
        return
    assert 0 < reader.frame_count < 40 and reader.info.truncated
    for i in range(reader.frame_count):
        np.testing.assert_array_equal(reader[i], truth[i])
