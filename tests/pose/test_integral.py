"""The integral layer against analytic heatmaps and torchvision's ROI mapping."""
from __future__ import annotations

import math

import pytest
import torch
from torchvision.models.detection.roi_heads import heatmaps_to_keypoints

from kneeview.pose import integral


def one_hot_logits(H, W, cells, peak=60.0):
    logits = torch.zeros(1, len(cells), H, W)
    for k, (i, j) in enumerate(cells):
        logits[0, k, i, j] = peak
    return logits


def test_one_hot_map_returns_its_cell_centre():
    cells = [(0, 0), (5, 7), (55, 55), (13, 40)]
    xy, prob = integral.soft_argmax(one_hot_logits(56, 56, cells))
    for k, (i, j) in enumerate(cells):
        assert xy[0, k].tolist() == pytest.approx([j + 0.5, i + 0.5], abs=1e-4)
    assert prob.sum(dim=(-2, -1)).flatten().tolist() == pytest.approx([1.0] * len(cells), abs=1e-6)


@pytest.mark.parametrize("centre", [(20.5, 30.5), (21.0, 17.0), (28.0, 28.0), (9.25, 40.75)])
def test_symmetric_blob_returns_its_centre(centre):
    H, W = 56, 48
    cx, cy = centre
    ys = torch.arange(H, dtype=torch.float64)[:, None] + 0.5
    xs = torch.arange(W, dtype=torch.float64)[None, :] + 0.5
    # symmetric about (cx, cy) on the cell-centre grid only when 2*cx, 2*cy are integers;
    # (9.25, 40.75) is not, so a narrow blob is used and the tolerance is loose there
    sigma = 2.0
    logits = (-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2))[None, None].float()
    xy, _ = integral.soft_argmax(logits)
    exact = (2 * cx).is_integer() and (2 * cy).is_integer()
    assert xy[0, 0].tolist() == pytest.approx([cx, cy], abs=1e-4 if exact else 0.02)


def test_uniform_map_gives_the_map_centre():
    xy, _ = integral.soft_argmax(torch.zeros(2, 3, 56, 40))
    assert torch.allclose(xy, torch.tensor([20.0, 28.0]).expand(2, 3, 2))


def test_gradients_reach_every_logit():
    logits = torch.randn(1, 6, 16, 16, requires_grad=True)
    loc = torch.randn(1, 18, 16, 16, requires_grad=True)
    xy, prob = integral.soft_argmax(logits)
    xyz = integral.integral_3d(prob, loc)
    (xy.sum() + xyz.pow(2).sum()).backward()
    assert logits.grad is not None and torch.all(logits.grad.abs().sum(dim=(-2, -1)) > 0)
    assert loc.grad is not None and torch.all(loc.grad.abs().sum(dim=(-2, -1)) > 0)


def test_3d_readout_is_the_heatmap_weighted_location():
    H = W = 8
    logits = one_hot_logits(H, W, [(2, 3), (6, 1)])
    loc = torch.randn(1, 6, H, W)
    _, prob = integral.soft_argmax(logits)
    xyz = integral.integral_3d(prob, loc)
    assert xyz[0, 0].tolist() == pytest.approx(loc[0, 0:3, 2, 3].tolist(), abs=1e-4)
    assert xyz[0, 1].tolist() == pytest.approx(loc[0, 3:6, 6, 1].tolist(), abs=1e-4)
    # a two-peaked heatmap (equal mass) reads the mean of the two locations
    two = torch.zeros(1, 1, H, W)
    two[0, 0, 0, 0] = two[0, 0, 7, 7] = 50.0
    _, p2 = integral.soft_argmax(two)
    loc1 = torch.randn(1, 3, H, W)
    got = integral.integral_3d(p2, loc1)[0, 0]
    want = (loc1[0, :, 0, 0] + loc1[0, :, 7, 7]) / 2
    assert got.tolist() == pytest.approx(want.tolist(), abs=1e-4)


def test_roi_to_image_analytic_and_torchvision():
    boxes = torch.tensor([[10.0, 20.0, 66.0, 132.0], [100.5, 50.25, 212.5, 274.25]])
    cells = [(5, 7), (50, 3), (0, 55)]
    logits = one_hot_logits(56, 56, cells).repeat(2, 1, 1, 1)
    xy_hm, _ = integral.soft_argmax(logits)
    xy = integral.roi_to_image(xy_hm, boxes, (56, 56))
    for b, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        for k, (i, j) in enumerate(cells):
            assert xy[b, k, 0].item() == pytest.approx(x0 + (j + 0.5) / 56 * (x1 - x0), abs=1e-3)
            assert xy[b, k, 1].item() == pytest.approx(y0 + (i + 0.5) / 56 * (y1 - y0), abs=1e-3)
    # torchvision's own post-processing (bicubic upsampling + argmax) agrees to within
    # half a heatmap cell in image pixels
    tv, _ = heatmaps_to_keypoints(logits, boxes)
    cell = torch.stack([(boxes[:, 2] - boxes[:, 0]) / 56, (boxes[:, 3] - boxes[:, 1]) / 56], dim=-1)
    assert torch.all((tv[..., :2] - xy).abs() <= cell[:, None, :] / 2 + 0.51)


def test_image_to_roi_unit_inverts_roi_to_image():
    boxes = torch.tensor([[3.0, 4.0, 50.0, 90.0]])
    xy_hm = torch.rand(1, 6, 2) * 56
    img = integral.roi_to_image(xy_hm, boxes, (56, 56))
    assert torch.allclose(integral.image_to_roi_unit(img, boxes) * 56, xy_hm, atol=1e-4)


def test_confidence_sharp_vs_flat():
    sharp = one_hot_logits(56, 56, [(10, 10)])
    xy, prob = integral.soft_argmax(sharp)
    assert integral.heatmap_confidence(prob, xy, 0.1).item() == pytest.approx(1.0, abs=1e-5)
    flat = torch.zeros(1, 1, 56, 56)
    xy, prob = integral.soft_argmax(flat)
    conf = integral.heatmap_confidence(prob, xy, 0.1).item()
    r = 0.1 * 56
    assert conf == pytest.approx(math.pi * r * r / 56**2, rel=0.08)
