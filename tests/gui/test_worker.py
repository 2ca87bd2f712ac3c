"""The inference worker on its own: output adapters, model info, run()-only estimators."""
from __future__ import annotations

import numpy as np
import pytest

from kneeview import joints as J
from kneeview.sequence import PoseSequence


def test_batch_arrays_accepts_the_usual_shapes():
    from kneeview.gui.worker import batch_arrays

    rng = np.random.default_rng(0)
    seq = PoseSequence.empty(3, 50.0)
    seq.keypoints_px[:] = rng.normal(size=(3, 6, 2))
    seq.score[:] = [0.1, 0.2, 0.3]
    as_seq = batch_arrays(seq, 3)
    per_frame = batch_arrays([{"score": seq.score[i], "keypoints_px": seq.keypoints_px[i], "joints_cam_m": seq.joints_cam_m[i],
                               "confidence": seq.confidence[i]} for i in range(3)], 3)
    for k in ("score", "keypoints_px", "joints_cam_m", "confidence"):
        np.testing.assert_array_equal(as_seq[k], per_frame[k])
    assert as_seq["keypoints_px"].shape == (3, J.N_JOINTS, 2)
    with pytest.raises(ValueError):
        batch_arrays([{}] * 2, 3)


def test_model_info_reads_the_estimator_and_its_card():
    from kneeview.gui.worker import model_info

    class Est:
        card = {"version": "1.2", "weights": {"sha256": "ab" * 32}}
        info = {"name": "kneeview-pose", "framework": "A", "backbone": "efficientnet_lite0", "device": "cuda:0",
                "checkpoint_sha256": "cd" * 32}

    info = model_info(Est())
    assert info.name == "kneeview-pose (A, efficientnet_lite0) v1.2"
    assert info.device == "cuda:0" and info.hash == "cd" * 32

    class Bare:
        card = {"name": "x"}

    a, b = model_info(Bare()), model_info(type("Other", (), {"card": {"name": "y"}})())
    assert a.hash != b.hash  # without a checkpoint hash, the card identifies the model


class RunOnly:
    """An estimator with only ``run`` (like a batch tool would give)."""

    card = {"name": "run-only"}

    def __init__(self, cancel_after=None):
        self.cancel_after = cancel_after

    def run(self, reader, progress=None, cancel=None, batch_size=None):
        n = reader.frame_count
        seq = PoseSequence.empty(n, reader.fps)
        for i in range(n):
            if cancel is not None and cancel():
                raise RuntimeError("stopped")  # kneeview.pose raises InferenceCancelled
            seq.keypoints_px[i] = i
            seq.score[i] = 1.0
            if progress is not None:
                progress(i + 1, n)
            if self.cancel_after is not None and i + 1 == self.cancel_after:
                self.worker.cancel()
        return seq


def test_run_only_estimator_completes_and_cancels(make_session, qtbot):
    from kneeview.gui.worker import InferenceRun, InferenceWorker

    folder = make_session(n_frames=8)
    video = next(folder.glob("*.avi"))
    run = InferenceRun(InferenceWorker(video, estimator=RunOnly(), use_cache=False))
    with qtbot.waitSignal(run.finished, timeout=10000) as blocker:
        run.start()
    seq, where = blocker.args
    assert where == "computed" and len(seq) == 8
    np.testing.assert_array_equal(seq.keypoints_px[:, 0, 0], np.arange(8))
    run.wait()

    est = RunOnly(cancel_after=3)
    worker = InferenceWorker(video, estimator=est, use_cache=False)
    est.worker = worker
    run = InferenceRun(worker)
    with qtbot.waitSignal(run.cancelled, timeout=10000):
        run.start()
    run.wait()
    assert not run.is_running()
