"""Video access with exact random access by frame index.

OpenCV's FFmpeg backend decodes. A seek (``CAP_PROP_POS_FRAMES``) is only trusted to be
frame-exact for intra-only codecs (MJPG, FFV1, PNG...); for codecs with inter frames
(H.264, MPEG-4) the reader seeks to the start and decodes forward, or grabs forward
from the current position when the target is ahead, so the pixels always equal those of
sequential decoding. An LRU cache keeps recently decoded frames for scrubbing.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import VideoError


def quiet_native_logs() -> None:
    """Keep OpenCV's and FFmpeg's own console messages off stderr.

    A corrupt file makes them print ``[ WARN:0] ... cap.cpp`` or ``[mjpeg @ 0x...] overread``
    lines around KneeView's one-line message (and through the batch progress bar); the
    reader reports what matters itself. FFmpeg reads its level when OpenCV's FFmpeg backend
    starts (the first capture), so setting the variable here, before any capture, is in time.
    A user's own setting of either variable is respected.
    """
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # an OpenCV build without the logging module
        pass


quiet_native_logs()

#: FourCCs whose every frame is a key frame: seeking by index is exact.
INTRA_ONLY_CODECS = {"MJPG", "mjpg", "FFV1", "ffv1", "png ", "PNG ", "MPNG", "HFYU", "rawv", "DIB ", "I420", "Y800", "LAGS"}
#: Within this many frames ahead, decoding forward beats a seek.
FORWARD_GRAB_LIMIT = 60


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float
    frame_count: int
    codec: str
    truncated: bool = False  # the container promised more frames than can be decoded
    declared_frame_count: int | None = None  # what the container says (None: it does not say)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.fps > 0 else float("nan")


def _fourcc(cap) -> str:
    code = int(cap.get(cv2.CAP_PROP_FOURCC))
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))


class VideoReader:
    """Random access and streaming over one video file. Thread-safe.

    ``reader[i]`` returns frame ``i`` as an HxWx3 uint8 BGR array (read-only view of a
    cached array); ``iter(reader)`` streams every frame without caching them.
    """

    def __init__(self, path, cache_mb: float = 512.0):
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(self.path, "video file not found")
        if self.path.stat().st_size == 0:
            raise VideoError(self.path, "the video file is empty (0 bytes)")
        self._lock = threading.RLock()
        self._cap = self._open()
        cap = self._cap
        width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        codec = _fourcc(cap)
        if width <= 0 or height <= 0:
            raise VideoError(self.path, "the video has no frames of a valid size (corrupt or not a video)")
        ok, first = cap.read()
        if not ok or first is None:
            raise VideoError(self.path, "the first frame cannot be decoded (corrupt or truncated video)")
        self._pos = 1  # index of the frame the next read() returns
        self.intra_only = codec in INTRA_ONLY_CODECS
        verified = self._verify_count(count)
        self.info = VideoInfo(self.path, width, height, fps if fps > 0 else 25.0, verified, codec, verified < count,
                              count if count > 0 else None)
        self._fps_known = fps > 0
        frame_bytes = width * height * 3
        self._cache_size = max(2, int(cache_mb * 2**20 // frame_bytes))
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._store(0, first)

    # ---------------------------------------------------------------- opening
    def _open(self):
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise VideoError(self.path, "cannot open the video (unsupported codec, corrupt or not a video file)")
        return cap

    def _verify_count(self, count: int) -> int:
        """Containers over-report the frame count of truncated files: check the last frame.

        When a file was cut, the last frame that still decodes is usually cut too (the
        decoder fills it with garbage), so it is dropped.
        """
        if count <= 0:
            return self._count_by_decoding()
        if self._decode(count - 1) is not None:
            return count
        decodable = self._count_by_decoding()
        return decodable - 1 if decodable > 1 else decodable

    def _count_by_decoding(self) -> int:
        self._rewind()
        n = 0
        while self._cap.grab():
            n += 1
        self._pos = n
        if n == 0:
            raise VideoError(self.path, "no frame can be decoded")
        return n

    def _rewind(self) -> None:
        self._cap.release()
        self._cap = self._open()
        self._pos = 0

    # ----------------------------------------------------------------- access
    @property
    def frame_count(self) -> int:
        return self.info.frame_count

    @property
    def fps(self) -> float:
        return self.info.fps

    @property
    def size(self) -> tuple[int, int]:
        return self.info.size

    def __len__(self) -> int:
        return self.info.frame_count

    def _store(self, index: int, frame: np.ndarray) -> np.ndarray:
        frame.setflags(write=False)
        self._cache[index] = frame
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return frame

    def _decode(self, index: int) -> np.ndarray | None:
        """Decode frame ``index`` exactly; None when the stream ends before it."""
        if not 0 <= index - self._pos <= FORWARD_GRAB_LIMIT:
            if self.intra_only:
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                self._pos = index
            elif index < self._pos:
                self._rewind()
            # An inter-frame codec far ahead: decode forward, never trust a seek.
        for _ in range(index - self._pos):
            if not self._cap.grab():
                self._rewind()
                return None
            self._pos += 1
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._rewind()
            return None
        self._pos = index + 1
        return frame

    def __getitem__(self, index: int) -> np.ndarray:
        index = int(index)
        if index < 0:
            index += self.frame_count
        if not 0 <= index < self.frame_count:
            raise IndexError(f"frame {index} out of range (0..{self.frame_count - 1}) in {self.path}")
        with self._lock:
            cached = self._cache.get(index)
            if cached is not None:
                self._cache.move_to_end(index)
                return cached
            frame = self._decode(index)
            if frame is None:
                raise VideoError(self.path, f"frame {index} cannot be decoded (truncated or corrupt video)")
            return self._store(index, frame)

    def frame(self, index: int) -> np.ndarray:
        return self[index]

    def iter_frames(self, start: int = 0, stop: int | None = None, step: int = 1) -> Iterator[tuple[int, np.ndarray]]:
        """Stream (index, frame) pairs with a private decoder; nothing is cached."""
        stop = self.frame_count if stop is None else min(stop, self.frame_count)
        cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        try:
            if start and self.intra_only:
                cap.set(cv2.CAP_PROP_POS_FRAMES, start)
                pos = start
            else:
                pos = 0
            while pos < stop:
                if pos < start or (pos - start) % step:
                    if not cap.grab():
                        return
                    pos += 1
                    continue
                ok, frame = cap.read()
                if not ok:
                    return
                yield pos, frame
                pos += 1
        finally:
            cap.release()

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, frame in self.iter_frames():
            yield frame

    def close(self) -> None:
        with self._lock:
            self._cap.release()
            self._cache.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def probe_video(path) -> VideoInfo:
    """Size, fps, frame count and codec of a video."""
    with VideoReader(path, cache_mb=1) as reader:
        return reader.info
