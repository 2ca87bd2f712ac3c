"""The training augmentation moves pixels, 2D targets and 3D targets alike.

Independent expectations: coloured dots drawn at the joints must be found at the augmented
keypoints, and the augmented 3D, projected through a pinhole camera, must give the augmented
2D (the principal point cancels in differences between joints, the scale is read off the 2D).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from kneeview import joints as J
from trainer.augment import Augment, augment_frame

W, H = 320, 256
F = 400.0
COLOURS = [(0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0)]


def scene():
    """Camera-frame joints (m, x right, y down, z forward) of a person leaning a little, their
    continuous-pixel projection (principal point at the person), the box and a drawn image."""
    j3 = np.array([[-0.10, -0.05, 3.0], [0.10, -0.05, 3.05], [-0.13, 0.35, 2.95], [0.11, 0.37, 3.0],
                   [-0.08, 0.75, 3.0], [0.14, 0.76, 3.02]], dtype=np.float32)
    centre = np.array([W / 2, 60.0])
    kp = F * j3[:, :2] / j3[:, 2:] + centre
    box = np.array([kp.min(axis=0) - [25, 40], kp.max(axis=0) + [25, 10]])
    img = np.full((H, W, 3), 90, np.uint8)
    for (x, y), c in zip(kp - 0.5, COLOURS):  # continuous -> pixel-centre coordinates
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), 3 * 16, c, -1, lineType=cv2.LINE_AA, shift=4)
    return img, kp, box, j3


def augment(seed, **kw):
    kw = {"colour": 0.0, "blur": 0.0, **kw}
    img, kp, box, j3 = scene()
    return augment_frame(img, kp, box, j3, Augment(**kw), np.random.default_rng(seed))


def dot_centre(img, colour):
    """Continuous-pixel centroid of the pixels close to ``colour``."""
    d = np.abs(img.astype(int) - np.array(colour)).sum(axis=2)
    ys, xs = np.nonzero(d < 120)
    assert len(xs) > 5, f"dot {colour} not found"
    return np.array([xs.mean(), ys.mean()]) + 0.5


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_dots_land_on_the_augmented_keypoints(seed, flip):
    img, kp, box, _ = augment(seed, rotate=1.0, rotate_deg=45.0, flip=flip, scale=(0.8, 1.2))
    src = list(J.FLIP_INDEX) if flip else list(range(6))
    for i in range(6):
        assert np.linalg.norm(dot_centre(img, COLOURS[src[i]]) - kp[i]) < 0.6
    # the person box holds every joint
    assert (box[0] <= kp.min(axis=0)).all() and (kp.max(axis=0) <= box[1]).all()


def _turn_deg(a, b):
    return np.degrees(np.arctan2(a[0] * b[1] - a[1] * b[0], a @ b))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_augmented_3d_projects_onto_the_augmented_2d(seed, flip):
    _, kp0, _, j0 = scene()
    img, kp, box, j3 = augment(seed, rotate=1.0, rotate_deg=45.0, flip=flip)
    src = list(J.FLIP_INDEX) if flip else list(range(6))
    s = np.linalg.norm(kp[4] - kp[0]) / np.linalg.norm(kp0[src[4]] - kp0[src[0]])
    proj = s * F * j3[:, :2] / j3[:, 2:]
    np.testing.assert_allclose(proj - proj[0], kp - kp[0], atol=1e-3)
    np.testing.assert_allclose(np.sort(j3[:, 2]), np.sort(j0[:, 2]), atol=1e-6)  # depth untouched


def test_rotation_is_drawn_and_spans_the_range():
    _, kp0, _, _ = scene()
    turns = []
    for seed in range(60):
        _, kp, _, _ = augment(seed, rotate=1.0, rotate_deg=45.0, flip=0.0)
        turns.append(_turn_deg(kp0[4] - kp0[0], kp[4] - kp[0]))
    turns = np.array(turns)
    assert np.abs(turns).max() <= 45.0 + 1e-6
    assert turns.min() < -30 and turns.max() > 30
    # off: the leg keeps its direction
    for seed in range(5):
        _, kp, _, _ = augment(seed, rotate=0.0, flip=0.0)
        assert abs(_turn_deg(kp0[4] - kp0[0], kp[4] - kp[0])) < 1e-6


#: the second person's dots: colours far from the first person's and from the grey background
COLOURS_B = [(128, 0, 64), (0, 128, 64), (64, 0, 128), (64, 128, 0), (128, 64, 128), (0, 64, 128)]


def two_people():
    """The scene's person (first) and a smaller second person to its right, one joint unknown (NaN)."""
    img, kp, box, j3 = scene()
    kp_b = (kp - kp.mean(axis=0)) * 0.6 + [W - 50.0, 150.0]
    box_b = np.array([kp_b.min(axis=0) - [10, 20], kp_b.max(axis=0) + [10, 6]])
    for (x, y), c in zip(kp_b - 0.5, COLOURS_B):
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), 3 * 16, c, -1, lineType=cv2.LINE_AA, shift=4)
    kp_b[3] = np.nan
    j3_b = np.full((6, 3), np.nan, np.float32)
    return img, np.stack([kp, kp_b]), np.stack([box, box_b]), np.stack([j3, j3_b])


def dot_near(img, colour, where, radius=12.0):
    """Continuous-pixel centroid of the pixels close to ``colour`` within ``radius`` of ``where``."""
    d = np.abs(img.astype(int) - np.array(colour)).sum(axis=2)
    ys, xs = np.nonzero(d < 60)
    near = np.hypot(xs + 0.5 - where[0], ys + 0.5 - where[1]) < radius
    assert near.sum() > 5, f"dot {colour} not found near {where}"
    return np.array([xs[near].mean(), ys[near].mean()]) + 0.5


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("flip", [0.0, 1.0])
def test_every_person_of_a_frame_moves_with_the_pixels(seed, flip):
    img0, kp0, box0, j30 = two_people()
    settings = Augment(colour=0.0, blur=0.0, rotate=1.0, rotate_deg=30.0, flip=flip, scale=(0.8, 1.1))
    img, kp, box, j3 = augment_frame(img0, kp0, box0, j30, settings, np.random.default_rng(seed))
    assert kp.shape == (2, 6, 2) and box.shape == (2, 2, 2) and j3.shape == (2, 6, 3)
    src = list(J.FLIP_INDEX) if flip else list(range(6))
    for person, colours in ((0, COLOURS), (1, COLOURS_B)):
        for i in range(6):
            c = colours[src[i]]
            if person == 1 and src[i] == 3:
                assert np.isnan(kp[1, i]).all()  # an unknown joint stays unknown, wherever it moves
                continue
            if not (0 <= kp[person, i, 0] < W and 0 <= kp[person, i, 1] < H):
                continue  # the second person may leave the crop
            assert np.linalg.norm(dot_near(img, c, kp[person, i]) - kp[person, i]) < 0.6
        known = np.isfinite(kp[person]).all(axis=-1)
        assert (box[person, 0] <= kp[person, known].min(axis=0)).all() and (kp[person, known].max(axis=0) <= box[person, 1]).all()
    assert np.isnan(j3[1]).all() and np.isfinite(j3[0]).all()
    # the first person's result is the single-person augmentation's, draw for draw
    img1, kp1, box1, j31 = augment_frame(img0, kp0[0], box0[0], j30[0], settings, np.random.default_rng(seed))
    np.testing.assert_allclose(kp1, kp[0])
    np.testing.assert_allclose(box1, box[0])
    np.testing.assert_allclose(j31, j3[0])
    np.testing.assert_array_equal(img1, img)
