"""Estimator: pixel conventions, scaling back to the frame, batches, run() over a video."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kneeview.pose.estimator import Estimator, FramePose, input_scale, pick_device
from kneeview.pose.interface import InferenceCancelled
from kneeview.pose.model import PoseConfig


class StubModel(torch.nn.Module):
    """Answers with fixed network-frame keypoints at the input it is given."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.seen = []

    def forward(self, images):
        out = []
        for img in images:
            self.seen.append(tuple(img.shape))
            h, w = img.shape[-2:]
            kp = torch.tensor([[w * 0.5, h * 0.25, 1.0]] * 6)
            kp[1, 0] = 0.5  # the left edge of the first pixel's centre in network coordinates
            out.append({
                "boxes": torch.tensor([[0.0, 0.0, w, h], [1.0, 1.0, 2.0, 2.0]]),
                "scores": torch.tensor([0.4, 0.9]),
                "keypoints": torch.stack([kp * 0, kp]),
                "keypoints_scores": torch.stack([torch.zeros(6), torch.full((6,), 0.8)]),
                "joints3d": torch.stack([torch.zeros(6, 3), torch.ones(6, 3)]),
            })
        return out


@pytest.fixture
def estimator():
    cfg = PoseConfig(pretrained_backbone=False, min_size=120, max_size=400)
    return Estimator(StubModel(cfg), {"weights": {"sha256": "abc"}}, torch.device("cpu"))


def test_best_detection_mapped_back_to_raw_pixels(estimator):
    frame = np.zeros((480, 640, 3), np.uint8)
    pose = estimator.predict(frame)
    assert isinstance(pose, FramePose)
    assert estimator.model.seen[-1] == (3, 120, 160)  # short side to min_size
    assert pose.score == pytest.approx(0.9)
    # network x = w/2 at the input -> 320 in continuous frame coordinates -> 319.5 raw px
    assert pose.keypoints_px[0].tolist() == pytest.approx([319.5, 119.5])
    # network x = 0.5 is the centre of the first input pixel, which covers 4 frame pixels:
    # its centre in raw pixels is 1.5
    assert pose.keypoints_px[1, 0] == pytest.approx(1.5)
    assert pose.joints_cam_m.shape == (6, 3) and np.all(pose.joints_cam_m == 1)
    assert pose.confidence.tolist() == pytest.approx([0.8] * 6)


def test_every_person_best_first_above_the_score(estimator):
    """predict_people: each detection over min_score, best first, mapped back like predict's."""
    frame = np.zeros((480, 640, 3), np.uint8)
    people = estimator.predict_people(frame, min_score=0.3)
    assert [p.score for p in people] == pytest.approx([0.9, 0.4])
    best = estimator.predict(frame)
    np.testing.assert_array_equal(people[0].keypoints_px, best.keypoints_px)
    np.testing.assert_allclose(people[1].keypoints_px, -0.5)  # network (0, 0) -> raw -0.5
    assert len(estimator.predict_people(frame, min_score=0.5)) == 1
    assert estimator.predict_people(frame, min_score=0.95) == []


def test_batches_and_lists(estimator):
    frames = np.zeros((3, 240, 320, 3), np.uint8)
    poses = estimator.predict(frames)
    assert len(poses) == 3 and all(p.keypoints_px.shape == (6, 2) for p in poses)
    assert estimator.predict([]) == []


def test_input_scale_matches_torchvision_rule():
    assert input_scale(480, 640, 320, 576) == pytest.approx(320 / 480)
    assert input_scale(1080, 1920, 320, 480) == pytest.approx(480 / 1920)


def test_run_progress_and_cancel(estimator):
    class Reader:
        fps = 50.0

        def __len__(self):
            return 7

        def iter_frames(self):
            for i in range(7):
                yield i, np.zeros((120, 160, 3), np.uint8)

    calls = []
    seq = estimator.run(Reader(), progress=lambda d, t: calls.append((d, t)), batch_size=3)
    assert calls == [(3, 7), (6, 7), (7, 7)]
    assert len(seq) == 7 and np.all(seq.score == pytest.approx(0.9))
    assert seq.model["checkpoint_sha256"] == "abc"
    n = []
    with pytest.raises(InferenceCancelled):
        estimator.run(Reader(), progress=lambda d, t: n.append(d), cancel=lambda: len(n) >= 1, batch_size=2)
    assert n == [2]


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert pick_device("auto").type == "cuda"
    else:
        assert pick_device("auto").type in ("cpu", "mps")


@pytest.mark.parametrize("runtime", ["torch", "onnxruntime"])
def test_inference_network_matches_the_training_network(tiny_model, runtime):
    """The estimator runs a BatchNorm-fused, channels-last copy, its backbone in torch or in ONNX
    Runtime (exported at one size, run at others): same detections, joints, 3D."""
    import copy

    model = tiny_model("A", pretrained_backbone=True).eval()
    reference = copy.deepcopy(model)
    est = Estimator(model, {"weights": {}}, torch.device("cpu"), runtime=runtime)
    assert est.runtime == runtime and est.info["runtime"] == runtime
    assert next(p for p in est.model.backbone.parameters() if p.dim() == 4).is_contiguous(memory_format=torch.channels_last)
    torch.manual_seed(1)
    images = [torch.rand(3, 128, 192), torch.rand(3, 150, 120)]
    with torch.inference_mode():
        want, got = reference(images), est.model(images)
    for w, g in zip(want, got):
        assert len(w["scores"]) == len(g["scores"]) > 0
        for key in ("boxes", "scores", "keypoints", "joints3d"):
            assert torch.allclose(w[key], g[key], atol=1e-3, rtol=1e-3), key


def test_without_onnxruntime_the_backbone_stays_in_torch(tiny_model, monkeypatch):
    import sys

    from kneeview.pose.onnx_backbone import OnnxBackbone

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # "import onnxruntime" raises ImportError
    est = Estimator(tiny_model("A"), {"weights": {}}, torch.device("cpu"))
    assert est.runtime == "torch" and not isinstance(est.model.backbone, OnnxBackbone)
    assert est.predict(np.zeros((96, 128, 3), np.uint8)) is not None
    with pytest.raises(RuntimeError, match="ONNX Runtime"):
        Estimator(tiny_model("A"), {"weights": {}}, torch.device("cpu"), runtime="onnxruntime")
    with pytest.raises(ValueError, match="runtime"):
        Estimator(tiny_model("A"), {"weights": {}}, torch.device("cpu"), runtime="tensorrt")


def test_a_second_estimator_on_the_same_network_gets_the_torch_backbone_back(tiny_model):
    from kneeview.pose.onnx_backbone import OnnxBackbone

    model = tiny_model("A")
    fast = Estimator(model, {"weights": {}}, torch.device("cpu"))
    assert isinstance(model.backbone, OnnxBackbone)
    torch_only = Estimator(model, {"weights": {}}, torch.device("cpu"), runtime="torch")
    assert torch_only.runtime == "torch" and not isinstance(model.backbone, OnnxBackbone)
    assert fast.model is torch_only.model
