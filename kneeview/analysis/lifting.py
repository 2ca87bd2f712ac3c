"""Temporal 2D -> 3D lifting: a small MLP (NumPy inference) that turns a window of 2D keypoints
into the mid-hip-relative 3D pose of the window's centre frame, in the camera frame.

It is a depth prior for :func:`.reconstruction.reconstruct`: the pose network's 2D keypoints
are precise, its relative depth is not, and the reconstruction takes each segment's direction
from the prior. The lifter is trained (``trainer/lifter.py``) on KneeView's synthetic motions
seen through random calibrated cameras in front of the athlete (frontal and oblique), without
rendering. A camera behind the athlete is read through the depth-reflected scene, which faces
the camera (:func:`rear_features`; frames chosen by :func:`.facing.seen_from_behind`), so the networks
never see a view they were not trained on.

Input features of frame t (all from the calibration and the 2D keypoints):

* the 2D keypoints undistorted and in normalised camera coordinates (``K^-1 [u, v, 1]``) of
  the ``window`` frames ``t + stride * k`` (k = -h..h, clamped at the trial's ends; ``stride``
  from the frame rate so the window spans about the same time at any rate), each frame
  relative to its own mid-hip and divided by the window's mean 2D hip-ankle length;
* the centre frame's mid-hip in normalised coordinates (the viewing ray: perspective);
* the lab's up direction (Z) in the camera frame (the camera's pitch and roll).

Output: the centre frame's 3D joints relative to the mid-hip, camera frame, in units of the
leg length (mean of thigh + shank over both legs); :func:`lift` multiplies by a leg length.

The weights file is a plain ``.npz`` (no pickle): ``W0, b0, W1, b1, ...`` (``W`` is (in, out)),
``x_mean, x_std`` (input standardisation), ``y_scale``, ``window``, ``window_s`` (the time a
window spans), ``leg_length_m`` (the default scale). An ensemble (``python -m trainer.lifter
--combine``) has ``members`` = K and each network's arrays prefixed ``m0_`` .. ``m{K-1}_``; its
output is the networks' mean.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import joints as J
from ..errors import KneeViewInputError
from .cautions import exceeds
from .facing import ANKLES, HIPS, pinhole_points, seen_from_behind, up_in_camera

NJ = J.N_JOINTS
N_EXTRA = 5  # mid-hip ray (2) + up direction (3)


@dataclass
class LifterNet:
    """One trained network: dense layers with ReLU between them, standardised inputs."""

    weights: list  # [(W (in, out), b (out,)), ...]
    x_mean: np.ndarray
    x_std: np.ndarray
    y_scale: float

    @property
    def n_parameters(self) -> int:
        return int(sum(W.size + b.size for W, b in self.weights))

    def forward(self, features: np.ndarray) -> np.ndarray:
        """(N, n_inputs) features -> (N, 6, 3) pose in leg lengths (camera frame, mid-hip relative)."""
        h = (np.asarray(features, np.float64) - self.x_mean) / self.x_std
        for i, (W, b) in enumerate(self.weights):
            h = h @ W + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return (h * self.y_scale).reshape(-1, NJ, 3)


@dataclass
class Lifter:
    """A loaded lifter: one network, or an ensemble of networks trained alike from different
    seeds whose outputs are averaged (the figures a single training seed gives vary by more than
    most changes being measured: docs/clinical-benchmark-history.md)."""

    nets: list  # [LifterNet, ...]
    window: int
    window_s: float
    leg_length_m: float
    path: str = ""
    sha256: str = ""
    #: also run every network on the mirror image and average (mirrored back): a lifter's reading
    #: of a scene and of its mirror image differ, and their mean errs less (held-out per-frame MKD
    #: RMS better on 65-82 % of legs, docs/clinical-benchmark-history.md); costs a second pass of a tiny network
    mirror: bool = True
    #: read frames where the person is seen from behind (:func:`.facing.seen_from_behind`) as the
    #: depth-reflected scene, which faces the camera (:func:`rear_features`, :func:`rear_pose`): the
    #: networks were trained on cameras in front of the athlete only and read a rear view as a
    #: front one (real recording, cameras 40 degrees off the rear axis: hip axis 99-141 degrees off)
    rear: bool = True

    @property
    def n_inputs(self) -> int:
        return int(self.nets[0].weights[0][0].shape[0])

    @property
    def n_parameters(self) -> int:
        return int(sum(net.n_parameters for net in self.nets))

    def readings(self, features: np.ndarray) -> np.ndarray:
        """(N, n_inputs) features -> (M, N, 6, 3): each network's pose in leg lengths (and, with
        ``mirror``, each network's reading of the mirror image, mirrored back)."""
        outs = [net.forward(features) for net in self.nets]
        if self.mirror:
            flipped = mirror_features(features, self.window)
            outs += [mirror_pose(net.forward(flipped)) for net in self.nets]
        return np.stack(outs)

    def forward(self, features: np.ndarray) -> np.ndarray:
        """(N, n_inputs) features -> (N, 6, 3) pose in leg lengths: the mean of :meth:`readings`."""
        return self.readings(features).mean(axis=0)


