"""Running the model on the view shown: the worker thread, its progress in the status bar,
the estimator kept across runs, and the analysis of each finished estimate."""
from __future__ import annotations

import json
import math
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from . import metrics
from .info_panel import device_text
from .worker import InferenceRun, InferenceWorker


def format_eta(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class RunController(QtCore.QObject):
    """Starts, follows and cancels model runs of a :class:`SessionState`'s views.

    ``estimator_factory(checkpoint, device)`` builds the estimator (default: the session
    layer's loader); the estimator built is kept and reused while the checkpoint stays.
    """

    modelChanged = QtCore.Signal(object)  # ModelIdentity
    estimateDone = QtCore.Signal(int)  # the view whose estimate is complete (and analysed)
    runChanged = QtCore.Signal()  # a run started or ended
    failed = QtCore.Signal(str, object)  # title, error

    def __init__(self, state, estimator_factory=None, checkpoint=None, device: str = "auto", parent=None):
        super().__init__(parent)
        self.state = state
        self.estimator_factory = estimator_factory
        self.checkpoint = checkpoint
        self.device = device
        self.estimator = None
        self.model_info = None  # ModelIdentity of the last model reported
        self.run: InferenceRun | None = None
        self.run_view = 0
        self._run_id = 0
        self.progress = QtWidgets.QProgressBar()
        self.progress.setMaximumWidth(260)
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)
        self.rate_label = QtWidgets.QLabel()
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.model_label = QtWidgets.QLabel("model: not loaded")
        self.model_label.setToolTip("The pose model and the device it runs on")

    def add_to(self, status_bar: QtWidgets.QStatusBar) -> None:
        for w in (self.progress, self.rate_label, self.cancel_button):
            status_bar.addWidget(w)
        status_bar.addPermanentWidget(self.model_label)

    # ------------------------------------------------------------------ runs
    def is_running(self) -> bool:
        return self.run is not None and self.run.is_running()

    def start(self, use_cache: bool = True) -> bool:
        """Estimate the view shown (replacing its estimate)."""
        st = self.state
        if st.session is None:
            return False
        self.stop()
        self._run_id += 1
        rid = self._run_id
        view = self.run_view = st.view_index
        estimate_run = st.session.estimate_run(view, estimator=self.estimator, checkpoint=self.checkpoint,
                                               device=self.device, use_cache=use_cache,
                                               **({"factory": self.estimator_factory} if self.estimator_factory else {}))
        session = st.session
        self.run = run = InferenceRun(InferenceWorker(
            estimate_run, analyse=lambda pose: metrics.analyse_source(session, pose, "model", view)), self)
        st.begin_pose()
        st.set_metrics(None, st.gt_metrics)

        def mine(fn):
            return lambda *a: fn(*a) if rid == self._run_id else None

        run.status.connect(mine(lambda s: self.rate_label.setText(self.prefix() + s)))
        run.modelReady.connect(mine(self._on_model))
        run.progress.connect(mine(self._on_progress))
        # every result goes to the view the run estimates, whichever view is shown by then
        run.batchReady.connect(mine(lambda start, cols: st.add_pose_batch(start, cols, view)))
        run.finished.connect(mine(lambda seq, where, analysed: self._on_finished(seq, where, analysed, view)))
        run.cancelled.connect(mine(self._on_cancelled))
        run.failed.connect(mine(self._on_failed))
        run.thread.finished.connect(self.runChanged)
        self.progress.setRange(0, max(st.n_frames, 1))
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setVisible(True)
        self.rate_label.setText("starting…")
        run.start()
        self.runChanged.emit()
        return True

    def cancel(self) -> None:
        if self.is_running():
            self.run.cancel()
            self.rate_label.setText("cancelling…")

    def stop(self) -> None:
        """Cancel a run and wait for its thread; its late signals are ignored."""
        if self.run is not None:
            self.run.cancel()
            self.run.wait(30000)
            self.run = None
            self._run_id += 1
        self._end_progress()

    def use_checkpoint(self, path) -> None:
        """Another checkpoint from now on (loaded, and checked, by the next run)."""
        self.stop()
        self.checkpoint = str(path)
        self.estimator = None
        self.model_info = None
        self.model_label.setText(f"model: {Path(path).name} (not loaded yet)")

    def prefix(self) -> str:
        """``cam01: `` where the recording has several views (the run's view may not be the one shown)."""
        rec = self.state.recording
        if rec is None or len(rec.views) < 2 or self.run_view >= len(rec.views):
            return ""
        return f"{rec.views[self.run_view].video_path.stem}: "

    # ------------------------------------------------------------- callbacks
    def _end_progress(self) -> None:
        self.progress.setVisible(False)
        self.cancel_button.setVisible(False)
        self.runChanged.emit()

    def _on_model(self, identity) -> None:
        self.model_info = identity
        if self.run is not None and self.run.worker.estimator is not None:
            self.estimator = self.run.worker.estimator
        self.model_label.setText(f"model: {identity.name} · device: {device_text(identity)}")
        self.model_label.setToolTip(json.dumps(identity.card, indent=1, default=str)[:3000])
        self.modelChanged.emit(identity)

    def _on_progress(self, done, total, rate, eta) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(self.prefix() + "%v / %m frames")
        self.rate_label.setText(f"{self.prefix()}{rate:.1f} frames/s · ETA {format_eta(eta)}")

    def _on_finished(self, seq, where: str, analysed, view: int) -> None:
        est = self.state.set_pose(seq, view)
        self._end_progress()
        if where.startswith("cache:"):
            self.rate_label.setText(self.prefix() + "estimate loaded from the cache")
        else:
            self.rate_label.setText(self.prefix() + "estimate done"
                                    + ("" if "not cached" not in where else " (not cached: no writable folder)"))
        est.analysed = analysed
        self.estimateDone.emit(view)

    def _on_cancelled(self, _done) -> None:
        self._end_progress()
        est = self.state.estimates.get(self.run_view)
        n = int(est.done.sum()) if est is not None else 0
        self.rate_label.setText(f"{self.prefix()}cancelled after {n} frames; those are kept, not cached")

    def _on_failed(self, message, exc) -> None:
        self._end_progress()
        self.rate_label.setText(self.prefix() + "model run failed")
        self.failed.emit("The model could not run", exc if exc is not None else message)
