"""Which way the athlete faces the camera, and 2D left/right labels that contradict it.

Six joints in 2D (hips, knees, ankles) do not say whether a person faces the camera or turns
their back to it: a person seen from behind, with left and right swapped, projects like one
seen from the front. Two readings of it are at hand:

* the 2D labels: a person facing the camera shows the left hip on the image's right
  (:func:`behind_score`, across the image's up direction at the mid-hip, from the calibration);
* the network's 3D (mid-hip-relative, camera frame): its forward direction (left hip minus
  right hip, times the lab's up) points away from the camera when it sees the back
  (:func:`behind_cos_3d`).

From behind the two disagree: on synthetic drop jumps and squats filmed from 125-180 degrees
behind (seeds 90031, 97031, 97032) the shipped network's 3D said "behind" in every frame
while its 2D labels were swapped in 29-99 % of the frames (its knee 2D error 26-51 px, a
knee's distance from the other); in front (frontal and oblique, 40 trials) both agree.
:func:`pairs_to_swap` finds the pairs whose 2D labels contradict a confident 3D facing, and
:func:`relabel_left_right` swaps them; :func:`for_this_camera` (every estimate, once its camera
is known) also takes the network's own keypoints instead of the refined ones from behind
(:func:`network_keypoints_from_behind`).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import joints as J

HIPS = (J.JOINTS.index("RFEP"), J.JOINTS.index("LFEP"))
ANKLES = (J.JOINTS.index("RTIO"), J.JOINTS.index("LTIO"))
#: (right, left) joint pairs: hips, knees, ankles
PAIRS = tuple((J.JOINTS.index("R" + n), J.JOINTS.index("L" + n)) for n in ("FEP", "FEO", "TIO"))

#: the 3D facing is trusted where the running median of :func:`behind_cos_3d` is beyond this
#: (about 30 degrees away from a side view): on the tuning sets 90021/90023 an oblique trial whose
#: 3D read side-on (median cos -0.02) had 19 % of its correct frames swapped at 0.3, none at 0.5
MIN_COS_3D = 0.5
#: running medians over this long (seconds)
WINDOW_S = 0.5
#: the 3D's facing: over this long (a trial's athlete seldom turns round within a second)
WINDOW_3D_S = 1.0


#: what a clinician is told where the camera saw the athlete's back (the app's panel, the screening report)
BEHIND_CAUTION = "the bundled model reads a back view less well"
BEHIND_MEASURED = "held-out synthetic trials: peak MKD error median 16 mm from behind, 5 mm from the front"


def up_in_camera(camera) -> np.ndarray:
    """The lab's +Z in the camera frame."""
    return np.asarray(camera.R, np.float64) @ np.array([0.0, 0.0, 1.0])


def pinhole_points(keypoints_px, camera) -> np.ndarray:
    """Raw (distorted) pixels (T, 6, 2) -> normalised pinhole coordinates (undistorted, ``K^-1``), NaN kept."""
    kp = np.asarray(keypoints_px, np.float64)
    Kinv = np.linalg.inv(np.asarray(camera.K, np.float64))
    return camera.undistort_points(kp.reshape(-1, 2)).reshape(kp.shape) @ Kinv[:2, :2].T + Kinv[:2, 2]


def _running_median(x: np.ndarray, rate_hz: float, window_s: float) -> np.ndarray:
    from scipy.ndimage import median_filter

    size = max(1, int(round(window_s * float(rate_hz)))) | 1
    return median_filter(np.nan_to_num(np.asarray(x, np.float64)), size=size, mode="nearest")


def behind_score(norm: np.ndarray, up_cam: np.ndarray) -> np.ndarray:
    """(T,) how far the person's left hip lies on the image's left of the right hip, across the
    image's up direction at the mid-hip, in 2D leg lengths: > 0 seen from behind, < 0 from the
    front (by the 2D labels). ``norm`` (T, 6, 2) normalised (undistorted, ``K^-1``) keypoints,
    ``up_cam`` the lab's up in the camera frame."""
    norm = np.asarray(norm, np.float64)
    right_hip, left_hip = HIPS
    leg2d = np.linalg.norm(norm[:, list(ANKLES)] - norm[:, list(HIPS)], axis=-1).mean(-1)
    lateral = np.sum((norm[:, left_hip] - norm[:, right_hip]) * image_right(norm, up_cam), -1)
    return -lateral / np.maximum(leg2d, 1e-9)


