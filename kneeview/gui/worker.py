"""Inference off the GUI thread: load the model, look up the cache, estimate, report.

:class:`InferenceWorker` is a QObject moved to a QThread. It reports progress (frames
done, frames/s, ETA) and every finished batch, so the views show estimates as they
arrive and scrubbing works over the frames already done. ``cancel()`` is thread-safe;
a cancelled run keeps what it has and is not cached.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6 import QtCore

from .. import joints as J
from ..errors import KneeViewInputError
from ..sequence import PoseSequence
from . import cache

log = logging.getLogger(__name__)


def default_estimator_factory(path=None, device="auto"):
    """The bundled (or given) checkpoint through ``kneeview.pose.load_estimator``."""
    try:
        from ..pose import load_estimator
    except ImportError as exc:
        raise KneeViewInputError(path, f"no pose model is available in this build ({exc})", "model") from None
    return load_estimator(path=path, device=device)


@dataclass
class ModelInfo:
    name: str
    device: str
    hash: str
    card: dict


def model_info(estimator) -> ModelInfo:
    """Name, device, checkpoint hash and card of an estimator (``kneeview.pose.Estimator``:
    ``.info`` and ``.card``; other objects: whatever attributes they have)."""
    card = getattr(estimator, "card", None) or {}
    if not isinstance(card, dict):
        card = dict(getattr(card, "__dict__", {}))
    info = getattr(estimator, "info", None)
    info = info if isinstance(info, dict) else {}
    name = str(info.get("name") or getattr(estimator, "name", "") or card.get("name") or type(estimator).__name__)
    details = [str(info[k]) for k in ("framework", "backbone") if info.get(k)]
    if details:
        name += f" ({', '.join(details)})"
    version = card.get("version") or info.get("kneeview_version")
    if version and str(version) not in name:
        name += f" v{version}"
    device = str(info.get("device") or getattr(estimator, "device", "") or "cpu")
    digest = ""
    for value in (info.get("checkpoint_sha256"), (card.get("weights") or {}).get("sha256") if isinstance(card.get("weights"), dict) else None,
                  getattr(estimator, "checkpoint_sha256", None), card.get("sha256")):
        if value:
            digest = str(value)
            break
    if not digest:
        path = getattr(estimator, "checkpoint_path", None) or getattr(estimator, "path", None)
        if path and Path(path).is_file():
            digest = cache.file_sha256(path)
        else:
            digest = hashlib.sha256(json.dumps(card, sort_keys=True, default=str).encode()).hexdigest()
    return ModelInfo(name=name, device=device, hash=digest, card=card)


def card_model_info(checkpoint=None) -> ModelInfo | None:
    """Model info from a checkpoint's JSON card alone (no torch, no weights loaded), so a
    cached estimate can be found before the model is loaded; None if there is no card."""
    from ..bundled import model_path

    path = Path(checkpoint) if checkpoint is not None else model_path()
    try:
        if path.is_dir():
            cards = sorted(path.glob("*.json"))
            if len(cards) != 1:
                return None
            path = cards[0]
        card_path = path if path.suffix == ".json" else path.with_suffix(".json")
        card = json.loads(card_path.read_text(encoding="utf-8"))
        digest = str(card["weights"]["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    details = [str(card[k]) for k in ("framework", "backbone") if card.get(k)]
    name = "kneeview-pose" + (f" ({', '.join(details)})" if details else "")
    if card.get("kneeview_version"):
        name += f" v{card['kneeview_version']}"
    return ModelInfo(name=name, device="not loaded (cached estimate)", hash=digest, card=card)


_FIELDS = ("score", "keypoints_px", "joints_cam_m", "confidence")


def batch_arrays(out, n: int) -> dict[str, np.ndarray]:
    """An estimator's output for ``n`` frames as arrays: score (n,), keypoints_px (n,6,2),
    joints_cam_m (n,6,3), confidence (n,6). Accepts a PoseSequence-like object, a dict of
    arrays, or a list of per-frame dicts/objects."""
    def get(obj, key):
        return obj[key] if isinstance(obj, dict) else getattr(obj, key)

    if isinstance(out, (list, tuple)):
        if len(out) != n:
            raise ValueError(f"the estimator returned {len(out)} results for {n} frames")
        cols = {k: np.stack([np.asarray(get(o, k), dtype=np.float64) for o in out]) for k in _FIELDS}
    else:
        cols = {k: np.asarray(get(out, k), dtype=np.float64) for k in _FIELDS}
    shapes = {"score": (n,), "keypoints_px": (n, J.N_JOINTS, 2), "joints_cam_m": (n, J.N_JOINTS, 3), "confidence": (n, J.N_JOINTS)}
    for k, shape in shapes.items():
        cols[k] = cols[k].reshape(shape)
    return cols


class InferenceWorker(QtCore.QObject):
    """Runs one estimate of one video. Signals are queued to the GUI thread."""

    status = QtCore.Signal(str)
    modelReady = QtCore.Signal(object)  # ModelInfo
    progress = QtCore.Signal(int, int, float, float)  # done, total, frames/s, eta_s
    batchReady = QtCore.Signal(int, object)  # first frame, dict of arrays
    finished = QtCore.Signal(object, str)  # PoseSequence, "computed" | "cache:<path>"
    cancelled = QtCore.Signal(int)  # frames done
    failed = QtCore.Signal(str, object)  # message, KneeViewInputError or None

    def __init__(self, video_path, estimator_factory=None, estimator=None, checkpoint=None, device="auto",
                 batch_size: int | None = None, use_cache: bool = True):
        super().__init__()
        self.video_path = Path(video_path)
        self._factory = estimator_factory or default_estimator_factory
        self._estimator = estimator
        self._checkpoint = checkpoint
        self._device = device
        self._batch_size = batch_size
        self._use_cache = use_cache
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @QtCore.Slot()
    def run(self) -> None:
        try:
            self._run()
        except KneeViewInputError as exc:
            self.failed.emit(str(exc), exc)
        except Exception as exc:  # a bug: report it, never kill the app
            log.exception("inference failed")
            self.failed.emit(f"Inference failed: {type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=6)}", None)

    def _run(self) -> None:
        from ..io.video import VideoReader

        if self._use_cache and self._estimator is None and self._factory is default_estimator_factory:
            # reopening is instant: find the cached estimate by the card's hash, no model loaded
            quick = card_model_info(self._checkpoint)
            if quick is not None:
                self.status.emit("checking the cache…")
                hit = cache.load_cached(self.video_path, cache.file_sha256(self.video_path), quick.hash)
                if hit is not None:
                    self.modelReady.emit(quick)
                    self.finished.emit(hit[0], f"cache:{hit[1]}")
                    return
        self.status.emit("loading the model…")
        est = self._estimator or self._factory(self._checkpoint, self._device)
        self._estimator = est
        info = model_info(est)
        self.modelReady.emit(info)
        if self._cancel.is_set():
            self.cancelled.emit(0)
            return
        video_hash = ""
        if self._use_cache:
            self.status.emit("checking the cache…")
            video_hash = cache.file_sha256(self.video_path)
            hit = cache.load_cached(self.video_path, video_hash, info.hash)
            if hit is not None:
                self.finished.emit(hit[0], f"cache:{hit[1]}")
                return
        reader = VideoReader(self.video_path, cache_mb=16)
        try:
            seq = self._estimate(est, reader, info)
        finally:
            reader.close()
        if seq is None:
            return
        where = "computed"
        if self._use_cache:
            saved = cache.save_cached(seq, self.video_path, video_hash, info.hash)
            where = f"computed:{saved}" if saved else "computed (not cached: no writable folder)"
        self.finished.emit(seq, where)

    def _estimate(self, est, reader, info: ModelInfo) -> PoseSequence | None:
        total, fps = reader.frame_count, reader.fps
        model = dict(getattr(est, "info", None) or {}) if isinstance(getattr(est, "info", None), dict) else {}
        model.update({"name": info.name, "checkpoint_sha256": info.hash, "device": info.device})
        seq = PoseSequence.empty(total, fps, source="model", model=model)
        bs = int(self._batch_size or getattr(est, "default_batch_size", 0) or getattr(est, "batch_size", 0) or (8 if "cuda" in info.device else 1))
        self.status.emit(f"estimating {total} frames on {info.device}…")
        t0 = time.perf_counter()
        done = 0
        if not hasattr(est, "predict") and hasattr(est, "run"):
            return self._run_whole(est, reader, seq, bs, t0)
        batch: list[np.ndarray] = []
        start = 0
        for index, frame in reader.iter_frames():
            if self._cancel.is_set():
                break
            if not batch:
                start = index
            batch.append(frame)
            if len(batch) == bs or index == total - 1:
                cols = batch_arrays(est.predict(batch), len(batch))
                stop = start + len(batch)
                for k, v in cols.items():
                    getattr(seq, k)[start:stop] = v
                done = stop
                batch = []
                self.batchReady.emit(start, cols)
                self._report(done, total, t0)
        if self._cancel.is_set() or done < total:
            if not self._cancel.is_set():
                raise KneeViewInputError(self.video_path, f"the video ended after {done} of {total} frames")
            self.cancelled.emit(done)
            return None
        return seq

    def _run_whole(self, est, reader, seq, bs, t0):
        total = seq.frame_index.size

        def progress(done, *_args, **_kw):
            self._report(int(done), total, t0)

        try:
            out = est.run(reader, progress=progress, cancel=self._cancel.is_set, batch_size=bs)
        except Exception:
            if not self._cancel.is_set():
                raise
            out = None  # the estimator stopped because we asked (e.g. kneeview.pose.InferenceCancelled)
        if self._cancel.is_set():
            self.cancelled.emit(0)
            return None
        cols = batch_arrays(out, total)
        for k, v in cols.items():
            getattr(seq, k)[:] = v
        self.batchReady.emit(0, cols)
        return seq

    def _report(self, done: int, total: int, t0: float) -> None:
        elapsed = max(time.perf_counter() - t0, 1e-9)
        rate = done / elapsed
        eta = (total - done) / rate if rate > 0 else float("nan")
        self.progress.emit(done, total, rate, eta)


class InferenceRun(QtCore.QObject):
    """Owns a worker and its thread. Lives in the GUI thread and re-emits the worker's
    signals there (signal-to-signal connections are queued across threads), so plain
    Python callables connected to these signals run in the GUI thread."""

    status = QtCore.Signal(str)
    modelReady = QtCore.Signal(object)
    progress = QtCore.Signal(int, int, float, float)
    batchReady = QtCore.Signal(int, object)
    finished = QtCore.Signal(object, str)
    cancelled = QtCore.Signal(int)
    failed = QtCore.Signal(str, object)

    def __init__(self, worker: InferenceWorker, parent=None):
        super().__init__(parent)
        self.worker = worker
        self.thread = QtCore.QThread(self)
        self.thread.setObjectName("kneeview-inference")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        for name in ("status", "modelReady", "progress", "batchReady", "finished", "cancelled", "failed"):
            getattr(worker, name).connect(getattr(self, name))
        for sig in (worker.finished, worker.cancelled, worker.failed):
            # direct: the GUI thread may be blocked in wait() for this very thread
            sig.connect(self.thread.quit, QtCore.Qt.ConnectionType.DirectConnection)
        self.done = False
        for sig in (self.finished, self.cancelled, self.failed):
            sig.connect(self._mark_done)

    def _mark_done(self, *_):
        self.done = True

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def is_running(self) -> bool:
        """Until the run's last signal (finished, cancelled or failed) has reached the GUI
        thread: the thread itself may end before its queued results are delivered."""
        return not self.done

    def wait(self, ms: int = 10000) -> bool:
        return self.thread.wait(ms) if self.thread.isRunning() else True
