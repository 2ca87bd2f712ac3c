"""The bundled demo recording: present, readable, with visible valgus, and reproducible."""
from __future__ import annotations

import json

import numpy as np
import pytest

from kneeview.bundled import demo_path
from kneeview.io.c3d import read_ground_truth
from kneeview.io.recording import open_recording
from kneeview.synth.demo import DEMO_VALGUS_MM, write_demo

from .conftest import mkd_both


@pytest.fixture(scope="module")
def demo():
    rec = open_recording(demo_path())
    return rec


def test_demo_is_a_small_complete_session(demo):
    root = demo_path()
    total = sum(p.stat().st_size for p in root.iterdir())
    assert total < 5 * 2**20
    assert not demo.problems, demo.problems
    info = demo.view.video_info
    assert (info.width, info.height) == (640, 480) and info.codec == "MJPG"
    assert 3.5 <= info.frame_count / info.fps <= 4.5
    meta = demo.metadata
    assert meta["task"] == "DJ" and meta["generator"] == "kneeview.synth"
    assert meta["valgus"]["right"]["peak_mkd_mm"] == pytest.approx(DEMO_VALGUS_MM[0], abs=0.01)
    assert meta["valgus"]["right"]["peak_mkd_mm"] >= 50 and abs(meta["valgus"]["left"]["peak_mkd_mm"]) < 15
    gt = demo.ground_truth_frames()
    assert gt.shape == (info.frame_count, 6, 3) and np.all(np.isfinite(gt))


def test_demo_valgus_is_visible_in_the_image(demo):
    """At the deepest frame the right knee sits well toward the midline, in pixels, of
    where the same athlete's knee is without valgus (same motion, valgus 0)."""
    from kneeview.synth.dataset import TrialSpec, build_trial
    from kneeview.synth.demo import DEMO_OPTIONS, DEMO_SEED

    meta = demo.metadata
    j = meta["events"]["deepest"]["frame"]
    joints = demo.ground_truth_frames()[j]
    assert mkd_both(joints[None])[0, 0] == pytest.approx(DEMO_VALGUS_MM[0], abs=0.05)
    spec = TrialSpec(seed=DEMO_SEED, index=0, athlete_index=0, year=1, task="DJ", size=(640, 480))
    straight = build_trial(spec, **dict(DEMO_OPTIONS, valgus_mm=(0.0, DEMO_VALGUS_MM[1])))
    cam = demo.view.camera
    uv = cam.project(joints)
    uv0 = cam.project(straight.motion.joints_lab_mm[2 * j])
    np.testing.assert_allclose(uv0[[0, 1, 4, 5]], uv[[0, 1, 4, 5]], atol=1e-6)  # only the knees differ
    toward_midline = np.sign(uv[1, 0] - uv[0, 0])  # from the right hip toward the left one
    assert (uv[2, 0] - uv0[2, 0]) * toward_midline > 8.0  # pixels


def test_demo_regenerates_identically(tmp_path):
    entry = write_demo(tmp_path / "demo")
    root = demo_path()
    new = json.loads((tmp_path / "demo" / "DropJump01.json").read_text())
    old = json.loads((root / "DropJump01.json").read_text())
    old.pop("version"), new.pop("version")
    assert new == old
    np.testing.assert_array_equal(read_ground_truth(tmp_path / "demo" / "DropJump01.c3d").joints_lab_mm,
                                  read_ground_truth(root / "DropJump01.c3d").joints_lab_mm)
    from kneeview.io.video import VideoReader

    a = VideoReader(tmp_path / entry["video"])
    b = open_recording(root).view.open_video()
    for j in (0, 68, 150):
        assert np.abs(a[j].astype(float) - b[j]).mean() < 0.5