#: The pelvis and the four leg segments (proximal, distal joint), whose directions the reconstruction
#: takes from the lifter.
SPREAD_SEGMENTS = ((1, 0), (0, 2), (1, 3), (2, 4), (3, 5))
#: Above this spread (degrees) the lifter's networks disagree as they never do on what they were trained
#: for: per frame, on 64 synthetic trials no training used (tripods in front and behind, the network's 2D),
#: 1.05 median, 5.9 at the 99th percentile, 6.8 at most; cameras 2.2-3.2 m up looking down 24-30
#: degrees: 7-24; on the real recording (Pose2Sim's Demo_SinglePerson) 9.3-34.2 in every frame of all
#: four views (on the labels' own 2D 8.9-34.3), where the reconstruction's MKD is 25-81 mm RMS from the
#: labels (docs/clinical-benchmark-history.md, twelfth session).
#: :func:`.reconstruction.reconstruct` marks such frames unreliable.
UNFAMILIAR_SPREAD_DEG = 8.0
#: What a clinician is told when most of a trial's frames are above it (the app, the screening report).
UNFAMILIAR_CAUTION = ("the 3D reading's networks disagree: this recording is unlike the drop jumps and squats "
                      "they were trained on (the movement, the body or the camera), so MKD and FPPA may be off by "
                      "tens of millimetres and degrees")
UNFAMILIAR_MEASURED = ("measured on a real four-camera recording read this way: MKD 25-81 mm RMS from the "
                       "labels, where three other cameras triangulated agree with them within 8-13 mm")


def median_spread_deg(spread) -> float | None:
    """A trial's spread (per frame, degrees; NaN where not read): its median over the frames, None
    where no frame has one (the summary row's ``lifter_spread_deg``, the app's "3D reading")."""
    s = np.asarray(spread if spread is not None else [], dtype=np.float64)
    return float(np.nanmedian(s)) if np.isfinite(s).any() else None


def unfamiliar(median_spread):
    """Whether a trial's median spread (a number, None/NaN, or an array of them) says the recording is
    unlike the lifter's training (above :data:`UNFAMILIAR_SPREAD_DEG`); missing values say no."""
    return exceeds(median_spread, UNFAMILIAR_SPREAD_DEG)


def reading_spread_deg(readings: np.ndarray) -> np.ndarray:
    """How much an ensemble's readings (M, N, 6, 3) disagree, per reading (N,): over the pelvis and
    leg segments (:data:`SPREAD_SEGMENTS`), the mean angle in degrees between each member's
    segment direction and the members' mean direction. NaN where a reading is not finite."""
    r = np.asarray(readings, np.float64)
    seg = np.array(SPREAD_SEGMENTS)
    v = r[:, :, seg[:, 1]] - r[:, :, seg[:, 0]]  # (M, N, S, 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = v / np.linalg.norm(v, axis=-1, keepdims=True)
        mean = u.mean(axis=0)
        mean = mean / np.linalg.norm(mean, axis=-1, keepdims=True)
        cos = np.clip(np.sum(u * mean, axis=-1), -1.0, 1.0)
    return np.degrees(np.arccos(cos)).mean(axis=(0, 2))


def stride_for(rate_hz: float, window: int, window_s: float) -> int:
    """Frames between the window's samples so that it spans about ``window_s`` seconds."""
    return max(1, int(round(float(window_s) * float(rate_hz) / max(window - 1, 1))))


