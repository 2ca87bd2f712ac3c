"""Kinematics: segment lengths, valgus control, events, sampling."""
from __future__ import annotations

import numpy as np
import pytest

from kneeview.synth.anthropometrics import sample_athlete
from kneeview.synth.motion import drop_jump, place_knee, single_leg_squat

from .conftest import mkd_both


def _athlete(seed=0):
    return sample_athlete(np.random.default_rng(seed), "T")


def test_reference_mkd_on_a_hand_built_leg():
    # right leg: hip above ankle, knee 30 mm toward the left (the midline) -> +30
    hip = np.array([[100.0, 0.0, 900.0]])
    ankle = np.array([[100.0, 0.0, 100.0]])
    knee = np.array([[70.0, 50.0, 500.0]])
    j = np.zeros((1, 6, 3))
    j[:, 0], j[:, 2], j[:, 4] = hip, knee, ankle
    j[:, 1], j[:, 3], j[:, 5] = hip * [-1, 1, 1], knee * [-1, 1, 1], ankle * [-1, 1, 1]
    np.testing.assert_allclose(mkd_both(j), [[30.0, 30.0]], atol=1e-9)


@pytest.mark.parametrize("target", [-20.0, 0.0, 35.0, 80.0])
def test_place_knee_keeps_lengths_and_reaches_the_requested_mkd(target):
    rng = np.random.default_rng(1)
    T = 50
    hip = np.column_stack([rng.uniform(60, 120, T), rng.uniform(-80, 0, T), rng.uniform(650, 800, T)])
    ankle = np.column_stack([rng.uniform(80, 160, T), rng.uniform(-20, 20, T), np.full(T, 75.0)])
    knee, ank2 = place_knee(hip, ankle, 420.0, 410.0, target, medial_sign=-1.0)
    np.testing.assert_allclose(ank2, ankle)  # reachable: the ankle is not moved
    np.testing.assert_allclose(np.linalg.norm(knee - hip, axis=1), 420.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(knee - ankle, axis=1), 410.0, atol=1e-6)
    j = np.zeros((T, 6, 3))
    j[:, 0], j[:, 2], j[:, 4] = hip, knee, ankle
    j[:, 1], j[:, 3], j[:, 5] = hip * [-1, 1, 1], knee * [-1, 1, 1], ankle * [-1, 1, 1]
    np.testing.assert_allclose(mkd_both(j)[:, 0], target, atol=1e-3)
    assert np.all(knee[:, 1] > np.minimum(hip[:, 1], ankle[:, 1]))  # knees point forward


def test_valgus_parameter_moves_the_knee_medially_by_the_requested_amount():
    a = _athlete(2)
    base = drop_jump(a, np.random.default_rng(5), 100.0, 50.0, valgus_mm=(0.0, 0.0))
    valg = drop_jump(a, np.random.default_rng(5), 100.0, 50.0, valgus_mm=(40.0, 15.0))
    jb, jv = base.joints_lab_mm, valg.joints_lab_mm
    for k in (0, 1, 4, 5):  # hips and ankles do not move
        np.testing.assert_allclose(jb[:, k], jv[:, k], atol=1e-9)
    deep = int(round(valg.events_s["deepest"] * 100.0))
    mb, mv = mkd_both(jb), mkd_both(jv)
    np.testing.assert_allclose(mb[deep], [0.0, 0.0], atol=0.05)
    np.testing.assert_allclose(mv[deep] - mb[deep], [40.0, 15.0], atol=0.05)
    # and it is the peak of the whole trial, where the JSON says it is
    assert np.max(mv[:, 0]) == pytest.approx(40.0, abs=0.05)
    assert valg.params["valgus_realised"]["right"]["peak_mkd_mm"] == pytest.approx(40.0, abs=0.05)
    # the knee itself moved toward the midline (-X for the right knee, +X for the left)
    assert jv[deep, 2, 0] < jb[deep, 2, 0] - 20
    assert jv[deep, 3, 0] > jb[deep, 3, 0] + 5


