"""2D-only training labels: the people BlazePose found in any video (``tools/blazepose_detect.py --people``).

Every labelled person of a frame is a training target, with no 3D target; frames in which
someone was missed are left out (:func:`people_samples`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kneeview import joints as J
from kneeview.errors import KneeViewInputError

from .samples import ViewSamples, person_boxes


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


def labelled_video(path, d: dict, v: int) -> tuple[Path, tuple[int, int]]:
    """View ``v``'s video of the labels ``d`` (read from ``path``) and its frame size, checked: the video is
    there and its frames are the size the labels were made on."""
    from kneeview.io.video import probe_video

    video, name = d["videos"][v], d["view_names"][v]
    if not video.is_file():
        raise KneeViewInputError(path, f"the video of view {name} is missing: {video}", "video_files")
    W, H = (int(x) for x in d["frame_size_px"][v])
    size = tuple(probe_video(video).size)
    if size != (W, H):
        raise KneeViewInputError(video, f"frames are {size[0]}x{size[1]}, the labels were made on {W}x{H}")
    return video, (W, H)


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
    path = Path(entry["labels"])
    d = read_people_labels(path)
    out = []
    for v, name in enumerate(d["view_names"]):
        if name not in entry["train_views"]:
            continue
        video, (W, H) = labelled_video(path, d, v)
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
