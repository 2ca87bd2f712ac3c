#!/usr/bin/env python3
"""Pseudo-labels from two 2D teachers: a joint is labelled where both found it and they agree.

    .venv/bin/python tools/merge_teachers.py blazepose.npz movenet.npz --out merged.npz [--report report.json]
    kneeview triangulate SESSION --detections merged.npz --fix-left-right --outlier-px 120
    .venv/bin/python tools/merge_teachers.py blazepose_people.npz movenet.npz --people --out merged_people.npz
    kneeview-train fit ... --real-2d merged_people.npz           # 2D-only training labels (:func:`merge_people`)

Reads two detections files in the layout of ``kneeview.analysis.multiview`` (tools/blazepose_detect.py,
tools/movenet_detect.py) and writes a third in the same layout, so ``kneeview triangulate
--detections`` uses both teachers. numpy only (plus :mod:`kneeview.joints` through
tools/blazepose_detect.py, whose atomic writer it shares); it runs in any of the venvs.

The rule (:func:`merge`), per view, frame and joint:

1. *found*: a teacher found the joint when it gave finite coordinates with a confidence of at least
   ``min_confidence`` (default 0.3; BlazePose's landmark visibility, MoveNet's keypoint score).
2. *person's size*: the thigh length in that view and frame, ``thigh_px`` = the median of the
   hip-knee distances of both legs by both teachers (the found ones).
3. *tolerance* = max(``floor_px``, ``tolerance`` x ``thigh_px``) (defaults 0.15 and 8 px; the floor
   alone where no thigh was found). docs/teachers.md derives the defaults from the
   disagreements measured on Pose2Sim's demo.
4. *left/right*: a teacher that labels the legs the other way round than the other in a view and
   frame is caught by pairing the joints both ways: when more joints agree (within the tolerance)
   with one teacher's left and right exchanged than as labelled, that view and frame is flagged
   and none of its joints is labelled (two teachers cannot tell which one is wrong;
   ``kneeview triangulate --fix-left-right`` works that out from the other views for a single teacher).
5. *labelled* where both found the joint, the frame is not flagged and their positions are within the
   tolerance: position = confidence-weighted mean of the two, confidence = the mean of the two.
   Otherwise NaN coordinates and confidence 0, with the reason (:data:`REASONS`).

Output: the triangulate layout (``keypoints_px``, ``confidence``, ``view_names``, ``fps``,
``frame_size_px``) plus ``disagreement_px`` and ``disagreement_thigh`` (V, T, 6; the distance
between the teachers as labelled, NaN unless both found the joint), ``thigh_px`` and
``tolerance_px`` (V, T), ``reason`` (V, T, 6) codes into ``reason_names``, ``teachers`` (2,)
(each file's ``detector``), ``teacher_keypoints_px`` (2, V, T, 6, 2), ``teacher_confidence``
(2, V, T, 6), the rule's parameters (``rule``) and, where both files have body points of the same
name (shoulders, elbows, wrists, HEAD), those merged by the same rule (thigh tolerance, the frame's
left/right flag); body points only one teacher has (BlazePose's heels and toes) are copied from it.
"""

# (no "from __future__ import annotations": the tests load this script without registering it as a module,
#  and dataclasses then cannot resolve string annotations)
import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

TOOLS = Path(__file__).resolve().parent
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
import blazepose_detect as bp  # noqa: E402  (numpy + kneeview.joints only)
from blazepose_detect import JOINTS  # noqa: E402

#: joint index pairs: (hip, knee) of each leg, and the index each joint becomes when left and right are exchanged
THIGHS = ((0, 2), (1, 3))
FLIP = (1, 0, 3, 2, 5, 4)
#: why a joint is (not) labelled; ``reason`` stores the index
REASONS = ("labelled", "both_missing", "first_missing", "second_missing", "disagree", "left_right_swapped")
LABELLED, BOTH_MISSING, FIRST_MISSING, SECOND_MISSING, DISAGREE, SWAPPED = range(len(REASONS))

