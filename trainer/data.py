"""Training samples from session folders (real Vicon exports or ``kneeview synth`` output).

Every video camera of a trial is a view. From each view, ``frames_per_video`` frames are
taken with a ``stride`` (paper: 100 frames, stride 3) from the middle of the video. For each
sampled frame:

* 2D targets: the C3D joint centres projected and distorted through the view's camera
  (``Camera.project``), raw pixels;
* 3D targets: the joint centres in the camera frame, metres, relative to the mid-hip
  (mean of RFEP and LFEP);
* the person box: every point of the C3D (markers, joint centres, the extra body points of
  synthetic trials) projected, with a margin.

Frames whose six joints are not all known are skipped. The split is by athlete (the trial
JSON's ``athlete_id``; the session folder when there is none), so an athlete recorded in
two years stays in one split.
"""
from __future__ import annotations

import json
import logging
import random
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from kneeview import joints as J
from kneeview.atomic import atomic_write_text
from kneeview.errors import KneeViewInputError
from kneeview.io.c3d import read_points
from kneeview.io.recording import find_recordings, open_recording

log = logging.getLogger(__name__)

BOX_MARGIN = 0.10  # of the box size, each side


@dataclass
class ViewSamples:
    """The sampled frames of one view of one trial, with their targets."""

    trial_id: str  # video path of the trial's first view, relative to the data root
    athlete: str
    video_path: Path
    device_id: str | None
    image_size: tuple[int, int]  # (W, H)
    frame_index: np.ndarray  # (n,)
    keypoints_px: np.ndarray  # (n, 6, 2) raw distorted pixels (integer = pixel centre); NaN: no 2D target
    joints_cam_m: np.ndarray  # (n, 6, 3) mid-hip-relative camera frame, metres; NaN: no 3D target
    box_px: np.ndarray  # (n, 4) x0 y0 x1 y1 raw pixels (pixel-centre convention), with margin
    tight_box_px: np.ndarray  # (n, 4) without margin (COCO area)
    meta: dict = field(default_factory=dict)
    #: the other labelled people of each frame (2D-only sources, :func:`people_samples`): per sample,
    #: (keypoints (k, 6, 2) raw px, boxes (k, 4) raw px with margin); None when each frame has one person
    others: list | None = None

    def __len__(self) -> int:
        return len(self.frame_index)


def sample_frame_indices(n_frames: int, count: int = 100, stride: int = 3) -> np.ndarray:
    """``count`` frames ``stride`` apart, centred in the video (fewer if it is short)."""
    if n_frames <= 0:
        return np.zeros(0, dtype=np.int64)
    span = (count - 1) * stride
    if span >= n_frames:
        return np.arange(0, n_frames, stride, dtype=np.int64)[:count]
    start = (n_frames - 1 - span) // 2
    return start + stride * np.arange(count, dtype=np.int64)


def athlete_of(rec) -> str:
    meta = rec.metadata or {}
    if meta.get("athlete_id") not in (None, ""):
        return str(meta["athlete_id"])
    return rec.root.name


def _all_points_at_video_frames(rec, view_index: int) -> np.ndarray | None:
    """Every C3D point (T_video, N, 3) lab mm at each frame of a view."""
    gt = rec.ground_truth()
    if gt is None:
        return None
    data = read_points(rec.c3d_path)
    scale = {"mm": 1.0, "m": 1000.0, "cm": 10.0}.get(data.units.lower().strip(), 1.0)
    pts = data.points * scale
    pts[np.all(pts == 0.0, axis=-1)] = np.nan
    allgt = replace(gt, joints_lab_mm=pts)
    return allgt.resample(rec.frame_times_s(view_index)).joints_lab_mm


def view_name(view) -> str:
    """A view's name in splits and reports: its video's file stem (``cam01``, ``DJ01.2107395``)."""
    return Path(view.video_path).stem


