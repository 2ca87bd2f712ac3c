"""Checkpoint round trip, and every way a checkpoint can be wrong."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from kneeview.errors import CheckpointError
from kneeview.pose.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture
def saved(tmp_path, tiny_model):
    model = tiny_model("A", box_score_thresh=0.0)
    model.set_normalisation(np.arange(18).reshape(6, 3) / 100, np.full((6, 3), 0.2))
    w, c = save_checkpoint(model, tmp_path / "net.safetensors", training={"iterations": 3}, evaluation={"map": 0.5})
    return model.eval(), w, c


def predict(model, x):
    with torch.no_grad():
        return model([x])[0]


def test_round_trip_gives_the_same_network(saved):
    model, w, c = saved
    loaded, card = load_checkpoint(w)
    x = torch.rand(3, 128, 192)
    a, b = predict(model, x), predict(loaded, x)
    for key in ("boxes", "scores", "keypoints", "joints3d"):
        assert torch.allclose(a[key], b[key], atol=1e-5), key
    assert card["framework"] == "A" and card["training"] == {"iterations": 3} and card["evaluation"] == {"map": 0.5}
    assert np.allclose(card["normalisation"]["mean3d_m"], np.arange(18).reshape(6, 3) / 100)
    # a folder with one pair and the card path both work
    assert load_checkpoint(w.parent)[1]["weights"]["sha256"] == card["weights"]["sha256"]
    assert load_checkpoint(c)[1]["framework"] == "A"


def test_fp16_export_is_smaller_and_close(tmp_path, saved):
    model, w, _ = saved
    w16, _ = save_checkpoint(model, tmp_path / "half.safetensors", fp16=True)
    assert w16.stat().st_size < 0.6 * w.stat().st_size
    loaded, card = load_checkpoint(w16)
    assert card["weights"]["dtype"] == "float16"
    assert torch.equal(loaded.mean3d, model.mean3d)  # statistics stay float32
    x = torch.rand(3, 128, 192)
    a, b = predict(model, x), predict(loaded, x)
    if len(a["boxes"]) and len(b["boxes"]):
        assert torch.allclose(a["joints3d"][0], b["joints3d"][0], atol=2e-2)


def test_truncated_weights_are_rejected(saved):
    _, w, _ = saved
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(w)


def test_tampered_weights_are_rejected(saved):
    _, w, _ = saved
    data = bytearray(w.read_bytes())
    data[-100] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256|tampered"):
        load_checkpoint(w)


def test_card_not_matching_the_weights_is_rejected(saved):
    _, w, c = saved
    card = json.loads(c.read_text())
    card["config"]["head_channels"] = 48  # the card now describes another network
    c.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="do not fit|shape"):
        load_checkpoint(w)


def test_normalisation_edited_in_the_card_is_rejected(saved):
    _, w, c = saved
    card = json.loads(c.read_text())
    card["normalisation"]["std3d_m"][0][0] = 9.0
    c.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="normalisation"):
        load_checkpoint(w)


@pytest.mark.parametrize("content", ["not json {", json.dumps({"format": "something else"}), json.dumps([1, 2])])
def test_bad_cards_are_rejected(saved, content):
    _, w, c = saved
    c.write_text(content)
    with pytest.raises(CheckpointError):
        load_checkpoint(w)


def test_wrong_joint_order_is_rejected(saved):
    _, w, c = saved
    card = json.loads(c.read_text())
    card["joints"] = card["joints"][::-1]
    c.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="joints"):
        load_checkpoint(w)


def test_a_pickle_is_never_unpickled(tmp_path, saved):
    _, w, c = saved

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    evil = pickle.dumps(Boom())
    w.write_bytes(evil)
    card = json.loads(c.read_text())
    import hashlib

    card["weights"]["sha256"] = hashlib.sha256(evil).hexdigest()  # even with a matching hash
    c.write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(w)


def test_missing_files(tmp_path, saved):
    _, w, c = saved
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nothing.safetensors")
    c.unlink()
    with pytest.raises(CheckpointError, match="card"):
        load_checkpoint(w)
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="one .safetensors"):
        load_checkpoint(empty)


def test_a_missing_bundled_model_is_named(tmp_path, monkeypatch):
    """Both users of the bundled model (the app's estimator, the trainer's --init-from) say
    which folder lacks it."""
    import kneeview.bundled as bundled
    from kneeview.pose import load_estimator
    from trainer.config import TrainConfig
    from trainer.fit import initial_model

    monkeypatch.setattr(bundled, "resource_path", lambda *parts: tmp_path.joinpath(*parts))
    (tmp_path / "model").mkdir()
    for attempt in (lambda: load_estimator(), lambda: initial_model(TrainConfig(init_from="bundled"))):
        with pytest.raises(CheckpointError, match="bundled model is missing") as err:
            attempt()
        assert str(tmp_path / "model") in str(err.value)
