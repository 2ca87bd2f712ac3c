"""tools/blazepose_detect.py without mediapipe: the landmark -> joint mapping, pixels, the npz it writes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sessions import load_tool, make_qualisys_session, standing_joints

from kneeview import joints as J
from kneeview.analysis.multiview import load_detections, triangulate_recording
from kneeview.errors import KneeViewInputError
from kneeview.io.recording import open_recording

TOOL = Path(__file__).resolve().parents[2] / "tools" / "blazepose_detect.py"


@pytest.fixture(scope="module")
def tool():
    return load_tool("blazepose_detect")


def test_the_tool_imports_neither_mediapipe_nor_more_of_kneeview_than_its_joints_at_module_level():
    code = (f"import importlib.util, sys; spec = importlib.util.spec_from_file_location('t', {str(TOOL)!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "bad = [n for n in sys.modules if n.split('.')[0] in ('mediapipe', 'torch', 'PySide6', 'cv2') "
            "or n.startswith('kneeview') and n not in ('kneeview', 'kneeview.joints')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_joint_order_and_mapping_are_kneeviews(tool):
    assert tool.JOINTS is J.JOINTS and tool.BLAZEPOSE_INDEX is J.BLAZEPOSE_INDEX


def test_the_tool_runs_where_kneeview_is_not_installed(tmp_path):
    """The detector's venv does not install kneeview: the tool takes kneeview.joints from the repository."""
    code = ("import importlib.util, runpy, sys\n"
            "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]\n"
            "sys.path[:] = [p for p in sys.path if p not in ('', sys.argv[1].rsplit('/tools/', 1)[0])]\n"
            "assert importlib.util.find_spec('kneeview') is None\n"
            "sys.argv = [sys.argv[1], '--help']\n"
            "runpy.run_path(sys.argv[0], run_name='__main__')\n")
    out = subprocess.run([sys.executable, "-c", code, str(TOOL)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--people" in out.stdout


def test_blazepose_left_is_the_persons_left(tool):
    # BlazePose: 23 left hip, 24 right hip, 25 left knee, 26 right knee, 27 left ankle, 28 right ankle
    expected = {"RFEP": 24, "LFEP": 23, "RFEO": 26, "LFEO": 25, "RTIO": 28, "LTIO": 27}
    assert dict(zip(tool.JOINTS, tool.BLAZEPOSE_INDEX)) == expected
    lm = np.zeros((33, 2))
    lm[:, 0] = np.arange(33)  # x encodes the landmark index
    vis = np.linspace(0.0, 1.0, 33)
    kp, conf = tool.landmarks_to_joints(lm, vis)
    assert kp[:, 0].tolist() == [24, 23, 26, 25, 28, 27]
    np.testing.assert_allclose(conf, vis[[24, 23, 26, 25, 28, 27]])
    # a mirror of the image turns each joint into its partner in kneeview's FLIP_INDEX
    assert [tool.BLAZEPOSE_INDEX[i] for i in J.FLIP_INDEX] == [23, 24, 25, 26, 27, 28]


def test_normalised_coordinates_become_pixel_centre_pixels(tool):
    # MediaPipe's 0 and 1 are the image edges; kneeview's integers are pixel centres
    px = tool.normalised_to_px([[0.0, 0.0], [1.0, 1.0], [0.5, 0.25]], 1080, 1920)
    np.testing.assert_allclose(px, [[-0.5, -0.5], [1079.5, 1919.5], [539.5, 479.5]])


def test_missing_pose_is_nan_with_zero_confidence(tool):
    lm = np.full((3, 33, 2), 100.0)
    vis = np.full((3, 33), 0.8)
    lm[1] = np.nan
    vis[1] = np.nan
    lm[2, 23] = np.nan  # left hip lost
    kp, conf = tool.landmarks_to_joints(lm, vis)
    assert np.isnan(kp[1]).all() and (conf[1] == 0).all()
    assert np.isnan(kp[2, 1]).all() and conf[2, 1] == 0 and np.isfinite(kp[2, [0, 2, 3, 4, 5]]).all()
    assert tool.detection_rate(kp[None]).tolist() == [pytest.approx(1 / 3)]


def test_views_of_different_length_are_nan_padded(tool):
    a = (np.ones((5, 33, 2)), np.ones((5, 33)))
    b = (np.ones((3, 33, 2)), np.ones((3, 33)))
    lm, vis = tool.stack_views([a, b])
    assert lm.shape == (2, 5, 33, 2) and np.isnan(lm[1, 3:]).all() and np.isnan(vis[1, 3:]).all()


def test_find_videos_of_a_session(tool, tmp_path):
    (tmp_path / "videos").mkdir()
    for name in ("cam02.mp4", "cam01.mp4", "notes.txt", ".hidden.mp4"):
        (tmp_path / "videos" / name).write_bytes(b"")
    assert [p.name for p in tool.find_videos([tmp_path])] == ["cam01.mp4", "cam02.mp4"]
    with pytest.raises(ValueError, match="share a name"):
        tool.find_videos([tmp_path / "videos" / "cam01.mp4", tmp_path / "videos" / "cam01.mp4"])


@pytest.fixture
def session(tmp_path):
    return make_qualisys_session(tmp_path / "Lab")


def _blazepose_landmarks(rec, joints_lab_mm):
    """Landmarks (V, T, 33, 2) px that a perfect BlazePose would give for these joints (others at 0)."""
    kp = np.stack([v.camera.project(joints_lab_mm) for v in rec.views])  # (V, T, 6, 2)
    lm = np.zeros(kp.shape[:2] + (33, 2))
    vis = np.full(kp.shape[:2] + (33,), 0.1)
    for k, b in enumerate((24, 23, 26, 25, 28, 27)):
        lm[:, :, b] = kp[:, :, k]
        vis[:, :, b] = 0.9
    return lm, vis


def test_written_npz_is_read_back_by_triangulate(tool, session, tmp_path):
    rec = open_recording(session)
    truth = standing_joints(8, sway_mm=30.0)
    lm, vis = _blazepose_landmarks(rec, truth)
    kp, conf = tool.landmarks_to_joints(lm, vis)
    sizes = [tuple(v.video_info.size) for v in rec.views]
    out = tool.save_detections_npz(tmp_path / "det" / "bp.npz", kp, conf, ["cam01", "cam02", "cam03", "cam04"], fps=60.0,
                                   frame_size_px=sizes, landmarks_px=lm, landmarks_visibility=vis, detector="test")
    assert out.is_file() and not list(out.parent.glob("*.part"))
    det = load_detections(out)
    assert det.view_names == ("cam01", "cam02", "cam03", "cam04") and det.fps == 60.0
    assert det.keypoints_px.shape == (4, 8, 6, 2) and det.confidence.shape == (4, 8, 6)
    assert det.frame_size_px == tuple(sizes)
    with np.load(out, allow_pickle=False) as z:
        assert z["landmarks_px"].shape == (4, 8, 33, 2) and str(z["detector"]) == "test"
    res = triangulate_recording(rec, det)
    assert np.abs(res.joints_lab_mm - truth).max() < 1e-3


def test_triangulate_refuses_detections_made_on_other_sized_frames(tool, session, tmp_path):
    rec = open_recording(session)
    lm, vis = _blazepose_landmarks(rec, standing_joints(3))
    kp, conf = tool.landmarks_to_joints(lm, vis)
    sizes = [tuple(v.video_info.size) for v in rec.views]
    sizes[2] = sizes[2][::-1]  # a decoder that applied a rotation
    out = tool.save_detections_npz(tmp_path / "bp.npz", kp, conf, ["cam01", "cam02", "cam03", "cam04"], frame_size_px=sizes)
    with pytest.raises(KneeViewInputError, match="cam03.*1920x1088.*rotated or resized"):
        triangulate_recording(rec, load_detections(out))


def test_writer_rejects_inconsistent_arrays(tool, tmp_path):
    with pytest.raises(ValueError):
        tool.save_detections_npz(tmp_path / "x.npz", np.zeros((2, 3, 6, 2)), np.zeros((2, 3, 5)), ["a", "b"])
    assert not (tmp_path / "x.npz").exists()


def test_people_of_views_of_different_lengths_stack_with_nan(tool):
    a = (np.full((3, 2, 33, 2), 1.0), np.full((3, 2, 33), 0.9))  # 3 frames, 2 people found
    b = (np.full((5, 1, 33, 2), 2.0), np.full((5, 1, 33), 0.8))  # 5 frames, 1 person
    lm, vis = tool.stack_people([a, b], max_people=2)
    assert lm.shape == (2, 5, 2, 33, 2) and vis.shape == (2, 5, 2, 33)
    assert (lm[0, :3] == 1.0).all() and np.isnan(lm[0, 3:]).all()
    assert (lm[1, :, 0] == 2.0).all() and np.isnan(lm[1, :, 1]).all()
    assert np.isnan(vis[1, :, 1]).all() and (vis[0, :3] == 0.9).all()


class SquareFinder:
    """A stand-in for BlazePose: 'finds' the first white square not smaller than 10 % of the image's
    longer side, all 33 landmarks at its centre (normalised to the image it is given), its segmentation
    mask the square; so a small square is found only in a crop."""

    def process(self, rgb):
        from types import SimpleNamespace

        import cv2

        h, w = rgb.shape[:2]
        white = np.all(rgb == 255, axis=-1).astype(np.uint8)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(white)
        for k in range(1, n):
            x, y, sw, sh = stats[k, :4]
            if min(sw, sh) >= 0.1 * max(w, h):
                cx, cy = x + (sw - 1) / 2, y + (sh - 1) / 2
                pts = [SimpleNamespace(x=(cx + 0.5) / w, y=(cy + 0.5) / h, visibility=1.0)] * 33
                return SimpleNamespace(pose_landmarks=SimpleNamespace(landmark=pts),
                                       segmentation_mask=(labels == k).astype(np.float32))
        return SimpleNamespace(pose_landmarks=None, segmentation_mask=None)


def test_find_people_paints_out_each_person_and_searches_the_halves(tool):
    rgb = np.zeros((200, 400, 3), np.uint8)
    rgb[20:80, 150:210] = 255   # 60 px: found in the whole frame (>= 40 px; the stand-in scans rows from the top)
    rgb[70:130, 50:110] = 255   # another, found after the first is painted out
    rgb[150:180, 300:330] = 255  # 30 px: too small in the frame, found in the right half (240 px wide: >= 24 px)
    assert tool.halves(400, 200) == [(0, 0, 240, 200), (160, 0, 400, 200)]
    assert tool.halves(100, 300) == [(0, 0, 100, 180), (0, 120, 100, 300)]
    lm, vis = tool.find_people(SquareFinder(), rgb, max_people=4, mask_grow=0.01)
    centres = [(179.5, 49.5), (79.5, 99.5), (314.5, 164.5)]
    for p, c in enumerate(centres):
        np.testing.assert_allclose(lm[p], np.broadcast_to(c, (33, 2)), atol=1e-6)
    assert np.isnan(lm[3]).all() and np.isnan(vis[3]).all() and (vis[:3] == 1.0).all()
    assert rgb[50, 180].tolist() == [255, 255, 255]  # the caller's frame is not painted on
    lm2, _ = tool.find_people(SquareFinder(), rgb, max_people=4, search_halves=False)
    assert np.isfinite(lm2[:2]).all() and np.isnan(lm2[2:]).all()
    lm3, _ = tool.find_people(SquareFinder(), rgb, max_people=1)
    np.testing.assert_allclose(lm3[0, 0], centres[0])
