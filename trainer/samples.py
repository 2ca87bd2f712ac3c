"""Training samples of session folders (real Vicon exports or ``kneeview synth`` output).

Every video camera of a trial is a view. From each view, ``frames_per_video`` frames are
taken with a ``stride`` (paper: 100 frames, stride 3) from the middle of the video. For each
sampled frame:

* 2D targets: the C3D joint centres projected and distorted through the view's camera
  (``Camera.project``), raw pixels;
* 3D targets: the joint centres in the camera frame, metres, relative to the mid-hip
  (mean of RFEP and LFEP);
* the person box: every point of the C3D (markers, joint centres, the extra body points of
  synthetic trials) projected, with a margin.

Frames whose six joints are not all known are skipped. A trial's athlete is the trial
JSON's ``athlete_id`` (the session folder when there is none); :mod:`trainer.splits`
groups trials by it.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

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
    #: the other labelled people of each frame (2D-only sources, :func:`trainer.people_labels.people_samples`):
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