def normalised_keypoints(keypoints_px, confidence, camera, min_confidence: float = 0.05) -> np.ndarray:
    """Raw (distorted) pixels (T, 6, 2) -> normalised pinhole coordinates (T, 6, 2).

    Joints not detected (NaN or confidence below ``min_confidence``) are filled by linear
    interpolation over time (nearest value at the ends); a joint never seen stays NaN.
    """
    n = pinhole_points(keypoints_px, camera)
    T = len(n)
    if confidence is not None:
        conf = np.nan_to_num(np.asarray(confidence, np.float64), nan=0.0)
        n[conf < min_confidence] = np.nan
    t = np.arange(T)
    for j in range(NJ):
        ok = np.isfinite(n[:, j]).all(-1)
        if ok.any() and not ok.all():
            for c in range(2):
                n[:, j, c] = np.interp(t, t[ok], n[ok, j, c])
    return n


def window_features(norm: np.ndarray, up_cam: np.ndarray, stride: int, window: int) -> np.ndarray:
    """Features (T, window * 12 + 5) of every frame of one trial (see the module docstring)."""
    norm = np.asarray(norm, np.float64)
    T = len(norm)
    half = window // 2
    idx = np.clip(np.arange(T)[:, None] + stride * np.arange(-half, half + 1)[None, :], 0, T - 1)
    mid = norm[:, list(HIPS)].mean(1)  # (T, 2)
    rel = norm - mid[:, None]
    leg2d = np.linalg.norm(norm[:, list(ANKLES)] - norm[:, list(HIPS)], axis=-1).mean(-1)  # (T,)
    scale = np.maximum(leg2d[idx].mean(1), 1e-6)  # (T,)
    win = rel[idx] / scale[:, None, None, None]  # (T, W, 6, 2)
    extra = np.concatenate([mid, np.broadcast_to(np.asarray(up_cam, np.float64), (T, 3))], axis=1)
    return np.concatenate([win.reshape(T, -1), extra], axis=1)


def _read_net(data: dict, prefix: str) -> LifterNet:
    n_layers = sum(1 for k in data if k.startswith(prefix + "W") and k[len(prefix) + 1:].isdigit())
    weights = [(data[f"{prefix}W{i}"].astype(np.float64), data[f"{prefix}b{i}"].astype(np.float64))
               for i in range(n_layers)]
    return LifterNet(weights, data[prefix + "x_mean"].astype(np.float64), data[prefix + "x_std"].astype(np.float64),
                     float(data[prefix + "y_scale"]))


def save_lifter(out, nets, window: int, window_s: float, leg_length_m: float) -> None:
    """Write networks as a lifter's ``.npz`` (the format :func:`load_lifter` reads, module docstring):
    one network unprefixed, several as an ensemble (``members``, arrays prefixed ``m{k}_``)."""
    arrays = {"window": np.int64(window), "window_s": np.float64(window_s), "leg_length_m": np.float64(leg_length_m)}
    prefixes = [""] if len(nets) == 1 else [f"m{k}_" for k in range(len(nets))]
    if len(nets) > 1:
        arrays["members"] = np.int64(len(nets))
    for pre, net in zip(prefixes, nets):
        for i, (W, b) in enumerate(net.weights):
            arrays[f"{pre}W{i}"] = np.asarray(W, np.float32)
            arrays[f"{pre}b{i}"] = np.asarray(b, np.float32)
        arrays[pre + "x_mean"] = np.asarray(net.x_mean, np.float32)
        arrays[pre + "x_std"] = np.asarray(net.x_std, np.float32)
        arrays[pre + "y_scale"] = np.float64(net.y_scale)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)


def _net_consistent(net: LifterNet, n_in: int) -> bool:
    w = net.weights
    ok = len(w) >= 1 and w[0][0].ndim == 2 and w[0][0].shape[0] == n_in and w[-1][0].shape[1] == NJ * 3
    ok = ok and net.x_mean.shape == (n_in,) and net.x_std.shape == (n_in,)
    for (W, b), (W2, _) in zip(w, w[1:] + [(None, None)]):
        ok = ok and W.ndim == 2 and b.shape == (W.shape[1],) and (W2 is None or W2.shape[0] == W.shape[1])
    finite = all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in w)
    return bool(ok and finite and np.all(net.x_std > 0) and np.isfinite(net.y_scale))


def mirror_features(features: np.ndarray, window: int) -> np.ndarray:
    """The features of the mirror image (the camera's x axis reversed, the person's left and right
    swapped): what :func:`window_features` gives for keypoints with x -> -x and joints swapped by
    ``joints.FLIP_INDEX``, and the up direction's x negated."""
    x = np.array(features, np.float64)
    n = len(x)
    win = x[:, :window * NJ * 2].reshape(n, window, NJ, 2)[:, :, list(J.FLIP_INDEX)]
    win[..., 0] *= -1.0
    extra = x[:, window * NJ * 2:].copy()
    extra[:, 0] *= -1.0  # the mid-hip ray's x
    extra[:, 2] *= -1.0  # the up direction's x
    return np.concatenate([win.reshape(n, -1), extra], axis=1)


