"""What every pose estimator offers, and the one loop that runs one over a video (no torch).

An estimator (the network's :class:`~kneeview.pose.estimator.Estimator`, or a test's
stand-in) has an ``identity`` (:class:`~kneeview.pose.card.ModelIdentity`), a
``default_batch_size`` and ``predict(frames) -> list`` of per-frame results (objects or
dicts with ``score``, ``keypoints_px`` (6, 2), ``joints_cam_m`` (6, 3), ``confidence``
(6,)). :func:`iter_batches` streams a video through it batch by batch; :func:`run` collects
the batches into a :class:`~kneeview.sequence.PoseSequence`. The app's worker thread, the
CLI and the benchmarks all go through these two.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .. import joints as J
from ..sequence import PoseSequence
from .card import ModelIdentity

FIELDS = ("score", "keypoints_px", "joints_cam_m", "confidence")
_SHAPES = {"score": (), "keypoints_px": (J.N_JOINTS, 2), "joints_cam_m": (J.N_JOINTS, 3), "confidence": (J.N_JOINTS,),
           "network_keypoints_px": (J.N_JOINTS, 2)}
#: fields a result may carry (or leave None) -> the field whose value stands in where it does: the
#: network's own keypoints beside refined ones
OPTIONAL_FIELDS = {"network_keypoints_px": "keypoints_px"}


class InferenceCancelled(Exception):
    """A run stopped because its ``cancel()`` returned True; ``done`` frames had been estimated."""

    def __init__(self, done: int = 0):
        super().__init__(f"inference cancelled after {done} frames")
        self.done = done


@runtime_checkable
class PoseEstimator(Protocol):
    identity: ModelIdentity
    default_batch_size: int

    def predict(self, frames: list) -> list: ...


@dataclass
class PoseBatch:
    """Consecutive frames ``start .. start + n - 1`` of a video and their estimates."""

    start: int
    columns: dict[str, np.ndarray]  # FIELDS -> (n, ...) arrays
    done: int  # frames of the video estimated so far
    total: int  # frames in the video

    @property
    def stop(self) -> int:
        return self.start + len(self.columns["score"])


def stack_results(results: list) -> dict[str, np.ndarray]:
    """Per-frame results (objects or dicts) -> one (n, ...) array per field."""
    def get(obj, key):
        return obj[key] if isinstance(obj, dict) else getattr(obj, key)

    def opt(obj, key):
        return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)

    n = len(results)
    out = {k: np.asarray([np.asarray(get(r, k), dtype=np.float64) for r in results],
                         dtype=np.float64).reshape((n,) + _SHAPES[k]) for k in FIELDS}
    for k, main in OPTIONAL_FIELDS.items():  # where a frame has none (nobody detected, no refiner), main's values
        values = [opt(r, k) for r in results]
        if any(v is not None for v in values):
            out[k] = np.stack([out[main][i] if v is None else np.asarray(v, np.float64).reshape(_SHAPES[k])
                               for i, v in enumerate(values)])
    return out


def iter_batches(estimator: PoseEstimator, video_reader, batch_size: int | None = None,
                 cancel: Callable[[], bool] | None = None) -> Iterator[PoseBatch]:
    """Every frame of ``video_reader`` through ``estimator.predict``, in batches, in order.

    ``cancel()`` is checked before each batch; when it returns True,
    :class:`InferenceCancelled` is raised. A video that ends before the frame count its
    container declares yields what it has (the last batch's ``done`` says how many).
    """
    batch_size = max(1, int(batch_size or getattr(estimator, "default_batch_size", 1) or 1))
    total = len(video_reader)
    frames: list[np.ndarray] = []
    start = done = 0

    def flush() -> PoseBatch:
        nonlocal done
        results = estimator.predict(frames)
        if len(results) != len(frames):
            raise ValueError(f"the estimator returned {len(results)} results for {len(frames)} frames")
        batch = PoseBatch(start, stack_results(results), done + len(frames), total)
        done += len(frames)
        frames.clear()
        return batch

    for index, frame in video_reader.iter_frames():
        if not frames:
            if cancel is not None and cancel():
                raise InferenceCancelled(done)
            start = index
        frames.append(frame)
        if len(frames) >= batch_size:
            yield flush()
    if frames:
        if cancel is not None and cancel():
            raise InferenceCancelled(done)
        yield flush()


def run(estimator: PoseEstimator, video_reader, batch_size: int | None = None,
        progress: Callable[[int, int], None] | None = None, cancel: Callable[[], bool] | None = None,
        on_batch: Callable[[PoseBatch], None] | None = None) -> PoseSequence:
    """Every frame of a video -> PoseSequence (frames the video did not deliver stay NaN).

    ``progress(done, total)`` and ``on_batch(batch)`` are called after each batch.
    """
    seq = PoseSequence.empty(len(video_reader), video_reader.fps, source="model",
                             model=estimator.identity.as_model_dict())
    for batch in iter_batches(estimator, video_reader, batch_size, cancel):
        stop = min(batch.stop, len(seq))
        for k in OPTIONAL_FIELDS:
            if k in batch.columns and getattr(seq, k) is None:
                setattr(seq, k, np.full((len(seq),) + _SHAPES[k], np.nan))
        for k, v in batch.columns.items():
            getattr(seq, k)[batch.start:stop] = v[: stop - batch.start]
        if on_batch is not None:
            on_batch(batch)
        if progress is not None:
            progress(batch.done, batch.total)
    return seq