def test_drop_jump_phases():
    a = _athlete(3)
    m = drop_jump(a, np.random.default_rng(0), 100.0, 50.0, valgus_mm=(10.0, 10.0))
    ev = m.events_s
    assert ev["initial_contact"] < ev["deepest"] < ev["take_off"] < ev["second_landing"] < m.n_samples / 100.0
    for t in ev.values():  # events on video frames
        assert abs(t * 50.0 - round(t * 50.0)) < 1e-9
    j = m.joints_lab_mm
    ic, to, l2 = (int(round(ev[k] * 100)) for k in ("initial_contact", "take_off", "second_landing"))
    La = a.ankle_height_mm
    assert np.all(j[:5, 4, 2] > La + 250)  # on the box first
    np.testing.assert_allclose(j[ic:to - 10, 4:6, 2], La, atol=1e-6)  # feet on the floor in contact
    flight = slice(to + 5, l2 - 5)
    assert np.all(j[flight, 4:6, 2] > La + 20)  # in the air
    hip_z = j[:, 0, 2]
    assert np.argmin(hip_z[ic:to]) + ic == int(round(ev["deepest"] * 100))
    # C3D samples are a whole number of video frames
    assert m.n_samples % 2 == 0
    for seg in ((0, 2), (2, 4), (1, 3), (3, 5)):  # rigid segments
        L = np.linalg.norm(j[:, seg[0]] - j[:, seg[1]], axis=1)
        assert np.ptp(L) < 1e-6


@pytest.mark.parametrize("stance", ["right", "left"])
def test_single_leg_squat(stance):
    a = _athlete(4)
    m = single_leg_squat(a, np.random.default_rng(1), 120.0, 60.0, stance=stance, valgus_mm=30.0)
    j = m.joints_lab_mm
    st, fr = (4, 5) if stance == "right" else (5, 4)
    assert np.ptp(j[:, st, 2]) < 1e-9  # stance foot planted
    assert np.all(j[:, fr, 2] > a.ankle_height_mm + 40)  # free foot off the floor
    mk = mkd_both(j)
    col = 0 if stance == "right" else 1
    deep = int(round(m.events_s["deepest"] * 120))
    assert mk[deep, col] == pytest.approx(30.0, abs=0.05)
    assert np.max(np.abs(mk[:, 1 - col])) < 0.5
    assert m.side == stance and m.task == "SLS"


@pytest.mark.parametrize("heading", [90.0, 180.0, 33.0])
def test_heading_turns_the_whole_motion_about_the_landing(heading):
    a = _athlete(6)
    base = drop_jump(a, np.random.default_rng(2), 100.0, 50.0, valgus_mm=(30.0, 12.0), landing_lab_mm=(200.0, -300.0, 0.0))
    turned = drop_jump(a, np.random.default_rng(2), 100.0, 50.0, valgus_mm=(30.0, 12.0), landing_lab_mm=(200.0, -300.0, 0.0),
                       heading_deg=heading)
    h = np.radians(heading)
    Rz = np.array([[np.cos(h), -np.sin(h), 0.0], [np.sin(h), np.cos(h), 0.0], [0.0, 0.0, 1.0]])
    origin = np.array([200.0, -300.0, 0.0])
    for name, pts in base.points.items():
        np.testing.assert_allclose(turned.points[name], (pts - origin) @ Rz.T + origin, atol=1e-9)
    np.testing.assert_allclose(turned.lateral_axis, Rz @ [1.0, 0.0, 0.0], atol=1e-12)
    # MKD in the athlete's own frontal plane does not depend on the heading
    np.testing.assert_allclose(mkd_both(turned.joints_lab_mm, turned.lateral_axis), mkd_both(base.joints_lab_mm), atol=1e-6)
    np.testing.assert_allclose(turned.mkd_mm(), base.mkd_mm(), atol=1e-6)
    box0, box1 = np.array(base.box["top_centre_lab_mm"]), np.array(turned.box["top_centre_lab_mm"])
    np.testing.assert_allclose(box1, (box0 - origin) @ Rz.T + origin, atol=1e-9)