ON_SWAP = ("drop", "first", "second")
DEFAULT_TOLERANCE = 0.25
DEFAULT_FLOOR_PX = 8.0
DEFAULT_MIN_CONFIDENCE = 0.3


@dataclass
class Teacher:
    """One teacher's detections: joints (V, T, 6, 2) px, confidence (V, T, 6), views, and optional body points."""

    keypoints_px: np.ndarray
    confidence: np.ndarray
    view_names: tuple[str, ...]
    name: str = "teacher"
    fps: float | None = None
    frame_size_px: np.ndarray | None = None
    body: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # name -> (V, T, 2), (V, T)


@dataclass
class Merged:
    keypoints_px: np.ndarray      # (V, T, 6, 2)
    confidence: np.ndarray        # (V, T, 6)
    reason: np.ndarray            # (V, T, 6) int8, index into REASONS
    disagreement_px: np.ndarray   # (V, T, 6)
    disagreement_thigh: np.ndarray
    thigh_px: np.ndarray          # (V, T)
    tolerance_px: np.ndarray      # (V, T)
    swapped: np.ndarray           # (V, T) bool


def found(keypoints, confidence, min_confidence: float) -> np.ndarray:
    """(...,) bool: finite coordinates and a confidence of at least ``min_confidence``."""
    kp = np.asarray(keypoints, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    return np.isfinite(kp).all(-1) & np.isfinite(conf) & (conf >= min_confidence)


def thigh_length(kp_a, ok_a, kp_b, ok_b) -> np.ndarray:
    """(V, T): median hip-knee distance over both legs of both teachers (found joints only), NaN where none."""
    lengths = []
    for kp, ok in ((kp_a, ok_a), (kp_b, ok_b)):
        for hip, knee in THIGHS:
            d = np.linalg.norm(kp[..., hip, :] - kp[..., knee, :], axis=-1)
            lengths.append(np.where(ok[..., hip] & ok[..., knee], d, np.nan))
    stacked = np.stack(lengths, axis=-1)
    out = np.full(stacked.shape[:-1], np.nan)
    has = np.isfinite(stacked).any(-1)
    out[has] = np.nanmedian(stacked[has], axis=-1)
    return out


def merge(a: Teacher, b: Teacher, tolerance: float = DEFAULT_TOLERANCE, floor_px: float = DEFAULT_FLOOR_PX,
          min_confidence: float = DEFAULT_MIN_CONFIDENCE, on_swap: str = "drop") -> Merged:
    """The agreement rule (module docstring) on two teachers with the same views and frames.

    ``on_swap``: what a view and frame flagged as left/right swapped gets: ``drop`` (no label),
    ``first`` / ``second`` (the other teacher's legs exchanged to that teacher's labelling, then the
    rule as usual; ``kneeview triangulate --fix-left-right`` corrects a wrong labelling from the other views).
    """
    if on_swap not in ON_SWAP:
        raise ValueError(f"on_swap must be one of {', '.join(ON_SWAP)}, got {on_swap!r}")
    kp_a, kp_b = np.asarray(a.keypoints_px, np.float64), np.asarray(b.keypoints_px, np.float64)
    cf_a, cf_b = np.asarray(a.confidence, np.float64), np.asarray(b.confidence, np.float64)
    if kp_a.shape != kp_b.shape or cf_a.shape != kp_a.shape[:3] or cf_b.shape != kp_b.shape[:3]:
        raise ValueError(f"the teachers' arrays differ: {kp_a.shape} / {cf_a.shape} vs {kp_b.shape} / {cf_b.shape}")
    if not (tolerance > 0 and floor_px >= 0):
        raise ValueError("tolerance must be > 0 and floor_px >= 0")
    ok_a, ok_b = found(kp_a, cf_a, min_confidence), found(kp_b, cf_b, min_confidence)
    both = ok_a & ok_b
    thigh = thigh_length(kp_a, ok_a, kp_b, ok_b)
    tol = np.where(np.isfinite(thigh), np.maximum(floor_px, tolerance * thigh), floor_px)

    dist = np.where(both, np.linalg.norm(kp_a - kp_b, axis=-1), np.nan)
    flip = list(FLIP)
    both_swapped = ok_a & ok_b[..., flip]
    dist_swapped = np.where(both_swapped, np.linalg.norm(kp_a - kp_b[..., flip, :], axis=-1), np.nan)
    with np.errstate(invalid="ignore"):
        agree = both & (dist <= tol[..., None])
        agree_swapped = both_swapped & (dist_swapped <= tol[..., None])
    swapped = agree_swapped.sum(-1) > agree.sum(-1)
    if on_swap != "drop" and swapped.any():
        # exchange the legs of the teacher not trusted, in the flagged views and frames only
        kp_a, cf_a, ok_a, kp_b, cf_b, ok_b = (kp_a, cf_a, ok_a) + exchange_legs(kp_b, cf_b, ok_b, swapped) \
            if on_swap == "first" else exchange_legs(kp_a, cf_a, ok_a, swapped) + (kp_b, cf_b, ok_b)
        both = ok_a & ok_b
        dist = np.where(both, np.linalg.norm(kp_a - kp_b, axis=-1), np.nan)
        with np.errstate(invalid="ignore"):
            agree = both & (dist <= tol[..., None])

    reason = np.full(both.shape, LABELLED, dtype=np.int8)
    reason[~agree] = DISAGREE
    reason[~ok_a & ok_b] = FIRST_MISSING
    reason[ok_a & ~ok_b] = SECOND_MISSING
    reason[~ok_a & ~ok_b] = BOTH_MISSING
    if on_swap == "drop":
        reason[swapped[..., None] & both] = SWAPPED
    labelled = reason == LABELLED

    w_a, w_b = np.where(labelled, cf_a, 0.0), np.where(labelled, cf_b, 0.0)
    wsum = np.where(labelled, w_a + w_b, 1.0)
    pos = (np.nan_to_num(kp_a) * w_a[..., None] + np.nan_to_num(kp_b) * w_b[..., None]) / wsum[..., None]
    pos[~labelled] = np.nan
    conf = np.where(labelled, (cf_a + cf_b) / 2, 0.0)
    return Merged(pos, conf, reason, dist, dist / np.where(np.isfinite(thigh), thigh, np.nan)[..., None],
                  thigh, tol, swapped)


def exchange_legs(kp, conf, ok, where):
    """Joints (V, T, 6, 2), confidence and found (V, T, 6) with left and right exchanged where ``where`` (V, T)."""
    flip = list(FLIP)
    w = where[..., None]
    return (np.where(w[..., None], kp[..., flip, :], kp), np.where(w, conf[..., flip], conf), np.where(w, ok[..., flip], ok))


def mirror_name(name: str) -> str:
    """``RSHO`` <-> ``LSHO``; other names unchanged."""
    return {"R": "L", "L": "R"}.get(name[:1], name[:1]) + name[1:] if name[:1] in "RL" else name


def merge_points(pa, ca, pb, cb, tol, swapped, min_confidence: float):
    """Body points (V, T, 2) of two teachers under the rule: both found, within ``tol`` (V, T), frame not flagged."""
    ok = found(pa, ca, min_confidence) & found(pb, cb, min_confidence)
    with np.errstate(invalid="ignore"):
        agree = ok & (np.linalg.norm(pa - pb, axis=-1) <= tol) & ~swapped
    w_a, w_b = np.where(agree, ca, 0.0), np.where(agree, cb, 0.0)
    pos = (np.nan_to_num(pa) * w_a[..., None] + np.nan_to_num(pb) * w_b[..., None]) / np.where(agree, w_a + w_b, 1.0)[..., None]
    pos[~agree] = np.nan
    return pos, np.where(agree, (ca + cb) / 2, 0.0)


# ---------------------------------------------------------------------------------- files

def load_teacher(path) -> Teacher:
    """A detections .npz (no pickles) as a :class:`Teacher`; a clear error naming the file when it is not one."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise SystemExit(f"merge_teachers: {path}: no such file") from None
    except (OSError, ValueError, EOFError) as exc:
        raise SystemExit(f"merge_teachers: {path}: not a detections .npz ({exc})") from None
    for key in ("keypoints_px", "confidence", "view_names"):
        if key not in data:
            raise SystemExit(f"merge_teachers: {path}: no '{key}' array (has {', '.join(sorted(data))})")
    kp, conf = data["keypoints_px"], data["confidence"]
    if kp.ndim != 4 or kp.shape[2:] != (len(JOINTS), 2) or conf.shape != kp.shape[:3]:
        raise SystemExit(f"merge_teachers: {path}: keypoints_px {kp.shape} / confidence {conf.shape} are not (V, T, 6, 2) / (V, T, 6)")
    body = {}
    if "body_point_names" in data and "body_points_px" in data and "body_points_confidence" in data:
        for k, n in enumerate(data["body_point_names"]):
            body[str(n)] = (data["body_points_px"][:, :, k].astype(np.float64), data["body_points_confidence"][:, :, k].astype(np.float64))
    return Teacher(kp.astype(np.float64), conf.astype(np.float64), tuple(str(n) for n in data["view_names"]),
                   name=str(data["detector"]) if "detector" in data else path.stem,
                   fps=float(data["fps"]) if "fps" in data else None,
                   frame_size_px=data["frame_size_px"].astype(np.int64) if "frame_size_px" in data else None, body=body)


def align(a: Teacher, b: Teacher, paths=("first", "second")) -> Teacher:
    """``b`` reordered to ``a``'s views and padded (NaN) to its frames; refuses different views or frame sizes."""
    if set(a.view_names) != set(b.view_names) or len(a.view_names) != len(b.view_names):
        raise SystemExit(f"merge_teachers: {paths[0]} has views {', '.join(a.view_names)}, {paths[1]} has {', '.join(b.view_names)}")
    order = [b.view_names.index(n) for n in a.view_names]
    if a.frame_size_px is not None and b.frame_size_px is not None and not np.array_equal(a.frame_size_px, b.frame_size_px[order]):
        raise SystemExit(f"merge_teachers: the frame sizes differ ({paths[0]}: {a.frame_size_px.tolist()}, "
                         f"{paths[1]}: {b.frame_size_px[order].tolist()}): not the same decoded videos")
    if a.fps and b.fps and abs(a.fps - b.fps) > 1e-6 * a.fps:
        raise SystemExit(f"merge_teachers: fps differ ({paths[0]} {a.fps}, {paths[1]} {b.fps})")
    T = a.keypoints_px.shape[1]

    def fit(arr):
        arr = arr[order]
        out = np.full((arr.shape[0], T) + arr.shape[2:], np.nan)
        n = min(T, arr.shape[1])
        out[:, :n] = arr[:, :n]
        return out

    conf = np.nan_to_num(fit(b.confidence), nan=0.0)
    body = {k: (fit(p), np.nan_to_num(fit(c), nan=0.0)) for k, (p, c) in b.body.items()}
    return Teacher(fit(b.keypoints_px), conf, a.view_names, b.name, b.fps,
                   None if b.frame_size_px is None else b.frame_size_px[order], body)


def summary(a: Teacher, b: Teacher, m: Merged, min_confidence: float) -> dict:
    """Figures for the report: per teacher detection rate, disagreement per joint, % labelled, reasons."""
    ok_a, ok_b = found(a.keypoints_px, a.confidence, min_confidence), found(b.keypoints_px, b.confidence, min_confidence)
    out = {"teachers": [a.name, b.name], "views": list(a.view_names), "frames": int(a.keypoints_px.shape[1]),
           "detection_rate": {}, "disagreement_px_median": {}, "disagreement_px_p90": {},
           "disagreement_thigh_median": {}, "labelled_fraction": {}, "reasons": {},
           "thigh_px_median": {v: float(np.nanmedian(m.thigh_px[i])) for i, v in enumerate(a.view_names)},
           "swapped_frames": {v: int(m.swapped[i].sum()) for i, v in enumerate(a.view_names)}}
    for label, ok in (("first", ok_a), ("second", ok_b)):
        out["detection_rate"][label] = {j: float(ok[..., k].mean()) for k, j in enumerate(JOINTS)}
    ok_pair = ~m.swapped[..., None] & np.isfinite(m.disagreement_px)
    for k, j in enumerate(JOINTS):
        d = m.disagreement_px[..., k][ok_pair[..., k]]
        dt = m.disagreement_thigh[..., k][ok_pair[..., k] & np.isfinite(m.disagreement_thigh[..., k])]
        out["disagreement_px_median"][j] = float(np.median(d)) if d.size else None
        out["disagreement_px_p90"][j] = float(np.percentile(d, 90)) if d.size else None
        out["disagreement_thigh_median"][j] = float(np.median(dt)) if dt.size else None
        out["labelled_fraction"][j] = float((m.reason[..., k] == LABELLED).mean())
    out["labelled_fraction"]["all"] = float((m.reason == LABELLED).mean())
    out["labelled_fraction_per_view"] = {v: float((m.reason[i] == LABELLED).mean()) for i, v in enumerate(a.view_names)}
    out["reasons"] = {r: int((m.reason == i).sum()) for i, r in enumerate(REASONS)}
    return out


def merged_body_points(a: Teacher, b: Teacher, m: Merged, on_swap: str, min_confidence: float):
    """Body points: those both teachers have merged by the rule (the joints' tolerance and left/right flag), the
    others copied from the one teacher that has them. In a flagged view and frame: none (``drop``), or the
    untrusted teacher's R/L points exchanged like its legs (``first`` / ``second``)."""
    def exchanged(body):
        out = {}
        for name, (p, c) in body.items():
            if mirror_name(name) == name:  # HEAD: no side
                partner = (p, c)
            else:  # a sided point without its partner has no label in a flagged frame
                partner = body.get(mirror_name(name), (np.full_like(p, np.nan), np.zeros_like(c)))
            out[name] = (np.where(m.swapped[..., None], partner[0], p), np.where(m.swapped, partner[1], c))
        return out

    body_a = exchanged(a.body) if on_swap == "second" else a.body
    body_b = exchanged(b.body) if on_swap == "first" else b.body
    doubt = m.swapped if on_swap == "drop" else np.zeros_like(m.swapped)
    names, pts, confs = [], [], []
    for name in list(body_a) + [n for n in body_b if n not in body_a]:
        if name in body_a and name in body_b:
            p, c = merge_points(*body_a[name], *body_b[name], m.tolerance_px, doubt, min_confidence)
        else:
            p, c = body_a[name] if name in body_a else body_b[name]
            c = np.where(doubt, 0.0, c)
            p = np.where(doubt[..., None], np.nan, p)
        names.append(name)
        pts.append(p)
        confs.append(c)
    return names, pts, confs


def save_merged(path, a: Teacher, b: Teacher, m: Merged, rule: dict, min_confidence: float) -> Path:
    arrays = {"keypoints_px": m.keypoints_px, "confidence": m.confidence,
              "view_names": np.array(a.view_names, dtype=str),
              "disagreement_px": m.disagreement_px, "disagreement_thigh": m.disagreement_thigh,
              "thigh_px": m.thigh_px, "tolerance_px": m.tolerance_px, "left_right_swapped": m.swapped,
              "reason": m.reason, "reason_names": np.array(REASONS, dtype=str),
              "teachers": np.array([a.name, b.name], dtype=str),
              "teacher_keypoints_px": np.stack([a.keypoints_px, b.keypoints_px]),
              "teacher_confidence": np.stack([a.confidence, b.confidence]),
              "rule": np.array(json.dumps(rule), dtype=str),
              "detector": np.array(f"merge_teachers ({rule}) of: {a.name} | {b.name}", dtype=str)}
    if a.fps:
        arrays["fps"] = np.float64(a.fps)
    if a.frame_size_px is not None:
        arrays["frame_size_px"] = a.frame_size_px
    names, pts, confs = merged_body_points(a, b, m, rule.get("on_swap", "drop"), min_confidence)
    if names:
        arrays["body_point_names"] = np.array(names, dtype=str)
        arrays["body_points_px"] = np.stack(pts, axis=2)
        arrays["body_points_confidence"] = np.stack(confs, axis=2)
    return bp._write_npz(Path(path), arrays)


# ------------------------------------------------------------------- --people (2D training labels)

#: a person of a people file is the second teacher's (single-person) detection when this many joints agree
MIN_MATCHED_JOINTS = 3
UNCONFIRMED = ("keep", "drop")


def merge_people(people_kp, people_conf, b: Teacher, tolerance: float = DEFAULT_TOLERANCE,
                 floor_px: float = DEFAULT_FLOOR_PX, min_confidence: float = DEFAULT_MIN_CONFIDENCE,
                 on_swap: str = "drop", unconfirmed: str = "keep") -> dict:
    """The rule for people labels (``blazepose_detect.py --people``: joints (V, T, P, 6, 2), confidence (V, T, P, 6))
    and a single-person second teacher ``b`` (MoveNet: (V, T, 6, 2)), aligned to the same views and frames.

    Per view and frame, the person with the most joints agreeing with ``b`` (either labelling of the legs;
    at least :data:`MIN_MATCHED_JOINTS`) is ``b``'s person: its joints get :func:`merge`'s labels
    (``on_swap`` as there). Every other person is one ``b`` cannot confirm (it sees one person):
    ``unconfirmed="keep"`` leaves the first teacher's labels (training needs everyone in a frame
    labelled, trainer.people_labels), ``"drop"`` removes every label of a frame that
    has such a person (NaN, confidence 0), so only frames whose every person both teachers confirmed train.

    Returns ``keypoints_px``, ``confidence`` (as the inputs), ``teachers`` (V, T, P) int8 (2: both
    teachers, 1: the first only, 0: nobody), ``disagreement_px`` and ``reason`` (V, T, P, 6; NaN / -1
    for people not matched), ``matched`` (V, T) bool.
    """
    if unconfirmed not in UNCONFIRMED:
        raise ValueError(f"unconfirmed must be one of {', '.join(UNCONFIRMED)}, got {unconfirmed!r}")
    kp = np.asarray(people_kp, dtype=np.float64)
    conf = np.nan_to_num(np.asarray(people_conf, dtype=np.float64), nan=0.0)
    V, T, P = kp.shape[:3]
    if kp.shape[3:] != (len(JOINTS), 2) or conf.shape != kp.shape[:4] or b.keypoints_px.shape != (V, T, len(JOINTS), 2):
        raise ValueError(f"people {kp.shape} / {conf.shape} and the second teacher {b.keypoints_px.shape} do not agree")
    views = b.view_names
    score = np.zeros((V, T, P), dtype=np.int64)
    merged = []
    for p in range(P):
        person = Teacher(kp[:, :, p], conf[:, :, p], views)
        either = merge(person, b, tolerance, floor_px, min_confidence, on_swap="second")
        score[..., p] = (either.reason == LABELLED).sum(-1)
        merged.append(merge(person, b, tolerance, floor_px, min_confidence, on_swap))
    best = score.argmax(-1)
    matched = score.max(-1) >= MIN_MATCHED_JOINTS
    present = np.isfinite(kp).all(-1).any(-1)
    out_kp, out_conf = kp.copy(), conf.copy()
    teachers = present.astype(np.int8)
    dis = np.full(kp.shape[:4], np.nan)
    reason = np.full(kp.shape[:4], -1, dtype=np.int8)
    for p, m in enumerate(merged):
        sel = matched & (best == p)
        out_kp[:, :, p][sel] = m.keypoints_px[sel]
        out_conf[:, :, p][sel] = m.confidence[sel]
        dis[:, :, p][sel] = m.disagreement_px[sel]
        reason[:, :, p][sel] = m.reason[sel]
        teachers[..., p][sel] = 2
    if unconfirmed == "drop":  # the whole frame: an unlabelled person would teach that people are background
        doubtful = (teachers == 1).any(-1)
        out_kp[doubtful] = np.nan
        out_conf[doubtful] = 0.0
    return {"keypoints_px": out_kp, "confidence": out_conf, "teachers": teachers, "disagreement_px": dis,
            "reason": reason, "matched": matched}


def main_people(args) -> int:
    """``--people``: a people file (first) and a single-person teacher's detections (second) -> merged people file."""
    first, out_path = Path(args.first), Path(args.out)
    try:
        with np.load(first, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as exc:
        raise SystemExit(f"merge_teachers: {first}: not a people file ({exc})") from None
    for key in ("people_keypoints_px", "people_confidence", "people_landmarks_px", "view_names", "video_files", "frame_size_px"):
        if key not in data:
            raise SystemExit(f"merge_teachers: {first}: no '{key}' (not a tools/blazepose_detect.py --people file)")
    V, T = data["people_keypoints_px"].shape[:2]
    ref = Teacher(np.full((V, T, len(JOINTS), 2), np.nan), np.zeros((V, T, len(JOINTS))),
                  tuple(str(n) for n in data["view_names"]), name=str(data.get("detector", first.stem)),
                  fps=float(data["fps"]) if "fps" in data else None, frame_size_px=data["frame_size_px"].astype(np.int64))
    b = align(ref, load_teacher(args.second), (args.first, args.second))
    r = merge_people(data["people_keypoints_px"], data["people_confidence"], b, args.tolerance, args.floor_px,
                     args.min_confidence, args.on_swap, args.unconfirmed)
    rule = {"tolerance_thigh": args.tolerance, "floor_px": args.floor_px, "min_confidence": args.min_confidence,
            "on_swap": args.on_swap, "unconfirmed": args.unconfirmed, "min_matched_joints": MIN_MATCHED_JOINTS}
    videos = [(first.resolve().parent / str(f)).resolve() for f in data["video_files"]]
    import os

    arrays = dict(data)
    arrays.update({"people_keypoints_px": r["keypoints_px"], "people_confidence": r["confidence"],
                   "people_teachers": r["teachers"], "people_disagreement_px": r["disagreement_px"],
                   "people_reason": r["reason"], "reason_names": np.array(REASONS, dtype=str),
                   "second_teacher_matched": r["matched"],
                   "second_keypoints_px": b.keypoints_px, "second_confidence": b.confidence,
                   "teachers": np.array([ref.name, b.name], dtype=str), "rule": np.array(json.dumps(rule), dtype=str),
                   "video_files": np.array([os.path.relpath(v, out_path.resolve().parent) for v in videos], dtype=str),
                   "detector": np.array(f"merge_teachers --people ({rule}) of: {ref.name} | {b.name}", dtype=str)})
    out = bp._write_npz(out_path, arrays)
    matched = r["matched"]
    sel = r["teachers"] == 2
    labelled = (r["reason"][sel] == LABELLED).mean() if sel.any() else 0.0
    report = {"views": list(ref.view_names), "rule": rule, "out": str(out),
              "matched_frames": {v: float(matched[i].mean()) for i, v in enumerate(ref.view_names)},
              "labelled_fraction_of_matched_person": float(labelled),
              "disagreement_px_median": {j: float(np.nanmedian(r["disagreement_px"][..., k])) if np.isfinite(r["disagreement_px"][..., k]).any() else None
                                         for k, j in enumerate(JOINTS)},
              "people_by_teachers": {str(n): int((r["teachers"] == n).sum()) for n in (1, 2)}}
    if args.report:
        write_text_atomic(Path(args.report), json.dumps(report, indent=2) + "\n")
    print(f"merge_teachers --people: wrote {out}: the second teacher's person matched in "
          f"{', '.join(f'{v} {f:.0%}' for v, f in report['matched_frames'].items())} of frames; "
          f"{labelled:.1%} of that person's joints labelled; people confirmed by both / the first only: "
          f"{report['people_by_teachers']['2']} / {report['people_by_teachers']['1']}", file=sys.stderr)
    return 0


def write_text_atomic(path: Path, text: str) -> Path:
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", help="detections .npz of the first teacher (e.g. tools/blazepose_detect.py's)")
    parser.add_argument("second", help="detections .npz of the second teacher (e.g. tools/movenet_detect.py's)")
    parser.add_argument("--out", required=True, help="merged detections .npz to write")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help=f"agreement tolerance as a fraction of the thigh length in px (default {DEFAULT_TOLERANCE})")
    parser.add_argument("--floor-px", type=float, default=DEFAULT_FLOOR_PX,
                        help=f"the tolerance is never below this many px (default {DEFAULT_FLOOR_PX})")
    parser.add_argument("--min-confidence", type=float, default=DEFAULT_MIN_CONFIDENCE,
                        help=f"a teacher found a joint when its confidence is at least this (default {DEFAULT_MIN_CONFIDENCE})")
    parser.add_argument("--on-swap", choices=ON_SWAP, default="drop",
                        help="a view and frame where one teacher has left and right the other way round: drop its labels "
                             "(default), or keep the pairs that agree under the first/second teacher's labelling")
    parser.add_argument("--people", action="store_true",
                        help="FIRST is a people file (tools/blazepose_detect.py --people), SECOND a single-person teacher's "
                             "detections: the person it found gets both teachers' labels (2D training labels, --real-2d)")
    parser.add_argument("--unconfirmed", choices=UNCONFIRMED, default="keep",
                        help="with --people: people the second teacher cannot confirm keep the first teacher's labels (default), "
                             "or their frames lose all labels")
    parser.add_argument("--report", help="also write the figures (per teacher detection rate, disagreement, %% labelled) as JSON")
    args = parser.parse_args(argv)
    if args.people:
        return main_people(args)

    a = load_teacher(args.first)
    b = align(a, load_teacher(args.second), (args.first, args.second))
    m = merge(a, b, args.tolerance, args.floor_px, args.min_confidence, args.on_swap)
    rule = {"tolerance_thigh": args.tolerance, "floor_px": args.floor_px, "min_confidence": args.min_confidence,
            "on_swap": args.on_swap}
    out = save_merged(args.out, a, b, m, rule, args.min_confidence)
    report = summary(a, b, m, args.min_confidence) | {"rule": rule, "out": str(out)}
    if args.report:
        write_text_atomic(Path(args.report), json.dumps(report, indent=2) + "\n")
    print(f"merge_teachers: wrote {out}: {report['labelled_fraction']['all']:.1%} of joints labelled; "
          f"reasons {report['reasons']}; left/right flagged frames {report['swapped_frames']}", file=sys.stderr)
    for j in JOINTS:
        print(f"  {j}: median disagreement {report['disagreement_px_median'][j]:.1f} px "
              f"({report['disagreement_thigh_median'][j]:.3f} thigh), labelled {report['labelled_fraction'][j]:.1%}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
