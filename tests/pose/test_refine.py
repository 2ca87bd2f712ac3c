"""The native-resolution keypoint refiner (kneeview.pose.refine): window geometry, the checkpoint
that carries it, and the estimator that runs it."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kneeview.pose.refine import (CROP, RefinerNet, cut_windows, heatmap_position, pose_channels, raw_to_window,  # noqa: E402
                                  window_to_raw)


def _centroids(maps):
    """(N, S, S) non-negative maps -> (N, 2) intensity centroids (x, y) in pixels."""
    maps = np.asarray(maps, float)
    yy, xx = np.mgrid[0:maps.shape[1], 0:maps.shape[2]]
    return np.stack([(maps * xx).sum((1, 2)), (maps * yy).sum((1, 2))], -1) / maps.sum((1, 2))[:, None]


def _blob(shape, xy, sigma=2.0):
    """A bright Gaussian spot centred on raw pixel coordinates ``xy`` (integer = pixel centre)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    g = np.exp(-((xx - xy[0]) ** 2 + (yy - xy[1]) ** 2) / (2 * sigma ** 2))
    return np.repeat((255 * g).astype(np.uint8)[..., None], 3, axis=2)


@pytest.mark.parametrize("side", [40.0, 64.0, 150.0])
def test_a_spot_lands_where_the_window_geometry_says(side):
    """A spot at a known raw position, cut into a window of ``side`` pixels around an off-centre point,
    has its centroid where raw_to_window puts it (to a tenth of the spot's size); and back."""
    spot = np.array([611.3, 402.8])
    frame = _blob((720, 1280), spot, sigma=side / 20)
    centre = spot + np.array([0.17, -0.11]) * side
    win = cut_windows(frame, centre[None], side)[0, ..., 0].astype(float)
    yy, xx = np.mgrid[0:CROP, 0:CROP]
    centroid = np.array([(win * xx).sum(), (win * yy).sum()]) / win.sum()
    expected = raw_to_window(spot, centre, side)
    assert np.allclose(centroid, expected, atol=0.1 * CROP / 20 + 0.15), (centroid, expected)
    assert np.allclose(window_to_raw(expected, centre, side), spot)
    assert np.allclose(raw_to_window(centre, centre, side), (CROP - 1) / 2)  # the centre is the window's centre


def test_the_soft_argmax_reads_the_queried_joint_in_window_pixels():
    """A heatmap peaked at cell (i, j) of the queried channel reads that cell's centre in window pixels
    (cell size CROP / 32); the other channels do not count."""
    logits = torch.full((2, 6, 32, 32), -50.0)
    logits[0, 2, 10, 20] = 50.0
    logits[0, 3, 5, 5] = 50.0  # another joint's peak: ignored
    logits[1, 5, 31, 0] = 50.0
    pos = heatmap_position(logits, torch.tensor([2, 5])).numpy()
    cell = CROP / 32
    assert np.allclose(pos[0], [(20 + 0.5) * cell - 0.5, (10 + 0.5) * cell - 0.5], atol=1e-4)
    assert np.allclose(pos[1], [(0 + 0.5) * cell - 0.5, (31 + 0.5) * cell - 0.5], atol=1e-4)


