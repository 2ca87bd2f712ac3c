"""The frameworks: loss weights, stages, a few training steps, output conventions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from kneeview.pose.model import LOSS_WEIGHTS, PoseConfig, lifter_input


def test_paper_loss_weights():
    assert LOSS_WEIGHTS["A"] == (0.7, 0.3)
    assert LOSS_WEIGHTS["C"] == (0.7, 0.7)
    assert LOSS_WEIGHTS["B-2d"][1] == 0.0 and LOSS_WEIGHTS["B-lift"][0] == 0.0


@pytest.mark.parametrize("framework", ["A", "C"])
def test_pose_losses_are_weighted_mses(tiny_model, framework):
    model = tiny_model(framework)
    heads = model.roi_heads
    boxes = torch.tensor([[0.0, 0.0, 100.0, 200.0], [10.0, 10.0, 60.0, 110.0]])
    xy_unit = torch.rand(2, 6, 2)
    j3 = torch.randn(2, 6, 3)
    out = {"xy_unit": xy_unit, "joints3d": j3, "boxes": boxes}
    gt_img = torch.rand(1, 6, 2) * 100
    kp = torch.cat([gt_img, torch.ones(1, 6, 1)], dim=-1)
    kp[0, 5, 2] = 0  # an invisible joint is left out of the 2D loss
    gt3 = torch.randn(1, 6, 3)
    valid3 = torch.ones(1, 6, dtype=torch.bool)
    valid3[0, 0] = False
    target = {"keypoints": kp, "joints3d": gt3, "joints3d_valid": valid3}
    losses = heads.pose_losses(out, [boxes], [torch.tensor([0, 0])], [target])
    # independent: normalise the target into each box by hand
    w = boxes[:, 2:] - boxes[:, :2]
    unit = (gt_img - boxes[:, None, :2]) / w[:, None, :]
    scale = model.config.roi_2d_scale
    assert scale == 10.0
    mse2 = (((xy_unit[:, :5] - unit[:, :5]) * scale) ** 2).mean()
    mse3 = ((j3[:, 1:] - gt3[:, 1:]) ** 2).mean()
    alpha, beta = LOSS_WEIGHTS[framework]
    assert losses["loss_2d"].item() == pytest.approx(alpha * mse2.item(), rel=1e-5)
    assert losses["loss_3d"].item() == pytest.approx(beta * mse3.item(), rel=1e-5)


def test_framework_b_stages_freeze_the_right_parts(tiny_model):
    model = tiny_model("B")
    model.set_stage("lift")
    model.set_stage("2d")
    assert not any(p.requires_grad for p in model.roi_heads.lifter.parameters())
    assert not any(p.requires_grad for p in model.backbone.body.blocks[0].parameters())
    assert all(p.requires_grad for p in model.backbone.body.blocks[3].parameters())
    assert model.roi_heads.loss_weights() == LOSS_WEIGHTS["B-2d"]
    model.set_stage("lift")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("roi_heads.lifter.") for n in trainable)
    assert model.roi_heads.loss_weights() == LOSS_WEIGHTS["B-lift"]
    model.train()
    assert model.roi_heads.lifter.training and not model.backbone.training
    with pytest.raises(ValueError):
        tiny_model("A").set_stage("lift")


def test_lifter_input_is_hip_centred_and_scale_free():
    xy = torch.tensor([[[10.0, 50.0], [30.0, 50.0], [12.0, 80.0], [28.0, 80.0], [11.0, 110.0], [29.0, 110.0]]])
    boxes = torch.tensor([[0.0, 30.0, 40.0, 130.0]])
    a = lifter_input(xy, boxes)
    assert a[0, :2].mean(dim=0).abs().max() < 1e-6
    b = lifter_input(xy * 3 + 7, boxes * 3 + 7)
    assert torch.allclose(a, b, atol=1e-6)


def test_config_round_trip_and_validation():
    cfg = PoseConfig(framework="C", heatmap_size=32)
    assert PoseConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        PoseConfig(framework="D")
    with pytest.raises(ValueError):
        PoseConfig(heatmap_size=30)


@pytest.mark.parametrize("framework", ["A", "C"])
def test_a_few_training_steps_lower_the_loss(tiny_model, person_batch, framework):
    torch.manual_seed(1)
    model = tiny_model(framework)
    images, targets = person_batch(3, seed=2)
    model.train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    history = []
    for _ in range(25):
        losses = model(images, targets)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append({k: v.item() for k, v in losses.items()})
    first = np.mean([sum(h.values()) for h in history[:3]])
    last = np.mean([sum(h.values()) for h in history[-3:]])
    assert last < 0.7 * first
    assert np.mean([h["loss_2d"] + h["loss_3d"] for h in history[-3:]]) < np.mean([h["loss_2d"] + h["loss_3d"] for h in history[:3]])


def test_eval_outputs_have_the_documented_shapes_and_units(tiny_model):
    model = tiny_model("A", box_score_thresh=0.0)
    model.set_normalisation(np.full((6, 3), 0.25), np.full((6, 3), 0.5))
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 128, 192)])[0]
        n = len(out["boxes"])
        assert n >= 1
        assert out["keypoints"].shape == (n, 6, 3) and out["joints3d"].shape == (n, 6, 3)
        assert torch.all((out["keypoints_scores"] >= 0) & (out["keypoints_scores"] <= 1))
        # joints lie inside their box (soft-argmax is a convex combination of cell centres)
        b = out["boxes"]
        assert torch.all(out["keypoints"][..., 0] >= b[:, None, 0] - 1e-3)
        assert torch.all(out["keypoints"][..., 0] <= b[:, None, 2] + 1e-3)
        # de-normalisation: zero location maps read mean3d
        torch.nn.init.zeros_(model.roi_heads.keypoint_predictor.kps_score_lowres.weight)
        torch.nn.init.zeros_(model.roi_heads.keypoint_predictor.kps_score_lowres.bias)
        out = model([torch.rand(3, 128, 192)])[0]
        assert torch.allclose(out["joints3d"], torch.full_like(out["joints3d"], 0.25), atol=1e-6)
