"""The training dataset: sampled frames, resized as at inference and augmented, with the network's targets."""
from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from kneeview import joints as J
from kneeview.errors import KneeViewInputError

from .augment import Augment, augment_frame
from .samples import ViewSamples


class PoseDataset:
    """torch-style dataset: ``ds[i] -> (image tensor (3, H, W) RGB [0, 1], target dict)``.

    Frames are first resized exactly as at inference (short side to ``min_size``, area
    interpolation; the resized frames of real recordings, few and slow to seek in their
    long-GOP videos, are kept in memory), then augmented (:func:`trainer.augment.augment_frame`).
    Targets are in the network's continuous pixel coordinates (``raw_px + 0.5``, see
    :mod:`kneeview.pose.estimator`).
    """

    def __init__(self, samples: list[ViewSamples], mean3d, std3d, min_size: int = 320, max_size: int = 576,
                 augment: Augment | None = None, seed: int = 0, reader_cache: int = 4):
        self.views = [s for s in samples if len(s)]
        self.offsets = np.cumsum([0] + [len(s) for s in self.views])
        self.mean3d = np.asarray(mean3d, dtype=np.float32)
        self.std3d = np.asarray(std3d, dtype=np.float32)
        self.min_size, self.max_size = min_size, max_size
        self.augment = augment or Augment(enabled=False)
        self._readers: OrderedDict = OrderedDict()
        self._reader_cache = reader_cache
        self._rng = np.random.default_rng(seed)
        self._resized: dict = {}

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, i: int) -> tuple[ViewSamples, int]:
        v = int(np.searchsorted(self.offsets, i, side="right") - 1)
        return self.views[v], i - int(self.offsets[v])

    def _reader(self, path: Path):
        from kneeview.io.video import VideoReader

        r = self._readers.get(path)
        if r is None:
            r = VideoReader(path, cache_mb=8)
            self._readers[path] = r
            while len(self._readers) > self._reader_cache:
                self._readers.popitem(last=False)[1].close()
        else:
            self._readers.move_to_end(path)
        return r

    def __getstate__(self):  # readers are not shared with worker processes
        d = dict(self.__dict__)
        d["_readers"] = OrderedDict()
        return d

    def _input_size(self, view: ViewSamples) -> tuple[int, int]:
        from kneeview.pose.estimator import input_scale

        W, H = view.image_size
        s0 = input_scale(H, W, self.min_size, self.max_size)
        return max(1, round(W * s0)), max(1, round(H * s0))

    def preload_real(self) -> int:
        """Decode the sampled frames of the real recordings once, in order, and keep them resized.

        Call it before the data-loading workers start (they inherit the frames). Returns the count.
        OpenCV runs single-threaded from here on in this process: a worker forked while its
        thread pool is busy inherits a held lock and hangs in ``cv2.setNumThreads``."""
        from kneeview.io.video import VideoReader

        cv2.setNumThreads(1)
        n = 0
        for view in self.views:
            if not view.meta.get("real"):
                continue
            wanted = {int(f): j for j, f in enumerate(view.frame_index)}
            size = self._input_size(view)
            with VideoReader(view.video_path, cache_mb=0) as reader:
                for f, frame in reader.iter_frames(0, max(wanted) + 1):
                    if f in wanted:
                        self._resized[(id(view), wanted[f])] = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
                        n += 1
        return n

    def frame(self, view: ViewSamples, j: int) -> np.ndarray:
        return np.asarray(self._reader(view.video_path)[int(view.frame_index[j])])

    def __getitem__(self, i: int):
        import torch

        from kneeview.pose.estimator import to_network_xy

        view, j = self.locate(int(i))
        W, H = view.image_size
        out_w, out_h = self._input_size(view)
        key = (id(view), j)
        img = self._resized.get(key)
        if img is None:
            frame = self.frame(view, j)
            if frame.shape[:2] != (H, W):
                raise KneeViewInputError(view.video_path, f"frame {int(view.frame_index[j])} is {frame.shape[1]}x{frame.shape[0]}, "
                                         f"its camera {W}x{H}")
            img = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_AREA)
            if view.meta.get("real"):
                self._resized[key] = img
        sx, sy = out_w / W, out_h / H
        kp = [to_network_xy(view.keypoints_px[j]) * [sx, sy]]
        box = [to_network_xy(view.box_px[j].reshape(2, 2)) * [sx, sy]]
        j3 = [view.joints_cam_m[j]]
        if view.others is not None:
            okp, obox = view.others[j]
            kp += list(to_network_xy(okp) * [sx, sy])
            box += list(to_network_xy(np.asarray(obox).reshape(-1, 2, 2)) * [sx, sy])
            j3 += [np.full((J.N_JOINTS, 3), np.nan)] * len(okp)
        kp, box, j3 = np.stack(kp), np.stack(box), np.stack(j3).astype(np.float32)
        if self.augment.enabled:
            img, kp, box, j3 = augment_frame(img, kp, box, j3, self.augment, self._rng)
        box = box.reshape(-1, 4)
        box[:, [0, 2]] = box[:, [0, 2]].clip(0, out_w)
        box[:, [1, 3]] = box[:, [1, 3]].clip(0, out_h)
        known = np.isfinite(kp).all(axis=-1)
        kp = np.where(known[..., None], kp, 0.0)
        vis = known & (kp[..., 0] >= 0) & (kp[..., 0] <= out_w) & (kp[..., 1] >= 0) & (kp[..., 1] <= out_h)
        known3d = np.isfinite(j3).all(axis=-1)
        j3 = np.where(known3d[..., None], (j3 - self.mean3d) / self.std3d, 0.0)
        rgb = np.ascontiguousarray(img[:, :, ::-1])
        image = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)
        keep = (box[:, 2] - box[:, 0] > 2) & (box[:, 3] - box[:, 1] > 2)  # people cropped out of the frame are dropped
        target = {
            "boxes": torch.tensor(box[keep], dtype=torch.float32),
            "labels": torch.ones(int(keep.sum()), dtype=torch.int64),
            "keypoints": torch.tensor(np.concatenate([kp, vis[..., None]], axis=-1)[keep], dtype=torch.float32),
            "joints3d": torch.tensor(j3[keep], dtype=torch.float32),
            "joints3d_valid": torch.tensor(known3d[keep], dtype=torch.bool),
        }
        return image, target


def collate(batch):
    images, targets = zip(*batch)
    return list(images), list(targets)
