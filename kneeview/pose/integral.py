"""The integral layer (Sun et al., "Integral Human Pose Regression"; paper eq. 9-12).

Conventions, stated once:

* Heatmap cell (i, j) (row i, column j) covers [j, j+1) x [i, i+1) in heatmap units; its
  centre is (j + 0.5, i + 0.5). The soft-argmax returns positions in these units.
* A heatmap of size H x W spans its ROI box (x0, y0, x1, y1) exactly, as in torchvision's
  keypoint post-processing: x_image = x0 + (x_heatmap / W) * (x1 - x0) (box widths
  clamped to at least 1 pixel, as torchvision does), likewise for y.
* Image coordinates are those of the tensor the detector saw; the model maps them back to
  the original frame with torchvision's transform (a pure scale).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def softmax_heatmaps(logits: torch.Tensor) -> torch.Tensor:
    """(N, K, H, W) logits -> probabilities that sum to 1 over each map (eq. 12)."""
    N, K, H, W = logits.shape
    return F.softmax(logits.reshape(N, K, H * W).float(), dim=-1).reshape(N, K, H, W)


def expected_position(prob: torch.Tensor) -> torch.Tensor:
    """Soft-argmax (eq. 9): (N, K, H, W) probabilities -> (N, K, 2) (x, y) in heatmap units."""
    H, W = prob.shape[-2:]
    xs = torch.arange(W, dtype=prob.dtype, device=prob.device) + 0.5
    ys = torch.arange(H, dtype=prob.dtype, device=prob.device) + 0.5
    x = (prob.sum(dim=-2) * xs).sum(dim=-1)
    y = (prob.sum(dim=-1) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1)


def soft_argmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (N, K, H, W) -> (positions (N, K, 2) in heatmap units, probabilities)."""
    prob = softmax_heatmaps(logits)
    return expected_position(prob), prob


def integral_3d(prob: torch.Tensor, location_maps: torch.Tensor) -> torch.Tensor:
    """Heatmap-weighted sum of the location maps (eq. 11).

    ``location_maps`` is (N, 3K, H, W) with joint k's x, y, z maps at channels 3k, 3k+1,
    3k+2. Returns (N, K, 3).
    """
    N, K, H, W = prob.shape
    L = location_maps.float().reshape(N, K, 3, H * W)
    return (L * prob.reshape(N, K, 1, H * W)).sum(dim=-1)


def _box_sizes(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    widths = (boxes[:, 2] - boxes[:, 0]).clamp(min=1)
    heights = (boxes[:, 3] - boxes[:, 1]).clamp(min=1)
    return widths, heights


def roi_to_image(xy_heatmap: torch.Tensor, boxes: torch.Tensor, heatmap_size: tuple[int, int]) -> torch.Tensor:
    """(N, K, 2) heatmap-unit positions in the ROIs ``boxes`` (N, 4) -> image pixels."""
    H, W = heatmap_size
    widths, heights = _box_sizes(boxes)
    x = boxes[:, None, 0] + xy_heatmap[..., 0] / W * widths[:, None]
    y = boxes[:, None, 1] + xy_heatmap[..., 1] / H * heights[:, None]
    return torch.stack([x, y], dim=-1)


def image_to_roi_unit(xy_image: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Image pixels (N, K, 2) -> position within the ROI box as a fraction of its size."""
    widths, heights = _box_sizes(boxes)
    x = (xy_image[..., 0] - boxes[:, None, 0]) / widths[:, None]
    y = (xy_image[..., 1] - boxes[:, None, 1]) / heights[:, None]
    return torch.stack([x, y], dim=-1)


def heatmap_confidence(prob: torch.Tensor, xy_heatmap: torch.Tensor, radius_fraction: float = 0.1) -> torch.Tensor:
    """Per-joint confidence in [0, 1]: the probability mass within a disc around the estimate.

    The disc's radius is ``radius_fraction`` of the heatmap size (so of the person's box):
    a sharp, unimodal heatmap scores near 1; a flat or multi-modal one (the joint is
    occluded or ambiguous) scores low. Returns (N, K).
    """
    H, W = prob.shape[-2:]
    xs = torch.arange(W, dtype=prob.dtype, device=prob.device) + 0.5
    ys = torch.arange(H, dtype=prob.dtype, device=prob.device) + 0.5
    dx = xs[None, None, None, :] - xy_heatmap[..., 0, None, None]
    dy = ys[None, None, :, None] - xy_heatmap[..., 1, None, None]
    radius = radius_fraction * max(H, W)
    inside = (dx * dx + dy * dy) <= radius * radius
    return (prob * inside).sum(dim=(-2, -1)).clamp(0.0, 1.0)
