"""Recordings: a trial's video(s), the camera calibration, and the C3D ground truth.

Discovery follows what a Vicon Nexus export looks like::

    <session>/<session>.xcp            the system calibration (any single .xcp; <trial>.xcp wins)
    <session>/<trial>.c3d              Plug-in Gait outputs (optional ground truth)
    <session>/<trial>.<DEVICEID>.avi   reference video(s), one per video camera
    <session>/<trial>.json             KneeView's synthetic trials only: athlete, task, truth

A camera is matched to a video by the device id in its file name; otherwise by sensor
size among the video cameras, otherwise when there is only one video camera. What is
missing or doubtful is reported in ``Recording.problems``; nothing is silently guessed.
An OpenCV-style calibration (``*.toml``/``calibration.json``) or a Qualisys ``*.qca.txt``
is used when no .xcp exists.

Multi-view sessions (Qualisys, Pose2Sim)::

    <session>/calibration/<any>.qca.txt   (or <session>/<any>.qca.txt, .toml)
    <session>/videos/cam01.mp4 ...        (or the videos directly in <session>/)
    <session>/videos/<session>.c3d        pseudo-labels written by `kneeview triangulate`

Several videos whose names each name a different camera of one calibration are the views
of ONE recording, named after the session folder. A video names a camera when its stem
is the camera's device id (serial), ends with it after ``_``/``-``/``.``/space
(``trial_cam01``), or is ``cam<N>``/``camera<N>`` (optionally ``_``/``-``; ``cam01``,
``Cam_3``): then it is the N-th camera of the calibration in file order. Views keep the
order of the file names.

A video a few pixels smaller than its camera's calibrated window (at most 16 px per axis)
is taken as the calibrated image RESIZED to the video's size, and the camera is rescaled
exactly (K is pre-multiplied by the pixel-centre-preserving scaling; Brown-Conrady
distortion acts on normalised coordinates and is unchanged). Evidence, Pose2Sim's
Demo_SinglePerson: cam01/cam02 are 1080 px wide, their calibration and the 1088-px
snapshots of the same cameras (calibration/extrinsics/cam0N_ext.png) 1088 px; the video
frame matches the snapshot scaled to 1080 px (best fit: width 1081 +- 1 px, offset 0) and
not the snapshot cropped at any offset. The note is listed in ``problems`` and in the
view's ``camera_match``. Vicon radial distortion (pixel units) is never rescaled.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from ..camera import DISCOVERED_SUFFIXES, BrownConrady, Calibration, Camera, NoDistortion, read_calibration
from ..errors import KneeViewInputError, RecordingError
from .c3d import GroundTruth, read_ground_truth
from .video import VideoReader, probe_video

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".wmv")
#: Largest shortfall (px per axis) of a video against its camera's calibrated window that is
#: taken as a resize of the calibrated image (Pose2Sim's demo: 1088 -> 1080).
MAX_RESIZE_PX = 16
_CAM_NUMBER = re.compile(r"^cam(?:era)?[ _-]?0*(\d+)$", re.IGNORECASE)


def _is_calibration_file(p: Path) -> bool:
    name = p.name.lower()
    # Pose2Sim's project settings (Config.toml) sit beside its calibration/ folder
    return p.is_file() and name.endswith(DISCOVERED_SUFFIXES) and not name.startswith(".") and name != "config.toml"


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


def _find_calibration(folder: Path, trial: str, session: Path | None = None) -> tuple[Path | None, list[str]]:
    problems: list[str] = []
    cands = sorted(p for p in folder.iterdir() if _is_calibration_file(p))
    for extra in [(session or folder) / "calibration"] + ([session] if session is not None and session != folder else []):
        if not cands and extra.is_dir():
            cands = sorted(p for p in extra.iterdir() if _is_calibration_file(p))
    if not cands and folder.parent != folder:
        cands = sorted(p for p in folder.parent.iterdir() if _is_calibration_file(p) and p.suffix.lower() == ".xcp")
    json_calib = folder / "calibration.json"
    if not cands and json_calib.is_file():
        cands = [json_calib]
    if not cands:
        return None, [f"no camera calibration (.xcp, .toml, .qca.txt) in {folder}"]
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
    return _fit_video_size(calibration, cam, video, size, how)


def _fit_video_size(calibration: Calibration, cam: Camera, video: Path, size, how: str) -> tuple[Camera, str, list[str]]:
    """The camera as it applies to this video: same size, or rescaled from a slightly larger window (noted)."""
    cw, ch = cam.image_size
    w, h = size
    if (w, h) == (cw, ch):
        return cam, how, []
    if 0 <= cw - w <= MAX_RESIZE_PX and 0 <= ch - h <= MAX_RESIZE_PX and isinstance(cam.distortion, (BrownConrady, NoDistortion)):
        note = (f"{video.name} is {w}x{h} but camera {cam.device_id} was calibrated at {cw}x{ch}; taken as the "
                f"calibrated image resized to {w}x{h} (camera rescaled by {w / cw:.5f} x {h / ch:.5f})")
        return rescale_camera(cam, (w, h)), f"{how}; rescaled from {cw}x{ch}", [note]
    raise RecordingError(
        video,
        f"the video is {w}x{h} but camera {cam.device_id} in {calibration.path} has a "
        f"{cw}x{ch} sensor: the calibration does not match this video",
        "SENSOR_SIZE",
    )


def rescale_camera(cam: Camera, size: tuple[int, int]) -> Camera:
    """The camera for its image resized to ``size`` (pixel centres map as OpenCV's resize does).

    Exact for Brown-Conrady and pinhole cameras: pixels change by an affine map A, so K
    becomes A K while normalised coordinates (and the distortion acting on them) stay.
    """
    sx, sy = size[0] / cam.image_size[0], size[1] / cam.image_size[1]
    A = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    K = A @ cam.K
    dist = cam.distortion
    if isinstance(dist, BrownConrady):
        dist = BrownConrady(K=K, coefficients=dist.coefficients)
    elif not isinstance(dist, NoDistortion):
        raise ValueError(f"cannot rescale a camera with {type(dist).__name__} distortion")
    return replace(cam, K=K, image_size=(int(size[0]), int(size[1])), distortion=dist,
                   extra={**cam.extra, "calibrated_size": tuple(cam.image_size)})


def camera_named_by(calibration: Calibration, video: Path) -> tuple[Camera, str] | None:
    """The camera a video's file name names (device id, ``..._<id>``, ``cam<N>``), or None."""
    stem = video.name[: -len(video.suffix)] if video.suffix else video.name
    low = stem.lower()
    for cam in calibration.cameras:
        cid = cam.device_id.lower()
        if low == cid or any(low.endswith(sep + cid) for sep in ("_", "-", ".", " ")):
            return cam, "device id in the video file name"
    m = _CAM_NUMBER.match(stem)
    if m and 1 <= int(m.group(1)) <= len(calibration.cameras):
        n = int(m.group(1))
        return calibration.cameras[n - 1], f"camera number {n} in the video file name (file order of the calibration)"
    return None


def _multiview(calibration: Calibration, videos: list[Path]) -> list[tuple[Path, Camera, str]] | None:
    """Each video with the camera its name names, when all do and all differ; else None."""
    named = [camera_named_by(calibration, v) for v in videos]
    if len(videos) < 2 or any(n is None for n in named):
        return None
    ids = [n[0].device_id for n in named]
    if len(set(ids)) != len(ids):
        return None
    return [(v, cam, how) for v, (cam, how) in zip(videos, named)]


def _video_folder(folder: Path) -> tuple[Path, Path]:
    """(folder holding the videos, session root): Pose2Sim keeps videos in <session>/videos/."""
    sub = folder / "videos"
    if not _videos_in(folder) and sub.is_dir() and _videos_in(sub):
        return sub, folder
    if folder.name.lower() == "videos" and (folder.parent / "calibration").is_dir():
        return folder, folder.parent
    return folder, folder


def open_recording(path, calibration=None, c3d=None, device_id=None, strict: bool = True) -> Recording:
    """Open a session folder, or one video of it. Explicit files override discovery.

    Raises :class:`KneeViewInputError` subclasses for unreadable or inconsistent files;
    what is merely missing (no calibration, no C3D) is listed in ``problems``. With
    ``strict=False`` (``kneeview info``, which describes what it can) a calibration whose
    camera does not match the video's size leaves the view without a camera and is listed
    in ``problems`` instead.
    """
    path = Path(path).absolute()
    if not path.exists():
        raise RecordingError(path, "no such file or folder")
    if path.is_dir():
        folder, session = _video_folder(path)
        videos = _videos_in(folder)
        if not videos:
            raise RecordingError(path, f"no video ({', '.join(VIDEO_SUFFIXES)}) in this folder")
        wanted_video = None
    else:
        if path.suffix.lower() not in VIDEO_SUFFIXES:
            raise RecordingError(path, f"not a video file (expected one of {', '.join(VIDEO_SUFFIXES)})")
        folder, session = _video_folder(path.parent)
        videos = _videos_in(folder)
        wanted_video = path
    trials = sorted({split_video_name(v)[0] for v in videos})
    trial = split_video_name(wanted_video)[0] if wanted_video is not None else trials[0]

    problems: list[str] = []
    if calibration is not None:
        calib_path = Path(calibration)
    else:
        calib_path, found = _find_calibration(folder, trial, session)
        problems += found
    calib = read_calibration(calib_path) if calib_path is not None else None

    multi = _multiview(calib, videos) if (calib is not None and len(trials) > 1 and device_id is None) else None
    if multi is not None:
        trial = session.name
        if wanted_video is not None:  # the video that was asked for comes first
            multi = [m for m in multi if m[0] == wanted_video] + [m for m in multi if m[0] != wanted_video]
    elif wanted_video is None and len(trials) > 1:
        raise RecordingError(folder, f"the folder holds several trials ({', '.join(trials)}); open one of its videos")
    elif wanted_video is not None:
        videos = [wanted_video] + [v for v in videos if v != wanted_video and split_video_name(v)[0] == trial]
    views: list[View] = []
    if multi is not None:
        for video, cam, how in multi:
            try:
                cam, how, found = _fit_video_size(calib, cam, video, probe_video(video).size, how)
            except RecordingError as exc:
                if strict or exc.field != "SENSOR_SIZE":
                    raise
                cam, how, found = None, "the calibration does not match the video", [str(exc)]
            problems += found
            views.append(View(video, cam.device_id if cam else None, cam, how))
    else:
        for video in videos:
            _, name_id = split_video_name(video)
            wanted = str(device_id) if (device_id is not None and video == videos[0]) else name_id
            if calib is None:
                views.append(View(video, wanted, None, "no calibration"))
                continue
            try:
                cam, how, found = _match_camera(calib, video, wanted, forced=device_id is not None)
            except RecordingError as exc:
                if strict or exc.field != "SENSOR_SIZE":
                    raise
                cam, how, found = None, "the calibration does not match the video", [str(exc)]
            problems += found
            views.append(View(video, cam.device_id if cam else wanted, cam, how))

    if c3d is not None:
        c3d_path = Path(c3d)
        if not c3d_path.is_file():
            raise RecordingError(c3d_path, "C3D file not found")
    else:
        c3d_path = next((d / f"{trial}.c3d" for d in dict.fromkeys((folder, session)) if (d / f"{trial}.c3d").is_file()), None)
        if c3d_path is None:
            problems.append(f"no ground truth: {trial}.c3d not found in {folder}")

    meta_path = folder / f"{trial}.json"
    metadata = _read_metadata(meta_path) if meta_path.is_file() else {}
    offset = float(metadata.get("video_offset_s", 0.0) or 0.0)
    return Recording(session, trial, views, calib, calib_path, c3d_path, metadata, problems, offset)


def find_recordings(root) -> list[Path]:
    """One video path per trial (the first view) for every trial under a folder tree.

    A multi-view session (videos named after the cameras of one calibration) is one trial.
    """
    root = Path(root)
    if not root.is_dir():
        raise RecordingError(root, "not a folder")
    found: list[Path] = []
    for folder in sorted({p.parent for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES}):
        videos = _videos_in(folder)
        if _is_multiview_folder(folder, videos):
            found.append(videos[0])
            continue
        seen: set[str] = set()
        for video in videos:
            trial = split_video_name(video)[0]
            if trial not in seen:
                seen.add(trial)
                found.append(video)
    return found


def _is_multiview_folder(folder: Path, videos: list[Path]) -> bool:
    if len({split_video_name(v)[0] for v in videos}) < 2:
        return False
    video_folder, session = _video_folder(folder)
    try:
        calib_path, _ = _find_calibration(video_folder, "", session)
        return calib_path is not None and _multiview(read_calibration(calib_path), videos) is not None
    except KneeViewInputError:
        return False


def describe_recording(rec: Recording) -> dict:
    """Plain data for ``kneeview info``: video, calibration, camera, ground truth, problems."""
    out: dict = {"recording": str(rec.root), "trial": rec.trial, "n_views": len(rec.views), "views": [],
                 "problems": list(rec.problems)}
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
            "declared_frame_count": info.declared_frame_count,
            "camera_match": view.camera_match,
            "camera": view.camera.describe() if view.camera else None,
        }
        out["views"].append(entry)
        if info.truncated:
            out["problems"].append(f"{view.video_path}: truncated video: the container declares "
                                   f"{info.declared_frame_count} frames but only {info.frame_count} can be decoded")
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
                "frames_declared": gt.frames_declared,
            }
            if gt.partial:
                out["problems"].append(f"{rec.c3d_path}: {gt.partial_problem()} (export and batch need --allow-partial)")
        except KneeViewInputError as exc:
            out["ground_truth"] = {"path": str(rec.c3d_path), "error": str(exc)}
            out["problems"].append(str(exc))
    else:
        out["ground_truth"] = None
    if rec.metadata:
        out["metadata"] = rec.metadata
    return out
