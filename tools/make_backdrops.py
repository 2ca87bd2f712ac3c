#!/usr/bin/env python3
"""Real-lab backdrops for ``kneeview synth --backdrops``: each real camera view with its people removed.

    bash tools/setup_blazepose.sh                    # once: .venv-blazepose (mediapipe; the person masks)
    .venv/bin/python tools/make_backdrops.py [SESSION ...] [--out DIR] [--holdout-view cam04]
    # default: Pose2Sim's Demo_SinglePerson (fetched into the cache),
    #          DIR = ~/.cache/kneeview/backdrops/<recording>-<view>/{backdrop.json, plate.png, valid.png}

Per view of each recording (except the held-out views): the frames a model may train on
(``trainer.real_recordings.segment_split``: 5 segments, 1 and 3 held out, 3 guard frames --
the held-out segments and the held-out view are evaluation data and are never read); per
frame the union of BlazePose's person segmentation masks (``enable_segmentation=True``;
every person it finds, each painted out before it looks again, in the whole frame and then
in each half, as ``tools/blazepose_detect.py --people`` does), dilated generously; per pixel
the temporal median over the frames where it is not masked; pixels never free are filled by
OpenCV inpainting (Telea) and flagged 0 in ``valid.png``. ``backdrop.json`` records the
camera as KneeView reads it, the floor plane, the floor area where an athlete stands wholly
in view, and exactly which real frames were used (video SHA-256, view, frame indices).

This script runs in the app's environment (``.venv``: KneeView reads the calibrations and
the pseudo-label C3D); the person masks run in the BlazePose environment
(``--blazepose-python``, default ``.venv-blazepose/bin/python``), which calls this same file
with ``masks`` / ``detect`` (numpy, OpenCV and mediapipe only there).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPOSITORY = Path(__file__).resolve().parents[1]
TOOLS = Path(__file__).resolve().parent
DEFAULT_OUT = Path(os.environ.get("KNEEVIEW_CACHE", Path.home() / ".cache" / "kneeview")) / "backdrops"
DEFAULT_BLAZEPOSE = REPOSITORY / ".venv-blazepose" / "bin" / "python"
MASK_THRESHOLD = 0.2
DILATE_FRACTION = 0.03  # of the frame's longer side: 58 px on a 1920-px frame
FLOOR_CELL_MM = 100.0
SUPPORT_GROW_MM = 150.0


# ----------------------------------------------------------------- which frames (numpy only)
def allowed_frames(n_frames: int, view: str, holdout_views=("cam04",), segments: int = 5, test_segments=(1, 3),
                   guard: int = 3) -> list[int]:
    """The frames of one view a backdrop may use: none for a held-out view, else the training
    frames of ``trainer.real_recordings.segment_split`` (never a test frame or a guard frame)."""
    if view in set(holdout_views):
        return []
    sys.path.insert(0, str(REPOSITORY)) if str(REPOSITORY) not in sys.path else None
    from trainer.real_recordings import segment_split

    train, _ = segment_split(n_frames, segments, test_segments, guard)
    return [int(f) for f in train]


def pack_masks(masks: np.ndarray) -> dict:
    m = np.asarray(masks, bool)
    return {"packed": np.packbits(m.reshape(len(m), -1), axis=1), "shape": np.array(m.shape, np.int64)}


def unpack_masks(z) -> np.ndarray:
    shape = tuple(int(v) for v in z["shape"])
    n = int(np.prod(shape[1:]))
    return np.unpackbits(z["packed"], axis=1, count=n).reshape(shape).astype(bool)


# ----------------------------------------------------------------- BlazePose side (numpy, cv2, mediapipe)
def people_mask(pose, rgb, max_people: int = 8, threshold: float = MASK_THRESHOLD, dilate_px: int = 58,
                fine: bool = False):
    """Segmentation masks of everyone BlazePose finds in one RGB frame (whole frame, then each
    half, then six tiles (:func:`tiles`), every find painted grey before the next look), each with
    its landmarks' hull. Returns (mask of the people found in the whole frame, and of finds in a
    half or a tile that touch them (a limb found again), dilated by ``dilate_px`` (H, W) bool;
    mask of the other finds -- small, distant people: bystanders --, not dilated; number found).""" 
    import cv2

    sys.path.insert(0, str(TOOLS)) if str(TOOLS) not in sys.path else None
    from blazepose_detect import halves

    h, w = rgb.shape[:2]
    work = rgb.copy()
    union = np.zeros((h, w), np.uint8)
    far = np.zeros((h, w), np.uint8)
    found = 0
    pad = max(1, int(0.015 * max(w, h)))
    boxes = []  # landmark boxes of the people found in the whole frame
    parts = [(0, 0, w, h)] + halves(w, h) + tiles(w, h) + (windows(w, h) if fine else [])
    for part, (x0, y0, x1, y1) in enumerate(parts):
        while found < max_people:
            res = pose.process(np.ascontiguousarray(work[y0:y1, x0:x1]))
            if res.pose_landmarks is None or res.segmentation_mask is None:
                break
            found += 1
            m = (res.segmentation_mask > threshold).astype(np.uint8)
            # the landmarks' hull too: the mask can miss a limb the landmarks reach
            pts = np.array([[p.x * (x1 - x0), p.y * (y1 - y0)] for p in res.pose_landmarks.landmark
                            if p.visibility > 0.3], np.float32)
            if len(pts) >= 3:
                cv2.fillConvexPoly(m, cv2.convexHull(pts).astype(np.int32), 1)
            full = np.zeros((h, w), np.uint8)
            full[y0:y1, x0:x1] = m
            allpts = np.array([[p.x * (x1 - x0) + x0, p.y * (y1 - y0) + y0] for p in res.pose_landmarks.landmark])
            lo, hi = allpts.min(0), allpts.max(0)
            centre = 0.5 * (lo + hi)
            if part and not any(np.all((centre > a - 0.1 * (b - a)) & (centre < b + 0.1 * (b - a))) for a, b in boxes):
                far |= full  # someone else than the people the whole frame showed: a bystander
            else:
                union |= full  # a person of the whole frame (or a limb of one, found again)
                if not part:
                    boxes.append((lo, hi))
            # painted out wider than found, so that no limb of this person is found again as someone else
            paint = cv2.dilate(m, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
            work[y0:y1, x0:x1][paint > 0] = 127
    if dilate_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
        union = cv2.dilate(union, k)
    return union > 0, far > 0, found


def tiles(width: int, height: int, overlap: float = 0.25, long_parts: int = 3, short_parts: int = 2
          ) -> list[tuple[int, int, int, int]]:
    """Overlapping tiles (x0, y0, x1, y1): ``long_parts`` of the longer side by ``short_parts`` of
    the shorter (default six). A bystander a sixth of the frame tall is a third of such a tile: big
    enough for BlazePose's detector; the finer grid (4 x 3) reaches smaller ones."""
    def spans(n, parts):
        size = int(round(n / parts * (1 + overlap)))
        starts = np.linspace(0, n - size, parts).round().astype(int)
        return [(int(a), int(a) + size) for a in starts]

    if height >= width:
        return [(xa, ya, xb, yb) for ya, yb in spans(height, long_parts) for xa, xb in spans(width, short_parts)]
    return [(xa, ya, xb, yb) for xa, xb in spans(width, long_parts) for ya, yb in spans(height, short_parts)]


