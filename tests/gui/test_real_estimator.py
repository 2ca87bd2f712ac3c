"""The worker with KneeView's real estimator class and checkpoint files (random weights:
the numbers are meaningless, the plumbing is what is checked)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from kneeview.pose import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model(pretrained_backbone=False)
    folder = tmp_path_factory.mktemp("ckpt")
    weights, card = save_checkpoint(model, folder / "random.safetensors", training={"note": "random weights, for a test"})
    return weights, card


def test_worker_runs_the_real_estimator_and_caches_by_checkpoint(make_session, make_window, wait_done, checkpoint, qtbot):
    from kneeview.io.video import VideoReader
    from kneeview.pose import load_estimator

    folder = make_session(n_frames=5)
    weights, _ = checkpoint
    win = make_window(checkpoint=weights, device="cpu")  # the default factory: kneeview.pose.load_estimator
    win.open_path(folder)
    wait_done(win, timeout=120000)
    info = win.model_info
    assert info.device == "cpu" and "kneeview-pose" in info.name
    assert "cpu" in win.model_label.text()
    reference = load_estimator(weights, device="cpu")
    assert info.sha256 == reference.identity.sha256 == reference.info["checkpoint_sha256"]
    frame = np.asarray(VideoReader(next(folder.glob("*.avi")))[3])
    expected = reference.predict(frame)
    got_kp = win.state.pose.keypoints_px[3]
    if np.isfinite(expected.score):
        np.testing.assert_allclose(got_kp, expected.keypoints_px, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(win.state.pose.confidence[3], expected.confidence, rtol=1e-4, atol=1e-4)
    else:
        assert np.isnan(win.state.pose.score[3]) and np.isnan(got_kp).all()
    cached = list((folder / ".kneeview").glob("*.npz"))
    assert len(cached) == 1 and info.sha256[:16] in cached[0].name


def test_tampered_checkpoint_shows_a_dialog(make_session, make_window, checkpoint, dialogs, qtbot, tmp_path):
    import shutil

    weights, card = checkpoint
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(card, bad / card.name)
    data = bytearray(weights.read_bytes())
    data[-100:] = b"\x00" * 100
    (bad / weights.name).write_bytes(bytes(data))
    folder = make_session(n_frames=3)
    win = make_window(checkpoint=bad / weights.name, device="cpu")
    win.open_path(folder)
    qtbot.waitUntil(lambda: any(d[0] == "critical" for d in dialogs), timeout=60000)
    (kind, title, text), = [d for d in dialogs if d[0] == "critical"]
    assert weights.name in text
    qtbot.waitUntil(lambda: not win.is_running(), timeout=5000)


def test_use_checkpoint_switches_the_model(make_session, make_window, wait_done, checkpoint, fake_for):
    folder = make_session(n_frames=3)
    win = make_window(fake_for(folder))
    win.open_path(folder)
    wait_done(win)
    assert "fake" in win.model_label.text()
    weights, _ = checkpoint
    win.estimator_factory = None  # the real loader from now on
    win.use_checkpoint(weights)
    wait_done(win, timeout=120000)
    assert "kneeview-pose" in win.model_label.text()


def test_reopening_in_a_new_session_uses_the_cache_without_loading_the_model(make_session, make_window, wait_done,
                                                                               checkpoint, monkeypatch):
    folder = make_session(n_frames=3)
    weights, _ = checkpoint
    win = make_window(checkpoint=weights, device="cpu")
    win.open_path(folder)
    wait_done(win, timeout=120000)
    first = win.state.pose.keypoints_px.copy()
    win.close()

    def must_not_load(*a, **k):
        raise AssertionError("the model was loaded although the estimate is cached")

    monkeypatch.setattr("kneeview.pose.load_estimator", must_not_load)
    win2 = make_window(checkpoint=weights, device="cpu")
    win2.open_path(folder)
    wait_done(win2, timeout=20000)
    assert "cache" in win2.rate_label.text()
    np.testing.assert_array_equal(win2.state.pose.keypoints_px, first)
    assert "kneeview-pose" in win2.model_label.text() and "cached" in win2.model_label.text()
