"""Training augmentation of one frame and its people, with the 2D and 3D targets moved alike.

Scale, in-plane rotation (the camera-frame 3D turned about the optical axis with the
pixels), crop, horizontal flip (left/right swapped, 3D mirrored), colour jitter, blur.
Coordinates are the network's continuous pixels (``raw_px + 0.5``).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from kneeview import joints as J


@dataclass
class Augment:
    """Augmentation settings: the scale range, and the probability of each step (``enabled``: any at all)."""

    scale: tuple[float, float] = (0.75, 1.3)
    #: in-plane rotation: with probability ``rotate``, an angle uniform in +-``rotate_deg`` (a camera with roll).
    #: Off by default: on the real recording it did not help the rolled view it was meant for (README)
    rotate: float = 0.6
    rotate_deg: float = 0.0
    flip: float = 0.5
    colour: float = 0.8
    blur: float = 0.3
    enabled: bool = True


def augment_frame(img, kp, box, j3, settings: Augment, rng: np.random.Generator):
    """Augment one frame and its people with ``settings``, drawing from ``rng``: ``kp`` (P, 6, 2)
    continuous px (NaN: unknown), ``box`` (P, 2, 2), ``j3`` (P, 6, 3); the first person is the one the
    crop keeps in frame. Single-person arrays ((6, 2), (2, 2), (6, 3)) are taken and given back as such."""
    single = np.ndim(kp) == 2
    if single:
        kp, box, j3 = kp[None], box[None], j3[None]
    h, w = img.shape[:2]
    s = float(rng.uniform(*settings.scale))
    # the angle is drawn only when rotation is on, so that with it off every other draw (crop,
    # flip, colour, blur) is the same whatever the rotation probability
    theta = 0.0
    if settings.rotate_deg > 0 and rng.random() < settings.rotate:
        theta = float(np.radians(rng.uniform(-settings.rotate_deg, settings.rotate_deg)))
    c, sn = np.cos(theta), np.sin(theta)
    rot = np.array([[c, -sn], [sn, c]])  # image x right, y down: positive theta turns clockwise on screen
    A = s * rot
    # p' = A (p - centre) + t in continuous coordinates, centre = the first person's box centre; each
    # person box turned with it is the bounding box of the box's inscribed ellipse (a body is no
    # rectangle), widened to hold the person's joints
    centre = box[0].mean(axis=0)
    ra, rb = ((box[:, 1] - box[:, 0]) / 2.0).T
    half = s * np.stack([np.hypot(ra * c, rb * sn), np.hypot(ra * sn, rb * c)], axis=-1)
    centres = (box.mean(axis=1) - centre) @ A.T
    kp = (kp - centre) @ A.T
    known = np.isfinite(kp)
    lo = np.minimum(centres - half, np.where(known, kp, np.inf).min(axis=1) - 2.0)
    hi = np.maximum(centres + half, np.where(known, kp, -np.inf).max(axis=1) + 2.0)
    t = np.array([_random_offset(rng, lo[0, 0], hi[0, 0], w), _random_offset(rng, lo[0, 1], hi[0, 1], h)])
    kp = kp + t
    box = np.stack([lo + t, hi + t], axis=1)
    # OpenCV's matrix works on pixel centres: x_pix' = A x_pix + (t - A centre) + A 0.5 - 0.5
    b = t - A @ centre + A @ [0.5, 0.5] - 0.5
    M = np.concatenate([A, b[:, None]], axis=1)
    fill = tuple(int(v) for v in rng.integers(0, 256, 3))
    img = cv2.warpAffine(img, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
    # turning the image about a point is (to the weak-perspective order of the crop) turning the camera
    # about its optical axis: the camera-frame x, y (right, down) turn with the pixels, z stays
    j3 = j3.copy()
    j3[..., :2] = j3[..., :2] @ rot.T.astype(np.float32)
    if rng.random() < settings.flip:
        img = np.ascontiguousarray(img[:, ::-1])
        kp = kp[:, list(J.FLIP_INDEX)].copy()
        kp[..., 0] = w - kp[..., 0]
        box = np.stack([np.stack([w - box[:, 1, 0], box[:, 0, 1]], axis=-1),
                        np.stack([w - box[:, 0, 0], box[:, 1, 1]], axis=-1)], axis=1)
        j3 = j3[:, list(J.FLIP_INDEX)].copy()
        j3[..., 0] = -j3[..., 0]
    if rng.random() < settings.colour:
        img = _colour_jitter(img, rng)
    if rng.random() < settings.blur:
        sigma = float(rng.uniform(0.3, 1.5))
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    if single:
        return img, kp[0], box[0], j3[0]
    return img, kp, box, j3


def _random_offset(rng, lo: float, hi: float, size: int) -> float:
    """Translation t so that [lo + t, hi + t] lies inside [0, size] when it can."""
    span = hi - lo
    if span <= size:
        return float(rng.uniform(-lo, size - hi))
    return float(rng.uniform(size - hi, -lo))


def _colour_jitter(img: np.ndarray, rng) -> np.ndarray:
    out = img.astype(np.float32)
    contrast = rng.uniform(0.7, 1.3)
    brightness = rng.uniform(-30, 30)
    gains = rng.uniform(0.85, 1.15, 3)
    mean = out.mean()
    out = (out - mean) * contrast + mean + brightness
    out *= gains
    grey = out.mean(axis=2, keepdims=True)
    sat = rng.uniform(0.7, 1.3)
    out = grey + (out - grey) * sat
    return np.clip(out, 0, 255).astype(np.uint8)