def windows(width: int, height: int, fraction: float = 0.375) -> list[tuple[int, int, int, int]]:
    """Square-ish windows, ``fraction`` of the longer side, at half-window strides: anything up to
    half a window across lies wholly inside one of them (15 windows on a portrait 1080x1920 frame)."""
    size = int(round(fraction * max(width, height)))
    sw, sh = min(size, width), min(size, height)

    def starts(n, s):
        k = max(1, int(np.ceil((n - s) / (s / 2))) + 1)
        return np.linspace(0, n - s, k).round().astype(int)

    return [(int(x), int(y), int(x) + sw, int(y) + sh) for y in starts(height, sh) for x in starts(width, sw)]


def read_frames(video, frames) -> tuple[list, list[int]]:
    """The BGR frames with these indices (decoded in order with OpenCV's FFmpeg backend)."""
    import cv2

    want = set(int(f) for f in frames)
    cap = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    if not cap.isOpened():
        raise OSError(f"cannot open {video}")
    out, idx, i = [], [], 0
    try:
        while want and i <= max(want):
            ok, bgr = cap.read()
            if not ok:
                break
            if i in want:
                out.append(bgr)
                idx.append(i)
            i += 1
    finally:
        cap.release()
    missing = sorted(want - set(idx))
    if missing:
        raise ValueError(f"{video}: frames {missing[:5]}... could not be decoded")
    return out, idx


