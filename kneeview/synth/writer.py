"""Write one trial as a Vicon session folder.

    <session>/<session>.xcp            all cameras (the video camera and the optical ones)
    <session>/<trial>.c3d              joint centres + body points, lab frame, mm (ezc3d)
    <session>/<trial>.<DEVICEID>.avi   the reference video, MJPG (every frame a key frame)
    <session>/<trial>.json             what is true about the trial (athlete, valgus, events)

Every file is written under a temporary name and moved into place.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from .. import __version__
from ..atomic import atomic_write_text
from ..camera import Camera, write_xcp
from ..errors import ExportError
from ..io.c3d import write_ground_truth
from .motion import Motion

GENERATOR = "kneeview.synth"


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, size: tuple[int, int]) -> int:
    """MJPG AVI (OpenCV/FFmpeg writer, deterministic), written atomically. Returns the frame count."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".avi", dir=path.parent)
    os.close(fd)
    count = 0
    try:
        writer = cv2.VideoWriter(tmp, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"MJPG"), float(fps), tuple(size))
        if not writer.isOpened():
            raise ExportError(path, "OpenCV cannot open an MJPG video writer here")
        try:
            for frame in frames:
                writer.write(frame)
                count += 1
        finally:
            writer.release()
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def trial_metadata(motion: Motion, *, seed: int, athlete_id: str, year: int, fps: float,
                   n_frames: int, extra: dict | None = None) -> dict:
    """The JSON that says what is true about a synthetic trial."""
    k = int(round(motion.rate_hz / fps))

    def frame_of(t_s: float) -> int:
        return int(round(t_s * fps))

    realised = motion.params.get("valgus_realised", {})
    valgus = {
        "definition": "signed distance (mm) of the knee joint centre from the hip-ankle line in the frontal "
                      "plane (lateral_axis_lab, Z); positive = medial",
        "lateral_axis_lab": [round(float(v), 6) for v in motion.lateral_axis],
        "facing_lab": [round(float(v), 6) for v in motion.facing],
    }
    for leg in ("right", "left"):
        r = realised.get(leg, {})
        req = motion.valgus_requested_mm.get(leg)
        valgus[leg] = {
            "peak_mkd_mm": round(float(r.get("peak_mkd_mm", 0.0)), 3),
            "requested_mm": None if req is None else round(float(req), 3),
            "frame": int(round(r.get("sample", 0) / k)),
            "time_s": round(float(r.get("time_s", 0.0)), 6),
        }
    events = {name: {"frame": frame_of(t), "time_s": round(frame_of(t) / fps, 6)} for name, t in motion.events_s.items()}
    meta = {
        "generator": GENERATOR,
        "version": __version__,
        "seed": int(seed),
        "athlete_id": athlete_id,
        "year": int(year),
        "task": motion.task,
        "side": motion.side,
        "valgus": valgus,
        "events": events,
        "fps": float(fps),
        "c3d_rate_hz": float(motion.rate_hz),
        "video_offset_s": 0.0,
        "n_frames": int(n_frames),
    }
    if extra:
        meta.update(extra)
    return meta


def write_session(session_dir: Path, trial: str, motion: Motion, cameras: list[Camera], frames: Iterable[np.ndarray],
                  fps: float, metadata: dict, subject: str = "") -> dict[str, Path]:
    """Write the four files of one trial; the first camera is the one that filmed ``frames``."""
    session_dir = Path(session_dir)
    try:
        session_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(session_dir, f"cannot create the session folder: {exc.strerror or exc}") from None
    video_cam = cameras[0]
    paths = {
        "xcp": session_dir / f"{session_dir.name}.xcp",
        "c3d": session_dir / f"{trial}.c3d",
        "video": session_dir / f"{trial}.{video_cam.device_id}.avi",
        "json": session_dir / f"{trial}.json",
    }
    write_xcp(cameras, paths["xcp"])
    write_ground_truth(paths["c3d"], motion.joints_lab_mm, motion.rate_hz, extra_points=motion.extra_points(), subject=subject)
    n = write_video(paths["video"], frames, fps, video_cam.image_size)
    metadata = dict(metadata, n_frames=n)
    atomic_write_text(paths["json"], json.dumps(metadata, indent=2) + "\n")
    return paths
