"""Real recordings mixed into training: time-segment split, held-out views, sampling share, fine-tuning."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from fit_cli import fit_args
from sessions import make_qualisys_session, standing_joints

from kneeview.errors import KneeViewInputError
from kneeview.io.c3d import write_ground_truth
from kneeview.io.recording import open_recording
from trainer.cli import main
from trainer.real_recordings import real_samples, real_split, segment_split
from trainer.fit import mix_weights

N_REAL = 20


@pytest.fixture(scope="module")
def real_session(tmp_path_factory):
    """A 4-view Qualisys session (the real lab calibration) with pseudo-labels, as `kneeview triangulate` leaves it."""
    root = make_qualisys_session(tmp_path_factory.mktemp("real") / "Lab", n_frames=N_REAL)
    write_ground_truth(root / "videos" / "Lab.c3d", standing_joints(N_REAL, sway_mm=40.0), 60.0, subject="Lab")
    return root


def test_segment_split_by_hand():
    train, test = segment_split(100, segments=5, test_segments=[1, 3], guard=3)
    assert test.tolist() == list(range(20, 40)) + list(range(60, 80))
    assert train.tolist() == list(range(0, 17)) + list(range(43, 57)) + list(range(83, 100))
    # no training frame within the guard of a test frame
    assert np.abs(train[:, None] - test[None, :]).min() == 4
    train0, test0 = segment_split(10, segments=3, test_segments=[0], guard=0)  # blocks of 4, 3, 3
    assert test0.tolist() == [0, 1, 2, 3] and train0.tolist() == [4, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("kwargs, word", [
    (dict(segments=2, test_segments=[0, 1]), "nothing left"),
    (dict(segments=5, test_segments=[5]), "among 0..4"),
    (dict(segments=5, test_segments=[]), "among 0..4"),
    (dict(segments=200, test_segments=[0]), "cannot cut"),
])
def test_segment_split_rejects_nonsense(kwargs, word):
    with pytest.raises(KneeViewInputError, match=word):
        segment_split(100, guard=0, **kwargs)


def test_real_split_holds_out_a_view_and_segments(real_session):
    rec = open_recording(real_session)
    device = str(rec.views[3].camera.device_id)
    by_id = real_split(real_session, segments=4, test_segments=[2], guard=1, holdout_views=[device])
    entry = real_split(real_session, segments=4, test_segments=[2], guard=1, holdout_views=["cam04"])
    assert by_id == entry
    assert entry["views"] == ["cam01", "cam02", "cam03", "cam04"]
    assert entry["train_views"] == ["cam01", "cam02", "cam03"] and entry["holdout_views"] == ["cam04"]
    assert entry["frames"] == N_REAL and entry["test_frames"] == list(range(10, 15))
    assert entry["train_frames"] == list(range(0, 9)) + list(range(16, 20))
    train = real_samples(entry, "train")
    assert sorted(s.video_path.stem for s in train) == ["cam01", "cam02", "cam03"]
    for s in train:
        assert s.frame_index.tolist() == entry["train_frames"]
        # targets are the labels projected through that view's camera
        vi = [v.video_path.stem for v in rec.views].index(s.video_path.stem)
        truth = rec.ground_truth_frames(vi)[s.frame_index]
        assert np.allclose(s.keypoints_px, rec.views[vi].camera.project(truth), atol=1e-6)
        assert np.allclose(s.joints_cam_m[:, :2].mean(axis=1), 0.0, atol=1e-9)
    test = real_samples(entry, "test")
    assert sorted(s.video_path.stem for s in test) == ["cam01", "cam02", "cam03", "cam04"]
    assert all(s.frame_index.tolist() == entry["test_frames"] for s in test)
    with pytest.raises(KneeViewInputError, match="no view named 'cam09'"):
        real_split(real_session, holdout_views=["cam09"])
    with pytest.raises(KneeViewInputError, match="every view"):
        real_split(real_session, holdout_views=["cam01", "cam02", "cam03", "cam04"])


def test_real_split_needs_labels(tmp_path):
    bare = make_qualisys_session(tmp_path / "Bare", n_frames=2)
    with pytest.raises(KneeViewInputError, match="kneeview triangulate"):
        real_split(bare)


def test_mix_weights_give_the_real_share():
    w = mix_weights(900, 30, 0.25)
    assert w.shape == (930,)
    assert float(w[900:].sum()) == pytest.approx(0.25) and float(w.sum()) == pytest.approx(1.0)
    draws = torch.multinomial(w, 20000, replacement=True, generator=torch.Generator().manual_seed(0))
    assert float((draws >= 900).double().mean()) == pytest.approx(0.25, abs=0.01)


def test_fine_tune_on_a_mix(tiny_data, real_session, tmp_path, tiny_settings):
    from kneeview.pose.checkpoint import load_checkpoint, save_checkpoint
    from kneeview.pose.model import build_model

    base = build_model(**tiny_settings)
    base.set_normalisation(np.full((6, 3), 0.01), np.full((6, 3), 0.2))
    src, _ = save_checkpoint(base, tmp_path / "base.safetensors", training={"iterations": 7, "data": "elsewhere"})
    run = tmp_path / "mix"
    extra = ["--init-from", str(src), "--real", str(real_session), "--real-fraction", "0.5", "--real-segments", "4",
             "--real-test-segments", "2", "--real-guard-frames", "1", "--real-holdout-view", "cam04"]
    assert main(fit_args(tiny_data, run, 2, extra)) == 0
    split = json.loads((run / "split.json").read_text())
    (entry,) = split["real"]
    assert entry["holdout_views"] == ["cam04"] and entry["test_frames"] == list(range(10, 15))
    model, card = load_checkpoint(run / "model.safetensors")
    training = card["training"]
    assert training["init_from"]["iterations"] == 7 and training["init_from"]["data"] == "elsewhere"
    assert training["real_frames"] == 3 * len(entry["train_frames"]) and training["real_fraction"] == 0.5
    assert training["real"][0]["holdout_views"] == ["cam04"] and training["real"][0]["test_frames"] == entry["test_frames"]
    # fine-tuning keeps the source network's normalisation (its targets were standardised with it)
    assert np.allclose(model.std3d.numpy(), 0.2) and np.allclose(model.mean3d.numpy(), 0.01)
    # and starts from its weights: a different random init would differ far more than 2 small steps
    before = dict(base.state_dict())
    after = model.state_dict()
    k = "roi_heads.keypoint_predictor.weight" if "roi_heads.keypoint_predictor.weight" in after else next(
        n for n, v in after.items() if v.is_floating_point() and v.ndim == 4)
    assert torch.allclose(after[k], before[k], atol=0.05)
    # a resumed run keeps its held-out frames
    assert main(fit_args(tiny_data, run, 3, [*extra, "--resume"])) == 0
    assert json.loads((run / "split.json").read_text())["real"] == split["real"]


def test_init_from_other_framework_or_with_model_settings_is_refused(tmp_path, tiny_data, tiny_settings):
    from kneeview.pose.checkpoint import save_checkpoint
    from kneeview.pose.model import build_model

    src, _ = save_checkpoint(build_model(**{**tiny_settings, "framework": "C"}), tmp_path / "c.safetensors")
    extra = ["--init-from", str(src)]
    assert main(fit_args(tiny_data, tmp_path / "r", 1, extra, model=tiny_settings)) == 2  # settings would change the network
    assert main(fit_args(tiny_data, tmp_path / "r", 1, extra)) == 2  # a framework C network for framework A