def cmd_masks(args) -> int:
    """(BlazePose venv) person masks of the listed frames of one video -> .npz."""
    import cv2
    import mediapipe as mp

    sys.path.insert(0, str(TOOLS))
    from blazepose_detect import _write_npz, pin_to_cpus

    pin_to_cpus(args.cpus)
    cv2.setNumThreads(1)
    frames = [int(f) for f in args.frames.split(",") if f.strip()]
    images, idx = read_frames(args.video, frames)
    masks, far, counts = [], [], []
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True,
                                min_detection_confidence=0.5) as pose:
        for k, bgr in enumerate(images):
            # every sixth frame also searched in a finer grid: bystanders are still, a few frames find them
            m, f, n = people_mask(pose, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), args.max_people, dilate_px=args.dilate_px,
                                  fine=k % 6 == 0)
            masks.append(m)
            far.append(f)
            counts.append(n)
    # a bystander BlazePose finds in a few frames stands there in the others too: where one was found in at
    # least two frames (a single find may be a false one) the mask holds in every frame
    sticky = (np.sum(far, axis=0) >= 2).astype(np.uint8)
    if args.dilate_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * args.dilate_px + 1, 2 * args.dilate_px + 1))
        sticky = cv2.dilate(sticky, k)
    sticky = sticky > 0
    masks = np.stack(masks) | sticky[None]
    _write_npz(Path(args.out), {**pack_masks(masks), "frames": np.array(idx, np.int64),
                                "people": np.array(counts, np.int64), "sticky_fraction": np.float64(sticky.mean())})
    return 0


def cmd_detect(args) -> int:
    """(BlazePose venv) how many people BlazePose finds in each image (a plate should have none)."""
    import cv2
    import mediapipe as mp

    out = {}
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True,
                                min_detection_confidence=0.5) as pose:
        for path in args.images:
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            m, f, n = people_mask(pose, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), args.max_people, dilate_px=0, fine=True)
            out[path] = {"people": int(n), "mask_fraction": float((m | f).mean())}
    print(json.dumps(out))
    return 0


# ----------------------------------------------------------------- app side (KneeView)
def floor_from_labels(c3d_path, cell_mm: float = FLOOR_CELL_MM):
    """The floor check from a pseudo-label C3D (heels and toes): the lowest foot points' heights
    above Z = 0, a plane fitted to the stance samples, and the polygon the feet covered."""
    import cv2

    from kneeview.io.c3d import read_points

    pts = read_points(c3d_path)
    labels = list(pts.labels)
    scale = 1.0 if str(pts.units).lower() == "mm" else 1000.0
    feet = {n: pts.points[:, labels.index(n)] * scale for n in ("RHEE", "LHEE", "RTOE", "LTOE") if n in labels}
    if not feet:
        raise ValueError(f"{c3d_path}: no heel/toe points (RHEE, LHEE, RTOE, LTOE)")
    stance = []
    lowest = {}
    for name, p in feet.items():
        p = p[np.isfinite(p).all(1)]
        lowest[name] = float(np.percentile(p[:, 2], 5))
        stance.append(p[p[:, 2] < lowest[name] + 25.0])  # within 25 mm of its lowest: standing on it
    S = np.concatenate(stance)
    A = np.column_stack([S[:, 0], S[:, 1], np.ones(len(S))])
    (a, b, c), *_ = np.linalg.lstsq(A, S[:, 2], rcond=None)
    tilt = float(np.degrees(np.arctan(np.hypot(a, b))))
    hull = cv2.convexHull(S[:, :2].astype(np.float32)).reshape(-1, 2)
    centre = hull.mean(0)
    grown = centre + (hull - centre) * (1.0 + SUPPORT_GROW_MM / np.maximum(np.linalg.norm(hull - centre, axis=1), 1.0))[:, None]
    all_feet = np.concatenate([p[np.isfinite(p).all(1)] for p in feet.values()])
    return {"labels": str(c3d_path), "lowest_5th_percentile_mm": {k: round(v, 1) for k, v in lowest.items()},
            "stance_samples": int(len(S)), "stance_plane_tilt_deg": round(tilt, 2),
            "stance_plane_height_at_feet_mm": round(float(a * centre[0] + b * centre[1] + c), 1),
            "feet_below_zero_mm": round(float(max(0.0, -all_feet[:, 2].min())), 1),
            "support_polygon_mm": np.round(grown, 1).tolist()}


