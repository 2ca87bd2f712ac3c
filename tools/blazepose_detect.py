#!/usr/bin/env python3
"""MediaPipe BlazePose 2D hips, knees and ankles on every view of a session -> detections .npz.

    bash tools/setup_blazepose.sh                       # once: .venv-blazepose (mediapipe, numpy<2)
    .venv-blazepose/bin/python tools/blazepose_detect.py SESSION_OR_VIDEOS... --out det.npz
    kneeview triangulate SESSION --detections det.npz   # in the app's venv
    .venv-blazepose/bin/python tools/blazepose_detect.py VIDEOS... --people 2 --out people.npz
    kneeview-train fit ... --real-2d people.npz         # 2D-only training labels, several people a frame

An independent, off-the-shelf 2D detector for the pseudo-labels of a real multi-view
recording. It runs in its own virtual environment (mediapipe 0.10.21 needs numpy < 2) and
is called as a tool: it imports numpy, OpenCV, (inside :func:`run_on_frames`) mediapipe, and
of KneeView only :mod:`kneeview.joints` (plain Python: the joint order and BlazePose's
landmark of each joint), from the repository beside ``tools/`` where kneeview is not
installed; no torch, no Qt. The functions above :func:`run_on_frames` need numpy alone, so
the tests import this file without mediapipe.

Detector: the legacy ``mp.solutions.pose`` graph with ``model_complexity=1``, i.e.
``pose_landmark_full.tflite`` (+ ``pose_detection.tflite``), both inside the wheel; the
Tasks API would need a ``.task`` bundle that the wheel does not ship. Default mode is
``static``: the person detector and the landmark model run on every frame, so each frame's
estimate is independent (no filter lag, no drift of a tracked region; KneeView filters
later). ``--mode video`` detects once and then takes each frame's region from the previous
frame's landmarks (re-detecting when tracking confidence drops); it is faster (0.026 vs
0.042 s/frame on Pose2Sim's demo) but, triangulated, gave less stable segment lengths
there (docs/real-recording.md). ``--smooth`` adds MediaPipe's temporal filter (video mode).

Mapping: BlazePose landmarks 24/23 (right/left hip), 26/25 (knees), 28/27 (ankles) ->
KneeView's RFEP, LFEP, RFEO, LFEO, RTIO, LTIO. BlazePose's left/right are the person's
(landmark 23 is the person's left hip wherever it appears in the image), as PiG's L/R are.
Pixels: MediaPipe's normalised x, y span the image edges (0 = left/top edge, 1 =
right/bottom edge); KneeView puts integer coordinates at pixel centres (OpenCV), so
``x_px = x * width - 0.5``. Frames are the decoded frames as OpenCV delivers them, the same
frames KneeView's reader shows; their size is stored (``frame_size_px``) and
``kneeview triangulate`` refuses detections whose frame size is not the video's (a
rotated or resized decode). Confidence is BlazePose's landmark visibility; NaN
coordinates and confidence 0 where no pose was found.

``--people N`` (2D training labels for any video, calibrated or not, one person or several):
BlazePose finds one person at a time; each one's segmentation mask is painted out before it
looks again, in the whole frame and then in each half of it (:func:`find_people`); written by
:func:`save_people_npz`.

Output (written atomically): the layout of ``kneeview.analysis.multiview`` --
``keypoints_px`` (V, T, 6, 2), ``confidence`` (V, T, 6), ``view_names`` (V,) = video file
stems (``cam01``...), ``fps`` -- plus ``frame_size_px`` (V, 2) width, height,
``landmarks_px`` (V, T, 33, 2) and ``landmarks_visibility`` (V, T, 33) (all 33 BlazePose
landmarks, same pixel convention), and ``detector`` (a string).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPOSITORY = str(Path(__file__).resolve().parents[1])
if REPOSITORY not in sys.path:  # the detector's venv does not install kneeview; an installed one comes first
    sys.path.append(REPOSITORY)
from kneeview.joints import BLAZEPOSE_INDEX, JOINTS  # noqa: E402

#: Other body points written for triangulation (the person's extent: head to toes, hands),
#: named like the extra points of KneeView's synthetic trials. HEAD = between the ears.
BODY_POINTS = {"HEAD": (7, 8), "RSHO": (12,), "LSHO": (11,), "RELB": (14,), "LELB": (13,), "RWRI": (16,),
               "LWRI": (15,), "RHEE": (30,), "LHEE": (29,), "RTOE": (32,), "LTOE": (31,)}
N_LANDMARKS = 33
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
DETECTOR = "mediapipe 0.10.21 BlazePose pose_landmark_full (solutions.pose, model_complexity=1)"


def normalised_to_px(landmarks_norm, width: int, height: int) -> np.ndarray:
    """MediaPipe normalised image coordinates (..., 2), edges at 0 and 1 -> pixels, integers at pixel centres."""
    xy = np.asarray(landmarks_norm, dtype=np.float64)
    return xy * np.array([width, height], dtype=np.float64) - 0.5


def landmarks_to_joints(landmarks_px, visibility) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose landmarks (..., 33, 2) px and visibility (..., 33) -> KneeView joints (..., 6, 2), confidence (..., 6).

    A landmark with a NaN coordinate or visibility is not observed: NaN coordinates, confidence 0.
    """
    lm = np.asarray(landmarks_px, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    if lm.shape[-2:] != (N_LANDMARKS, 2) or vis.shape != lm.shape[:-1]:
        raise ValueError(f"expected landmarks (..., {N_LANDMARKS}, 2) and visibility (..., {N_LANDMARKS}), got {lm.shape}, {vis.shape}")
    idx = list(BLAZEPOSE_INDEX)
    kp = lm[..., idx, :].copy()
    conf = np.clip(vis[..., idx], 0.0, 1.0)
    seen = np.isfinite(kp).all(-1) & np.isfinite(conf)
    kp[~seen] = np.nan
    conf = np.where(seen, conf, 0.0)
    return kp, conf


def landmarks_to_body_points(landmarks_px, visibility) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose landmarks (..., 33, 2), visibility (..., 33) -> BODY_POINTS (..., K, 2) px and confidence (..., K)."""
    lm = np.asarray(landmarks_px, dtype=np.float64)
    vis = np.clip(np.asarray(visibility, dtype=np.float64), 0.0, 1.0)
    pts = np.stack([lm[..., list(idx), :].mean(axis=-2) for idx in BODY_POINTS.values()], axis=-2)
    conf = np.stack([vis[..., list(idx)].min(axis=-1) for idx in BODY_POINTS.values()], axis=-1)
    seen = np.isfinite(pts).all(-1) & np.isfinite(conf)
    pts[~seen] = np.nan
    return pts, np.where(seen, conf, 0.0)


def stack_views(per_view: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Per-view (landmarks_px (T_v, 33, 2), visibility (T_v, 33)) -> (V, T, 33, 2), (V, T, 33), T = longest, NaN-padded."""
    T = max(lm.shape[0] for lm, _ in per_view)
    V = len(per_view)
    lm_all = np.full((V, T, N_LANDMARKS, 2), np.nan)
    vis_all = np.full((V, T, N_LANDMARKS), np.nan)
    for v, (lm, vis) in enumerate(per_view):
        lm_all[v, : lm.shape[0]] = lm
        vis_all[v, : vis.shape[0]] = vis
    return lm_all, vis_all


def save_detections_npz(path, keypoints_px, confidence, view_names, fps=None, frame_size_px=None,
                        landmarks_px=None, landmarks_visibility=None, detector: str | None = None,
                        world_landmarks_m=None) -> Path:
    """Write the triangulate layout (plus the optional extras) to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    kp = np.asarray(keypoints_px, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    names = np.array([str(n) for n in view_names], dtype=str)
    if kp.ndim != 4 or kp.shape[2:] != (len(JOINTS), 2) or conf.shape != kp.shape[:3] or names.shape != (kp.shape[0],):
        raise ValueError(f"keypoints_px {kp.shape}, confidence {conf.shape}, view_names {names.shape} do not agree")
    arrays = {"keypoints_px": kp, "confidence": conf, "view_names": names}
    if fps is not None:
        arrays["fps"] = np.float64(fps)
    if frame_size_px is not None:
        arrays["frame_size_px"] = np.asarray(frame_size_px, dtype=np.int64).reshape(kp.shape[0], 2)
    if landmarks_px is not None:
        arrays["landmarks_px"] = np.asarray(landmarks_px, dtype=np.float64)
        arrays["landmarks_visibility"] = np.asarray(landmarks_visibility, dtype=np.float64)
    if landmarks_px is not None and landmarks_visibility is not None:
        body, body_conf = landmarks_to_body_points(landmarks_px, landmarks_visibility)
        arrays["body_point_names"] = np.array(list(BODY_POINTS), dtype=str)
        arrays["body_points_px"] = body
        arrays["body_points_confidence"] = body_conf
    if world_landmarks_m is not None:
        # BlazePose's monocular metric 3D (pose_world_landmarks): metres, origin between its hips,
        # x to the image's right, y down, z away from the camera (MediaPipe's convention)
        arrays["world_landmarks_m"] = np.asarray(world_landmarks_m, dtype=np.float64)
    if detector:
        arrays["detector"] = np.array(detector, dtype=str)
    return _write_npz(path, arrays)


def _write_npz(path: Path, arrays: dict) -> Path:
    """``np.savez_compressed`` to ``path`` atomically (temp file in the same folder, fsync, rename)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def stack_people(per_view: list[tuple[np.ndarray, np.ndarray]], max_people: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-view people (landmarks_px (T_v, P_v, 33, 2), visibility (T_v, P_v, 33)) -> (V, T, P, 33, 2),
    (V, T, P, 33), T the longest view, P = ``max_people``; NaN where nobody (more) was found."""
    T = max(lm.shape[0] for lm, _ in per_view)
    V = len(per_view)
    lm_all = np.full((V, T, max_people, N_LANDMARKS, 2), np.nan)
    vis_all = np.full((V, T, max_people, N_LANDMARKS), np.nan)
    for v, (lm, vis) in enumerate(per_view):
        P = min(max_people, lm.shape[1])
        lm_all[v, : lm.shape[0], :P] = lm[:, :P]
        vis_all[v, : vis.shape[0], :P] = vis[:, :P]
    return lm_all, vis_all


def save_people_npz(path, landmarks_px, visibility, videos, frame_size_px, fps=None, detector: str | None = None) -> Path:
    """Write the people labels (``--people``) atomically: every person found in every frame of every view.

    ``people_landmarks_px`` (V, T, P, 33, 2) and ``people_visibility`` (V, T, P, 33), NaN where no
    (further) person was found; ``people_keypoints_px`` (V, T, P, 6, 2) and ``people_confidence``
    (V, T, P, 6), KneeView's joints as ``landmarks_to_joints``; ``view_names`` (file stems),
    ``video_files`` (each video relative to the .npz's folder), ``frame_size_px`` (V, 2).
    The trainer reads it (``kneeview-train fit --real-2d``) as 2D-only labels.
    """
    path = Path(path)
    lm = np.asarray(landmarks_px, dtype=np.float64)
    vis = np.asarray(visibility, dtype=np.float64)
    videos = [Path(v) for v in videos]
    if lm.ndim != 5 or lm.shape[3:] != (N_LANDMARKS, 2) or vis.shape != lm.shape[:4] or lm.shape[0] != len(videos):
        raise ValueError(f"landmarks {lm.shape}, visibility {vis.shape} and {len(videos)} video(s) do not agree")
    kp, conf = landmarks_to_joints(lm, vis)
    folder = path.resolve().parent
    arrays = {"people_landmarks_px": lm, "people_visibility": vis, "people_keypoints_px": kp, "people_confidence": conf,
              "view_names": np.array([v.stem for v in videos], dtype=str),
              "video_files": np.array([os.path.relpath(v.resolve(), folder) for v in videos], dtype=str),
              "frame_size_px": np.asarray(frame_size_px, dtype=np.int64).reshape(len(videos), 2)}
    if fps is not None:
        arrays["fps"] = np.float64(fps)
    if detector:
        arrays["detector"] = np.array(detector, dtype=str)
    return _write_npz(path, arrays)


def find_videos(inputs) -> list[Path]:
    """Videos named on the command line, or those of a session folder (``videos/`` or the folder itself), sorted."""
    out: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            folder = item / "videos" if (item / "videos").is_dir() else item
            found = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))
            if not found:
                raise FileNotFoundError(f"no video ({', '.join(VIDEO_SUFFIXES)}) in {folder}")
            out.extend(found)
        elif item.is_file():
            out.append(item)
        else:
            raise FileNotFoundError(f"{item} does not exist")
    stems = [p.stem for p in out]
    if len(set(stems)) != len(stems):
        raise ValueError(f"two videos share a name (the view name is the file stem): {', '.join(stems)}")
    return out


def detection_rate(keypoints_px) -> np.ndarray:
    """Per view (V,): the fraction of frames in which all six joints have coordinates."""
    return np.isfinite(np.asarray(keypoints_px)).all(-1).all(-1).mean(-1)


def pin_to_cpus(n: int) -> list[int]:
    """Restrict this process (every thread it has now, and those they create) to ``n`` CPUs (Linux)."""
    if not hasattr(os, "sched_setaffinity") or n <= 0:
        return []
    cpus = sorted(os.sched_getaffinity(0))[:n]
    tids = [int(t) for t in os.listdir("/proc/self/task")] if os.path.isdir("/proc/self/task") else [0]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass
    return cpus


def halves(width: int, height: int, overlap: float = 0.2) -> list[tuple[int, int, int, int]]:
    """Two overlapping halves (x0, y0, x1, y1) of a frame along its longer side, each ``0.5 + overlap / 2``
    of it: where the whole frame shrinks a person below what BlazePose's detector finds, a half
    reaches it at up to twice the size."""
    long_side = max(width, height)
    part = int(round(long_side * (0.5 + overlap / 2)))
    spans = [(0, part), (long_side - part, long_side)]
    if width >= height:
        return [(a, 0, b, height) for a, b in spans]
    return [(0, a, width, b) for a, b in spans]


def landmarks_px(landmarks, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A MediaPipe landmark list (or None: nobody found) -> landmarks (33, 2) px and visibility (33,), NaN when None."""
    if landmarks is None:
        return np.full((N_LANDMARKS, 2), np.nan), np.full(N_LANDMARKS, np.nan)
    pts = landmarks.landmark
    return (normalised_to_px([[p.x, p.y] for p in pts], width, height),
            np.array([p.visibility for p in pts], dtype=np.float64))


# ----------------------------------------------------------------- needs mediapipe + OpenCV

def run_on_frames(path: Path, detect, progress=None, **pose_options):
    """``detect(pose, rgb)`` on every frame of a video (decoded by OpenCV's FFmpeg backend, as RGB)
    with one BlazePose graph, ``mp.solutions.pose.Pose(model_complexity=1, **pose_options)``.

    Returns (the results, one per frame), (width, height), fps, seconds of ``detect`` per frame.
    """
    import cv2
    import mediapipe as mp

    cv2.setNumThreads(1)
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise OSError(f"cannot open {path}")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    results, size, spent = [], None, 0.0
    with mp.solutions.pose.Pose(model_complexity=1, **pose_options) as pose:
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                h, w = bgr.shape[:2]
                if size is None:
                    size = (w, h)
                elif size != (w, h):
                    raise ValueError(f"{path}: frame {len(results)} is {w}x{h}, the first was {size[0]}x{size[1]}")
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                t0 = time.perf_counter()
                results.append(detect(pose, rgb))
                spent += time.perf_counter() - t0
                if progress is not None:
                    progress(len(results))
        finally:
            cap.release()
    if not results:
        raise ValueError(f"{path}: no frame could be decoded")
    return results, size, fps, spent / len(results)


def detect_video(path: Path, mode: str = "static", smooth: bool = False, min_detection: float = 0.5,
                 min_tracking: float = 0.5, progress=None):
    """Run BlazePose over every frame.

    Returns landmarks_px (T, 33, 2), visibility (T, 33), world landmarks (T, 33, 3) metres,
    (width, height), fps, seconds per frame.
    """
    def detect(pose, rgb):
        res = pose.process(rgb)
        lm, vis = landmarks_px(res.pose_landmarks, rgb.shape[1], rgb.shape[0])
        world = np.full((N_LANDMARKS, 3), np.nan)
        if res.pose_world_landmarks is not None:
            world = np.array([[p.x, p.y, p.z] for p in res.pose_world_landmarks.landmark], dtype=np.float64)
        return lm, vis, world

    results, size, fps, s_per_frame = run_on_frames(
        path, detect, progress, static_image_mode=(mode == "static"), smooth_landmarks=smooth, enable_segmentation=False,
        min_detection_confidence=min_detection, min_tracking_confidence=min_tracking)
    lm, vis, world = (np.stack(a) for a in zip(*results))
    return lm, vis, world, size, fps, s_per_frame


def find_people(pose, rgb, max_people: int, mask_threshold: float = 0.3, mask_grow: float = 0.03,
                search_halves: bool = True):
    """Everyone BlazePose finds in one RGB frame, up to ``max_people``: it finds one person; that
    person's segmentation mask, grown by ``mask_grow`` of the frame's longer side, is painted grey and
    it looks again, until nobody more is found; then (``search_halves``) the same in each half of the
    frame (:func:`halves`), with everyone found so far painted out.

    Returns landmarks_px (P, 33, 2) and visibility (P, 33), NaN after the last person found.
    """
    import cv2

    h, w = rgb.shape[:2]
    lm = np.full((max_people, N_LANDMARKS, 2), np.nan)
    vis = np.full((max_people, N_LANDMARKS), np.nan)
    rgb = rgb.copy()
    grow = np.ones((max(1, int(mask_grow * max(w, h))),) * 2, np.uint8)
    found = 0
    for x0, y0, x1, y1 in [(0, 0, w, h)] + (halves(w, h) if search_halves else []):
        while found < max_people:
            res = pose.process(np.ascontiguousarray(rgb[y0:y1, x0:x1]))
            if res.pose_landmarks is None:
                break
            lm[found], vis[found] = landmarks_px(res.pose_landmarks, x1 - x0, y1 - y0)
            lm[found] += [x0, y0]
            found += 1
            if res.segmentation_mask is None:
                break
            mask = cv2.dilate((res.segmentation_mask > mask_threshold).astype(np.uint8), grow)
            rgb[y0:y1, x0:x1][mask > 0] = 127
    return lm, vis


def detect_people_video(path: Path, max_people: int, min_detection: float = 0.5, search_halves: bool = True,
                        progress=None):
    """:func:`find_people` on every frame (BlazePose in static mode, with segmentation).

    Returns landmarks_px (T, P, 33, 2), visibility (T, P, 33), (width, height), fps, seconds per frame.
    """
    results, size, fps, s_per_frame = run_on_frames(
        path, lambda pose, rgb: find_people(pose, rgb, max_people, search_halves=search_halves), progress,
        static_image_mode=True, enable_segmentation=True, min_detection_confidence=min_detection)
    lm, vis = (np.stack(a) for a in zip(*results))
    return lm, vis, size, fps, s_per_frame


def main_people(args, videos) -> int:
    per_view, sizes, rates = [], [], []
    for path in videos:
        lm, vis, size, fps, s_per_frame = detect_people_video(path, args.people, args.min_detection,
                                                               search_halves=not args.whole_frame_only)
        per_view.append((lm, vis))
        sizes.append(size)
        rates.append(fps)
        count = np.isfinite(lm).all(-1).any(-1).sum(-1)
        spread = ", ".join(f"{k} in {np.mean(count == k):.0%}" for k in range(args.people + 1) if np.any(count == k))
        print(f"  {path.stem}: {lm.shape[0]} frames {size[0]}x{size[1]}, people found: {spread}; {s_per_frame:.3f} s/frame",
              file=sys.stderr)
    lm_all, vis_all = stack_people(per_view, args.people)
    finite_rates = [r for r in rates if r > 0]
    detector = (f"{DETECTOR}, mode=static, people<={args.people} (segmentation mask painted out between passes"
                f"{'' if args.whole_frame_only else ', then the frame halves searched'})")
    out = save_people_npz(args.out, lm_all, vis_all, videos, sizes, fps=float(np.median(finite_rates)) if finite_rates else None,
                          detector=detector)
    print(f"blazepose_detect: wrote {out} ({lm_all.shape[0]} views x {lm_all.shape[1]} frames x up to {args.people} people)",
          file=sys.stderr)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="a session folder (videos/ or the videos themselves) or video files; one view each")
    parser.add_argument("--out", required=True, help="detections .npz to write")
    parser.add_argument("--mode", choices=["static", "video"], default="static",
                        help="static: detect on every frame (default); video: detect once, then track")
    parser.add_argument("--smooth", action="store_true", help="MediaPipe's temporal landmark filter (video mode; adds lag)")
    parser.add_argument("--min-detection", type=float, default=0.5, help="person detector confidence (default 0.5)")
    parser.add_argument("--min-tracking", type=float, default=0.5, help="tracking confidence below which it re-detects (default 0.5)")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs the detector may use (default 1; 0 = no limit)")
    parser.add_argument("--people", type=int, default=0, metavar="N",
                        help="find up to N people per frame and write 2D training labels (kneeview-train fit --real-2d) "
                             "instead of the triangulate layout; static mode")
    parser.add_argument("--whole-frame-only", action="store_true",
                        help="with --people: do not search the two halves of the frame for people too small to be found")
    args = parser.parse_args(argv)

    pinned = pin_to_cpus(args.cpus)
    videos = find_videos(args.inputs)
    if args.people > 0:
        print(f"blazepose_detect: {len(videos)} view(s), up to {args.people} people per frame, CPUs {pinned or 'all'}",
              file=sys.stderr)
        return main_people(args, videos)
    per_view, worlds, sizes, rates = [], [], [], []
    print(f"blazepose_detect: {len(videos)} view(s), mode {args.mode}, smoothing {'on' if args.smooth else 'off'}, "
          f"CPUs {pinned or 'all'}", file=sys.stderr)
    for path in videos:
        lm, vis, world, size, fps, s_per_frame = detect_video(path, args.mode, args.smooth, args.min_detection, args.min_tracking)
        per_view.append((lm, vis))
        worlds.append(world)
        sizes.append(size)
        rates.append(fps)
        kp, _ = landmarks_to_joints(lm, vis)
        print(f"  {path.stem}: {lm.shape[0]} frames {size[0]}x{size[1]}, detected in {detection_rate(kp[None])[0]:.1%}, "
              f"{s_per_frame:.3f} s/frame", file=sys.stderr)
    lm_all, vis_all = stack_views(per_view)
    world_all = np.full(lm_all.shape[:3] + (3,), np.nan)
    for v, w in enumerate(worlds):
        world_all[v, : len(w)] = w
    kp_all, conf_all = landmarks_to_joints(lm_all, vis_all)
    finite_rates = [r for r in rates if r > 0]
    fps = float(np.median(finite_rates)) if finite_rates else None
    detector = f"{DETECTOR}, mode={args.mode}, smooth={args.smooth}"
    out = save_detections_npz(args.out, kp_all, conf_all, [p.stem for p in videos], fps=fps, frame_size_px=sizes,
                              landmarks_px=lm_all, landmarks_visibility=vis_all, detector=detector,
                              world_landmarks_m=world_all)
    print(f"blazepose_detect: wrote {out} ({kp_all.shape[0]} views x {kp_all.shape[1]} frames)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
