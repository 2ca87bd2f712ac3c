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

While scrubbing, the video view needs no more pixels than the screen shows: on the raw
path libjpeg decodes a frame at 1/2, 1/4 or 1/8 of its size straight from the DCT
coefficients (its scaled IDCT averages each block, like an area resampling), which is
cheaper than a full decode and much cheaper to draw (:meth:`DisplayFrames.get`). Pixel
``k`` of a frame reduced ``r`` times covers raw pixels ``[k r, (k + 1) r)``; the extent
returned with it says which raw rectangle the image covers, so whatever is drawn in raw
pixel coordinates over it stays exact. The exact reader's frames are never reduced (they
are decoded in full anyway, and drawing a full frame is cheap).

:meth:`DisplayFrames.prefetch` decodes a frame ahead in a background thread (the next one
during playback or while stepping with the keys); the captures are used under a lock, the
decoding itself runs outside it (OpenCV releases the GIL), and a frame being decoded is
never decoded twice: a request for it waits for that decode.
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
#: the reductions libjpeg decodes directly (scaled IDCT), and OpenCV's flag for each
REDUCTIONS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


class DisplayFrames:
    """RGB frames of a video for display: ``frames[i]`` (read-only HxWx3 uint8, full size),
    ``frames.get(i, reduction)`` (a smaller one for scrubbing, with the raw extent it covers).
    Safe to use from several threads."""

    def __init__(self, reader, cache_mb: float = 384.0):
        self.reader = reader
        # guards the captures, the cache and the bookkeeping below (never held while decoding)
        self._cond = threading.Condition(threading.Lock())
        # (index, reduction) -> (rgb, extent); least recently used first, bounded in bytes
        self._cache: OrderedDict[tuple[int, int], tuple[np.ndarray, tuple[int, int]]] = OrderedDict()
        self._cache_bytes = 0
        W, H = reader.size
        self._cache_limit = max(int(cache_mb * 2**20), 4 * W * H * 3)
        self._inflight: set[tuple[int, int]] = set()  # being decoded by some thread
        self._wanted: tuple[int, int] | None = None  # the next frame for the read-ahead thread
        self._worker: threading.Thread | None = None
        self._closed = False
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
            if self._checked(0) is None:
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

    def _read_packet(self, index: int) -> np.ndarray | None:
        """The compressed packet of frame ``index`` (a JPEG), or None. Under the lock."""
        cap = self._raw
        if cap is None:
            return None
        if index != self._raw_pos:
            if not cap.set(cv2.CAP_PROP_POS_FRAMES, index):
                return None
        ok, packet = cap.read()
        self._raw_pos = index + 1 if ok else -1
        if not ok or packet is None or packet.size == 0:
            return None
        return np.frombuffer(packet.tobytes(), np.uint8)

    def _decode_packet(self, packet: np.ndarray, reduction: int = 1) -> np.ndarray | None:
        """The BGR frame in ``packet``, ``reduction`` times smaller (``ceil(W / reduction)`` x
        ``ceil(H / reduction)``), or None. Needs no lock."""
        img = cv2.imdecode(packet, REDUCTIONS[reduction])
        W, H = self.reader.size
        if img is None or img.shape[:2] != (-(-H // reduction), -(-W // reduction)):
            return None
        return img

    def _decode_raw(self, index: int) -> np.ndarray | None:
        packet = self._read_packet(index)
        return None if packet is None else self._decode_packet(packet)

    def _checked(self, index: int) -> np.ndarray | None:
        """The raw path's decoding of frame ``index`` (BGR) when it agrees with FFmpeg's, else None."""
        fast = self._decode_raw(index)
        if fast is None:
            return None
        exact = self.reader[index]
        return fast if float(np.mean(np.abs(fast.astype(np.int16) - exact.astype(np.int16)))) <= MAX_MEAN_DIFF else None

    # ------------------------------------------------------------------ access
    def __getitem__(self, index: int) -> np.ndarray:
        return self.get(index)[0]

    def _lookup(self, index: int, reduction: int):
        for r in sorted((r for r in REDUCTIONS if r <= reduction), reverse=True):
            hit = self._cache.get((index, r))
            if hit is not None:
                self._cache.move_to_end((index, r))
                return hit
        return None

    def get(self, index: int, reduction: int = 1) -> tuple[np.ndarray, tuple[int, int]]:
        """``(rgb, (width, height))``: frame ``index`` for display, at most ``reduction`` (1, 2,
        4 or 8) times smaller than the video (a finer frame when one is cached; always the full
        frame off the raw path), and the raw pixels it covers: the image is drawn over
        ``[-0.5, width - 0.5] x [-0.5, height - 0.5]`` in raw pixel coordinates."""
        index = int(index)
        reduction = int(reduction) if int(reduction) in REDUCTIONS else 1
        key = (index, reduction)
        with self._cond:
            while True:
                hit = self._lookup(index, reduction)
                if hit is not None:
                    return hit
                if key not in self._inflight:
                    break
                self._cond.wait()  # another thread is decoding this frame: take its result
            self._inflight.add(key)
        entry = None
        try:
            entry, done = self._load(index, reduction)
            return entry
        finally:
            with self._cond:
                self._inflight.discard(key)
                if entry is not None:
                    self._store((index, done), entry)
                self._cond.notify_all()

    def _load(self, index: int, reduction: int) -> tuple[tuple[np.ndarray, tuple[int, int]], int]:
        """((rgb, extent), the reduction it has). Decodes outside the lock."""
        packet = bgr = None
        with self._cond:
            if self.raw_path and reduction == 1:
                self._requests += 1
                if self._requests % CHECK_EVERY == 0:
                    bgr = self._checked(index)  # a frame that passed the check is shown as decoded
                    if bgr is None:
                        self._disable(f"frame {index} differs from FFmpeg's decoding")
            if self.raw_path and bgr is None:
                packet = self._read_packet(index)
                if packet is None:
                    self._disable(f"frame {index} could not be read as a packet")
        if bgr is None and packet is not None:
            bgr = self._decode_packet(packet, reduction)
        if bgr is not None:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)  # in place: the decoder's own array
        else:
            with self._cond:
                if packet is not None:
                    self._disable(f"frame {index} could not be decoded from its packet")
                bgr, reduction = self.reader[index], 1
            rgb = cv2.cvtColor(np.asarray(bgr), cv2.COLOR_BGR2RGB)  # a copy: the reader may cache its frame
        rgb.setflags(write=False)
        h, w = rgb.shape[:2]
        extent = (w * reduction, h * reduction) if reduction > 1 else tuple(self.reader.size)
        return (rgb, extent), reduction

    def _store(self, key, entry):
        old = self._cache.pop(key, None)
        if old is not None:
            self._cache_bytes -= old[0].nbytes
        self._cache[key] = entry
        self._cache_bytes += entry[0].nbytes
        while self._cache_bytes > self._cache_limit and len(self._cache) > 1:
            _, (img, _) = self._cache.popitem(last=False)
            self._cache_bytes -= img.nbytes

    def cached(self, index: int, reduction: int = 1) -> bool:
        """Whether ``get(index, reduction)`` would answer from the cache."""
        with self._cond:
            return any((int(index), r) in self._cache for r in REDUCTIONS if r <= reduction)

    # -------------------------------------------------------------- read-ahead
    def prefetch(self, index: int, reduction: int = 1) -> None:
        """Decode frame ``index`` in the background (if it is a frame, and neither cached nor
        being decoded); a later call replaces a request not yet started."""
        index = int(index)
        reduction = int(reduction) if int(reduction) in REDUCTIONS else 1
        if not 0 <= index < self.reader.frame_count:
            return
        with self._cond:
            if self._closed or self._lookup(index, reduction) is not None or (index, reduction) in self._inflight:
                return
            self._wanted = (index, reduction)
            if self._worker is None:
                self._worker = threading.Thread(target=self._read_ahead, name="kneeview-read-ahead", daemon=True)
                self._worker.start()
            self._cond.notify_all()

    def _read_ahead(self):
        while True:
            with self._cond:
                while self._wanted is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                index, reduction = self._wanted
                self._wanted = None
            try:
                self.get(index, reduction)
            except Exception as exc:  # a read error shows when the frame is asked for
                log.debug("read-ahead of frame %d failed: %s", index, exc)

    def clear_cache(self):
        with self._cond:
            self._cache.clear()
            self._cache_bytes = 0

    def close(self):
        with self._cond:
            self._closed = True
            self._wanted = None
            self._cond.notify_all()
            worker = self._worker
        if worker is not None:
            worker.join(5.0)
        with self._cond:
            self._cond.wait_for(lambda: not self._inflight, timeout=5.0)  # a decode of another thread
            self._cache.clear()
            self._cache_bytes = 0
            self._disable("closed")