def run_masks(blazepose_python, video, frames, out_npz, cpus: int, max_people: int, dilate_px: int) -> None:
    cmd = [str(blazepose_python), str(Path(__file__).resolve()), "masks", str(video), "--frames",
           ",".join(map(str, frames)), "--out", str(out_npz), "--cpus", str(cpus), "--max-people", str(max_people),
           "--dilate-px", str(dilate_px)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"person masks of {video} failed:\n{proc.stderr[-3000:]}")


def make_view_backdrop(rec, view, frames: list[int], masks: np.ndarray, out_dir: Path, floor: dict,
                       people: list[int], args, sticky_fraction: float = 0.0) -> dict:
    import cv2

    from kneeview.atomic import atomic_write_bytes, atomic_write_text
    from kneeview.synth.backdrops import (FORMAT, camera_to_json, fill_never_free, fit_vicon_radial, masked_median,
                                          sha256_file, standing_cells)

    images, idx = read_frames(view.video_path, frames)
    stack = np.stack(images)
    plate, count = masked_median(stack, masks)
    valid = count > 0
    plate = fill_never_free(plate, valid)
    never_covered = (~masks).all(0)
    mad = float(np.mean([np.abs(stack[k][never_covered].astype(np.int16) - plate[never_covered]).mean()
                         for k in range(len(stack))])) if never_covered.any() else float("nan")
    cam = view.camera
    lens = fit_vicon_radial(cam)
    normal, point = np.array([0.0, 0.0, 1.0]), np.zeros(3)
    cells = standing_cells(cam, normal, point, floor["support_polygon_mm"], FLOOR_CELL_MM)
    name = f"{rec.trial}-{view.video_path.stem}"
    folder = out_dir / name
    folder.mkdir(parents=True, exist_ok=True)
    ok1, png = cv2.imencode(".png", plate)
    ok2, vpng = cv2.imencode(".png", valid.astype(np.uint8) * 255)
    if not (ok1 and ok2):
        raise RuntimeError("PNG encoding failed")
    atomic_write_bytes(folder / "plate.png", png.tobytes())
    atomic_write_bytes(folder / "valid.png", vpng.tobytes())
    ok3, cpng = cv2.imencode(".png", np.clip(count, 0, 255).astype(np.uint8))
    atomic_write_bytes(folder / "free_frames.png", cpng.tobytes())  # per pixel, the frames its median took
    n = int(view.video_info.frame_count)
    meta = {
        "format": FORMAT, "name": name, "view": view.video_path.stem, "plate": "plate.png", "valid_mask": "valid.png",
        "free_frames": "free_frames.png",
        "camera": camera_to_json(cam),
        "calibration": {"path": str(rec.calibration.path), "sha256": sha256_file(rec.calibration.path),
                        "format": rec.calibration.source_format,
                        "note": "as KneeView reads it (kneeview.io.recording.open_recording), rescaled to the video's size"},
        "lens_fit": {"model": "vicon_radial", "centre_px": list(lens.distortion.centre), "w": list(lens.distortion.w),
                     "aspect": lens.distortion.aspect, "max_px": round(lens.max_px, 4), "rms_px": round(lens.rms_px, 4)},
        "floor": {"normal": normal.tolist(), "point_mm": point.tolist(), "frame": "lab (calibration) frame, mm, Z up",
                  "check": {k: v for k, v in floor.items() if k != "support_polygon_mm"}},
        "standing_area": {"cell_mm": FLOOR_CELL_MM, "cells_mm": cells.tolist(),
                          "support_polygon_mm": floor["support_polygon_mm"],
                          "rule": "floor cells (floor coordinates = lab X, Y on Z = 0) inside the support polygon (the "
                                  f"feet of the real recording, grown by {SUPPORT_GROW_MM:g} mm) where a standing person "
                                  "(1.9 m tall, 0.35 m radius) is wholly in the image"},
        "sources": [{"recording": rec.trial, "video": view.video_path.name, "video_sha256": sha256_file(view.video_path),
                     "view": view.video_path.stem, "n_frames": n, "frames": [int(f) for f in idx],
                     "people_found": [int(p) for p in people],
                     "excluded": {"segments": args.segments, "test_segments": list(args.test_segments),
                                  "guard_frames": args.guard, "holdout_views": list(args.holdout_view),
                                  "frames": sorted(set(range(n)) - set(int(f) for f in idx))}}],
        "median": {"frames": len(idx), "min_frames_per_pixel": int(count.min()),
                   "inpainted_fraction": round(float(1 - valid.mean()), 5),
                   "bystander_mask_fraction": round(float(sticky_fraction), 5),
                   "mean_abs_diff_never_covered": round(mad, 3),
                   "mask": f"BlazePose segmentation > {MASK_THRESHOLD} and the landmarks' hull, every person found "
                           f"(up to {args.max_people}), dilated {args.dilate_px} px"},
        "tool": "tools/make_backdrops.py", "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "licence": "derived from Pose2Sim's demo videos (BSD-3-Clause) when made from them",
    }
    atomic_write_text(folder / "backdrop.json", json.dumps(meta, indent=1) + "\n")
    return meta


