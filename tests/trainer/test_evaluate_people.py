"""`kneeview-train evaluate-people`: the model's joints against BlazePose's people labels, in thigh lengths.

A fake estimator returns known people (one offset by a known number of pixels, one missing in a frame,
one false find far away, the order shuffled): the pairing, the found share and the errors are checked
against values worked out by hand from the figure's geometry.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from sessions import load_tool, noise_frames, write_video

from kneeview.pose.estimator import FramePose
from trainer.cli import main
from trainer.evaluate_people import evaluate_people, match_people, thigh_length

W, H, T = 320, 240, 3
BLAZEPOSE_OF_JOINT = [24, 23, 26, 25, 28, 27]  # RFEP LFEP RFEO LFEO RTIO LTIO, written out by hand


def person(x0, y0):
    """33 landmarks: landmark k at (x0 + 8 (k % 5), y0 + 4 k). Hip 24 -> (x0 + 32, y0 + 96), knee 26 ->
    (x0 + 8, y0 + 104): thigh sqrt(24^2 + 8^2); left hip 23 (x0 + 24, y0 + 92), knee 25 (x0, y0 + 100): same."""
    k = np.arange(33)
    return np.stack([x0 + (k % 5) * 8.0, y0 + k * 4.0], axis=-1)


THIGH = float(np.hypot(24.0, 8.0))
A0, B0 = (20.0, 10.0), (200.0, 20.0)


@pytest.fixture(scope="module")
def labels(tmp_path_factory):
    tool = load_tool("blazepose_detect")
    root = tmp_path_factory.mktemp("people_eval")
    video = write_video(root / "clip.avi", noise_frames(T, (W, H)))
    lm = np.full((1, T, 2, 33, 2), np.nan)
    vis = np.full((1, T, 2, 33), 0.9)
    for t in range(T):
        lm[0, t, 0], lm[0, t, 1] = person(*A0), person(*B0)
    return tool.save_people_npz(root / "people.npz", lm, vis, [video], [(W, H)], fps=50.0, detector="test")


def pose(points):
    return FramePose(score=0.9, keypoints_px=np.asarray(points, float), joints_cam_m=np.zeros((6, 3)),
                     confidence=np.ones(6))


class FakeEstimator:
    """B exactly; A shifted by (3, 4) px (5 px) except in frame 1, where A is missed; a false find in
    the corner; the list order puts the false find and B first."""

    def __init__(self):
        self.calls = 0

    def predict_people(self, frame, min_score=0.5):
        t = self.calls
        self.calls += 1
        out = [pose(np.full((6, 2), 1.0)), pose(person(*B0)[BLAZEPOSE_OF_JOINT])]
        if t != 1:
            out.append(pose(person(*A0)[BLAZEPOSE_OF_JOINT] + [3.0, 4.0]))
        return out


def test_thigh_length_of_the_figure():
    kp = person(0, 0)[BLAZEPOSE_OF_JOINT]
    assert thigh_length(kp, np.ones(6)) == pytest.approx(THIGH)
    conf = np.ones(6)
    conf[[0, 1]] = 0.1  # no hip labelled: no scale
    assert np.isnan(thigh_length(kp, conf))


def test_pairs_ignore_order_and_refuse_a_far_partner():
    a, b = person(*A0)[BLAZEPOSE_OF_JOINT], person(*B0)[BLAZEPOSE_OF_JOINT]
    mask = np.ones((2, 6), bool)
    thigh = np.array([THIGH, THIGH])
    assert match_people(np.stack([a, b]), mask, thigh, [b, a + 2.0]) == [1, 0]
    assert match_people(np.stack([a, b]), mask, thigh, [b + 5 * THIGH]) == [None, None]


def test_errors_and_found_share_against_hand_values(labels):
    r = evaluate_people(labels, FakeEstimator(), every=1)
    v = r["views"]["clip"]
    assert v["labelled_people"] == 6 and v["frames"] == 3
    assert v["found_percent"] == pytest.approx(100 * 5 / 6)
    a_err = 5.0 / THIGH  # 0.198 thigh lengths on every joint
    errors = sorted(row["error_thigh"] for row in v["people"] if row["found"])
    assert errors == pytest.approx([0, 0, 0, a_err, a_err])
    assert v["median_thigh"] == pytest.approx(0.0)
    assert v["within_0_15_percent"] == pytest.approx(60.0)
    assert v["per_joint_median_px"]["RTIO"] == pytest.approx(0.0)
    missed = [row for row in v["people"] if not row["found"]]
    assert [(m["frame"], m["person"]) for m in missed] == [(1, 0)]
    assert r["pooled"]["found_percent"] == pytest.approx(v["found_percent"])


def test_command_writes_json(labels, tmp_path, monkeypatch):
    import kneeview.pose as pose_pkg

    monkeypatch.setattr(pose_pkg, "load_estimator", lambda *a, **k: FakeEstimator())
    out = tmp_path / "people.json"
    assert main(["evaluate-people", "--labels", str(labels), "--every", "2", "--json", str(out)]) == 0
    (res,) = json.loads(out.read_text())
    v = res["views"]["clip"]
    assert v["frames"] == 2  # frames 0 and 2; the fake misses A at its second call, here frame 2
    assert v["found_percent"] == pytest.approx(75.0)
    assert [(row["frame"], row["person"]) for row in v["people"] if not row["found"]] == [(2, 0)]
