"""docs/cam04-ablation.jpg: a real recording's view at held-out frames, the labels beside two models.

    .venv/bin/python tools/make_cam04_figure.py SESSION CHECKPOINT [--view cam04] [--frames 25,30,65,70] [--out PNG]

SESSION: a multi-view session with a pseudo-label C3D (docs/real-recording.md); the shipped model is drawn in red,
CHECKPOINT in green, the labels as amber crosses; each tile is cropped around the labels."""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from kneeview import joints as J
from kneeview.io.recording import open_recording
from kneeview.pose import load_estimator

LABELS, SHIPPED, OTHER = (0, 190, 255), (60, 60, 230), (60, 200, 60)


def draw(img, kp, colour, cross=False):
    for a, b in J.EDGES:
        cv2.line(img, tuple(int(v) for v in kp[a]), tuple(int(v) for v in kp[b]), colour, 4, cv2.LINE_AA)
    for p in kp:
        if cross:
            cv2.drawMarker(img, tuple(int(v) for v in p), colour, cv2.MARKER_CROSS, 28, 5)
        else:
            cv2.circle(img, tuple(int(v) for v in p), 9, colour, -1, cv2.LINE_AA)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("session")
    ap.add_argument("checkpoint", help="the model drawn in green (the shipped one is drawn in red)")
    ap.add_argument("--view", default="cam04")
    ap.add_argument("--frames", default="25,30,65,70", help="frames to show (default: inside the held-out segments)")
    ap.add_argument("--label", default="Anny + backdrops + BlazePose/MoveNet labels, 2,100 it")
    ap.add_argument("--out", default="docs/cam04-ablation.jpg")
    args = ap.parse_args(argv)
    rec = open_recording(args.session)
    i = [v.video_path.stem for v in rec.views].index(args.view)
    view, cam = rec.views[i], rec.views[i].camera
    shipped, other = load_estimator(None, device="cpu"), load_estimator(args.checkpoint, device="cpu")
    truth_all = rec.ground_truth_frames(i)
    tiles = []
    for t in (int(f) for f in args.frames.split(",")):
        with view.open_video() as reader:
            frame = reader.frame(t).copy()
        found = [shipped.predict(frame).keypoints_px, other.predict(frame).keypoints_px]  # on the clean frame
        truth = cam.project(truth_all[t:t + 1])[0]
        img = frame.copy()
        draw(img, truth, LABELS, cross=True)
        draw(img, found[0], SHIPPED)
        draw(img, found[1], OTHER)
        c = truth[np.isfinite(truth).all(-1)].mean(0)
        half = 420
        x0, y0 = int(max(0, c[0] - half)), int(max(0, c[1] - 1.3 * half))
        crop = img[y0:y0 + int(2.6 * half), x0:x0 + 2 * half]
        crop = cv2.resize(crop, (400, int(400 * crop.shape[0] / crop.shape[1])))
        cv2.putText(crop, f"{args.view} frame {t}", (10, 30), 0, 0.8, (255, 255, 255), 2)
        tiles.append(crop)
    h = min(t.shape[0] for t in tiles)
    out = np.hstack([t[:h] for t in tiles])
    legend = np.full((60, out.shape[1], 3), 255, np.uint8)
    cv2.putText(legend, f"labels (amber crosses)   shipped model (red)   {args.label} (green)", (10, 38), 0, 0.7,
                (0, 0, 0), 2)
    cv2.imwrite(args.out, np.vstack([out, legend]), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