def cmd_make(args) -> int:
    sys.path.insert(0, str(REPOSITORY)) if str(REPOSITORY) not in sys.path else None
    from kneeview.io.recording import open_recording

    sessions = args.sessions
    if not sessions:
        from trainer.pose2sim_demo import fetch_demo

        sessions = [fetch_demo()]  # Demo_MultiPerson's plates fail the look (docs/synthetic-backdrops.md)
    labels = Path(args.labels) if args.labels else REPOSITORY / "tests" / "pose" / "data" / "Demo_SinglePerson.pseudolabels.c3d"
    floor = floor_from_labels(labels)
    print(f"floor check from {labels.name}: {json.dumps({k: v for k, v in floor.items() if k != 'support_polygon_mm'})}",
          file=sys.stderr)
    out_dir = Path(args.out).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    dilate_px = args.dilate_px
    for session in sessions:
        rec = open_recording(session)
        for view in rec.views:
            stem = view.video_path.stem
            n = int(view.video_info.frame_count)
            frames = allowed_frames(n, stem, args.holdout_view, args.segments, args.test_segments, args.guard)
            if not frames or view.camera is None:
                print(f"{rec.trial}/{stem}: held out, not used", file=sys.stderr)
                continue
            if dilate_px is None:
                dilate_px = int(round(DILATE_FRACTION * max(view.video_info.size)))
                args.dilate_px = dilate_px
            with tempfile.TemporaryDirectory() as tmp:
                npz = Path(tmp) / "masks.npz"
                t0 = time.time()
                run_masks(args.blazepose_python, view.video_path, frames, npz, args.cpus, args.max_people, dilate_px)
                with np.load(npz, allow_pickle=False) as z:
                    masks = unpack_masks(z)
                    got = [int(f) for f in z["frames"]]
                    people = [int(p) for p in z["people"]]
                    sticky = float(z["sticky_fraction"]) if "sticky_fraction" in z.files else 0.0
            if got != frames:
                raise RuntimeError(f"{view.video_path}: masks came back for other frames")
            meta = make_view_backdrop(rec, view, frames, masks, out_dir, floor, people, args, sticky)
            print(f"{meta['name']}: {len(frames)} frames ({time.time() - t0:.0f} s), inpainted "
                  f"{100 * meta['median']['inpainted_fraction']:.2f} %, standing cells {len(meta['standing_area']['cells_mm'])}, "
                  f"lens fit max {meta['lens_fit']['max_px']:.2f} px", file=sys.stderr)
    print(out_dir)
    return 0


