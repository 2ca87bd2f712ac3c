"""2D-only real video in training: people labels written by tools/blazepose_detect.py --people,
read back by the trainer (joints, unsure joints dropped, incomplete frames dropped, boxes, held-out
views), turned into multi-person targets without 3D, and trained on by `kneeview-train fit --real-2d`.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from sessions import load_tool, noise_frames, write_video

from kneeview import joints as J
from kneeview.errors import KneeViewInputError
from trainer.cli import main
from trainer.dataset import PoseDataset
from trainer.people_labels import people_samples, people_split
from trainer.samples import BOX_MARGIN

W, H, T = 160, 120, 5
#: BlazePose landmark index of each KneeView joint (RFEP LFEP RFEO LFEO RTIO LTIO), written out by hand
BLAZEPOSE_OF_JOINT = [24, 23, 26, 25, 28, 27]


@pytest.fixture(scope="module")
def tool():
    return load_tool("blazepose_detect")


def person(x0, y0, t):
    """33 landmarks of a standing figure at (x0, y0): landmark k at x0 + (k % 5) * 4 + t, y0 + k * 2."""
    k = np.arange(33)
    return np.stack([x0 + (k % 5) * 4.0 + t, y0 + k * 2.0], axis=-1)


@pytest.fixture(scope="module")
def labels(tmp_path_factory, tool):
    """Two views of five frames; person A everywhere, person B in every frame but frame 2, person C in
    frame 4 of cam02; A's right knee unsure (visibility 0.2) in every frame; in cam01 A found a second
    time (frame 3) and a person of unsure joints (frame 0). The labels file sits in another folder
    than the videos."""
    root = tmp_path_factory.mktemp("people")
    (root / "videos").mkdir()
    videos = [write_video(root / "videos" / f"cam0{v + 1}.avi", noise_frames(T, (W, H), seed=v)) for v in range(2)]
    lm = np.full((2, T, 3, 33, 2), np.nan)
    vis = np.full((2, T, 3, 33), np.nan)
    for v in range(2):
        for t in range(T):
            lm[v, t, 0], vis[v, t, 0] = person(10 + 3 * v, 20, t), 0.9
            vis[v, t, 0, 26] = 0.2
            if t != 2:
                lm[v, t, 1], vis[v, t, 1] = person(100, 10 + v, t), 0.8
    lm[1, 4, 2], vis[1, 4, 2] = person(60, 30, 0), 0.7  # a third person, once
    lm[0, 3, 2], vis[0, 3, 2] = person(11, 21, 3), 0.9  # person A found twice: not a third person
    lm[0, 0, 2], vis[0, 0, 2] = person(60, 30, 0), 0.3  # unsure of every joint: not labelled
    path = tool.save_people_npz(root / "labels" / "people.npz", lm, vis, videos, [(W, H)] * 2, fps=50.0, detector="test")
    return path, lm, videos


def test_people_samples_read_the_labels_back(labels):
    path, lm, videos = labels
    entry = people_split(path, holdout_views=["cam02"])
    assert entry["views"] == ["cam01", "cam02"] and entry["train_views"] == ["cam01"] and entry["holdout_views"] == ["cam02"]
    (s,) = people_samples(entry)
    assert s.video_path == videos[0].resolve() and s.image_size == (W, H)
    assert s.frame_index.tolist() == [0, 1, 3, 4]  # frame 2 has person B unlabelled: dropped
    for i, t in enumerate(s.frame_index):
        a, b = lm[0, t, 0], lm[0, t, 1]
        expected = a[BLAZEPOSE_OF_JOINT].copy()
        expected[J.JOINTS.index("RFEO")] = np.nan  # visibility 0.2 < 0.5: no target
        np.testing.assert_array_equal(s.keypoints_px[i], expected)
        lo, hi = a.min(axis=0), a.max(axis=0)
        margin = BOX_MARGIN * (hi - lo)
        np.testing.assert_allclose(s.tight_box_px[i], [*lo, *hi])
        np.testing.assert_allclose(s.box_px[i], np.clip([*(lo - margin), *(hi + margin)], -0.5, [W - 0.5, H - 0.5] * 2))
        others_kp, others_box = s.others[i]  # B alone: the duplicate of A and the unsure person are dropped
        np.testing.assert_array_equal(others_kp, b[BLAZEPOSE_OF_JOINT][None])
        lo_b, hi_b = b.min(axis=0), b.max(axis=0)
        np.testing.assert_allclose(others_box[0, :2], lo_b - BOX_MARGIN * (hi_b - lo_b))
    assert np.isnan(s.joints_cam_m).all()
    # cam02 usually shows two people: the frame with three is kept (all three labelled), the one with one is not
    _, s2 = people_samples(people_split(path))
    assert s2.frame_index.tolist() == [0, 1, 3, 4]
    assert [len(s2.others[i][0]) for i in range(4)] == [1, 1, 1, 2]
    np.testing.assert_array_equal(s2.others[3][0][1], lm[1, 4, 2][BLAZEPOSE_OF_JOINT])


def test_dataset_targets_hold_every_person_without_3d(labels):
    path, lm, _ = labels
    (s,) = people_samples(people_split(path))[:1]
    ds = PoseDataset([s], np.zeros((6, 3)), np.ones((6, 3)), min_size=H, max_size=W)  # scale 1, no augmentation
    image, target = ds[1]  # frame 1
    assert tuple(image.shape) == (3, H, W)
    assert target["boxes"].shape == (2, 4) and target["labels"].tolist() == [1, 1]
    kp = target["keypoints"].numpy()
    np.testing.assert_allclose(kp[1, :, :2], lm[0, 1, 1][BLAZEPOSE_OF_JOINT] + 0.5, atol=1e-4)  # continuous pixels
    assert kp[0, :, 2].tolist() == [1, 1, 0, 1, 1, 1]  # the unsure knee has no 2D target
    assert kp[1, :, 2].tolist() == [1] * 6
    assert not target["joints3d_valid"].any()
    assert np.isfinite(target["joints3d"].numpy()).all()
    np.testing.assert_allclose(target["boxes"][0].numpy(), s.box_px[1] + 0.5, atol=1e-4)


def test_wrong_or_damaged_labels_are_refused(tmp_path, labels):
    path, _, _ = labels
    with pytest.raises(KneeViewInputError, match="every view is held out"):
        people_split(path, holdout_views=["cam01", "cam02"])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(KneeViewInputError, match="cannot read") as err:
        people_split(bad)
    assert str(bad) in str(err.value)
    other = tmp_path / "other.npz"
    np.savez(other, keypoints_px=np.zeros((1, 2, 6, 2)))
    with pytest.raises(KneeViewInputError, match="not a people-labels file"):
        people_split(other)
    with np.load(path) as z:
        arrays = dict(z)
    moved = tmp_path / "moved" / "people.npz"  # the videos are named relative to the labels' folder
    moved.parent.mkdir()
    np.savez(moved, **arrays)
    with pytest.raises(KneeViewInputError, match="video of view cam01 is missing"):
        people_samples(people_split(moved))
    arrays["frame_size_px"] = np.array([[W * 2, H * 2]] * 2)
    resized = path.parent / "resized.npz"
    np.savez(resized, **arrays)
    with pytest.raises(KneeViewInputError, match="labels were made on"):
        people_samples(people_split(resized))


def test_fit_trains_on_2d_only_video(tiny_data, tiny_settings, tmp_path, labels):
    path, _, _ = labels
    run = tmp_path / "run"
    args = ["fit", "--data", str(tiny_data), "--run", str(run), "--iterations", "3", "--frames-per-video", "4",
            "--workers", "0", "--checkpoint-every", "2", "--warmup-iterations", "1", "--quiet", "--no-eval",
            "--real-2d", str(path), "--real-holdout-view", "cam02", "--real-fraction", "0.5"]
    for k, v in tiny_settings.items():
        args += ["--model", f"{k}={json.dumps(v)}"]
    assert main(args) == 0
    split = json.loads((run / "split.json").read_text())
    assert split["real_2d"][0]["train_views"] == ["cam01"]
    from kneeview.pose.checkpoint import load_checkpoint

    _, card = load_checkpoint(run / "model.safetensors")
    tr = card["training"]
    assert tr["real_2d_frames"] == 4 and tr["real_2d"][0]["holdout_views"] == ["cam02"]
    assert tr["real_frames"] == 4 and tr["real_fraction"] == 0.5


def test_labels_with_nobody_found_give_no_samples(tmp_path, tool, labels):
    _, lm, videos = labels
    empty = tool.save_people_npz(tmp_path / "empty.npz", np.full_like(lm, np.nan), np.full(lm.shape[:4], np.nan), videos,
                                 [(W, H)] * 2)
    assert people_samples(people_split(empty)) == []
