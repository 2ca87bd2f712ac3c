"""Which way the athlete faces the camera, and 2D left/right labels that contradict it
(kneeview.analysis.facing): trials filmed from in front and from behind, with the truth's 2D
and 3D and with the network's mistake from behind (labelled as if the person faced the camera)."""
from __future__ import annotations

import numpy as np
import pytest
from analysis_fixtures import placed_trial

from kneeview.analysis.facing import (PAIRS, behind_cos_3d, behind_score, for_this_camera, image_right,
                                      network_keypoints_from_behind, pairs_to_swap, relabel_left_right)
from kneeview.analysis.lifting import normalised_keypoints, up_in_camera
from kneeview.sequence import PoseSequence


def truth_sequence(joints_lab_mm, cam, fps) -> PoseSequence:
    """The truth as an estimate: raw-pixel 2D, mid-hip-relative camera-frame 3D (metres)."""
    kp = cam.project(joints_lab_mm)
    rel = cam.world_to_camera(joints_lab_mm)
    rel = (rel - rel[:, :2].mean(1, keepdims=True)) / 1000.0
    T = len(kp)
    return PoseSequence(frame_index=np.arange(T), time_s=np.arange(T) / fps, score=np.ones(T), keypoints_px=kp,
                        joints_cam_m=rel, confidence=np.tile(np.linspace(0.5, 1.0, 6), (T, 1)))


def swap_pairs(seq, frames, pairs=(0, 1, 2)) -> PoseSequence:
    """``seq`` with the 2D (and confidence) of the given pairs swapped in ``frames``: the network's mistake."""
    kp, conf = seq.keypoints_px.copy(), seq.confidence.copy()
    for i in pairs:
        r, l = PAIRS[i]
        kp[frames, r], kp[frames, l] = seq.keypoints_px[frames, l], seq.keypoints_px[frames, r]
        conf[frames, r], conf[frames, l] = seq.confidence[frames, l], seq.confidence[frames, r]
    return PoseSequence(seq.frame_index, seq.time_s, seq.score, kp, seq.joints_cam_m, conf)


@pytest.mark.parametrize("task", ["DJ", "SLS"])
def test_the_truth_tells_front_from_behind_in_2d_and_3d(task):
    for placement, behind in (("frontal", False), ("oblique", False), ("rear", True)):
        joints, cam, fps = placed_trial(placement, task)
        seq = truth_sequence(joints, cam, fps)
        norm = normalised_keypoints(seq.keypoints_px, None, cam)
        up = up_in_camera(cam)
        cos3 = behind_cos_3d(seq.joints_cam_m, norm, up)
        score = behind_score(norm, up)
        assert np.all(cos3 > 0.3) if behind else np.all(cos3 < -0.3), (placement, task)
        assert np.all(score > 0) if behind else np.all(score < 0), (placement, task)
        assert relabel_left_right(seq, cam, fps) is seq  # right labels are left alone


@pytest.mark.parametrize("task", ["DJ", "SLS"])
def test_labels_read_as_if_facing_the_camera_are_put_right_from_behind(task):
    joints, cam, fps = placed_trial("rear", task)
    truth = truth_sequence(joints, cam, fps)
    T = len(truth.keypoints_px)
    # all pairs swapped in every frame (the network's usual mistake from behind): each pair comes
    # back wherever the truth's own left joint lies on the image's left; a squat's lifted foot that
    # crosses behind the stance foot in the image (the truth's ankles crossed) cannot be told apart
    norm = normalised_keypoints(truth.keypoints_px, None, cam)
    right = image_right(norm, up_in_camera(cam))
    crossed = np.stack([np.sum((norm[:, l] - norm[:, r]) * right, -1) > 0 for r, l in PAIRS], 1)
    assert not crossed[:, :2].any() and (crossed[:, 2].any() == (task == "SLS"))
    fixed = relabel_left_right(swap_pairs(truth, np.arange(T)), cam, fps)
    for i, (r, l) in enumerate(PAIRS):
        ok = ~crossed[:, i]
        np.testing.assert_array_equal(fixed.keypoints_px[ok][:, [r, l]], truth.keypoints_px[ok][:, [r, l]])
        np.testing.assert_array_equal(fixed.confidence[ok][:, [r, l]], truth.confidence[ok][:, [r, l]])
    np.testing.assert_array_equal(fixed.joints_cam_m, truth.joints_cam_m)  # the 3D defines the facing: kept
    assert fixed.model["left_right_relabelled"] == (~crossed).sum()
    # hips and knees swapped in some frames only, ankles right: exactly those are put back
    part = swap_pairs(swap_pairs(truth, np.arange(10, 40), (0,)), np.arange(20, 30), (1,))
    fixed = relabel_left_right(part, cam, fps)
    np.testing.assert_array_equal(fixed.keypoints_px, truth.keypoints_px)
    assert fixed.model["left_right_relabelled"] == 30 + 10