def seen_from_behind(norm: np.ndarray, up_cam: np.ndarray, rate_hz: float, window_s: float = WINDOW_S) -> np.ndarray:
    """(T,) bool: frames where the 2D labels show the person from behind, by :func:`behind_score`'s
    running median over ``window_s`` (a side view's frames, where the hips overlap, follow their neighbours)."""
    return _running_median(behind_score(norm, up_cam), rate_hz, window_s) > 0


def behind_cos_3d(joints_cam_m: np.ndarray, norm: np.ndarray, up_cam: np.ndarray) -> np.ndarray:
    """(T,) cosine between the 3D pose's forward direction (left hip minus right hip, times the
    lab's up; camera frame) and the viewing ray through the 2D mid-hip: > 0 the pose turns its
    back to the camera, < 0 it faces it, NaN where the 3D is missing."""
    j = np.asarray(joints_cam_m, np.float64)
    norm = np.asarray(norm, np.float64)
    forward = np.cross(j[:, HIPS[1]] - j[:, HIPS[0]], np.asarray(up_cam, np.float64))
    ray = np.concatenate([norm[:, list(HIPS)].mean(1), np.ones((len(norm), 1))], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(forward * ray, -1) / (np.linalg.norm(forward, axis=-1) * np.linalg.norm(ray, axis=-1))


def image_right(norm: np.ndarray, up_cam: np.ndarray) -> np.ndarray:
    """(T, 2) the image's unit "right" at the mid-hip: perpendicular to the lab's up as the image shows it."""
    up = np.asarray(up_cam, np.float64)
    mid = np.asarray(norm, np.float64)[:, list(HIPS)].mean(1)
    img_up = np.stack([up[0] - mid[:, 0] * up[2], up[1] - mid[:, 1] * up[2]], -1)  # d/dt of the projection of hip + t up
    img_up /= np.maximum(np.linalg.norm(img_up, axis=-1, keepdims=True), 1e-12)
    return np.stack([-img_up[:, 1], img_up[:, 0]], -1)


def seen_from_behind_3d(norm: np.ndarray, joints_cam_m: np.ndarray, up_cam: np.ndarray, rate_hz: float,
                        min_cos: float = MIN_COS_3D, window_s: float = WINDOW_3D_S) -> np.ndarray:
    """(T,) bool: frames where the network's 3D turns its back to the camera with confidence (the
    running median of :func:`behind_cos_3d` above ``min_cos``)."""
    return _running_median(behind_cos_3d(joints_cam_m, norm, up_cam), rate_hz, window_s) > min_cos


def pairs_to_swap(norm: np.ndarray, joints_cam_m: np.ndarray, up_cam: np.ndarray, rate_hz: float) -> np.ndarray:
    """(T, 3) bool: the hip, knee and ankle pairs whose 2D labels to swap.

    The network's failure from behind is to label the person as if facing the camera. So in
    frames seen from behind (by the 3D, :func:`seen_from_behind_3d`) whose 2D hips say "from the
    front" (the left hip on the image's right), the 2D are read as that mistake: the hips are
    swapped, and each of the knee and ankle pairs whose left joint also lies on the image's right.
    Frames whose hips agree with the 3D keep the network's labels (a leg crossing the other in
    the image is not mistaken for a swap), and so do frames seen from the front (the network's
    labels were right on 40 frontal and oblique trials)."""
    norm = np.asarray(norm, np.float64)
    behind = seen_from_behind_3d(norm, joints_cam_m, up_cam, rate_hz)
    right = image_right(norm, up_cam)
    lateral = np.stack([np.nan_to_num(np.sum((norm[:, l] - norm[:, r]) * right, -1)) for r, l in PAIRS], 1)
    mistaken = behind & (lateral[:, 0] > 0)  # the hips read as from the front
    return mistaken[:, None] & (lateral > 0)


def network_keypoints_from_behind(seq, camera, rate_hz: float, behind=None):
    """``seq`` with the network's own keypoints (``seq.network_keypoints_px``) in place of the refined
    ones in the frames seen from behind by the 3D (:func:`seen_from_behind_3d`; ``behind`` when the
    caller has it already): the refiners were
    trained on cameras in front of the athlete, and from behind they moved the keypoints away from
    the joints (held-out rear views, seed 97032, 640x480: per-joint median 3.4-7.4 px -> 5.0-8.6,
    the ankles' 90th percentile 16-18 -> 35-37 px; peak MKD 28.0 -> 12.9 mm median without them).
    A decision per trial stretch, not per frame: on the frontal and oblique sets 12 of 8,777 frames'
    3D alone read "behind", and leaving 10 frames of one trial unrefined cost its leg 30 mm of peak.
    ``seq.model["network_keypoints_frames"]`` counts the frames. The same object when none is."""
    if seq.network_keypoints_px is None or len(seq.keypoints_px) == 0:
        return seq
    if behind is None:
        behind = _behind_3d(seq, camera, rate_hz)
    behind = behind & np.isfinite(seq.network_keypoints_px).all(axis=(1, 2))
    if not behind.any():
        return seq
    kp = np.array(seq.keypoints_px, np.float64)
    kp[behind] = seq.network_keypoints_px[behind]
    model = {**(seq.model or {}), "network_keypoints_frames": int(behind.sum())}
    return replace(seq, keypoints_px=kp, model=model)


def for_this_camera(seq, camera, rate_hz: float):
    """What every estimate goes through once its camera is known (the session's postprocess): the
    network's own keypoints from behind (:func:`network_keypoints_from_behind`), then left/right
    put right (:func:`relabel_left_right`); ``model["seen_from_behind_frames"]`` counts the frames
    seen from behind (the export's ``seen_from_behind_pct``, the report's caution)."""
    if len(seq.keypoints_px) == 0:
        return seq
    behind = _behind_3d(seq, camera, rate_hz)
    out = relabel_left_right(network_keypoints_from_behind(seq, camera, rate_hz, behind), camera, rate_hz)
    return replace(out, model={**(out.model or {}), "seen_from_behind_frames": int(behind.sum())})


def _behind_3d(seq, camera, rate_hz: float) -> np.ndarray:
    """:func:`seen_from_behind_3d` of an estimate, its viewing rays through its own keypoints."""
    return seen_from_behind_3d(pinhole_points(seq.keypoints_px, camera), seq.joints_cam_m, up_in_camera(camera), rate_hz)


def relabel_left_right(seq, camera, rate_hz: float):
    """``seq`` (a :class:`kneeview.sequence.PoseSequence`) with the left and right 2D keypoints and
    confidences of the pairs :func:`pairs_to_swap` names swapped (the 3D is kept: it defines the
    facing); ``seq.model["left_right_relabelled"]`` counts the pairs swapped. The same object
    when none is."""
    kp = np.asarray(seq.keypoints_px, np.float64)
    if len(kp) == 0:
        return seq
    swap = pairs_to_swap(pinhole_points(kp, camera), seq.joints_cam_m, up_in_camera(camera), rate_hz)
    if not swap.any():
        return seq
    kp = kp.copy()
    conf = np.array(seq.confidence, np.float64)
    for i, (r, l) in enumerate(PAIRS):
        t = swap[:, i]
        kp[t, r], kp[t, l] = kp[t, l].copy(), kp[t, r].copy()
        conf[t, r], conf[t, l] = conf[t, l].copy(), conf[t, r].copy()
    model = {**(seq.model or {}), "left_right_relabelled": int(swap.sum())}
    return replace(seq, keypoints_px=kp, confidence=conf, model=model)
