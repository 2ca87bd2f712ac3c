"""Real multi-view recordings with pseudo-label C3Ds (``kneeview triangulate``) as training data.

Whole time segments of a recording, and optionally whole views, are held out for evaluation
(:func:`real_split`); the rest trains (:func:`real_samples`).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from kneeview.errors import KneeViewInputError
from kneeview.io.recording import open_recording

from .samples import ViewSamples, load_view_samples, view_name


def segment_split(n_frames: int, segments: int = 5, test_segments=(1, 3), guard: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Whole time segments of one recording held out: (train frames, test frames).

    The frames are cut into ``segments`` contiguous, near-equal blocks; the blocks numbered
    in ``test_segments`` are the test frames. Training frames are the other blocks less
    ``guard`` frames on each side of every test block, so that no training frame is a
    near-duplicate (a few ms away) of a test frame.
    """
    if n_frames < 1:
        raise KneeViewInputError(None, "the recording has no frames to split")
    if not 1 <= segments <= n_frames:
        raise KneeViewInputError(None, f"cannot cut {n_frames} frames into {segments} segments", "real_segments")
    test_segments = sorted(set(int(k) for k in test_segments))
    if not test_segments or test_segments[0] < 0 or test_segments[-1] >= segments:
        raise KneeViewInputError(None, f"test segments {test_segments} must be among 0..{segments - 1}", "real_test_segments")
    if len(test_segments) == segments:
        raise KneeViewInputError(None, "every segment is a test segment: nothing left to train on", "real_test_segments")
    blocks = np.array_split(np.arange(n_frames), segments)
    test = np.concatenate([blocks[k] for k in test_segments])
    near = np.zeros(n_frames, dtype=bool)
    for k in test_segments:
        near[max(0, blocks[k][0] - guard): blocks[k][-1] + guard + 1] = True
    train = np.flatnonzero(~near)
    return train, test


def real_split(session, segments: int = 5, test_segments=(1, 3), guard: int = 3, holdout_views=()) -> dict:
    """The split entry of one real (multi-view, pseudo-labelled) recording: frames and views.

    ``holdout_views`` (video stems or camera device ids) are kept out of training entirely,
    so that the evaluation has views the network never saw.
    """
    rec = open_recording(session)
    where = Path(session)
    if rec.c3d_path is None:
        raise KneeViewInputError(where, "no C3D (pseudo-)labels beside the videos: run `kneeview triangulate` first")
    truth = rec.ground_truth_frames(0)
    names = [view_name(v) for v in rec.views]
    ids = [str(v.camera.device_id) if v.camera is not None else None for v in rec.views]
    held = set()
    for h in holdout_views:
        match = [n for n, d in zip(names, ids) if h in (n, d)]
        if not match:
            raise KneeViewInputError(where, f"no view named {h!r} to hold out (views: {', '.join(names)})", "real_holdout_views")
        held.update(match)
    if len(held) == len(names):
        raise KneeViewInputError(where, "every view is held out: nothing left to train on", "real_holdout_views")
    train, test = segment_split(len(truth), segments, test_segments, guard)
    return {
        "session": str(where.resolve()), "name": rec.name, "frames": int(len(truth)), "segments": int(segments),
        "test_segments": sorted(int(k) for k in test_segments), "guard_frames": int(guard),
        "train_frames": train.tolist(), "test_frames": test.tolist(), "views": names,
        "train_views": [n for n in names if n not in held], "holdout_views": [n for n in names if n in held],
    }


def check_backdrops(entry: dict, data_dir) -> None:
    """Refuse a :func:`real_split` entry when a real-lab backdrop of the synthetic data ``data_dir``
    (``kneeview synth --backdrops``) was made from its test frames or from any frame of a held-out
    view: the network would train on the pixels it is evaluated on. Videos match by sha256."""
    from kneeview.synth.backdrops import check_not_in_backdrops, dataset_backdrop_sources, sha256_file

    sources = dataset_backdrop_sources(data_dir) if data_dir and Path(data_dir).is_dir() else []
    if not sources:
        return
    rec = open_recording(entry["session"])
    for view in rec.views:
        name = view_name(view)
        frames = range(int(entry["frames"])) if name in entry["holdout_views"] else entry["test_frames"]
        check_not_in_backdrops(sources, sha256_file(view.video_path), frames, view.video_path, name)


def real_samples(entry: dict, frames: str = "train") -> list[ViewSamples]:
    """Samples of a :func:`real_split` entry: its training frames of its training views
    (``frames="train"``), or its test frames of every view (``frames="test"``)."""
    rec_path = Path(entry["session"])
    if not rec_path.exists():
        raise KneeViewInputError(rec_path, "real recording listed in the split is missing")
    views = set(entry["train_views"]) if frames == "train" else set(entry["views"])
    idx = entry["train_frames"] if frames == "train" else entry["test_frames"]
    out = load_view_samples(rec_path, None, frame_indices=idx, views=views)
    for s in out:
        s.trial_id = f"real:{entry['name']}/{view_name(s)}"
        s.meta = {**s.meta, "real": True}
    return out