def test_a_checkpoint_carries_its_refiner_and_older_ones_load_without(tmp_path):
    """attach writes one checkpoint (weights + card) whose network has the refiner, tensor for tensor;
    a checkpoint without one (every card before it) still loads, with no refiner; a card that
    claims a refiner its weights lack is refused."""
    from safetensors.torch import save_file

    from kneeview.errors import CheckpointError
    from kneeview.pose.checkpoint import load_checkpoint, save_checkpoint
    from kneeview.pose.model import build_model
    from trainer.refiner import attach

    base = build_model(pretrained_backbone=False, min_size=128, max_size=192).eval()
    plain, card = save_checkpoint(base, tmp_path / "plain.safetensors")
    model, _ = load_checkpoint(plain)
    assert model.refiner is None and model.config.refiner_width == 0
    ref = RefinerNet(8)
    for p in ref.parameters():
        torch.nn.init.normal_(p, std=0.1)
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(tmp_path / "ref.safetensors"),
              metadata={"training": '{"steps": 3}'})
    merged = attach(plain, tmp_path / "ref.safetensors", tmp_path / "merged")
    model, card = load_checkpoint(merged)
    assert model.config.refiner_width == 8 and card["refiner"]["training"] == {"steps": 3}
    for k, v in ref.state_dict().items():
        assert torch.equal(model.refiner.state_dict()[k], v), k
    for k, v in base.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    import json

    # re-exporting it (new evaluation figures in the card) keeps the refiner and its record
    from trainer.cli import main

    ev = tmp_path / "ev.json"
    ev.write_text('{"map": 0.5}')
    assert main(["export", str(merged), "--out", str(tmp_path / "ship"), "--fp16", "--evaluation", str(ev)]) == 0
    shipped, shipped_card = load_checkpoint(tmp_path / "ship" / "kneeview-pose.safetensors")
    assert shipped_card["refiner"]["training"] == {"steps": 3} and shipped_card["evaluation"] == {"map": 0.5}
    for k, v in ref.state_dict().items():
        assert torch.equal(shipped.refiner.state_dict()[k].float(), v.half().float()), k
    card_path = merged.with_suffix(".json")
    lie = json.loads(card_path.read_text())
    lie["config"]["refiner_width"] = 0
    card_path.write_text(json.dumps(lie))
    with pytest.raises(CheckpointError, match="unexpected"):
        load_checkpoint(merged)


def test_the_estimator_moves_keypoints_by_what_the_refiner_reads(tmp_path):
    """With a refiner that always reads the window's centre, the estimator's keypoints are the network's
    (no drift from the window geometry); with one that reads a fixed offset of d window pixels, they move
    by d * side / CROP raw pixels, side = WINDOW_FRACTION x the detection box's height."""
    from kneeview.pose.estimator import Estimator
    from kneeview.pose.model import build_model
    from kneeview.pose.refine import WINDOW_FRACTION

    model = build_model(pretrained_backbone=False, min_size=128, max_size=192, refiner_width=4).eval()
    est = Estimator(model, {}, torch.device("cpu"), runtime="torch")
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    sx = sy = 0.5  # the network saw the frame at half size: its box and keypoints are in those pixels
    kp = torch.tensor([[[40.0, 30.0, 1.0], [60.0, 31.0, 1.0], [42.0, 60.0, 1.0], [58.0, 61.0, 1.0], [41.0, 90.0, 1.0],
                        [59.0, 91.0, 1.0]]])
    out = {"keypoints": kp, "boxes": torch.tensor([[30.0, 10.0, 70.0, 100.0]]), "scores": torch.tensor([0.9]),
           "joints3d": torch.zeros(1, 6, 3), "keypoints_scores": torch.ones(1, 6)}
    own = est._person(out, 0, sx, sy).keypoints_px
    assert np.allclose(own, (kp[0, :, :2].numpy() / 0.5) - 0.5)  # the network's own, in raw pixels

    def constant_reader(cell_x, cell_y):
        def forward(x, pose):
            logits = torch.full((len(x), 6, 32, 32), -50.0)
            logits[:, :, cell_y, cell_x] = 50.0
            return logits
        return forward

    model.refiner.forward = constant_reader(15, 15)  # cells 15/16 straddle the centre: read (CROP-1)/2 +- 1
    cell = CROP / 32
    read = (15 + 0.5) * cell - 0.5
    side = WINDOW_FRACTION * float(out["boxes"][0, 3] - out["boxes"][0, 1]) / sy
    moved = est._person(out, 0, sx, sy, frame).keypoints_px
    assert np.allclose(moved - own, (read - (CROP - 1) / 2) * side / CROP, atol=1e-6)
    model.refiner.forward = constant_reader(25, 3)
    moved = est._person(out, 0, sx, sy, frame).keypoints_px
    d = np.array([(25 + 0.5) * cell - 0.5, (3 + 0.5) * cell - 0.5]) - (CROP - 1) / 2
    assert np.allclose(moved - own, d * side / CROP, atol=1e-6)