def load_view_samples(video_path: Path, root: Path | None, frames_per_video: int = 100, stride: int = 3,
                      frame_indices=None, views=None) -> list[ViewSamples]:
    """Samples of every calibrated view of the trial whose (first) video is ``video_path``.

    ``frame_indices`` (video frame numbers) replaces the centred ``frames_per_video``/``stride``
    sampling; ``views`` (names as :func:`view_name`) keeps only those views. The trial id is
    the video's path relative to ``root`` (its absolute path when ``root`` is None).
    """
    rec = open_recording(video_path)
    if rec.c3d_path is None:
        return []
    out = []
    resolved = Path(video_path).resolve()
    trial_id = str(resolved if root is None else resolved.relative_to(Path(root).resolve()))
    athlete = athlete_of(rec)
    for vi, view in enumerate(rec.views):
        cam = view.camera
        if cam is None or (views is not None and view_name(view) not in views):
            continue
        joints_lab = rec.ground_truth_frames(vi)
        if joints_lab is None:
            continue
        allpts = _all_points_at_video_frames(rec, vi)
        if frame_indices is None:
            idx = sample_frame_indices(len(joints_lab), frames_per_video, stride)
        else:
            idx = np.asarray(sorted(set(int(i) for i in frame_indices)), dtype=np.int64)
            idx = idx[(idx >= 0) & (idx < len(joints_lab))]
        joints = joints_lab[idx]
        ok = np.all(np.isfinite(joints), axis=(1, 2))
        idx, joints = idx[ok], joints[ok]
        if len(idx) == 0:
            continue
        kp = cam.project(joints)
        cam_mm = cam.world_to_camera(joints)
        hip = cam_mm[:, :2].mean(axis=1, keepdims=True)
        joints_cam_m = (cam_mm - hip) / 1000.0
        pts = allpts[idx] if allpts is not None else joints
        proj = cam.project(pts)
        W, H = cam.image_size
        box, tight = person_boxes(np.concatenate([proj, kp], axis=1), W, H)
        good = np.all(np.isfinite(kp), axis=(1, 2)) & (box[:, 2] - box[:, 0] > 4) & (box[:, 3] - box[:, 1] > 4)
        out.append(ViewSamples(
            trial_id=trial_id, athlete=athlete, video_path=view.video_path, device_id=view.device_id,
            image_size=(W, H), frame_index=idx[good], keypoints_px=kp[good], joints_cam_m=joints_cam_m[good],
            box_px=box[good], tight_box_px=tight[good],
            meta={"task": (rec.metadata or {}).get("task"), "year": (rec.metadata or {}).get("year")},
        ))
    return out


def person_boxes(points_px, W: int, H: int) -> tuple[np.ndarray, np.ndarray]:
    """Person boxes (n, 4) x0 y0 x1 y1 raw px from body points (n, K, 2) (NaN: unknown): with
    ``BOX_MARGIN`` each side, clipped to the image; and tight (the points' extent, COCO area)."""
    pts = np.asarray(points_px, dtype=np.float64)
    pts = np.where(np.isfinite(pts), pts, np.nan)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a sample with no point: NaN box, dropped later
        lo = np.nanmin(pts, axis=1)
        hi = np.nanmax(pts, axis=1)
    tight = np.concatenate([lo, hi], axis=1)
    size = hi - lo
    box = np.concatenate([lo - BOX_MARGIN * size, hi + BOX_MARGIN * size], axis=1)
    box[:, [0, 2]] = box[:, [0, 2]].clip(-0.5, W - 0.5)
    box[:, [1, 3]] = box[:, [1, 3]].clip(-0.5, H - 0.5)
    return box, tight


def scan_trials(root) -> list[Path]:
    """First-view video of every trial under ``root`` that has a C3D beside it."""
    root = Path(root)
    if not root.is_dir():
        raise KneeViewInputError(root, "data folder not found")
    videos = find_recordings(root)
    if not videos:
        raise KneeViewInputError(root, "no recordings (videos) under this folder")
    return videos


# ----------------------------------------------------------------------------- split
def make_split(trials: dict[str, str], seed: int = 0, fractions=(0.70, 0.15, 0.15)) -> dict:
    """Assign athletes (not trials) to train/val/test; ``trials`` maps trial id -> athlete."""
    athletes = sorted(set(trials.values()))
    rng = random.Random(seed)
    rng.shuffle(athletes)
    n = len(athletes)
    n_val = max(1, round(fractions[1] * n)) if n >= 3 else 0
    n_test = max(1, round(fractions[2] * n)) if n >= 3 else 0
    n_train = n - n_val - n_test
    groups = {"train": athletes[:n_train], "val": athletes[n_train:n_train + n_val], "test": athletes[n_train + n_val:]}
    where = {a: name for name, group in groups.items() for a in group}
    split = {"seed": seed, "fractions": list(fractions), "athletes": {k: sorted(v) for k, v in groups.items()}}
    for name in groups:
        split[name] = sorted(t for t, a in trials.items() if where[a] == name)
    return split


