"""A view's pose estimate: from the cache beside the recording, or by running an estimator.

:class:`EstimateRun` (made by :meth:`kneeview.session.Session.estimate_run`) is the one path
from a video to a :class:`PoseSequence`, for the app's worker thread and for every CLI
command. The cache is looked up by the model card's sha256 first, so reopening a recording loads no model at all; otherwise the estimator is
built (``factory(checkpoint, device)``, by default :func:`kneeview.pose.load_estimator`),
run batch by batch (``on_batch`` sees each batch as it arrives) and the result is cached.
A cancelled run raises :class:`~kneeview.pose.interface.InferenceCancelled` and caches
nothing. ``postprocess(PoseSequence) -> PoseSequence`` (the session passes
:func:`kneeview.analysis.facing.for_this_camera` with the view's camera) is applied to
the estimate, cached or computed, before it is returned; the cache keeps the network's own output.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import KneeViewInputError
from ..pose.card import ModelIdentity, card_identity
from ..sequence import PoseSequence
from . import cache

log = logging.getLogger(__name__)


def load_estimator(checkpoint=None, device: str = "auto"):
    """The network (bundled, or the checkpoint named) on a device; torch is imported here."""
    from ..pose import load_estimator as _load

    return _load(checkpoint, device=device)


@dataclass
class Estimate:
    pose: PoseSequence
    identity: ModelIdentity
    where: str  # "cache:<path>", "computed:<path>" or "computed (not cached: ...)"

    @property
    def from_cache(self) -> bool:
        return self.where.startswith("cache:")


@dataclass
class Progress:
    done: int
    total: int
    frames_per_s: float
    eta_s: float


class EstimateRun:
    """One estimate of one video, with the callbacks a caller wants (all optional):
    ``status(text)``, ``model(identity)``, ``batch(PoseBatch)``, ``progress(Progress)``;
    ``cancel()`` returns True to stop."""

    def __init__(self, video_path, estimator=None, factory: Callable | None = None, checkpoint=None,
                 device: str = "auto", use_cache: bool = True, batch_size: int | None = None,
                 postprocess: Callable[[PoseSequence], PoseSequence] | None = None):
        self.video_path = Path(video_path)
        self.postprocess = postprocess
        self.estimator = estimator
        self.factory = factory or load_estimator
        self.checkpoint = checkpoint
        self.device = device
        self.use_cache = use_cache
        self.batch_size = batch_size

    def cached(self, identity: ModelIdentity | None, video_hash: str | None = None) -> Estimate | None:
        """The cached estimate of ``identity``'s model, or None (also without an identity)."""
        if not self.use_cache or identity is None:
            return None
        hit = cache.load_cached(self.video_path, video_hash or cache.file_sha256(self.video_path), identity.sha256)
        return Estimate(hit[0], identity, f"cache:{hit[1]}") if hit is not None else None

    def run(self, status=None, model=None, batch=None, progress=None, cancel=None) -> Estimate:
        est = self._run(status, model, batch, progress, cancel)
        if self.postprocess is not None:
            est = Estimate(self.postprocess(est.pose), est.identity, est.where)
        return est

    def _run(self, status, model, batch, progress, cancel) -> Estimate:
        from ..io.video import VideoReader
        from ..pose.interface import run as run_estimator

        def say(text):
            if status is not None:
                status(text)

        say("checking the cache…")
        video_hash = cache.file_sha256(self.video_path) if self.use_cache else None
        if self.estimator is not None:
            named = self.estimator.identity
        else:
            try:  # the model the card names: its estimate is found without loading it
                named = card_identity(self.checkpoint)
            except KneeViewInputError:
                named = None  # a bad checkpoint is reported when it is loaded
        hit = self.cached(named, video_hash)
        if hit is None and self.estimator is None:
            say("loading the model…")
            self.estimator = self.factory(self.checkpoint, self.device)
            if named is None or self.estimator.identity.sha256 != named.sha256:
                hit = self.cached(self.estimator.identity, video_hash)  # a model its card did not name (a stand-in)
        if hit is not None:
            if model is not None:
                model(hit.identity)
            return hit
        identity = self.estimator.identity
        if model is not None:
            model(identity)
        reader = VideoReader(self.video_path, cache_mb=16)
        try:
            total = len(reader)
            say(f"estimating {total} frames on {identity.device or 'cpu'}…")
            t0 = time.perf_counter()
            delivered = [0]

            def report(done, total):
                delivered[0] = done
                if progress is not None:
                    rate = done / max(time.perf_counter() - t0, 1e-9)
                    progress(Progress(done, total, rate, (total - done) / rate if rate > 0 else float("nan")))

            seq = run_estimator(self.estimator, reader, self.batch_size, report, cancel, batch)
        finally:
            reader.close()
        if delivered[0] < total:
            raise KneeViewInputError(self.video_path, f"the video ended after {delivered[0]} of {total} frames")
        where = "computed (not cached)"
        if self.use_cache:
            saved = cache.save_cached(seq, self.video_path, video_hash, identity.sha256)
            where = f"computed:{saved}" if saved else "computed (not cached: no writable folder)"
        return Estimate(seq, identity, where)

