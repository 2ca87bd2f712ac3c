"""Recordings: a trial's video(s), the camera calibration, and the C3D ground truth.

Discovery follows what a Vicon Nexus export looks like::

    <session>/<session>.xcp            the system calibration (any single .xcp; <trial>.xcp wins)
    <session>/<trial>.c3d              Plug-in Gait outputs (optional ground truth)
    <session>/<trial>.<DEVICEID>.avi   reference video(s), one per video camera
    <session>/<trial>.json             KneeView's synthetic trials only: athlete, task, truth

A camera is matched to a video by the device id in its file name; otherwise by sensor
size among the video cameras, otherwise when there is only one video camera. What is
missing or doubtful is reported in ``Recording.problems``; nothing is silently guessed.
An OpenCV-style calibration (``*.toml``/``calibration.json``) is used when no .xcp exists.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..camera import Calibration, Camera, read_calibration
from ..errors import KneeViewInputError, RecordingError
from .c3d import GroundTruth, read_ground_truth
from .video import VideoReader, probe_video

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv")
CALIBRATION_SUFFIXES = (".xcp", ".toml")


def split_video_name(path: Path) -> tuple[str, str | None]:
    """``Trial01.2107395.avi`` -> ("Trial01", "2107395"); ``clip.mp4`` -> ("clip", None)."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    head, dot, tail = stem.rpartition(".")
    if dot and head and tail.isdigit():
        return head, tail
    return stem, None


@dataclass
class View:
    """One video of a recording and the camera that filmed it."""

    video_path: Path
    device_id: str | None
    camera: Camera | None
    camera_match: str  # how the camera was chosen, for the user

    def open_video(self, cache_mb: float = 512.0) -> VideoReader:
        return VideoReader(self.video_path, cache_mb=cache_mb)

    @cached_property
    def video_info(self):
        return probe_video(self.video_path)


@dataclass
class Recording:
    root: Path
    trial: str
    views: list[View]
    calibration: Calibration | None
    calibration_path: Path | None
    c3d_path: Path | None
    metadata: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    video_offset_s: float = 0.0  # time of video frame 0 on the C3D clock

    @property
    def view(self) -> View:
        return self.views[0]

    @property
    def name(self) -> str:
        return f"{self.root.name}/{self.trial}"

    def ground_truth(self) -> GroundTruth | None:
        """The C3D joint centres at their own rate, or None when the trial has no C3D."""
        if self.c3d_path is None:
            return None
        return self._ground_truth

    @cached_property
    def _ground_truth(self) -> GroundTruth:
        return read_ground_truth(self.c3d_path)

    def frame_times_s(self, view_index: int = 0) -> np.ndarray:
        info = self.views[view_index].video_info
        return self.video_offset_s + np.arange(info.frame_count) / info.fps

    def ground_truth_frames(self, view_index: int = 0) -> np.ndarray | None:
        """Joint centres (T_video, 6, 3) lab mm at each frame of a view; NaN where absent."""
        gt = self.ground_truth()
        if gt is None:
            return None
        return gt.resample(self.frame_times_s(view_index)).joints_lab_mm


def _read_metadata(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, json.JSONDecodeError) as exc:
        raise RecordingError(path, f"cannot read trial metadata: {exc}") from None
    if not isinstance(data, dict):
        raise RecordingError(path, "trial metadata must be a JSON object")
    return data


def _videos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))


def _find_calibration(folder: Path, trial: str) -> tuple[Path | None, list[str]]:
    problems: list[str] = []
    cands = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CALIBRATION_SUFFIXES)
    if not cands and folder.parent != folder:
        cands = sorted(p for p in folder.parent.iterdir() if p.is_file() and p.suffix.lower() == ".xcp")
    json_calib = folder / "calibration.json"
    if not cands and json_calib.is_file():
        cands = [json_calib]
    if not cands:
        return None, [f"no camera calibration (.xcp, .toml) in {folder}"]
    for preferred in (f"{trial}.xcp", f"{folder.name}.xcp"):
        for c in cands:
            if c.name == preferred:
                return c, problems
    xcps = [c for c in cands if c.suffix.lower() == ".xcp"] or cands
    if len(xcps) > 1:
        problems.append(f"several calibrations in {folder} ({', '.join(c.name for c in xcps)}); using {xcps[0].name}")
    return xcps[0], problems


def _match_camera(calibration: Calibration, video: Path, device_id: str | None, forced: bool) -> tuple[Camera | None, str, list[str]]:
    size = probe_video(video).size
    if device_id is not None:
        cam = calibration.camera(device_id)  # raises CalibrationError naming the file
        how = "device id given" if forced else "device id in the video file name"
    else:
        video_cams = calibration.video_cameras() or list(calibration.cameras)
        same_size = [c for c in video_cams if tuple(c.image_size) == tuple(size)]
        if len(same_size) == 1:
            cam, how = same_size[0], "the only video camera with the video's size"
        elif len(video_cams) == 1:
            cam, how = video_cams[0], "the only video camera in the calibration"
        else:
            ids = ", ".join(c.device_id for c in (same_size or video_cams))
            return None, "ambiguous", [f"cannot tell which camera filmed {video.name} (candidates: {ids}); name the video <trial>.<DEVICEID>{video.suffix} or pass --camera"]
    if tuple(cam.image_size) != tuple(size):
        raise RecordingError(
            video,
            f"the video is {size[0]}x{size[1]} but camera {cam.device_id} in {calibration.path} has a "
            f"{cam.image_size[0]}x{cam.image_size[1]} sensor: the calibration does not match this video",
            "SENSOR_SIZE",
        )
    return cam, how, []