def test_front_views_keep_the_network_labels_and_a_side_on_3d_decides_nothing():
    """From the front the network's labels were right on every frontal and oblique trial measured,
    so they are kept even where they contradict the 3D; and a 3D that is not confidently turned
    away (side-on) swaps nothing."""
    joints, cam, fps = placed_trial("frontal")
    truth = truth_sequence(joints, cam, fps)
    T = len(truth.keypoints_px)
    swapped = swap_pairs(truth, np.arange(T))
    assert relabel_left_right(swapped, cam, fps) is swapped
    joints, cam, fps = placed_trial("rear")
    truth = truth_sequence(joints, cam, fps)
    x, y, z = np.moveaxis(truth.joints_cam_m, -1, 0)
    side = np.stack([z, y, -x], -1)  # turned 90 degrees about the camera's vertical: side-on
    mistaken = swap_pairs(truth, np.arange(T))
    mistaken = PoseSequence(mistaken.frame_index, mistaken.time_s, mistaken.score, mistaken.keypoints_px, side,
                            mistaken.confidence)
    assert not pairs_to_swap(normalised_keypoints(mistaken.keypoints_px, None, cam), side, up_in_camera(cam), fps).any()


def test_a_leg_crossing_the_other_in_the_image_is_not_taken_for_a_swap():
    """Seen from behind with the hips labelled right, a knee and an ankle on the other leg's side
    of the image (a lifted leg crossing behind the stance leg) keep their labels."""
    joints, cam, fps = placed_trial("rear", "SLS")
    truth = truth_sequence(joints, cam, fps)
    kp = truth.keypoints_px.copy()
    r, l = PAIRS[2]
    kp[:, l] = kp[:, r] + (kp[:, r] - kp[:, l])  # the left ankle drawn across to the right's far side
    crossed = PoseSequence(truth.frame_index, truth.time_s, truth.score, kp, truth.joints_cam_m, truth.confidence)
    assert relabel_left_right(crossed, cam, fps) is crossed


def test_from_behind_the_networks_own_keypoints_replace_the_refined_ones():
    """The refiners were trained from the front: from behind (the 3D turned away, by its running
    median) the network's own keypoints are used, from the front the refined ones; one stray frame
    whose 3D alone turns away changes nothing; and for_this_camera then puts left/right right."""
    for placement, behind in (("rear", True), ("frontal", False), ("oblique", False)):
        joints, cam, fps = placed_trial(placement)
        truth = truth_sequence(joints, cam, fps)
        T = len(truth.keypoints_px)
        refined = truth.keypoints_px + 7.0  # what a refiner out of its depth does
        seq = PoseSequence(truth.frame_index, truth.time_s, truth.score, refined, truth.joints_cam_m, truth.confidence,
                           network_keypoints_px=truth.keypoints_px)
        got = network_keypoints_from_behind(seq, cam, fps)
        np.testing.assert_array_equal(got.keypoints_px, truth.keypoints_px if behind else refined)
        assert (got.model.get("network_keypoints_frames") == T) if behind else (got is seq)
    # a frontal trial with three frames whose 3D turns away: a stray reading, not a view from behind
    joints, cam, fps = placed_trial("frontal")
    truth = truth_sequence(joints, cam, fps)
    j3 = truth.joints_cam_m.copy()
    j3[50:53] = j3[50:53][:, [1, 0, 3, 2, 5, 4]]  # the 3D's left and right swapped: turned away
    assert (behind_cos_3d(j3, normalised_keypoints(truth.keypoints_px, None, cam), up_in_camera(cam))[50:53] > 0.5).all()
    seq = PoseSequence(truth.frame_index, truth.time_s, truth.score, truth.keypoints_px + 7.0, j3, truth.confidence,
                       network_keypoints_px=truth.keypoints_px)
    assert network_keypoints_from_behind(seq, cam, fps) is seq
    # from behind, the network's own keypoints labelled as if facing the camera: both mended
    joints, cam, fps = placed_trial("rear")
    truth = truth_sequence(joints, cam, fps)
    T = len(truth.keypoints_px)
    mistaken = swap_pairs(truth, np.arange(T)).keypoints_px
    seq = PoseSequence(truth.frame_index, truth.time_s, truth.score, truth.keypoints_px + 7.0, truth.joints_cam_m,
                       truth.confidence, network_keypoints_px=mistaken)
    np.testing.assert_array_equal(for_this_camera(seq, cam, fps).keypoints_px, truth.keypoints_px)