def test_the_estimate_keeps_the_networks_own_keypoints_beside_the_refined_ones(tmp_path):
    """With a refiner, each frame's result and the video's PoseSequence carry the network's own
    keypoints too (kneeview.analysis.facing reads them from behind), through the cache's save and
    load; without one they are None and nothing is stored."""
    from kneeview.pose.estimator import Estimator
    from kneeview.pose.interface import stack_results
    from kneeview.pose.model import build_model
    from kneeview.sequence import PoseSequence

    model = build_model(pretrained_backbone=False, min_size=128, max_size=192, refiner_width=4).eval()
    est = Estimator(model, {}, torch.device("cpu"), runtime="torch")
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)

    def far_corner(x, pose):
        logits = torch.full((len(x), 6, 32, 32), -50.0)
        logits[:, :, 2, 29] = 50.0
        return logits

    model.refiner.forward = far_corner
    kp = torch.tensor([[[40.0, 30.0, 1.0], [60.0, 31.0, 1.0], [42.0, 60.0, 1.0], [58.0, 61.0, 1.0], [41.0, 90.0, 1.0],
                        [59.0, 91.0, 1.0]]])
    out = {"keypoints": kp, "boxes": torch.tensor([[30.0, 10.0, 70.0, 100.0]]), "scores": torch.tensor([0.9]),
           "joints3d": torch.zeros(1, 6, 3), "keypoints_scores": torch.ones(1, 6)}
    own = est._person(out, 0, 0.5, 0.5)
    refined = est._person(out, 0, 0.5, 0.5, frame)
    assert own.network_keypoints_px is None
    np.testing.assert_array_equal(refined.network_keypoints_px, own.keypoints_px)
    assert np.abs(refined.keypoints_px - own.keypoints_px).min() > 5.0
    cols = stack_results([refined, own, {"score": np.nan, "keypoints_px": np.full((6, 2), np.nan),
                                         "joints_cam_m": np.zeros((6, 3)), "confidence": np.zeros(6)}])
    np.testing.assert_array_equal(cols["network_keypoints_px"][0], own.keypoints_px)
    np.testing.assert_array_equal(cols["network_keypoints_px"][1], own.keypoints_px)  # unrefined: the same
    assert np.isnan(cols["network_keypoints_px"][2]).all()
    assert "network_keypoints_px" not in stack_results([own])
    seq = PoseSequence(np.arange(3), np.arange(3) / 50.0, cols["score"], cols["keypoints_px"], cols["joints_cam_m"],
                       cols["confidence"], network_keypoints_px=cols["network_keypoints_px"])
    back = PoseSequence.load(seq.save(tmp_path / "s.npz"))
    np.testing.assert_array_equal(back.network_keypoints_px, seq.network_keypoints_px)
    plain = PoseSequence(np.arange(3), np.arange(3) / 50.0, cols["score"], cols["keypoints_px"], cols["joints_cam_m"],
                         cols["confidence"])
    assert PoseSequence.load(plain.save(tmp_path / "p.npz")).network_keypoints_px is None
    with pytest.raises(ValueError, match="network_keypoints_px"):
        PoseSequence(np.arange(3), np.arange(3) / 50.0, cols["score"], cols["keypoints_px"], cols["joints_cam_m"],
                     cols["confidence"], network_keypoints_px=np.zeros((2, 6, 2)))