def open_recording(path, calibration=None, c3d=None, device_id=None) -> Recording:
    """Open a session folder, or one video of it. Explicit files override discovery.

    Raises :class:`KneeViewInputError` subclasses for unreadable or inconsistent files;
    what is merely missing (no calibration, no C3D) is listed in ``problems``.
    """
    path = Path(path).absolute()
    if not path.exists():
        raise RecordingError(path, "no such file or folder")
    if path.is_dir():
        folder = path
        videos = _videos_in(folder)
        if not videos:
            raise RecordingError(folder, f"no video ({', '.join(VIDEO_SUFFIXES)}) in this folder")
        trials = sorted({split_video_name(v)[0] for v in videos})
        if len(trials) > 1:
            raise RecordingError(folder, f"the folder holds several trials ({', '.join(trials)}); open one of its videos")
        trial = trials[0]
    else:
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise RecordingError(path, f"not a video file (expected one of {', '.join(VIDEO_SUFFIXES)})")
        folder = path.parent
        trial = split_video_name(path)[0]
        videos = [v for v in _videos_in(folder) if split_video_name(v)[0] == trial]
        # the video that was asked for comes first
        videos = [path] + [v for v in videos if v != path]

    problems: list[str] = []
    if calibration is not None:
        calib_path = Path(calibration)
    else:
        calib_path, found = _find_calibration(folder, trial)
        problems += found
    calib = read_calibration(calib_path) if calib_path is not None else None

    views: list[View] = []
    for video in videos:
        _, name_id = split_video_name(video)
        wanted = str(device_id) if (device_id is not None and video == videos[0]) else name_id
        if calib is None:
            views.append(View(video, wanted, None, "no calibration"))
            continue
        cam, how, found = _match_camera(calib, video, wanted, forced=device_id is not None)
        problems += found
        views.append(View(video, cam.device_id if cam else wanted, cam, how))

    c3d_path = Path(c3d) if c3d is not None else (folder / f"{trial}.c3d")
    if not c3d_path.is_file():
        if c3d is not None:
            raise RecordingError(c3d_path, "C3D file not found")
        problems.append(f"no ground truth: {trial}.c3d not found in {folder}")
        c3d_path = None

    meta_path = folder / f"{trial}.json"
    metadata = _read_metadata(meta_path) if meta_path.is_file() else {}
    offset = float(metadata.get("video_offset_s", 0.0) or 0.0)
    return Recording(folder, trial, views, calib, calib_path, c3d_path, metadata, problems, offset)


def find_recordings(root) -> list[Path]:
    """One video path per trial (the first view) for every trial under a folder tree."""
    root = Path(root)
    if not root.is_dir():
        raise RecordingError(root, "not a folder")
    found: list[Path] = []
    for folder in sorted({p.parent for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES}):
        seen: set[str] = set()
        for video in _videos_in(folder):
            trial = split_video_name(video)[0]
            if trial not in seen:
                seen.add(trial)
                found.append(video)
    return found


def describe_recording(rec: Recording) -> dict:
    """Plain data for ``kneeview info``: video, calibration, camera, ground truth, problems."""
    out: dict = {"recording": str(rec.root), "trial": rec.trial, "views": [], "problems": list(rec.problems)}
    for view in rec.views:
        info = view.video_info
        entry = {
            "video": str(view.video_path),
            "width": info.width,
            "height": info.height,
            "fps": round(info.fps, 6),
            "frame_count": info.frame_count,
            "duration_s": round(info.duration_s, 3),
            "codec": info.codec,
            "camera_match": view.camera_match,
            "camera": view.camera.describe() if view.camera else None,
        }
        out["views"].append(entry)
    out["calibration"] = (
        {"path": str(rec.calibration_path), "format": rec.calibration.source_format, "cameras": len(rec.calibration.cameras),
         "video_cameras": [c.device_id for c in rec.calibration.video_cameras()]}
        if rec.calibration else None
    )
    if rec.c3d_path is not None:
        try:
            gt = rec.ground_truth()
            out["ground_truth"] = {
                "path": str(rec.c3d_path),
                "rate_hz": gt.rate_hz,
                "frames": gt.n_frames,
                "duration_s": round(gt.n_frames / gt.rate_hz, 3),
                "joint_centres": gt.labels,
                "missing_joints": gt.missing,
                "gaps": gt.gaps(),
                "reader": gt.reader,
            }
        except KneeViewInputError as exc:
            out["ground_truth"] = {"path": str(rec.c3d_path), "error": str(exc)}
            out["problems"].append(str(exc))
    else:
        out["ground_truth"] = None
    if rec.metadata:
        out["metadata"] = rec.metadata
    return out
