"""Real-lab backdrops (kneeview.synth.backdrops, tools/make_backdrops.py), on hand-made data."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from sessions import load_tool, write_video

from kneeview.camera import BrownConrady, Camera, look_at_rotation
from kneeview.errors import KneeViewInputError
from kneeview.synth import backdrops as B
from kneeview.synth.dataset import plan_dataset, render_trial
from kneeview.synth.render import distortion_maps

# the lens of Pose2Sim's demo cam01 (Qualisys, as KneeView reads it), its 1080x1920 image
DEMO_K = np.array([[1668.88, 0.0, 529.05], [0.0, 1681.24, 948.14], [0.0, 0.0, 1.0]])
DEMO_COEFFS = (-0.046183, 0.139983, 0.000608, 0.00069, 0.0)


def demo_like_camera(size=(1080, 1920), K=DEMO_K, coeffs=DEMO_COEFFS, position=(1460.0, -1909.0, 1897.0),
                     target=(-1000.0, -150.0, 800.0)) -> Camera:
    K = np.asarray(K, float)
    return Camera(device_id="cam01", name="cam01", K=K, R=look_at_rotation(position, target),
                  position_mm=np.asarray(position, float), image_size=size,
                  distortion=BrownConrady(K=K, coefficients=coeffs), kind="video", camera_type="opencv")


def small_camera(size=(160, 240)) -> Camera:
    """A portrait camera 3.6 m from the lab origin, 1.6 m up, with a real-like OpenCV lens."""
    W, H = size
    f = 1.545 * W  # the demo's field of view
    K = np.array([[f, 0.0, W / 2 - 0.3], [0.0, f * 1.004, H / 2 + 0.6], [0.0, 0.0, 1.0]])
    return demo_like_camera(size, K, DEMO_COEFFS, position=(2600.0, -2400.0, 1600.0), target=(0.0, 0.0, 800.0))


def textured(size, seed=0) -> np.ndarray:
    W, H = size
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 255, (H // 6 + 1, W // 6 + 1, 3), dtype=np.uint8), (W, H),
                     interpolation=cv2.INTER_CUBIC)
    for x in range(0, W, 20):  # sharp lines: a misplaced plate shows
        cv2.line(img, (x, 0), (x, H - 1), (255, 255, 255), 1)
    return img


def write_backdrop(folder: Path, camera: Camera, plate=None, valid=None, cells=None, **meta_over) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    W, H = camera.image_size
    plate = textured((W, H)) if plate is None else plate
    valid = np.full((H, W), 255, np.uint8) if valid is None else valid
    cv2.imwrite(str(folder / "plate.png"), plate)
    cv2.imwrite(str(folder / "valid.png"), valid)
    if cells is None:
        cells = B.standing_cells(camera, (0, 0, 1), (0, 0, 0), [[-800, -800], [800, -800], [800, 800], [-800, 800]])
    meta = {"format": B.FORMAT, "name": folder.name, "view": "cam01", "camera": B.camera_to_json(camera),
            "floor": {"normal": [0, 0, 1], "point_mm": [0, 0, 0]},
            "standing_area": {"cell_mm": 100, "cells_mm": np.asarray(cells).tolist()},
            "sources": [{"recording": "Hand", "video": "cam01.avi", "video_sha256": "ab" * 32, "view": "cam01",
                         "frames": [0, 1, 2, 50]}]}
    meta.update(meta_over)
    (folder / "backdrop.json").write_text(json.dumps(meta))
    return folder


# ----------------------------------------------------------------------------- the lens and the canvas
def test_vicon_fit_of_the_demo_lens_is_within_its_measured_residual():
    cam = demo_like_camera()
    fit = B.fit_vicon_radial(cam)
    # measured on the demo's lenses: 2.1-2.4 px at worst (the corners; tangential terms a radial model
    # lacks), 0.45-0.6 px RMS over the 1080x1920 image
    assert fit.max_px < 2.5 and fit.rms_px < 0.7
    # a purely radial OpenCV lens is matched better: most of the residual is the tangential part
    radial = B.fit_vicon_radial(demo_like_camera(coeffs=(-0.046183, 0.139983, 0.0, 0.0, 0.0)))
    assert radial.max_px < 0.7 and radial.rms_px < 0.15 and radial.rms_px < 0.3 * fit.rms_px
    # the fitted lens maps raw pixels like the real one (independent points, both directions)
    rng = np.random.default_rng(3)
    raw = rng.uniform([0, 0], [1079, 1919], (500, 2))
    back = fit.distortion.distort(cam.distortion.undistort(raw))
    assert np.max(np.linalg.norm(back - raw, axis=1)) <= fit.max_px + 0.05


def test_a_lab_point_lands_on_the_same_raw_pixel_through_the_real_and_the_synthetic_camera(tmp_path):
    cam = demo_like_camera()
    bd = B.load_backdrop(write_backdrop(tmp_path / "bd", cam, cells=[[-1000.0, -150.0]]))
    rng = np.random.default_rng(0)
    standing = np.array([[0, 0, z] for z in (0.0, 900.0, 1700.0)], float)
    pl = bd.place(standing, landing_mm=(250.0, -400.0, 0.0), facing=(0.0, 1.0, 0.0), rng=rng)
    assert pl.margin_px >= 0 and pl.floor_point_mm == (-1000.0, -150.0)
    syn = bd.synthetic_camera(pl, "2101234")
    X_syn = rng.uniform([-800, -800, 0], [800, 800, 1800], (300, 3)) + [250.0, -400.0, 0.0]
    X_real = X_syn @ pl.rotation.T + pl.offset_mm
    np.testing.assert_allclose(syn.project_corrected(X_syn), cam.project_corrected(X_real), atol=1e-6)
    u_real, u_syn = cam.project(X_real), syn.project(X_syn)
    inside = np.all((u_real > 0) & (u_real < [1079, 1919]), axis=1)
    assert inside.sum() > 50
    err = np.linalg.norm(u_real[inside] - u_syn[inside], axis=1)
    assert err.max() <= bd.lens.max_px + 0.05
    # the landing point is on the floor where it was put, and "up" stays up
    np.testing.assert_allclose(np.array([250.0, -400.0, 0.0]) @ pl.rotation.T + pl.offset_mm, [-1000, -150, 0], atol=1e-9)
    np.testing.assert_allclose(pl.rotation[:, 2], [0, 0, 1], atol=1e-12)


def test_the_plate_comes_back_where_it_was_through_canvas_and_fitted_lens(tmp_path):
    cam = small_camera()
    W, H = cam.image_size
    plate = textured((W, H), seed=4)
    bd = B.load_backdrop(write_backdrop(tmp_path / "bd", cam, plate=plate))
    pl = bd.place(np.zeros((1, 3)) + [0, 0, 900], (0, 0, 0), (0, 1, 0), np.random.default_rng(1))
    syn = bd.synthetic_camera(pl, "2101234")
    m1, m2, canvas = distortion_maps(syn)  # the renderer's lens
    canvas_img = bd.canvas_image(canvas)
    raw = cv2.remap(canvas_img, m1, m2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # the composite maps each raw pixel to within the fit's residual of itself: compare with the plate
    # shifted by that much at most (bilinear resampling twice blurs it a little)
    inner = (slice(4, H - 4), slice(4, W - 4))
    diff = np.abs(raw[inner].astype(int) - plate[inner].astype(int)).mean()
    shifted = np.abs(np.roll(plate, 1, axis=1)[inner].astype(int) - plate[inner].astype(int)).mean()
    assert bd.lens.max_px < 0.5  # this small image has small corner offsets
    assert diff < 0.35 * shifted
    # a single bright dot comes back at its raw pixel
    dot = np.zeros_like(plate)
    cv2.circle(dot, (37, 171), 3, (255, 255, 255), -1)
    bd2 = B.Backdrop(**{**bd.__dict__, "plate": dot})
    raw_dot = cv2.remap(bd2.canvas_image(canvas), m1, m2, cv2.INTER_LINEAR)[..., 0].astype(float)
    ys, xs = np.mgrid[0:H, 0:W]
    centroid = np.array([(xs * raw_dot).sum(), (ys * raw_dot).sum()]) / raw_dot.sum()
    assert np.linalg.norm(centroid - [37, 171]) < bd.lens.max_px + 0.2


# ----------------------------------------------------------------------------- a trial on a backdrop
def test_a_trial_on_a_backdrop_opens_and_its_joints_project_onto_the_athlete(tmp_path, capsys):
    from kneeview.cli import main
    from kneeview.io.recording import open_recording

    cam = small_camera()
    W, H = cam.image_size
    plate = np.full((H, W, 3), (255, 0, 255), np.uint8)  # magenta: nothing of the athlete has it
    folder = write_backdrop(tmp_path / "backdrops" / "lab-cam01", cam, plate=plate)
    spec = plan_dataset(1, seed=5, task="sls", size=(W, H))[0]
    (spec,) = B.assign_backdrops([spec], tmp_path / "backdrops", 1.0)
    assert spec.backdrop == str(folder.resolve())
    entry = render_trial(spec, tmp_path / "out", plain=True, duration_s=0.6)
    meta = json.loads((tmp_path / "out" / entry["json"]).read_text())
    assert meta["camera"]["placement"] == "backdrop"
    rec = meta["backdrop"]
    assert rec["name"] == "lab-cam01" and rec["json_sha256"] == B.sha256_file(folder / "backdrop.json")
    assert rec["sources"][0]["frames"] == [0, 1, 2, 50] and rec["placement"]["margin_px"] >= 0
    assert entry["backdrop"]["sources"] == rec["sources"]
    session = tmp_path / "out" / entry["session"]
    assert main(["info", str(session)]) == 0
    assert "Problem" not in capsys.readouterr().out
    recording = open_recording(session)
    view = recording.views[0]
    assert view.camera.image_size == (W, H)
    truth = recording.ground_truth_frames(0)
    on_body = []
    with view.open_video() as reader:
        for j, frame in enumerate(reader):
            uv = view.camera.project(truth[j])
            assert np.all((uv > 0) & (uv < [W - 1, H - 1]))
            px = frame[np.round(uv[:, 1]).astype(int), np.round(uv[:, 0]).astype(int)].astype(int)
            on_body.append(np.abs(px - [255, 0, 255]).max(axis=1) > 60)  # not the magenta plate
    assert np.mean(on_body) > 0.95
    # the camera written to the .xcp is the real camera moved into the trial's frame
    pl = rec["placement"]
    A, b = np.array(pl["rotation_synthetic_to_real_lab"]), np.array(pl["offset_mm"])
    np.testing.assert_allclose(view.camera.R, cam.R @ A, atol=1e-6)
    np.testing.assert_allclose(A @ view.camera.position_mm + b, cam.position_mm, atol=1e-2)


def test_backdrop_trials_are_deterministic_and_leave_the_other_trials_alone(tmp_path):
    cam = small_camera()
    write_backdrop(tmp_path / "bds" / "a", cam)
    write_backdrop(tmp_path / "bds" / "b", cam)
    specs = plan_dataset(40, seed=9, size=(160, 240))
    once = B.assign_backdrops(specs, tmp_path / "bds", 0.5)
    again = B.assign_backdrops(specs, tmp_path / "bds", 0.5)
    assert once == again
    used = [s.backdrop for s in once if s.backdrop]
    assert 10 <= len(used) <= 30 and {Path(u).name for u in used} == {"a", "b"}
    for s, o in zip(specs, once):
        assert o.backdrop is None or Path(o.backdrop).parent == (tmp_path / "bds").resolve()
        assert (s.seed, s.index, s.task, s.athlete_index) == (o.seed, o.index, o.task, o.athlete_index)
    assert all(s.backdrop is None for s in B.assign_backdrops(specs, tmp_path / "bds", 0.0))
    with pytest.raises(KneeViewInputError, match="backdrop-fraction"):
        B.assign_backdrops(specs, tmp_path / "bds", 1.5)


def test_bad_backdrop_folders_are_refused_with_the_file_named(tmp_path):
    cam = small_camera()
    with pytest.raises(KneeViewInputError, match="no backdrops here"):
        B.find_backdrops(tmp_path)
    f = write_backdrop(tmp_path / "x", cam)
    (f / "plate.png").write_bytes(b"not a png")
    with pytest.raises(KneeViewInputError, match="plate.png.*not a readable PNG"):
        B.load_backdrop(f)
    g = write_backdrop(tmp_path / "y", cam, plate=textured((80, 120)))
    with pytest.raises(KneeViewInputError, match="the plate is 80x120 but the camera's image is 160x240"):
        B.load_backdrop(g)
    h = write_backdrop(tmp_path / "z", cam, sources=[])
    with pytest.raises(KneeViewInputError, match=r"backdrop.json \[sources\]"):
        B.load_backdrop(h)
    k = write_backdrop(tmp_path / "k", cam, format="other")
    with pytest.raises(KneeViewInputError, match="not a KneeView backdrop"):
        B.load_backdrop(k)


# ----------------------------------------------------------------------------- making one
def test_the_median_removes_a_moving_person_and_flags_what_it_never_saw():
    W, H, N = 96, 64, 15
    background = textured((W, H), seed=7)
    frames, masks = [], []
    for k in range(N):
        f = background.copy()
        m = np.zeros((H, W), np.uint8)
        centre = (10 + 5 * k, 30 + (k % 3))
        cv2.circle(f, centre, 9, (20, 200, 30), -1)  # the "person"
        cv2.circle(m, centre, 12, 1, -1)  # its mask, grown
        cv2.rectangle(f, (0, 0), (5, 5), (0, 0, 255), -1)  # someone who never leaves this corner
        cv2.rectangle(m, (0, 0), (6, 6), 1, -1)
        frames.append(f)
        masks.append(m > 0)
    plate, count = B.masked_median(np.stack(frames), np.stack(masks))
    free = count > 0
    assert np.array_equal(plate[free], background[free])
    assert not free[:6, :6].any() and free[7:, 7:].all()
    # without the masks the disc stays where it dwelt in most frames? no: it moves, but the corner does not
    naive = np.median(np.stack(frames), axis=0).astype(np.uint8)
    assert np.abs(naive[:5, :5].astype(int) - background[:5, :5]).max() > 100
    filled = B.fill_never_free(plate, free)
    assert np.array_equal(filled[free], background[free]) and filled[:6, :6].any()
    # odd and even counts: the median of (10, 20) is 15
    two = np.stack([np.full((1, 1, 1), 10, np.uint8), np.full((1, 1, 1), 20, np.uint8), np.full((1, 1, 1), 99, np.uint8)])
    p, c = B.masked_median(two, np.array([[[False]], [[False]], [[True]]]))
    assert p[0, 0, 0] == 15 and c[0, 0] == 2


def test_allowed_frames_leave_out_the_test_segments_their_guard_and_the_held_out_view():
    tool = load_tool("make_backdrops")
    # 100 frames in 5 segments of 20; segments 1 (20-39) and 3 (60-79) are test frames, 3 guard frames around them
    expected = list(range(0, 17)) + list(range(43, 57)) + list(range(83, 100))
    assert tool.allowed_frames(100, "cam01") == expected
    assert tool.allowed_frames(100, "cam04") == []
    assert tool.allowed_frames(100, "cam02", holdout_views=("cam02",)) == []


def _opencv_session(root: Path, n_frames=100, size=(96, 160)) -> Path:
    """A 4-view session (OpenCV TOML calibration): every frame uniform, grey 250 in the test segments
    1 and 3 of 5 (frames 20-39, 60-79) and their 3 guard frames, 20 + the camera number elsewhere."""
    (root / "calibration").mkdir(parents=True)
    (root / "videos").mkdir()
    W, H = size
    lines = []
    for i in range(1, 5):
        cam = small_camera(size)
        ang = np.radians(90 * (i - 1))
        pos = np.array([3600 * np.cos(ang) - 1100, 3600 * np.sin(ang) - 100, 1600.0])
        R = look_at_rotation(pos, (-1100.0, -100.0, 800.0))
        rvec = cv2.Rodrigues(R)[0].ravel()
        t_m = (-R @ pos) / 1000.0
        lines += [f"[cam_0{i}]", f'name = "cam0{i}"', f"size = [{W}.0, {H}.0]",
                  f"matrix = {np.asarray(cam.K).tolist()}", f"distortions = {list(DEMO_COEFFS[:4])}",
                  f"rotation = {rvec.tolist()}", f"translation = {t_m.tolist()}", "fisheye = false", ""]
        frames = [np.full((H, W, 3), 250 if (17 <= k < 43 or 57 <= k < 83) else 20 + i, np.uint8) for k in range(n_frames)]
        write_video(root / "videos" / f"cam0{i}.avi", frames, fps=60.0)
    (root / "calibration" / "Calib.toml").write_text("\n".join(lines))
    return root


def test_making_backdrops_reads_only_the_training_frames_and_records_them(tmp_path, monkeypatch):
    tool = load_tool("make_backdrops")
    session = _opencv_session(tmp_path / "Hand")
    asked = {}

    def fake_masks(python, video, frames, out_npz, cpus, max_people, dilate_px):
        asked[Path(video).stem] = list(frames)
        masks = np.zeros((len(frames), 160, 96), bool)
        np.savez(out_npz, **tool.pack_masks(masks), frames=np.array(frames), people=np.ones(len(frames), int))

    decoded = []
    real_read = tool.read_frames
    monkeypatch.setattr(tool, "run_masks", fake_masks)
    monkeypatch.setattr(tool, "read_frames", lambda v, f: (decoded.append((Path(v).stem, list(f))), real_read(v, f))[1])
    out = tmp_path / "bd"
    assert tool.main([str(session), "--out", str(out), "--dilate-px", "4"]) == 0
    allowed = list(range(0, 17)) + list(range(43, 57)) + list(range(83, 100))
    assert asked == {"cam01": allowed, "cam02": allowed, "cam03": allowed}  # cam04 never read
    assert all(v != "cam04" and f == allowed for v, f in decoded)
    assert sorted(p.name for p in out.iterdir()) == ["Hand-cam01", "Hand-cam02", "Hand-cam03"]
    for name in ("cam01", "cam02", "cam03"):
        meta = json.loads((out / f"Hand-{name}" / "backdrop.json").read_text())
        (src,) = meta["sources"]
        assert src["frames"] == allowed and src["view"] == name
        assert src["video_sha256"] == B.sha256_file(session / "videos" / f"{name}.avi")
        assert set(src["excluded"]["frames"]) == set(range(100)) - set(allowed)
        bd = B.load_backdrop(out / f"Hand-{name}")
        assert np.abs(bd.plate.astype(int) - (20 + int(name[-1]))).max() <= 2  # the training frames' grey
        assert bd.valid.all()


# ----------------------------------------------------------------------------- evaluation never sees them
def test_evaluation_frames_listed_by_a_training_backdrop_are_refused(tmp_path):
    cam = small_camera()
    folder = write_backdrop(tmp_path / "bds" / "lab-cam01", cam)
    out = tmp_path / "data"
    spec = B.assign_backdrops(plan_dataset(1, seed=2, task="sls", size=(160, 240)), tmp_path / "bds", 1.0)[0]
    entry = render_trial(spec, out, plain=True, duration_s=0.3)
    (out / "synth_index.json").write_text(json.dumps({"trials": [entry]}))
    sources = B.dataset_backdrop_sources(out)
    assert sources and sources[0]["frames"] == [0, 1, 2, 50]
    (out / "synth_index.json").unlink()  # the trials' own JSON says the same
    assert B.dataset_backdrop_sources(out) == sources
    assert B.frames_shown_by_backdrops(sources, "ab" * 32) == {0, 1, 2, 50}
    B.check_not_in_backdrops(sources, "ab" * 32, range(20, 40), "rec", "cam01")  # test segment: fine
    B.check_not_in_backdrops(sources, "cd" * 32, [0, 1], "rec", "cam01")  # another video: fine
    with pytest.raises(KneeViewInputError, match=r"2 evaluation frame\(s\) of cam01 \(1, 50\)"):
        B.check_not_in_backdrops(sources, "ab" * 32, [1, 30, 50], "rec", "cam01")
    assert folder.is_dir()


def test_evaluate_real_refuses_frames_a_training_backdrop_was_made_from(tmp_path):
    from kneeview.analysis.multiview import Detections, save_detections
    from kneeview.io.c3d import write_ground_truth
    from kneeview.io.recording import open_recording
    from sessions import standing_joints
    from trainer import evaluate_real as er

    session = _opencv_session(tmp_path / "Lab", n_frames=20)
    write_ground_truth(session / "videos" / "Lab.c3d", standing_joints(20) + [-1100.0, -100.0, 0.0], 60.0)
    rec = open_recording(session)
    det = Detections(np.zeros((4, 20, 6, 2)), np.full((4, 20, 6), 0.9), tuple(f"cam0{i}" for i in range(1, 5)), 60.0)
    npz = save_detections(tmp_path / "bp.npz", det)
    # a synthetic dataset whose backdrop was made from frames 0-9 of this recording's cam02
    cam = small_camera()
    sha = B.sha256_file(session / "videos" / "cam02.avi")
    write_backdrop(tmp_path / "bds" / "lab-cam02", cam, sources=[
        {"recording": "Lab", "video": "cam02.avi", "video_sha256": sha, "view": "cam02", "frames": list(range(10))}])
    data = tmp_path / "data"
    spec = B.assign_backdrops(plan_dataset(1, seed=3, task="sls", size=(160, 240)), tmp_path / "bds", 1.0)[0]
    entry = render_trial(spec, data, plain=True, duration_s=0.3)
    (data / "synth_index.json").write_text(json.dumps({"trials": [entry]}))
    run = tmp_path / "run"
    run.mkdir()
    test_frames = [4, 5, 6, 12, 13]
    views = ["cam01", "cam02", "cam03", "cam04"]
    (run / "split.json").write_text(json.dumps({"data": str(data), "real": [{
        "session": str(session), "name": "Lab", "test_frames": test_frames, "views": views, "holdout_views": ["cam04"]}]}))
    assert er.backdrop_sources_of_run(run)[0]["video_sha256"] == sha

    class NeverRun:
        def run(self, reader):
            raise AssertionError("the model must not run on refused frames")

    with pytest.raises(KneeViewInputError, match=r"cam02\.avi.*3 evaluation frame\(s\) of cam02 \(4, 5, 6\)"):
        er.evaluate(session, detections=npz, run=run, estimator=NeverRun())
    with pytest.raises(KneeViewInputError, match="cam02"):  # all frames, the dataset named directly
        er.evaluate(session, detections=npz, estimator=NeverRun(), training_data=[data])
    # frames no backdrop used pass the check
    er.check_backdrop_frames(rec, [12, 13, 19], er.backdrop_sources_of_run(run))


def test_the_trainer_refuses_a_real_split_whose_held_out_frames_or_view_a_backdrop_shows(tmp_path):
    from kneeview.io.c3d import write_ground_truth
    from sessions import standing_joints
    from trainer.real_recordings import check_backdrops, real_split

    session = _opencv_session(tmp_path / "Lab", n_frames=20)
    write_ground_truth(session / "videos" / "Lab.c3d", standing_joints(20) + [-1100.0, -100.0, 0.0], 60.0)
    entry = real_split(session, holdout_views=("cam04",))  # test frames 4-7 and 12-15
    cam = small_camera()

    def data_with(view, frames, name):
        bds = tmp_path / f"bds-{name}"
        write_backdrop(bds / "b", cam, sources=[{"recording": "Lab", "video": f"{view}.avi", "view": view,
                       "video_sha256": B.sha256_file(session / "videos" / f"{view}.avi"), "frames": frames}])
        data = tmp_path / f"data-{name}"
        spec = B.assign_backdrops(plan_dataset(1, seed=4, task="sls", size=(160, 240)), bds, 1.0)[0]
        render_trial(spec, data, plain=True, duration_s=0.3)  # no index: the trial's own JSON is read
        return data

    check_backdrops(entry, data_with("cam01", [0, 1, 2, 10, 18], "ok"))  # training frames only
    check_backdrops(entry, tmp_path / "no-such-data")  # nothing to check
    with pytest.raises(KneeViewInputError, match=r"cam01\.avi.*1 evaluation frame\(s\) of cam01 \(5\)"):
        check_backdrops(entry, data_with("cam01", [0, 5], "test"))
    with pytest.raises(KneeViewInputError, match=r"of cam04 \(0\)"):  # any frame of the held-out view
        check_backdrops(entry, data_with("cam04", [0], "view"))


def test_the_vicon_fit_of_the_real_demo_calibration():
    from kneeview.camera import read_calibration
    from kneeview.io.recording import rescale_camera
    from sessions import QCA

    cams = read_calibration(QCA).cameras
    assert [c.device_id for c in cams] == ["cam01", "cam02", "cam03", "cam04"]
    for cam in cams + tuple(rescale_camera(c, (1080, 1920)) for c in cams[:2]):  # cam01/02's videos are 1080 wide
        fit = B.fit_vicon_radial(cam)
        assert fit.max_px < 2.5 and fit.rms_px < 0.65, (cam.device_id, cam.image_size, fit.max_px, fit.rms_px)
        fit.distortion.check_invertible(cam.image_size)


def test_kneeview_synth_backdrops_options(tmp_path, capsys):
    from kneeview.cli import main

    cam = small_camera()
    write_backdrop(tmp_path / "bds" / "lab-cam01", cam)
    out = tmp_path / "out"
    assert main(["synth", str(out), "--trials", "2", "--seed", "2", "--task", "sls", "--size", "64x48",
                 "--backdrops", str(tmp_path / "bds"), "--backdrop-fraction", "1", "--no-progress"]) == 0
    index = json.loads((out / "synth_index.json").read_text())
    assert [e["backdrop"]["name"] for e in index["trials"]] == ["lab-cam01", "lab-cam01"]
    assert index["runs"][-1]["backdrops"] == str((tmp_path / "bds").resolve())
    assert index["runs"][-1]["backdrop_fraction"] == 1.0
    assert B.dataset_backdrop_sources(out)[0]["frames"] == [0, 1, 2, 50]
    capsys.readouterr()
    assert main(["synth", str(tmp_path / "o2"), "--trials", "1", "--backdrops", str(tmp_path / "none")]) == 2
    assert "backdrop folder not found" in capsys.readouterr().err