def test_the_refiner_sees_the_whole_pose_where_the_window_puts_it(tmp_path):
    """Joint j's window gets one pose channel per joint, each a Gaussian centred where raw_to_window puts
    that joint's network keypoint in j's window (j's own at the centre); a NaN joint's channel is empty."""
    from kneeview.pose.estimator import Estimator
    from kneeview.pose.model import build_model
    from kneeview.pose.refine import WINDOW_FRACTION

    model = build_model(pretrained_backbone=False, min_size=128, max_size=192, refiner_width=4).eval()
    est = Estimator(model, {}, torch.device("cpu"), runtime="torch")
    frame = np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    kp = torch.tensor([[[40.0, 30.0, 1.0], [60.0, 31.0, 1.0], [42.0, 60.0, 1.0], [51.0, 63.0, 1.0], [41.0, 90.0, 1.0],
                        [59.0, 91.0, 1.0]]])
    out = {"keypoints": kp, "boxes": torch.tensor([[30.0, 10.0, 70.0, 100.0]]), "scores": torch.tensor([0.9]),
           "joints3d": torch.zeros(1, 6, 3), "keypoints_scores": torch.ones(1, 6)}
    seen = {}

    def spy(x, pose):
        seen["pose"] = pose.numpy()
        return torch.zeros(len(x), 6, 32, 32)

    model.refiner.forward = spy
    own = est._person(out, 0, 0.5, 0.5).keypoints_px
    est._person(out, 0, 0.5, 0.5, frame)
    side = WINDOW_FRACTION * 90.0 / 0.5
    pose = seen["pose"]
    assert pose.shape == (6, 6, CROP, CROP)
    for j in range(6):
        expected = raw_to_window(own, own[j], side)
        inside = ((expected > 6) & (expected < CROP - 7)).all(-1)
        assert inside[j] and np.allclose(expected[j], (CROP - 1) / 2)
        assert np.allclose(_centroids(pose[j][inside]), expected[inside], atol=0.02)
        assert np.allclose(pose[j][inside].max((1, 2)), 1.0, atol=0.15)
    empty = pose_channels(np.array([[[np.nan, np.nan], [10.0, 20.0]]]))
    assert empty[0, 0].abs().max() == 0 and np.allclose(_centroids(empty[0, 1:].numpy()), [[10.0, 20.0]], atol=1e-3)


@pytest.mark.parametrize("jitter", [False, True])
def test_training_windows_show_the_joint_where_their_target_says(jitter):
    """fit's windows, cut (moved, scaled) from prepare's wide ones: a spot at the wide window's target lands
    where the returned target says; the queried joint's pose channel is the window's centre, another
    joint's follows its keypoint; without jitter the window is the wide one's exact centre."""
    from trainer.refiner import WIDE, sample_windows

    rng = np.random.default_rng(3)
    n, size = 24, WIDE * CROP
    target = rng.uniform(48, 80, (n, 2))
    wide = np.stack([_blob((size, size), t, sigma=3.0) for t in target])
    pose = np.repeat(target[:, None], 6, 1)
    joint = rng.integers(0, 6, n)
    img, channels, t = sample_windows(wide, target, pose, joint, rng, jitter=jitter)
    assert img.shape == (n, 3, CROP, CROP) and channels.shape == (n, 6, CROP, CROP)
    inside = ((t > 12) & (t < CROP - 13)).all(-1)
    assert inside.sum() >= n // 2
    assert np.allclose(_centroids(img[:, 0].numpy())[inside], t[inside], atol=0.05)
    assert np.allclose(_centroids(channels[np.arange(n), joint].numpy()), (CROP - 1) / 2, atol=1e-3)
    other = (joint + 1) % 6
    spread = 0.02 * CROP * 4 if jitter else 1e-3
    assert np.allclose(_centroids(channels[np.arange(n), other].numpy())[inside], t[inside], atol=spread)
    if not jitter:
        assert np.allclose(t, target - (size - CROP) / 2)


