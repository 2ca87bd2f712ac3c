"""The inference worker relays a session-layer estimate run: batches, progress, cancel."""
from __future__ import annotations

import numpy as np

from kneeview.pose.card import ModelIdentity


class Counting:
    """An estimator that numbers its frames (keypoints = frame index), optionally cancelling."""

    identity = ModelIdentity(name="counting", sha256="c" * 64, device="cpu")
    default_batch_size = 3

    def __init__(self):
        self.seen = 0

    def predict(self, frames):
        out = []
        for _ in frames:
            out.append({"score": 1.0, "keypoints_px": np.full((6, 2), float(self.seen)),
                        "joints_cam_m": np.zeros((6, 3)), "confidence": np.ones(6)})
            self.seen += 1
        return out


def test_worker_relays_batches_in_order_and_cancels(make_session, qtbot):
    from kneeview.gui.worker import InferenceRun, InferenceWorker
    from kneeview.session import Session

    folder = make_session(n_frames=7)
    session = Session.open(folder)
    run = InferenceRun(InferenceWorker(session.estimate_run(0, estimator=Counting(), use_cache=False),
                                       analyse=lambda pose: ("analysed", len(pose))))
    batches, finished = [], []
    run.batchReady.connect(lambda start, cols: batches.append((start, cols["keypoints_px"][:, 0, 0].tolist())))
    run.finished.connect(lambda seq, where, analysed: finished.append((seq, where, analysed)))
    with qtbot.waitSignal(run.finished, timeout=20000):
        run.start()
    # relayed in order, consecutive batches merged (at most every RELAY_S): every frame once, in place
    starts = [start for start, _ in batches]
    assert starts[0] == 0 and all(b == a + len(v) for (a, v), b in zip(batches, starts[1:]))
    assert sum((v for _, v in batches), []) == [float(i) for i in range(7)]
    seq, where, analysed = finished[0]
    assert analysed == ("analysed", 7)  # the analysis ran on the complete estimate, before `finished`
    np.testing.assert_array_equal(seq.keypoints_px[:, 0, 0], np.arange(7))
    assert where == "computed (not cached)" and seq.model["checkpoint_sha256"] == "c" * 64
    run.wait()

    class Stopping(Counting):
        def predict(self, frames):
            out = super().predict(frames)
            worker.cancel()  # the user presses Cancel during the first batch
            return out

    worker = InferenceWorker(session.estimate_run(0, estimator=Stopping(), use_cache=False))
    run = InferenceRun(worker)
    cancelled, kept = [], []
    run.cancelled.connect(cancelled.append)
    run.batchReady.connect(lambda start, cols: kept.append((start, cols["keypoints_px"][:, 0, 0].tolist())))
    with qtbot.waitSignal(run.cancelled, timeout=20000):
        run.start()
    assert cancelled == [3]  # the first batch is kept; nothing further ran
    assert kept == [(0, [0.0, 1.0, 2.0])]  # and it reached the GUI before the cancel did
    run.wait()
