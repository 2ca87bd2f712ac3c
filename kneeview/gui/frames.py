"""Frames for display, fast in both directions.

:class:`~kneeview.io.video.VideoReader` is exact, but OpenCV's seek decodes up to 16
frames before the target (about 60 ms at 1080p), which makes scrubbing backwards or
jumping sluggish. For intra-only MJPG video, every packet is a complete JPEG: this source
seeks a second capture in *raw packet* mode (no decoding while it seeks) and decodes only
the target packet with libjpeg (about 5 ms at 1080p).

libjpeg and FFmpeg upsample chroma differently, so a displayed pixel can differ from
FFmpeg's by a few grey levels; that is invisible and only ever shown, never analysed:
inference streams its frames through the exact reader. The raw path is checked against
the exact reader on the first frame and on every 50th request, and abandoned for good
if they disagree beyond that (another codec, a JPEG without Huffman tables...).
Set ``KNEEVIEW_EXACT_DISPLAY=1`` to always display FFmpeg's exact frames.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: mean absolute difference (grey levels) tolerated between libjpeg's and FFmpeg's decoding
MAX_MEAN_DIFF = 6.0
CHECK_EVERY = 50
RAW_CODECS = {"MJPG", "mjpg", "AVRN", "LJPG", "JPGL", "dmb1"}


class DisplayFrames:
    """RGB frames of a video for display: ``frames[i]`` (read-only HxWx3 uint8)."""

    def __init__(self, reader, cache_mb: float = 384.0):
        self.reader = reader
        self._lock = threading.Lock()
        W, H = reader.size
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = max(4, int(cache_mb * 2**20 // (W * H * 3)))
        self._raw = None
        self._raw_pos = -1
        self._requests = 0
        self.raw_path = False
        exact = os.environ.get("KNEEVIEW_EXACT_DISPLAY", "") not in ("", "0")
        if not exact and reader.info.codec in RAW_CODECS and getattr(reader, "intra_only", False):
            self._open_raw()

    # ----------------------------------------------------------------- raw path
    def _open_raw(self):
        try:
            cap = cv2.VideoCapture(str(self.reader.path), cv2.CAP_FFMPEG)
            if not cap.isOpened() or not cap.set(cv2.CAP_PROP_FORMAT, -1):
                cap.release()
                return
            self._raw, self._raw_pos = cap, 0
            self.raw_path = True
            if not self._agrees(0):
                self._disable("the first frame differs from FFmpeg's decoding")
        except cv2.error as exc:
            self._disable(f"OpenCV error: {exc}")

    def _disable(self, why: str):
        if self.raw_path:
            log.info("fast display decoding off for %s: %s", self.reader.path.name, why)
        self.raw_path = False
        if self._raw is not None:
            self._raw.release()
            self._raw = None

    def _decode_raw(self, index: int) -> np.ndarray | None:
        cap = self._raw
        if index != self._raw_pos:
            if not cap.set(cv2.CAP_PROP_POS_FRAMES, index):
                return None
        ok, packet = cap.read()
        self._raw_pos = index + 1 if ok else -1
        if not ok or packet is None or packet.size == 0:
            return None
        img = cv2.imdecode(np.frombuffer(packet.tobytes(), np.uint8), cv2.IMREAD_COLOR)
        W, H = self.reader.size
        if img is None or img.shape[:2] != (H, W):
            return None
        return img

    def _agrees(self, index: int) -> bool:
        fast = self._decode_raw(index)
        if fast is None:
            return False
        exact = self.reader[index]
        return float(np.mean(np.abs(fast.astype(np.int16) - exact.astype(np.int16)))) <= MAX_MEAN_DIFF

    # ------------------------------------------------------------------ access
    def __getitem__(self, index: int) -> np.ndarray:
        index = int(index)
        with self._lock:
            hit = self._cache.get(index)
            if hit is not None:
                self._cache.move_to_end(index)
                return hit
            bgr = None
            if self.raw_path:
                self._requests += 1
                if self._requests % CHECK_EVERY == 0 and not self._agrees(index):
                    self._disable(f"frame {index} differs from FFmpeg's decoding")
                else:
                    bgr = self._decode_raw(index)
                    if bgr is None:
                        self._disable(f"frame {index} could not be decoded from its packet")
            if bgr is None:
                bgr = self.reader[index]
            rgb = cv2.cvtColor(np.asarray(bgr), cv2.COLOR_BGR2RGB)
            rgb.setflags(write=False)
            self._cache[index] = rgb
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return rgb

    def clear_cache(self):
        with self._lock:
            self._cache.clear()

    def close(self):
        with self._lock:
            self._cache.clear()
            self._disable("closed")
