"""The session layer: one cutoff rule, checks before any model loads, the estimate cache."""
from __future__ import annotations

import numpy as np
import pytest
from sessions import ScriptedEstimator, make_camera

from kneeview.errors import KneeViewInputError
from kneeview.session import Session, cutoff_for


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KNEEVIEW_CACHE_DIR", str(tmp_path / "user-cache"))


def _no_model(*_a, **_k):
    raise AssertionError("a model was loaded")


def _truth(session):
    from kneeview.analysis.frames import mid_hip

    cam = session.views[0].camera
    gt = session.recording.ground_truth_frames()
    return cam.project(gt), ((gt - mid_hip(gt)[:, None]) @ cam.R.T) / 1000.0


def test_one_cutoff_rule():
    assert cutoff_for(50.0) == 6.0 and cutoff_for(15.0) == 6.0
    assert cutoff_for(10.0) == pytest.approx(4.0)  # slow video: 0.4 x the rate, below Nyquist
    assert cutoff_for(50.0, 0) is None and cutoff_for(50.0, None) is None
    assert cutoff_for(50.0, 8.5) == 8.5


def test_arguments_are_checked_before_a_model_is_loaded(make_session, monkeypatch):
    monkeypatch.setattr("kneeview.session.estimates.load_estimator", _no_model)
    session = Session.open(make_session(n_frames=10, fps=50.0))
    with pytest.raises(KneeViewInputError, match="below half") as err:
        session.analyse("model", cutoff_hz=40.0)
    assert err.value.field == "--cutoff"
    with pytest.raises(KneeViewInputError, match="dj|drop") as err:
        session.analyse("model", task="cartwheel")
    assert err.value.field == "--task"


def test_an_ambiguous_camera_is_refused_for_both_sources_naming_the_candidates(make_session, monkeypatch):
    monkeypatch.setattr("kneeview.session.estimates.load_estimator", _no_model)
    other = make_camera(device_id="2107396", size=(320, 240))
    folder = make_session(n_frames=6, extra_cameras=(other,), video_name="DJ01.avi")
    session = Session.open(folder)
    for source in ("gt", "model"):
        with pytest.raises(KneeViewInputError) as err:
            session.analyse(source)
        text = str(err.value)
        assert "2107395" in text and "2107396" in text and "--camera" in text and "DJ01.avi" in text


def test_an_estimate_is_cached_and_found_again_without_the_model(make_session, monkeypatch):
    folder = make_session(n_frames=12)
    session = Session.open(folder)
    kp, rel = _truth(session)
    scripted = ScriptedEstimator(kp, rel, sha256="7" * 64)
    first = session.estimate(estimator=scripted)
    assert not first.from_cache and scripted.seen == 12
    np.testing.assert_array_equal(first.pose.keypoints_px, kp)
    cached = list((folder / ".kneeview").glob("*.npz"))
    assert len(cached) == 1 and "7" * 16 in cached[0].name

    again = Session.open(folder).estimate(estimator=ScriptedEstimator(kp, rel, sha256="7" * 64))
    assert again.from_cache and again.identity.sha256 == "7" * 64
    np.testing.assert_array_equal(again.pose.keypoints_px, kp)
    other = Session.open(folder).estimate(estimator=ScriptedEstimator(kp + 1.0, rel, sha256="8" * 64))
    assert not other.from_cache  # another model: its own estimate


def test_a_video_shorter_than_declared_is_an_error_not_a_silent_gap(make_session, monkeypatch):
    folder = make_session(n_frames=8)
    session = Session.open(folder)
    kp, rel = _truth(session)

    class Reader:
        """A reader that declares 8 frames but delivers 5."""

        fps = 50.0

        def __init__(self, *a, **k):
            pass

        def __len__(self):
            return 8

        def iter_frames(self):
            for i in range(5):
                yield i, np.zeros((4, 4, 3), np.uint8)

        def close(self):
            pass

    monkeypatch.setattr("kneeview.io.video.VideoReader", Reader)
    with pytest.raises(KneeViewInputError, match="ended after 5 of 8"):
        session.estimate(estimator=ScriptedEstimator(kp, rel), use_cache=False)


def test_labels_that_contradict_the_3d_from_behind_are_put_right_and_the_cache_keeps_the_networks(make_session):
    """A camera behind the athlete (who faces -Y; the camera stands at +Y): an estimator that
    labels the 2D as if the athlete faced the camera (left and right swapped) but whose 3D turns
    its back gets its 2D put right by the session, computed and from the cache alike, while the
    cache holds the network's own output."""
    from kneeview.joints import FLIP_INDEX
    from kneeview.sequence import PoseSequence

    folder = make_session(n_frames=12, camera_position=(-300.0, 4000.0, 1100.0))
    session = Session.open(folder)
    kp, rel = _truth(session)
    mistaken = kp[:, list(FLIP_INDEX)]
    first = session.estimate(estimator=ScriptedEstimator(mistaken, rel, sha256="6" * 64))
    np.testing.assert_allclose(first.pose.keypoints_px, kp)
    assert first.pose.model["left_right_relabelled"] == 3 * 12
    (cached,) = (folder / ".kneeview").glob("*.npz")
    np.testing.assert_allclose(PoseSequence.load(cached).keypoints_px, mistaken)
    again = Session.open(folder).estimate(estimator=ScriptedEstimator(mistaken, rel, sha256="6" * 64))
    assert again.from_cache
    np.testing.assert_allclose(again.pose.keypoints_px, kp)
    raw = Session.open(folder).estimate_run(0, postprocess=None, estimator=ScriptedEstimator(mistaken, rel, sha256="6" * 64))
    np.testing.assert_allclose(raw.run().pose.keypoints_px, mistaken)  # a caller may ask for the network's own
