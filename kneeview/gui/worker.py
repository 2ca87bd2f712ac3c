"""Inference off the GUI thread: :class:`InferenceWorker` runs one
:class:`~kneeview.session.EstimateRun` in a QThread and relays what it reports as signals.

Everything about estimating (cache lookup by the model card, loading the model, batching,
caching the result) is the session layer's; the worker only moves it to a thread, with the
analysis of the finished estimate (the per-trial reconstruction takes seconds), so the GUI
thread never waits for either.
Progress (frames done, frames/s, ETA) and every finished batch are reported, so the views
show estimates as they arrive. ``cancel()`` is thread-safe; a cancelled run keeps what it
has and is not cached.
"""
from __future__ import annotations

import logging
import threading
import traceback

import numpy as np

from PySide6 import QtCore

from ..errors import KneeViewInputError
from ..pose.interface import InferenceCancelled

log = logging.getLogger(__name__)


class InferenceWorker(QtCore.QObject):
    """Runs one estimate of one video. Signals are queued to the GUI thread.

    Batches and progress are not signalled one by one: the worker keeps them
    (:meth:`take_batches`, :meth:`take_progress`) and :class:`InferenceRun` collects them
    from the GUI thread a few times a second. A CPU run delivers a batch per frame, and a
    signal and a repaint per frame took a third of the run's speed from it.
    """

    status = QtCore.Signal(str)
    modelReady = QtCore.Signal(object)  # kneeview.pose.ModelIdentity
    finished = QtCore.Signal(object, str, object)  # PoseSequence, "computed..." | "cache:<path>", analysis or None
    cancelled = QtCore.Signal(int)  # frames done
    failed = QtCore.Signal(str, object)  # message, KneeViewInputError or None

    def __init__(self, estimate_run, analyse=None):
        """``estimate_run``: a :class:`kneeview.session.EstimateRun` (``Session.estimate_run``);
        ``analyse(pose)``, run in the thread on the finished estimate, gives ``finished``'s third value."""
        super().__init__()
        self.estimate_run = estimate_run
        self.analyse = analyse
        self._cancel = threading.Event()
        self._done = 0
        self._lock = threading.Lock()
        self._held: list = []  # batches the GUI has not collected yet
        self._progress = None  # the latest Progress not collected yet

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def estimator(self):
        """The estimator the run loaded or was given (None until then), for the next run to reuse."""
        return self.estimate_run.estimator

    @QtCore.Slot()
    def run(self) -> None:
        try:
            result = self.estimate_run.run(status=self.status.emit, model=self.modelReady.emit,
                                           batch=self._on_batch, progress=self._on_progress,
                                           cancel=self._cancel.is_set)
        except InferenceCancelled as exc:
            self.cancelled.emit(exc.done)
        except KneeViewInputError as exc:
            self.failed.emit(str(exc), exc)
        except Exception as exc:  # a bug: report it, never kill the app
            log.exception("inference failed")
            self.failed.emit(f"Inference failed: {type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=6)}", None)
        else:
            if self._cancel.is_set() and not result.from_cache:
                self.cancelled.emit(self._done)  # cancelled during the last batch: not kept as complete
                return
            self.status.emit("analysing…")
            analysed = self.analyse(result.pose) if self.analyse is not None else None
            self.finished.emit(result.pose, result.where, analysed)

    def _on_batch(self, batch) -> None:
        with self._lock:
            self._done = batch.done
            self._held.append(batch)

    def _on_progress(self, p) -> None:
        with self._lock:
            self._progress = p

    def take_batches(self) -> list[tuple[int, dict]]:
        """The batches estimated since the last call, consecutive ones merged: [(start, columns)]."""
        with self._lock:
            held, self._held = self._held, []
        out = []
        while held:
            run = [held.pop(0)]
            while held and held[0].start == run[-1].stop:
                run.append(held.pop(0))
            out.append((run[0].start, {k: np.concatenate([b.columns[k] for b in run]) for k in run[0].columns}))
        return out

    def take_progress(self):
        """The latest progress (kneeview.session.Progress) since the last call, or None."""
        with self._lock:
            p, self._progress = self._progress, None
        return p


class InferenceRun(QtCore.QObject):
    """Owns a worker and its thread. Lives in the GUI thread and re-emits the worker's
    signals there (signal-to-signal connections are queued across threads), so plain
    Python callables connected to these signals run in the GUI thread."""

    status = QtCore.Signal(str)
    modelReady = QtCore.Signal(object)
    progress = QtCore.Signal(int, int, float, float)
    batchReady = QtCore.Signal(int, object)
    finished = QtCore.Signal(object, str, object)
    cancelled = QtCore.Signal(int)
    failed = QtCore.Signal(str, object)

    COLLECT_MS = 100  # how often the GUI collects the worker's batches and progress

    def __init__(self, worker: InferenceWorker, parent=None):
        super().__init__(parent)
        self.worker = worker
        self.thread = QtCore.QThread(self)
        self.thread.setObjectName("kneeview-inference")
        worker.moveToThread(self.thread)
        self.thread.started.connect(worker.run)
        self._collector = QtCore.QTimer(self)
        self._collector.setInterval(self.COLLECT_MS)
        self._collector.timeout.connect(self.collect)
        for name in ("status", "modelReady"):
            getattr(worker, name).connect(getattr(self, name))
        # bound methods of this GUI-thread object: queued, so they run in the GUI thread, where
        # the last batches are collected before the run's end is told
        worker.finished.connect(self._worker_finished)
        worker.cancelled.connect(self._worker_cancelled)
        worker.failed.connect(self._worker_failed)
        for sig in (worker.finished, worker.cancelled, worker.failed):
            # direct: the GUI thread may be blocked in wait() for this very thread
            sig.connect(self.thread.quit, QtCore.Qt.ConnectionType.DirectConnection)
        self.done = False
        for sig in (self.finished, self.cancelled, self.failed):
            sig.connect(self._mark_done)

    def _mark_done(self, *_):
        self.done = True
        self._collector.stop()

    @QtCore.Slot(object, str, object)
    def _worker_finished(self, seq, where, analysed) -> None:
        self.collect()
        self.finished.emit(seq, where, analysed)

    @QtCore.Slot(int)
    def _worker_cancelled(self, done) -> None:
        self.collect()
        self.cancelled.emit(done)

    @QtCore.Slot(str, object)
    def _worker_failed(self, message, exc) -> None:
        self.collect()
        self.failed.emit(message, exc)

    def collect(self) -> None:
        """Relay what the worker has estimated since the last collection (GUI thread)."""
        for start, cols in self.worker.take_batches():
            self.batchReady.emit(start, cols)
        p = self.worker.take_progress()
        if p is not None:
            self.progress.emit(p.done, p.total, p.frames_per_s, p.eta_s)

    def start(self) -> None:
        self._collector.start()
        self.thread.start()

    def cancel(self) -> None:
        self.worker.cancel()

    def is_running(self) -> bool:
        """Until the run's last signal (finished, cancelled or failed) has reached the GUI
        thread: the thread itself may end before its queued results are delivered."""
        return not self.done

    def wait(self, ms: int = 10000) -> bool:
        return self.thread.wait(ms) if self.thread.isRunning() else True