def save_split(split: dict, path: Path) -> None:
    atomic_write_text(path, json.dumps(split, indent=2) + "\n")


def load_split(path: Path) -> dict:
    try:
        split = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise KneeViewInputError(path, f"cannot read the split: {exc}") from None
    for key in ("train", "val", "test"):
        if not isinstance(split.get(key), list):
            raise KneeViewInputError(path, "not a split file", key)
    return split


# ----------------------------------------------------------------------------- real recordings
def segment_split(n_frames: int, segments: int = 5, test_segments=(1, 3), guard: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Whole time segments of one recording held out: (train frames, test frames).

    The frames are cut into ``segments`` contiguous, near-equal blocks; the blocks numbered
    in ``test_segments`` are the test frames. Training frames are the other blocks less
    ``guard`` frames on each side of every test block, so that no training frame is a
    near-duplicate (a few ms away) of a test frame.
    """
    if n_frames < 1:
        raise KneeViewInputError(None, "the recording has no frames to split")
    if not 1 <= segments <= n_frames:
        raise KneeViewInputError(None, f"cannot cut {n_frames} frames into {segments} segments", "real_segments")
    test_segments = sorted(set(int(k) for k in test_segments))
    if not test_segments or test_segments[0] < 0 or test_segments[-1] >= segments:
        raise KneeViewInputError(None, f"test segments {test_segments} must be among 0..{segments - 1}", "real_test_segments")
    if len(test_segments) == segments:
        raise KneeViewInputError(None, "every segment is a test segment: nothing left to train on", "real_test_segments")
    blocks = np.array_split(np.arange(n_frames), segments)
    test = np.concatenate([blocks[k] for k in test_segments])
    near = np.zeros(n_frames, dtype=bool)
    for k in test_segments:
        near[max(0, blocks[k][0] - guard): blocks[k][-1] + guard + 1] = True
    train = np.flatnonzero(~near)
    return train, test


def real_split(session, segments: int = 5, test_segments=(1, 3), guard: int = 3, holdout_views=()) -> dict:
    """The split entry of one real (multi-view, pseudo-labelled) recording: frames and views.

    ``holdout_views`` (video stems or camera device ids) are kept out of training entirely,
    so that the evaluation has views the network never saw.
    """
    rec = open_recording(session)
    where = Path(session)
    if rec.c3d_path is None:
        raise KneeViewInputError(where, "no C3D (pseudo-)labels beside the videos: run `kneeview triangulate` first")
    truth = rec.ground_truth_frames(0)
    names = [view_name(v) for v in rec.views]
    ids = [str(v.camera.device_id) if v.camera is not None else None for v in rec.views]
    held = set()
    for h in holdout_views:
        match = [n for n, d in zip(names, ids) if h in (n, d)]
        if not match:
            raise KneeViewInputError(where, f"no view named {h!r} to hold out (views: {', '.join(names)})", "real_holdout_views")
        held.update(match)
    if len(held) == len(names):
        raise KneeViewInputError(where, "every view is held out: nothing left to train on", "real_holdout_views")
    train, test = segment_split(len(truth), segments, test_segments, guard)
    return {
        "session": str(where.resolve()), "name": rec.name, "frames": int(len(truth)), "segments": int(segments),
        "test_segments": sorted(int(k) for k in test_segments), "guard_frames": int(guard),
        "train_frames": train.tolist(), "test_frames": test.tolist(), "views": names,
        "train_views": [n for n in names if n not in held], "holdout_views": [n for n in names if n in held],
    }


def real_samples(entry: dict, frames: str = "train") -> list[ViewSamples]:
    """Samples of a :func:`real_split` entry: its training frames of its training views
    (``frames="train"``), or its test frames of every view (``frames="test"``)."""
    rec_path = Path(entry["session"])
    if not rec_path.exists():
        raise KneeViewInputError(rec_path, "real recording listed in the split is missing")
    views = set(entry["train_views"]) if frames == "train" else set(entry["views"])
    idx = entry["train_frames"] if frames == "train" else entry["test_frames"]
    out = load_view_samples(rec_path, None, frame_indices=idx, views=views)
    for s in out:
        s.trial_id = f"real:{entry['name']}/{view_name(s)}"
        s.meta = {**s.meta, "real": True}
    return out


# ----------------------------------------------------------------------------- 2D-only real video
PEOPLE_KEYS = ("people_keypoints_px", "people_confidence", "people_landmarks_px", "view_names", "video_files",
               "frame_size_px")


def read_people_labels(path) -> dict:
    """The people labels of ``tools/blazepose_detect.py --people`` (an .npz), checked: the joints
    (V, T, P, 6, 2) px and their confidence (V, T, P, 6), every landmark (V, T, P, K, 2) px (the
    person's extent), and per view its name, video (relative to the file's folder, resolved
    here) and frame size. NaN coordinates where a person was not found."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in PEOPLE_KEYS if k not in z.files]
            if missing:
                raise KneeViewInputError(path, "not a people-labels file (tools/blazepose_detect.py --people)", missing[0])
            d = {k: z[k] for k in PEOPLE_KEYS}
    except KneeViewInputError:
        raise
    except Exception as exc:  # zip/format errors of a damaged file
        raise KneeViewInputError(path, f"cannot read the people labels: {exc}") from None
    kp, conf, lm = d["people_keypoints_px"], d["people_confidence"], d["people_landmarks_px"]
    V = len(d["view_names"])
    if (kp.ndim != 5 or kp.shape[0] != V or kp.shape[3:] != (J.N_JOINTS, 2) or conf.shape != kp.shape[:4]
            or lm.ndim != 5 or lm.shape[:3] != kp.shape[:3] or lm.shape[4] != 2):
        raise KneeViewInputError(path, f"keypoints {kp.shape}, confidence {conf.shape}, landmarks {lm.shape} do not agree "
                                 f"with each other and {V} view(s)", "people_keypoints_px")
    if d["video_files"].shape != (V,) or d["frame_size_px"].shape != (V, 2):
        raise KneeViewInputError(path, "video_files / frame_size_px do not have one entry per view", "video_files")
    d["videos"] = [(path.parent / str(f)).resolve() for f in d["video_files"]]
    d["view_names"] = [str(n) for n in d["view_names"]]
    return d


def people_split(path, holdout_views=()) -> dict:
    """The split entry of a 2D-only labelled video (or set of views): every frame trains, except
    the views named in ``holdout_views`` (video stems), which are never used."""
    path = Path(path)
    d = read_people_labels(path)
    names = d["view_names"]
    train = [n for n in names if n not in set(holdout_views)]
    if not train:
        raise KneeViewInputError(path, "every view is held out: nothing left to train on", "real_holdout_views")
    return {"labels": str(path.resolve()), "name": f"{path.parent.name}/{path.stem}", "views": names,
            "train_views": train, "holdout_views": [n for n in names if n not in train]}


def box_overlap(a, b) -> float:
    """The share of the smaller of two boxes (x0 y0 x1 y1) that lies in the other."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(w * h / smaller) if smaller > 0 else 0.0


def reliable_people(landmarks_px, confidence, min_visibility: float = 0.5, min_joints: int = 3,
                    max_overlap: float = 0.6) -> list[int]:
    """The people of one frame (landmarks (P, K, 2), joint confidence (P, 6)) worth a label: found,
    with at least ``min_joints`` joints of confidence ``min_visibility``, and not the same person
    found twice (more than ``max_overlap`` of the smaller tight box inside one kept before; the
    second find of a person is often a part of them, or them with a shadow)."""
    kept, boxes = [], []
    for p in range(len(landmarks_px)):
        pts = landmarks_px[p]
        if not np.isfinite(pts).all(-1).any() or np.sum(confidence[p] >= min_visibility) < min_joints:
            continue
        pts = pts[np.isfinite(pts).all(-1)]
        box = (*pts.min(axis=0), *pts.max(axis=0))
        if any(box_overlap(box, b) > max_overlap for b in boxes):
            continue
        kept.append(p)
        boxes.append(box)
    return kept


def people_samples(entry: dict, min_visibility: float = 0.5, min_joints: int = 3,
                   usual_share: float = 0.25) -> list[ViewSamples]:
    """Samples of a :func:`people_split` entry: 2D targets only (no 3D), every labelled person of a frame.

    A joint whose confidence (BlazePose's visibility) is below ``min_visibility`` has no 2D target;
    a person needs ``min_joints`` such joints, and one found twice counts once (:func:`reliable_people`).
    Only frames in which at least as many people were found as the view usually shows (the
    largest count reached in ``usual_share`` of its frames) are kept: in the others someone is
    unlabelled, and the detector would learn that a person is background.
    Boxes are the extent of all landmarks with ``BOX_MARGIN``, as for triangulated labels.
    """
    from kneeview.io.video import probe_video

    path = Path(entry["labels"])
    d = read_people_labels(path)
    out = []
    for v, name in enumerate(d["view_names"]):
        if name not in entry["train_views"]:
            continue
        video = d["videos"][v]
        if not video.is_file():
            raise KneeViewInputError(path, f"the video of view {name} is missing: {video}", "video_files")
        W, H = (int(x) for x in d["frame_size_px"][v])
        size = tuple(probe_video(video).size)
        if size != (W, H):
            raise KneeViewInputError(video, f"frames are {size[0]}x{size[1]}, the labels were made on {W}x{H}")
        lm, kp_all, conf = d["people_landmarks_px"][v], d["people_keypoints_px"][v], d["people_confidence"][v]
        kept = [reliable_people(lm[t], conf[t], min_visibility, min_joints) for t in range(len(lm))]
        count = np.array([len(k) for k in kept])
        usual = max([k for k in range(1, lm.shape[1] + 1) if np.mean(count >= k) >= usual_share], default=0)
        frames = np.flatnonzero(count >= max(usual, 1))
        idx, kps, boxes, tights, others = [], [], [], [], []
        for t in frames:
            people = kept[t]
            kp = kp_all[t, people].copy()
            kp[~(conf[t, people] >= min_visibility)] = np.nan
            box, tight = person_boxes(lm[t, people], W, H)
            idx.append(t)
            kps.append(kp[0])
            boxes.append(box[0])
            tights.append(tight[0])
            others.append((kp[1:], box[1:]))
        if not idx:
            continue
        n = len(idx)
        out.append(ViewSamples(
            trial_id=f"real2d:{entry['name']}/{name}", athlete=f"real2d:{entry['name']}", video_path=video, device_id=None,
            image_size=(W, H), frame_index=np.asarray(idx, dtype=np.int64), keypoints_px=np.stack(kps),
            joints_cam_m=np.full((n, J.N_JOINTS, 3), np.nan), box_px=np.stack(boxes), tight_box_px=np.stack(tights),
            meta={"real": True, "labels_2d": True}, others=others,
        ))
    return out


# ----------------------------------------------------------------------------- statistics
def normalisation_stats(samples: list[ViewSamples]) -> tuple[np.ndarray, np.ndarray]:
    """Mean (per joint and axis) and standard deviation (per axis, pooled over joints), metres.

    The deviations are pooled over the joints so that the 3D loss weighs every joint's
    error in metres alike, as PCK and MPJPE do: a per-joint std would blow the hips' few
    millimetres of spread (they sit at +-8 cm from the mid-hip by construction) up to the
    weight of the ankles' decimetres. Returned as (6, 3) arrays, as the checkpoint stores them.
    """
    allj = np.concatenate([s.joints_cam_m for s in samples], axis=0)
    mean = allj.mean(axis=0)
    pooled = np.sqrt(((allj - mean) ** 2).mean(axis=(0, 1)))
    std = np.broadcast_to(np.maximum(pooled, 1e-3), mean.shape).copy()
    return mean, std


# ----------------------------------------------------------------------------- dataset
@dataclass
class Augment:
    scale: tuple[float, float] = (0.75, 1.3)
    #: in-plane rotation: with probability ``rotate``, an angle uniform in +-``rotate_deg`` (a camera with roll).
    #: Off by default: on the real recording it did not help the rolled view it was meant for (README)
    rotate: float = 0.6
    rotate_deg: float = 0.0
    flip: float = 0.5
    colour: float = 0.8
    blur: float = 0.3
    enabled: bool = True


class PoseDataset:
    """torch-style dataset: ``ds[i] -> (image tensor (3, H, W) RGB [0, 1], target dict)``.

    Frames are first resized exactly as at inference (short side to ``min_size``, area
    interpolation; the resized frames of real recordings, few and slow to seek in their
    long-GOP videos, are kept in memory), then augmented (scale, in-plane rotation with the 3D turned about the
    optical axis alike, crop, horizontal flip with left/right swap and mirrored 3D, colour jitter, blur). Targets are in the network's continuous pixel
    coordinates (``raw_px + 0.5``, see :mod:`kneeview.pose.estimator`).
    """

    def __init__(self, samples: list[ViewSamples], mean3d, std3d, min_size: int = 320, max_size: int = 576,
                 augment: Augment | None = None, seed: int = 0, reader_cache: int = 4):
        self.views = [s for s in samples if len(s)]
        self.offsets = np.cumsum([0] + [len(s) for s in self.views])
        self.mean3d = np.asarray(mean3d, dtype=np.float32)
        self.std3d = np.asarray(std3d, dtype=np.float32)
        self.min_size, self.max_size = min_size, max_size
        self.augment = augment or Augment(enabled=False)
        self.seed = seed
        self._readers: OrderedDict = OrderedDict()
        self._reader_cache = reader_cache
        self._rng = np.random.default_rng(seed)
        self._resized: dict = {}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, i: int) -> tuple[ViewSamples, int]:
        v = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.views[v], i - int(self.offsets[v])

    def _reader(self, path: Path):
        from kneeview.io.video import VideoReader

        r = self._readers.get(path)
        if r is None:
            r = VideoReader(path, cache_mb=8)
            self._readers[path] = r
            while len(self._readers) > self._reader_cache:
                self._readers.popitem(last=False)[1].close()
        else:
            self._readers.move_to_end(path)
        return r

    def __getstate__(self):  # readers are not shared with worker processes
        d = dict(self.__dict__)
        d["_readers"] = OrderedDict()
        return d

    def _input_size(self, view: ViewSamples) -> tuple[int, int]:
        from kneeview.pose.estimator import input_scale

        W, H = view.image_size
        s0 = input_scale(H, W, self.min_size, self.max_size)
        return max(1, round(W * s0)), max(1, round(H * s0))

    def preload_real(self) -> int:
        """Decode the sampled frames of the real recordings once, in order, and keep them resized.

        Call it before the data-loading workers start (they inherit the frames). Returns the count.
        OpenCV runs single-threaded from here on in this process: a worker forked while its
        thread pool is busy inherits a held lock and hangs in ``cv2.setNumThreads``."""
        from kneeview.io.video import VideoReader

        cv2.setNumThreads(1)
        n = 0
        for view in self.views:
            if not view.meta.get("real"):
                continue
            wanted = {int(f): j for j, f in enumerate(view.frame_index)}
            size = self._input_size(view)
            with VideoReader(view.video_path, cache_mb=0) as reader:
                for f, frame in reader.iter_frames(0, max(wanted) + 1):
                    if f in wanted:
                        self._resized[(id(view), wanted[f])] = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                        n += 1
        return n

    def frame(self, view: ViewSamples, j: int) -> np.ndarray:
        return np.asarray(self._reader(view.video_path)[int(view.frame_index[j])])

    def __getitem__(self, i: int):
        import torch

        from kneeview.pose.estimator import to_network_xy

        view, j = self.locate(int(i))
        W, H = view.image_size
        out_w, out_h = self._input_size(view)
        key = (id(view), j)
        img = self._resized.get(key)
        if img is None:
            frame = self.frame(view, j)
            if frame.shape[:2] != (H, W):
                raise KneeViewInputError(view.video_path, f"frame {int(view.frame_index[j])} is {frame.shape[1]}x{frame.shape[0]}, "
                                         f"its camera {W}x{H}")
            img = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_AREA)
            if view.meta.get("real"):
                self._resized[key] = img
        sx, sy = out_w / W, out_h / H
        kp = [to_network_xy(view.keypoints_px[j]) * [sx, sy]]
        box = [to_network_xy(view.box_px[j].reshape(2, 2)) * [sx, sy]]
        j3 = [view.joints_cam_m[j]]
        if view.others is not None:
            okp, obox = view.others[j]
            kp += list(to_network_xy(okp) * [sx, sy])
            box += list(to_network_xy(np.asarray(obox).reshape(-1, 2, 2)) * [sx, sy])
            j3 += [np.full((J.N_JOINTS, 3), np.nan)] * len(okp)
        kp, box, j3 = np.stack(kp), np.stack(box), np.stack(j3).astype(np.float32)
        if self.augment.enabled:
            img, kp, box, j3 = self._augment(img, kp, box, j3)
        box = box.reshape(-1, 4)
        box[:, [0, 2]] = box[:, [0, 2]].clip(0, out_w)
        box[:, [1, 3]] = box[:, [1, 3]].clip(0, out_h)
        known = np.isfinite(kp).all(axis=-1)
        kp = np.where(known[..., None], kp, 0.0)
        vis = known & (kp[..., 0] >= 0) & (kp[..., 0] <= out_w) & (kp[..., 1] >= 0) & (kp[..., 1] <= out_h)
        known3d = np.isfinite(j3).all(axis=-1)
        j3 = np.where(known3d[..., None], (j3 - self.mean3d) / self.std3d, 0.0)
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        image = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)
        keep = (box[:, 2] - box[:, 0] > 2) & (box[:, 3] - box[:, 1] > 2)  # people cropped out of the frame are dropped
        target = {
            "boxes": torch.tensor(box[keep], dtype=torch.float32),
            "labels": torch.ones(int(keep.sum()), dtype=torch.int64),
            "keypoints": torch.tensor(np.concatenate([kp, vis[..., None]], axis=-1)[keep], dtype=torch.float32),
            "joints3d": torch.tensor(j3[keep], dtype=torch.float32),
            "joints3d_valid": torch.tensor(known3d[keep], dtype=torch.bool),
        }
        return image, target

    def _augment(self, img, kp, box, j3):
        """Augment one frame and its people: ``kp`` (P, 6, 2) continuous px (NaN: unknown), ``box`` (P, 2, 2),
        ``j3`` (P, 6, 3); the first person is the one the crop keeps in frame. Single-person arrays
        ((6, 2), (2, 2), (6, 3)) are taken and given back as such."""
        single = np.ndim(kp) == 2
        if single:
            kp, box, j3 = kp[None], box[None], j3[None]
        rng = self._rng
        a = self.augment
        h, w = img.shape[:2]
        s = float(rng.uniform(*a.scale))
        # no draw when rotation is off, so the random stream stays aligned with runs made before it
        # existed (the placement then differs only where a joint lies within 2 px of the box edge)
        theta = 0.0
        if a.rotate_deg > 0 and rng.random() < a.rotate:
            theta = float(np.radians(rng.uniform(-a.rotate_deg, a.rotate_deg)))
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
        if rng.random() < a.flip:
            img = np.ascontiguousarray(img[:, ::-1])
            kp = kp[:, list(J.FLIP_INDEX)].copy()
            kp[..., 0] = w - kp[..., 0]
            box = np.stack([np.stack([w - box[:, 1, 0], box[:, 0, 1]], axis=-1),
                            np.stack([w - box[:, 0, 0], box[:, 1, 1]], axis=-1)], axis=1)
            j3 = j3[:, list(J.FLIP_INDEX)].copy()
            j3[..., 0] = -j3[..., 0]
        if rng.random() < a.colour:
            img = _colour_jitter(img, rng)
        if rng.random() < a.blur:
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


def collate(batch):
    images, targets = zip(*batch)
    return list(images), list(targets)


# ----------------------------------------------------------------------------- collection
def collect_samples(root, trial_ids: list[str] | None = None, frames_per_video: int = 100, stride: int = 3,
                    progress: bool = False) -> list[ViewSamples]:
    """Samples of every trial under ``root`` (or only ``trial_ids``, paths relative to root)."""
    root = Path(root)
    videos = scan_trials(root) if trial_ids is None else [root / t for t in trial_ids]
    out: list[ViewSamples] = []
    it = videos
    if progress:
        from tqdm import tqdm

        it = tqdm(videos, desc="reading trials", unit="trial")
    for v in it:
        if not v.is_file():
            raise KneeViewInputError(v, "trial listed in the split is missing")
        try:
            out.extend(load_view_samples(v, root, frames_per_video, stride))
        except KneeViewInputError as exc:
            log.warning("skipping %s: %s", v, exc)
    return out


def trial_athletes(root) -> dict[str, str]:
    """trial id -> athlete for every trial under ``root`` (metadata only, no C3D read)."""
    root = Path(root).resolve()
    out = {}
    for v in scan_trials(root):
        rec = open_recording(v)
        if rec.c3d_path is None:
            continue
        out[str(Path(v).resolve().relative_to(root))] = athlete_of(rec)
    return out
