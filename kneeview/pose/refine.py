"""Native-resolution refinement of the 2D keypoints.

The detector sees a 1920x1080 frame at 569x320 and reads each joint off a 56x56 heatmap of
the person's box: about 12 native pixels per heatmap cell. The refiner looks again at the
video's own pixels: for each joint, a square window of ``WINDOW_FRACTION`` of the person's
box height centred on the network's keypoint, resampled to ``CROP`` x ``CROP``, goes through
a small CNN whose heatmap (one channel per joint; the queried joint's is read) gives, by
soft-argmax, where in the window the joint is. Scale-normalised by the box, so one refiner
serves every video size.

The CNN is conditioned on the network's whole pose, as PoseFix (Moon et al., CVPR 2019)
conditions its refiner: besides the window's pixels it sees one Gaussian channel per joint
at the network's keypoint of that joint (:func:`pose_channels`). A window often holds both
ankles or both knees, and which is the left one is decided by the whole body, not by the
window; with the network's two keypoints drawn in, the refiner does not have to guess.

Window geometry (raw pixels: integer = pixel centre, see :mod:`kneeview.pose.estimator`):
a window of side ``s`` around ``c`` maps raw ``x`` to window ``x' = (x - c) * CROP / s +
(CROP - 1) / 2`` (the same for ``y``), so ``c`` lands on the window's centre;
:func:`window_to_raw` inverts it.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from .. import joints as J

CROP = 64
#: the window's side as a fraction of the person's box height (a thigh is about a quarter)
WINDOW_FRACTION = 0.3
#: the pose channels' Gaussian, window pixels
POSE_SIGMA = 2.0
#: L <-> R joint indices, for mirrored training windows
MIRROR = [J.JOINTS.index(("L" if n[0] == "R" else "R") + n[1:]) for n in J.JOINTS]


def window_matrix(centre, side: float, size: int = CROP) -> np.ndarray:
    """2x3 affine matrix raw pixels -> window pixels (for ``cv2.warpAffine``)."""
    a = size / float(side)
    cx, cy = float(centre[0]), float(centre[1])
    o = (size - 1) / 2.0
    return np.array([[a, 0.0, o - a * cx], [0.0, a, o - a * cy]])


def window_to_raw(xy_window, centre, side: float, size: int = CROP) -> np.ndarray:
    """Window pixels (..., 2) -> raw pixels, for a window of ``side`` around ``centre``."""
    a = size / float(side)
    return (np.asarray(xy_window, float) - (size - 1) / 2.0) / a + np.asarray(centre, float)


def raw_to_window(xy_raw, centre, side: float, size: int = CROP) -> np.ndarray:
    a = size / float(side)
    return (np.asarray(xy_raw, float) - np.asarray(centre, float)) * a + (size - 1) / 2.0


def pose_in_windows(keypoints_px, centres, side: float, size: int = CROP) -> np.ndarray:
    """(len(centres), K, 2): every keypoint (K, 2 raw pixels) as each window of ``side`` around one of
    ``centres`` sees it (the pose channels' positions)."""
    return np.stack([raw_to_window(keypoints_px, c, side, size) for c in np.asarray(centres, float)])


def cut_windows(frame_bgr: np.ndarray, centres, side: float, size: int = CROP) -> np.ndarray:
    """(K, size, size, 3) uint8 windows of ``frame_bgr`` around each of ``centres`` (K, 2) raw
    pixels (bilinear, area-averaged when shrinking more than 2x; outside the frame: black)."""
    out = np.zeros((len(centres), size, size, 3), np.uint8)
    for k, c in enumerate(np.asarray(centres, float)):
        if np.isfinite(c).all():
            out[k] = cv2.warpAffine(frame_bgr, window_matrix(c, side, size), (size, size), flags=cv2.INTER_AREA
                                    if side > 2 * size else cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return out


def _conv(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


def pose_channels(points_window: torch.Tensor, size: int = CROP, sigma: float = POSE_SIGMA) -> torch.Tensor:
    """(N, K, 2) keypoints in window pixels -> (N, K, size, size) Gaussians (peak 1) at them;
    a NaN keypoint gives an empty channel."""
    pts = torch.as_tensor(points_window, dtype=torch.float32)
    ok = torch.isfinite(pts).all(-1)
    pts = torch.where(ok[..., None], pts, torch.full_like(pts, -1e4))
    grid = torch.arange(size, dtype=torch.float32)
    gx = torch.exp(-(grid - pts[..., 0:1]) ** 2 / (2 * sigma ** 2))  # (N, K, size)
    gy = torch.exp(-(grid - pts[..., 1:2]) ** 2 / (2 * sigma ** 2))
    return gy[..., :, None] * gx[..., None, :]


class RefinerNet(nn.Module):
    """(N, 3, 64, 64) windows (RGB in [0, 1]) and (N, K, 64, 64) pose channels -> (N, K, 32, 32)
    heatmap logits: a small U-Net (32 -> 16 -> 8 -> 16 -> 32 pixels; about 50 MFLOPs a window,
    so it trains on a CPU)."""

    def __init__(self, width: int = 24, n_joints: int = J.N_JOINTS):
        super().__init__()
        w = width
        self.stem = nn.Sequential(_conv(3 + n_joints, w, 2), _conv(w, w))  # 32
        self.enc2 = nn.Sequential(_conv(w, 2 * w), _conv(2 * w, 2 * w))  # 16
        self.enc3 = nn.Sequential(_conv(2 * w, 4 * w), _conv(4 * w, 4 * w))  # 8
        self.dec2 = _conv(6 * w, 2 * w)  # 16
        self.dec1 = _conv(3 * w, w)  # 32
        self.head = nn.Conv2d(w, n_joints, 1)

    def forward(self, image, pose):
        up = nn.functional.interpolate
        e1 = self.stem(torch.cat([image - 0.5, pose], 1))
        e2 = self.enc2(nn.functional.max_pool2d(e1, 2))
        e3 = self.enc3(nn.functional.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([up(e3, scale_factor=2.0), e2], 1))
        return self.head(self.dec1(torch.cat([up(d2, scale_factor=2.0), e1], 1)))


def heatmap_position(logits: torch.Tensor, joint: torch.Tensor) -> torch.Tensor:
    """Soft-argmax of each window's queried joint channel -> (N, 2) window pixels."""
    n, _, h, w = logits.shape
    sel = logits[torch.arange(n), joint].reshape(n, h * w).float()
    prob = torch.softmax(sel, -1).reshape(n, h, w)
    scale = CROP / w
    xs = (torch.arange(w, dtype=prob.dtype) + 0.5) * scale - 0.5
    ys = (torch.arange(h, dtype=prob.dtype) + 0.5) * scale - 0.5
    return torch.stack([(prob.sum(1) * xs).sum(-1), (prob.sum(2) * ys).sum(-1)], -1)


def to_tensor(windows_bgr: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 BGR -> (N, 3, S, S) float RGB in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(windows_bgr[..., ::-1])).permute(0, 3, 1, 2).float().div_(255.0)


def mirror_points(points_window: np.ndarray, joints: np.ndarray, size: int):
    """Pose points (N, K, 2) and queried ``joints`` (N,) of windows of ``size`` pixels, mirrored:
    x -> size - 1 - x, left and right joints swapped (``MIRROR``; the mirror image of a right knee
    is a left knee). The refiner's training windows (trainer.refiner) and :func:`mirror_windows`."""
    pts = np.array(points_window, float)[:, MIRROR]
    pts[..., 0] = size - 1 - pts[..., 0]
    return pts, np.asarray(MIRROR)[np.asarray(joints)]


def mirror_windows(windows: torch.Tensor, points_window: np.ndarray, joints: np.ndarray):
    """The mirror image of windows (N, 3, S, S), their pose points and queried joints
    (:func:`mirror_points`), as the refiner was trained."""
    pts, mirrored = mirror_points(points_window, joints, windows.shape[-1])
    return windows.flip(-1), pts, mirrored


def refiner_members(refiner) -> list:
    """The networks of a checkpoint's refiner: one ``RefinerNet`` or an ``nn.ModuleList`` of them."""
    return list(refiner) if isinstance(refiner, nn.ModuleList) else [refiner]


@torch.inference_mode()
def refine_keypoints(refiner, frame_bgr: np.ndarray, keypoints_px, box_height_px: float,
                     flip: bool = False) -> np.ndarray:
    """The network's keypoints (K, 2) raw pixels -> refined (K, 2); NaN stays NaN. Joint ``k``'s
    window is centred on ``keypoints_px[k]`` and sees every joint's keypoint as a pose channel.
    ``refiner``: one RefinerNet or several (an ensemble; their readings are averaged); ``flip``:
    each also reads the mirrored windows (:func:`mirror_windows`) and its mirrored-back reading
    is averaged in."""
    kp = np.asarray(keypoints_px, float)
    ok = np.isfinite(kp).all(-1)
    if not ok.any() or not np.isfinite(box_height_px) or box_height_px <= 1:
        return kp
    side = WINDOW_FRACTION * float(box_height_px)
    idx = np.flatnonzero(ok)
    nets = refiner_members(refiner)
    device = next(nets[0].parameters()).device
    win = to_tensor(cut_windows(frame_bgr, kp[idx], side))
    pts = pose_in_windows(kp, kp[idx], side)
    joints = idx
    if flip:
        m_win, m_pts, m_joints = mirror_windows(win, pts, idx)
        win, pts, joints = torch.cat([win, m_win]), np.concatenate([pts, m_pts]), np.concatenate([idx, m_joints])
    win, pose = win.to(device), pose_channels(pts).to(device)
    pos = np.mean([heatmap_position(net(win, pose).float().cpu(), torch.as_tensor(joints)).numpy() for net in nets], 0)
    if flip:
        n = len(idx)
        pos = 0.5 * (pos[:n] + np.stack([CROP - 1 - pos[n:, 0], pos[n:, 1]], -1))
    out = kp.copy()
    out[idx] = window_to_raw(pos, kp[idx], side)
    return out