def test_prepare_keeps_the_network_keypoints_windows_and_the_truth_in_them():
    """trainer.refiner prepare's windows: from the estimator's best detection read WITHOUT the refiner,
    a window of WIDE x the refiner's scale (the box height) around each keypoint, the truth placed in
    window pixels by the window geometry; a frame with nobody adds nothing."""
    from kneeview.pose.estimator import FramePose
    from kneeview.pose.refine import WINDOW_FRACTION
    from trainer.refiner import WIDE, _Windows

    kp = np.array([[600.0, 300.0], [660.0, 302.0], [598.0, 420.0], [664.0, 418.0], [596.0, 540.0], [666.0, 538.0]])
    truth = kp + np.array([3.0, -2.0])
    calls = []

    class Fake:
        def __init__(self, found):
            self.found = found

        def predict_best(self, frame, refine=True):
            calls.append(refine)
            if not self.found:
                return FramePose.nobody(), float("nan")
            return FramePose(0.9, kp.copy(), np.zeros((6, 3)), np.ones(6)), 400.0

    frame = np.zeros((720, 1280, 3), np.uint8)
    w = _Windows(Fake(False))
    w.add(frame, truth, "t0")
    assert w.windows == [] and calls == [False]
    w = _Windows(Fake(True))
    w.add(frame, truth, "t1")
    side = WIDE * WINDOW_FRACTION * 400.0
    assert w.windows[0].shape == (6, WIDE * CROP, WIDE * CROP, 3)
    np.testing.assert_allclose(w.targets[0], raw_to_window(truth, kp, side, WIDE * CROP), atol=1e-5)
    np.testing.assert_allclose(window_to_raw(w.targets[0], kp, side, WIDE * CROP), truth, atol=1e-3)
    assert w.trial == ["t1"] * 6 and calls == [False, False]
    # --nearest-pair: the network labelled the hips and ankles the other way round (a view from behind);
    # each window's target is the joint it points at, not the one across the body
    swapped = truth[[1, 0, 2, 3, 5, 4]]
    w = _Windows(Fake(True), nearest_pair=True)
    w.add(frame, swapped, "t2")
    np.testing.assert_allclose(w.targets[0], raw_to_window(truth, kp, side, WIDE * CROP), atol=1e-5)
    w = _Windows(Fake(True))
    w.add(frame, swapped, "t3")
    np.testing.assert_allclose(w.targets[0], raw_to_window(swapped, kp, side, WIDE * CROP), atol=1e-5)


def _random_refiner(seed, width=4):
    torch.manual_seed(seed)
    net = RefinerNet(width)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.6)  # peaked heatmaps: readings far from the window's centre
    return net.eval()


