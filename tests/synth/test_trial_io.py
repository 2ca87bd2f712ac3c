"""A written trial read back through kneeview.io: calibration, C3D, video, metadata."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from kneeview.camera import read_xcp
from kneeview.io.c3d import read_ground_truth, read_points
from kneeview.io.recording import find_recordings, open_recording
from kneeview.io.video import VideoReader
from kneeview.joints import JOINTS

from .conftest import MAGENTA, mkd_both


def _paths(out: Path, entry: dict):
    return out / entry["video"], out / entry["c3d"], out / entry["json"], (out / entry["video"]).parent


def test_session_folder_layout(plain_trial):
    out, entry, built = plain_trial
    video, c3d, meta_path, session = _paths(out, entry)
    names = sorted(p.name for p in session.iterdir())
    dev = built.cameras[0].device_id
    assert names == sorted([f"{session.name}.xcp", f"{entry['trial']}.c3d", f"{entry['trial']}.{dev}.avi", f"{entry['trial']}.json"])
    rec = open_recording(session)
    assert rec.view.device_id == dev and rec.view.camera is not None
    assert rec.metadata["athlete_id"] == entry["athlete_id"]
    assert rec.c3d_path == c3d
    assert find_recordings(out) == [video]


def test_calibration_round_trip(plain_trial):
    out, entry, built = plain_trial
    _, _, _, session = _paths(out, entry)
    calib = read_xcp(session / f"{session.name}.xcp")
    cam = built.cameras[0]
    read = calib.camera(cam.device_id)
    assert read.kind == "video" and read.image_size == (320, 240)
    np.testing.assert_allclose(read.K, cam.K, rtol=1e-12)
    np.testing.assert_allclose(read.R, cam.R, atol=1e-12)
    assert len(calib.video_cameras()) == 1 and len(calib) == len(built.cameras)
    read.distortion.check_invertible(read.image_size)


def test_c3d_holds_the_motion(plain_trial):
    out, entry, built = plain_trial
    _, c3d, _, _ = _paths(out, entry)
    gt = read_ground_truth(c3d)
    assert gt.rate_hz == 100.0 and not gt.missing
    np.testing.assert_allclose(gt.joints_lab_mm, built.motion.joints_lab_mm, atol=1e-3)  # float32 storage
    labels = [lab.split(":")[-1] for lab in read_points(c3d).labels]
    assert set(JOINTS) | {"HEAD", "RTOE", "LHEE", "RWRI"} <= set(labels)


def test_projected_joint_centres_land_on_the_figure(plain_trial):
    """Project the C3D joint centres through the .xcp camera: every hip, knee and ankle
    pixel of the decoded frame must be the figure's colour, not the magenta background.
    (The camera has strong radial distortion, so the lens model must be right too.)"""
    out, entry, built = plain_trial
    video, c3d, meta_path, session = _paths(out, entry)
    meta = json.loads(meta_path.read_text())
    cam = read_xcp(session / f"{session.name}.xcp").camera(built.cameras[0].device_id)
    gt = read_ground_truth(c3d)
    reader = VideoReader(video)
    k = int(round(meta["c3d_rate_hz"] / meta["fps"]))
    bg = np.array(MAGENTA, float)
    checked = 0
    shifted_misses = 0
    for j in range(0, len(reader), 7):
        frame = reader[j].astype(float)
        body = np.linalg.norm(frame - bg, axis=-1) > 80
        body = cv2.erode(body.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # away from edges
        uv = cam.project(gt.joints_lab_mm[j * k])
        for u, v in uv:
            x, y = int(round(u)), int(round(v))
            assert 0 <= x < 320 and 0 <= y < 240
            assert body[y, x], f"frame {j}: joint at ({u:.1f}, {v:.1f}) is on the background"
            checked += 1
        # the check has teeth: the same points moved sideways by 12 px often miss the figure
        for u, v in uv:
            for dx in (-12, 12):
                x, y = int(round(u)) + dx, int(round(v))
                if not (0 <= x < 320) or not body[y, x]:
                    shifted_misses += 1
        # and the background really is background away from the figure
        assert not body[:3, :3].any() or not body[-3:, -3:].any()
    assert checked >= 6 * 20
    assert shifted_misses > 0.1 * 2 * checked


def test_frames_are_frame_exact(plain_trial):
    out, entry, built = plain_trial
    video, *_ = _paths(out, entry)
    reader = VideoReader(video)
    assert reader.info.codec == "MJPG" and len(reader) == len(built.renderer)
    assert reader.info.fps == pytest.approx(built.fps)
    sequential = [f.copy() for f in reader]
    rng = np.random.default_rng(0)
    for j in rng.permutation(len(reader))[:25]:
        np.testing.assert_array_equal(reader[int(j)], sequential[int(j)])
    # each decoded frame is its own rendered frame (JPEG-close), not a neighbour
    ev = built.metadata["events"]
    moving = (ev["initial_contact"]["frame"] - 2, ev["take_off"]["frame"] + 3, ev["second_landing"]["frame"] - 4)
    for j in moving:
        rendered = [built.renderer.frame(i).astype(float) for i in (j - 1, j, j + 1)]
        err = [np.abs(sequential[j] - r).mean() for r in rendered]
        assert err[1] < 2.5 and err[1] < 0.8 * min(err[0], err[2])


def test_metadata_is_true(plain_trial):
    out, entry, built = plain_trial
    _, c3d, meta_path, _ = _paths(out, entry)
    meta = json.loads(meta_path.read_text())
    for key in ("generator", "version", "seed", "athlete_id", "year", "task", "side", "valgus", "events",
                "fps", "c3d_rate_hz", "video_offset_s"):
        assert key in meta
    assert meta["generator"] == "kneeview.synth" and meta["task"] == "DJ" and meta["side"] == "both"
    assert meta["video_offset_s"] == 0.0 and meta["c3d_rate_hz"] == 100.0 and meta["fps"] == 50.0
    assert list(meta["events"]) == ["initial_contact", "deepest", "take_off", "second_landing"]
    for ev in meta["events"].values():
        assert ev["time_s"] == pytest.approx(ev["frame"] / 50.0)
    gt = read_ground_truth(c3d)
    mkd = mkd_both(gt.joints_lab_mm, meta["valgus"]["lateral_axis_lab"])
    for col, leg in enumerate(("right", "left")):
        v = meta["valgus"][leg]
        sample = v["frame"] * 2
        assert mkd[sample, col] == pytest.approx(v["peak_mkd_mm"], abs=0.01)
        assert np.max(np.abs(mkd[:, col])) == pytest.approx(abs(v["peak_mkd_mm"]), abs=0.01)
    assert meta["valgus"]["right"]["peak_mkd_mm"] == pytest.approx(45.0, abs=0.01)
    assert meta["valgus"]["left"]["peak_mkd_mm"] == pytest.approx(10.0, abs=0.01)
    assert meta["valgus"]["right"]["frame"] == meta["events"]["deepest"]["frame"]