def cmd_figure(args) -> int:
    """(app venv) A picture: every backdrop's plate, and synthetic trials on backdrops with their
    C3D joint centres projected through the trial's own .xcp camera (green dots)."""
    from dataclasses import replace

    import cv2

    sys.path.insert(0, str(REPOSITORY)) if str(REPOSITORY) not in sys.path else None
    from kneeview.atomic import atomic_write_bytes
    from kneeview.io.recording import open_recording
    from kneeview.synth.backdrops import find_backdrops, load_backdrop
    from kneeview.synth.dataset import plan_dataset, render_trial

    folders = find_backdrops(args.backdrops)
    tile_h = 480

    def tile(img, text):
        h, w = img.shape[:2]
        out = cv2.resize(img, (int(round(w * tile_h / h)), tile_h), interpolation=cv2.INTER_AREA)
        cv2.rectangle(out, (0, 0), (out.shape[1], 24), (0, 0, 0), -1)
        cv2.putText(out, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        return out

    tiles_top = []
    for f in folders:
        bd = load_backdrop(f)
        plate = bd.plate.copy()
        shade = ~bd.valid
        plate[shade] = (0.6 * plate[shade] + [0, 0, 100]).astype(np.uint8)  # inpainted: reddish
        tiles_top.append(tile(plate, f"{bd.view} plate, {100 * (1 - bd.valid.mean()):.1f}% inpainted (red)"))
    tiles_bottom = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, name in enumerate(args.trials_on or [folders[0].name]):
            folder = next(f for f in folders if f.name == name)
            spec = replace(plan_dataset(1, seed=args.seed + k, task="dj" if k % 2 == 0 else "sls")[0],
                           backdrop=str(folder.resolve()))
            entry = render_trial(spec, tmp)
            meta = json.loads((Path(tmp) / entry["json"]).read_text())
            rec = open_recording(Path(tmp) / entry["session"])
            view = rec.views[0]
            j = int(meta["valgus"]["right"]["frame"])
            with view.open_video() as reader:
                frame = reader.frame(j).copy()
            truth = rec.ground_truth_frames(0)[j]
            for u, v in view.camera.project(truth):
                cv2.circle(frame, (int(round(u)), int(round(v))), 7, (0, 255, 0), -1, cv2.LINE_AA)
            tiles_bottom.append(tile(frame, f"synthetic {meta['task']} on {name.split('-')[-1]}, frame {j}"))
    width = max(sum(t.shape[1] for t in tiles_top), sum(t.shape[1] for t in tiles_bottom))
    rows = [np.hstack(r) for r in (tiles_top, tiles_bottom) if r]
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    ok, png = cv2.imencode(".png", np.vstack(rows))
    atomic_write_bytes(Path(args.out), png.tobytes())
    print(args.out)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command")
    m = sub.add_parser("masks", help="(BlazePose venv) person masks of some frames of a video")
    m.add_argument("video")
    m.add_argument("--frames", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--cpus", type=int, default=1)
    m.add_argument("--max-people", type=int, default=8)
    m.add_argument("--dilate-px", type=int, default=58)
    d = sub.add_parser("detect", help="(BlazePose venv) people BlazePose finds in images")
    d.add_argument("images", nargs="+")
    d.add_argument("--max-people", type=int, default=8)
    g = sub.add_parser("figure", help="(app venv) a PNG of the plates and synthetic trials on them")
    g.add_argument("--backdrops", default=str(DEFAULT_OUT))
    g.add_argument("--trials-on", nargs="*", help="backdrop names to film a synthetic trial on (default: the first)")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", required=True)
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in ("masks", "detect", "figure"):
        args = p.parse_args(argv)
        return {"masks": cmd_masks, "detect": cmd_detect, "figure": cmd_figure}[args.command](args)
    q = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    q.add_argument("sessions", nargs="*", help="real recordings (default: Pose2Sim's Demo_SinglePerson, fetched into the cache)")
    q.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default {DEFAULT_OUT})")
    q.add_argument("--holdout-view", nargs="*", default=["cam04"], help="views never used (default cam04)")
    q.add_argument("--segments", type=int, default=5)
    q.add_argument("--test-segments", type=int, nargs="+", default=[1, 3])
    q.add_argument("--guard", type=int, default=3)
    q.add_argument("--labels", help="pseudo-label C3D for the floor check (default: the demo's, tests/pose/data)")
    q.add_argument("--blazepose-python", default=os.environ.get("KNEEVIEW_BLAZEPOSE_PYTHON", str(DEFAULT_BLAZEPOSE)))
    q.add_argument("--cpus", type=int, default=1)
    q.add_argument("--max-people", type=int, default=8)
    q.add_argument("--dilate-px", type=int, default=None, help=f"mask dilation (default {DILATE_FRACTION:g} of the longer side)")
    return cmd_make(q.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