def _smooth_frame(seed, shape=(240, 320)):
    """A frame of smooth random structure (so bilinear resampling of its mirror image agrees with the
    mirror of its resampling to rounding)."""
    import cv2

    noise = np.random.default_rng(seed).integers(0, 255, (shape[0] // 8, shape[1] // 8, 3), dtype=np.uint8)
    return cv2.resize(noise, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)


_KP = np.array([[140.0, 60.0], [181.0, 62.0], [143.0, 121.0], [170.0, 126.0], [139.0, 181.0], [183.0, 179.0]])


def test_the_flipped_reading_is_the_mirror_of_the_mirrored_scene():
    """refine_keypoints(flip=True) averages each window's reading with the mirrored-back reading of its
    mirror image (left and right swapped), so on the mirrored frame with mirrored, swapped keypoints it
    answers the mirror of its answer on the original frame; one reading alone (flip=False, any real
    network) does not."""
    from kneeview.pose.refine import MIRROR, refine_keypoints

    net = _random_refiner(0)
    frame = _smooth_frame(0)
    W = frame.shape[1]
    mirror_frame = np.ascontiguousarray(frame[:, ::-1])

    def mirror_points(kp):
        m = np.array(kp, float)[MIRROR]
        m[:, 0] = W - 1 - m[:, 0]
        return m

    for flip, equivariant in ((True, True), (False, False)):
        here = refine_keypoints(net, frame, _KP, 200.0, flip=flip)
        there = refine_keypoints(net, mirror_frame, mirror_points(_KP), 200.0, flip=flip)
        gap = np.abs(mirror_points(there) - here).max()
        assert (gap < 0.02) == equivariant, (flip, gap)
    moved = np.abs(refine_keypoints(net, frame, _KP, 200.0, flip=True) - _KP).max()
    assert moved > 0.5  # the random net reads something other than the centre: the check above has teeth


def test_an_ensemble_reads_the_mean_of_its_refiners():
    """Several refiners (an nn.ModuleList, as a checkpoint with refiner_members > 1 builds them): the keypoints
    are the mean of what each refiner alone gives, with and without the mirrored reading; NaN stays NaN."""
    from kneeview.pose.refine import refine_keypoints

    a, b = _random_refiner(1), _random_refiner(2)
    frame = _smooth_frame(1)
    kp = _KP.copy()
    kp[3] = np.nan
    for flip in (False, True):
        both = refine_keypoints(torch.nn.ModuleList([a, b]), frame, kp, 200.0, flip=flip)
        one, two = (refine_keypoints(n, frame, kp, 200.0, flip=flip) for n in (a, b))
        assert np.isnan(both[3]).all()
        np.testing.assert_allclose(both, 0.5 * (one + two), atol=1e-4)
        assert np.nanmax(np.abs(one - two)) > 0.5


def test_attach_writes_an_ensemble_with_its_mirrored_reading(tmp_path):
    """attach with two refiners and --flip: the checkpoint's config says refiner_members 2 and refiner_flip,
    each member's tensors are the file's, the card records both (sha256, training), the estimator reads
    with the mirror; refiners of different widths are refused."""
    import hashlib
    import json

    from safetensors.torch import save_file

    from kneeview.errors import CheckpointError
    from kneeview.pose.checkpoint import load_checkpoint, save_checkpoint
    from kneeview.pose.estimator import Estimator
    from kneeview.pose.model import build_model
    from kneeview.pose.refine import refiner_members
    from trainer.refiner import attach, main

    plain, _ = save_checkpoint(build_model(pretrained_backbone=False, min_size=128, max_size=192).eval(),
                               tmp_path / "plain.safetensors")
    nets, files = [_random_refiner(3), _random_refiner(4)], []
    for i, net in enumerate(nets):
        files.append(tmp_path / f"r{i}.safetensors")
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(files[-1]),
                  metadata={"training": f'{{"seed": {i}}}'})
    assert main(["attach", str(plain), str(files[0]), str(files[1]), str(tmp_path / "ens"), "--flip"]) == 0
    model, card = load_checkpoint(tmp_path / "ens.safetensors")
    assert model.config.refiner_members == 2 and model.config.refiner_flip is True
    members = refiner_members(model.refiner)
    assert len(members) == 2
    for net, own in zip(members, nets):
        for k, v in own.state_dict().items():
            assert torch.equal(net.state_dict()[k], v), k
    rec = card["refiner"]
    assert rec["flip"] is True and [m["training"] for m in rec["members"]] == [{"seed": 0}, {"seed": 1}]
    assert [m["sha256"] for m in rec["members"]] == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    est = Estimator(model, card, torch.device("cpu"), runtime="torch")
    seen = []
    for net in members:
        real = net.forward
        net.forward = lambda x, pose, _f=real: (seen.append(len(x)), _f(x, pose))[1]
    out = {"keypoints": torch.tensor([[[*p / 2 + 0.25, 1.0] for p in _KP]], dtype=torch.float32),
           "boxes": torch.tensor([[60.0, 20.0, 100.0, 110.0]]), "scores": torch.tensor([0.9]),
           "joints3d": torch.zeros(1, 6, 3), "keypoints_scores": torch.ones(1, 6)}
    est._person(out, 0, 0.5, 0.5, _smooth_frame(2))
    assert seen == [12, 12]  # each member read the six windows and their six mirror images
    card_path = tmp_path / "ens.json"
    good = card_path.read_text()
    for key, bad in (("refiner_members", 0), ("refiner_members", 1), ("refiner_members", "2"), ("refiner_flip", "false")):
        lie = json.loads(good)
        lie["config"][key] = bad
        card_path.write_text(json.dumps(lie))
        with pytest.raises(CheckpointError, match="refiner|unexpected|missing"):
            load_checkpoint(tmp_path / "ens.safetensors")
    card_path.write_text(good)
    wide = RefinerNet(6)
    save_file({k: v.contiguous() for k, v in wide.state_dict().items()}, str(tmp_path / "wide.safetensors"))
    with pytest.raises(ValueError, match="width"):
        attach(plain, [files[0], tmp_path / "wide.safetensors"], tmp_path / "bad")
    assert not (tmp_path / "bad.safetensors").exists()
