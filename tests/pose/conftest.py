from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from sessions import one_torch_thread

TINY = dict(pretrained_backbone=False, fpn_channels=32, head_channels=32, head_layers=2, box_representation=64,
            min_size=128, max_size=192, heatmap_size=16, lifter_hidden=64, anchor_sizes=(16, 32, 64, 128),
            rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=10)


@pytest.fixture
def tiny_model():
    from kneeview.pose.model import build_model

    def factory(framework="A", **over):
        torch.manual_seed(0)
        return build_model(framework=framework, **{**TINY, **over})

    return factory


def person_image(rng, size=(192, 128)):
    """A frame with a 'person' (a grey bar) and six coloured joint dots; targets in network coords."""
    W, H = size
    img = np.full((H, W, 3), 40, np.uint8)
    cx = rng.uniform(50, W - 50)
    top = rng.uniform(10, 25)
    h = rng.uniform(80, H - top - 8)
    w = h * 0.35
    cv2.rectangle(img, (int(cx - w / 2), int(top)), (int(cx + w / 2), int(top + h)), (120, 120, 120), -1)
    ys = np.array([0.45, 0.45, 0.7, 0.7, 0.95, 0.95]) * h + top
    xs = cx + np.array([-0.25, 0.25, -0.28, 0.28, -0.3, 0.3]) * w
    colours = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)]
    for x, y, c in zip(xs, ys, colours):
        cv2.circle(img, (int(round(x)), int(round(y))), 3, c, -1)
    kp = np.stack([xs + 0.5, ys + 0.5, np.ones(6)], axis=-1)  # pixel centre -> network coordinates
    box = np.array([cx - w / 2, top, cx + w / 2, top + h])
    j3 = np.stack([(xs - cx) / w, (ys - ys[:2].mean()) / h, np.zeros(6)], axis=-1)
    return img, box, kp, j3


@pytest.fixture
def person_batch():
    def factory(n, seed=0):
        rng = np.random.default_rng(seed)
        images, targets = [], []
        for _ in range(n):
            img, box, kp, j3 = person_image(rng)
            images.append(torch.from_numpy(img[:, :, ::-1].copy()).permute(2, 0, 1).float() / 255)
            targets.append({
                "boxes": torch.tensor(box[None], dtype=torch.float32),
                "labels": torch.ones(1, dtype=torch.int64),
                "keypoints": torch.tensor(kp[None], dtype=torch.float32),
                "joints3d": torch.tensor(j3[None], dtype=torch.float32),
                "joints3d_valid": torch.ones(1, 6, dtype=torch.bool),
            })
        return images, targets

    return factory


_one_torch_thread = pytest.fixture(autouse=True, name="_one_torch_thread")(one_torch_thread)