def mirror_pose(pose: np.ndarray) -> np.ndarray:
    """A camera-frame pose (N, 6, 3) of the mirror image back to the original: x negated, left and
    right swapped."""
    out = np.array(pose, np.float64)[:, list(J.FLIP_INDEX)]
    out[..., 0] *= -1.0
    return out


def rear_features(norm: np.ndarray, up_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2D and up direction of the depth-reflected scene, for a person seen from behind.

    Reflecting the scene in depth about the person (camera-frame z - z_hip -> its negative)
    keeps every 2D point (to first order: the person's depth extent against the distance) and
    turns a person seen from behind into one facing the camera, but mirrored: relabelled left
    <-> right (``joints.FLIP_INDEX``) it is a person facing the camera, the view the lifter knows.
    The lab's up in the reflected camera frame has its z negated. Returns the normalised
    keypoints (T, 6, 2) and the up direction (3,) to build :func:`window_features` from."""
    return np.asarray(norm, np.float64)[:, list(J.FLIP_INDEX)], np.asarray(up_cam, np.float64) * [1.0, 1.0, -1.0]


def rear_pose(pose: np.ndarray) -> np.ndarray:
    """A camera-frame pose (N, 6, 3) read on the depth-reflected scene (:func:`rear_features`)
    back to the original: left and right swapped, depth relative to the mid-hip negated."""
    out = np.array(pose, np.float64)[:, list(J.FLIP_INDEX)]
    hip_z = out[:, list(HIPS), 2].mean(1, keepdims=True)
    out[..., 2] = 2.0 * hip_z - out[..., 2]
    return out


def load_lifter(path) -> Lifter:
    """Read a lifter's ``.npz``; a missing, unreadable or inconsistent file raises
    :class:`kneeview.errors.KneeViewInputError` naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        with np.load(path, allow_pickle=False) as z:
            data = {k: np.asarray(z[k]) for k in z.files}
    except FileNotFoundError:
        raise KneeViewInputError(path, "lifter weights not found") from None
    except Exception as exc:  # zip, header or pickle errors: a damaged file
        raise KneeViewInputError(path, f"cannot read the lifter weights ({type(exc).__name__}: {exc})") from None
    try:
        members = int(data["members"]) if "members" in data else 0
        if "members" in data and not 1 <= members <= 64:
            raise ValueError(f"{members} members")
        prefixes = [f"m{k}_" for k in range(members)] if members else [""]
        nets = [_read_net(data, pre) for pre in prefixes]
        window = int(data["window"])
        lifter = Lifter(nets, window, float(data["window_s"]), float(data["leg_length_m"]),
                        str(path), hashlib.sha256(raw).hexdigest())
    except (KeyError, ValueError, TypeError) as exc:
        raise KneeViewInputError(path, f"not a KneeView lifter ({type(exc).__name__}: {exc})") from None
    n_in = window * NJ * 2 + N_EXTRA
    if not all(_net_consistent(net, n_in) for net in nets):
        raise KneeViewInputError(path, "lifter weights have inconsistent shapes or non-finite values")
    return lifter


def lift(keypoints_px, confidence, camera, lifter: Lifter, rate_hz: float = 50.0,
         leg_length_m: float | None = None) -> np.ndarray:
    """The lifter's 3D for every frame: (T, 6, 3) metres, mid-hip-relative, camera frame
    (:func:`lift_with_spread` without the spread)."""
    return lift_with_spread(keypoints_px, confidence, camera, lifter, rate_hz, leg_length_m)[0]


def lift_with_spread(keypoints_px, confidence, camera, lifter: Lifter, rate_hz: float = 50.0,
                     leg_length_m: float | None = None, behind=None) -> tuple[np.ndarray, np.ndarray]:
    """The lifter's 3D for every frame: (T, 6, 3) metres, mid-hip-relative, camera frame, and
    how much its networks disagree on each frame (T,) degrees (:func:`reading_spread_deg`).

    ``keypoints_px`` (T, 6, 2) raw distorted pixels (NaN: not detected), ``confidence``
    (T, 6) or None, ``camera`` the trial's calibrated camera, ``rate_hz`` the frame rate (it
    sets the window's stride), ``leg_length_m`` the scale (thigh + shank; default: the
    lifter's). Frames with fewer than the hips and an ankle seen anywhere come back NaN.
    Frames where the person is seen from behind are read on the depth-reflected scene (``lifter.rear``;
    :func:`rear_features`): ``behind`` (T,) bool, or None for :func:`seen_from_behind_2d` of these keypoints.
    """
    kp = np.asarray(keypoints_px, np.float64)
    T = len(kp)
    out = np.full((T, NJ, 3), np.nan)
    spread = np.full(T, np.nan)
    if T == 0:
        return out, spread
    norm = normalised_keypoints(kp, confidence, camera)
    if not np.isfinite(norm).all():
        return out, spread
    stride = stride_for(rate_hz, lifter.window, lifter.window_s)
    up = up_in_camera(camera)
    readings = lifter.readings(window_features(norm, up, stride, lifter.window))
    if not lifter.rear:
        behind = np.zeros(T, bool)
    elif behind is None:
        behind = seen_from_behind(norm, up, rate_hz)
    behind = np.asarray(behind, bool)
    if behind.any():
        norm_r, up_r = rear_features(norm, up)
        rear = lifter.readings(window_features(norm_r, up_r, stride, lifter.window)[behind])
        readings[:, behind] = np.stack([rear_pose(r) for r in rear])
    spread = reading_spread_deg(readings)
    scale = lifter.leg_length_m if leg_length_m is None else float(leg_length_m)
    out = readings.mean(axis=0) * scale
    return out - out[:, list(HIPS)].mean(1, keepdims=True), spread


#: The bundled lifter, beside the pose model.
BUNDLED_NAME = "lifter.npz"
_bundled_cache: dict = {}


def bundled_lifter(required: bool = False) -> Lifter | None:
    """The lifter shipped in ``resources/model/lifter.npz`` (loaded once), or None when the
    installation has none (with ``required``: a KneeViewInputError naming the path)."""
    from ..bundled import resource_path

    path = resource_path("model", BUNDLED_NAME)
    if not path.is_file():
        if required:
            raise KneeViewInputError(path, "the bundled lifter is missing from this installation")
        return None
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _bundled_cache:
        _bundled_cache.clear()
        _bundled_cache[key] = load_lifter(path)
    return _bundled_cache[key]


def leg_length_m(joints_m) -> float | None:
    """Median over frames of the mean thigh + shank of the two legs (NaN-safe), or None."""
    j = np.asarray(joints_m, np.float64)
    L = 0.0
    for h, k, a in ((0, 2, 4), (1, 3, 5)):
        L = L + np.linalg.norm(j[:, k] - j[:, h], axis=-1) + np.linalg.norm(j[:, a] - j[:, k], axis=-1)
    L = L[np.isfinite(L)] / 2
    return float(np.median(L)) if L.size else None


def seen_from_behind_2d(keypoints_px, confidence, camera, rate_hz: float) -> np.ndarray:
    """(T,) bool: the frames a trial's 2D keypoints (raw pixels, confidence as :func:`lift_with_spread`
    takes them) show from behind (:func:`.facing.seen_from_behind` of :func:`normalised_keypoints`): the
    frames the lifter reads on the depth-reflected scene and whose bands the reconstruction widens."""
    return seen_from_behind(normalised_keypoints(keypoints_px, confidence, camera), up_in_camera(camera), rate_hz)


def lifted_prior(keypoints_px, joints_cam_m, confidence, camera, rate_hz: float,
                 lifter: Lifter | None = None, behind=None) -> tuple[np.ndarray, np.ndarray] | None:
    """The lifter's 3D scaled to the network's median leg length (metres, mid-hip-relative,
    camera frame), the depth prior :func:`.reconstruction.reconstruct` uses with
    ``prior="lifter"``, and its networks' spread per frame (degrees, :func:`lift_with_spread`);
    None when it cannot be computed (no lifter, no 2D)."""
    lifter = lifter if lifter is not None else bundled_lifter()
    if lifter is None:
        return None
    scale = leg_length_m(joints_cam_m)
    if scale is None or not 0.3 < scale < 1.5:  # the network's 3D missing or absurd: the lifter's default
        scale = None
    out, spread = lift_with_spread(keypoints_px, confidence, camera, lifter, rate_hz=rate_hz, leg_length_m=scale,
                                   behind=behind)
    if not np.isfinite(out).any():
        return None
    own = leg_length_m(out)  # the lifter's legs are not exactly its nominal length: match the network's
    if scale is not None and own:
        out = out * (scale / own)
    return out, spread
