"""Everyday movements (kneeview.synth.generic_motion): walking, turning, standing with arm
movements; checked on their own geometry and posed on the baked Anny body."""
from __future__ import annotations

import numpy as np
import pytest

from kneeview.synth import generic_motion as gm
from kneeview.synth import mesh_body as mb
from kneeview.synth.anthropometrics import sample_athlete


@pytest.fixture(scope="module")
def athlete():
    return sample_athlete(np.random.default_rng(77), "g")


def _heading_deg(m, i):
    """Direction the pelvis faces at sample i (deg; 0 = lab +Y, positive = turned left)."""
    right = m.points["RFEP"][i] - m.points["LFEP"][i]
    return np.degrees(np.arctan2(right[1], right[0]))


def _common_checks(m, athlete):
    for s in "RL":
        thigh = np.linalg.norm(m.points[f"{s}FEO"] - m.points[f"{s}FEP"], axis=-1)
        shank = np.linalg.norm(m.points[f"{s}TIO"] - m.points[f"{s}FEO"], axis=-1)
        assert np.allclose(thigh, athlete.thigh_mm, atol=0.01) and np.allclose(shank, athlete.shank_mm, atol=0.01)
        # the shoe never goes through the floor: heel and toe box centres at least their flat height
        assert m.points[f"{s}HEE"][:, 2].min() > 46.0 - 0.5
        assert m.points[f"{s}TOE"][:, 2].min() > 31.0 - 0.5
        # knees bend forward, never backwards: the knee is in front of the hip-ankle line
        hip, knee, ank = m.points[f"{s}FEP"], m.points[f"{s}FEO"], m.points[f"{s}TIO"]
        u = (ank - hip) / np.linalg.norm(ank - hip, axis=-1, keepdims=True)
        off = (knee - hip) - np.sum((knee - hip) * u, axis=-1, keepdims=True) * u
        right = m.points["RFEP"] - m.points["LFEP"]
        fwd = np.cross([0.0, 0.0, 1.0], right)
        assert np.all(np.sum(off * fwd, axis=-1) > -1e-6)
    for k, v in m.points.items():
        assert v.shape == (m.n_samples, 3) and np.all(np.isfinite(v)), k


def test_walking_straight_covers_speed_times_duration_with_planted_feet(athlete):
    m = gm.walk(athlete, np.random.default_rng(1), rate_hz=100.0, fps=50.0, duration_s=4.0, heading_deg=30.0)
    _common_checks(m, athlete)
    mid = 0.5 * (m.points["RFEP"] + m.points["LFEP"])
    travel = mid[-1, :2] - mid[0, :2]
    speed = m.params["speed_mm_s"]
    assert abs(np.linalg.norm(travel) - speed * (m.n_samples - 1) / m.rate_hz) < 60.0
    # along the heading: 30 deg (to the left of +Y)
    assert abs(np.degrees(np.arctan2(-travel[0], travel[1])) - 30.0) < 3.0
    # each foot is planted (still) for a good part of every stride, and moves in between
    for s in "RL":
        v = np.linalg.norm(np.diff(m.points[f"{s}TOE"], axis=0), axis=-1) * m.rate_hz
        still = v < 1.0
        assert 0.15 < still.mean() < 0.6
        assert v.max() > 2.0 * speed
    # the feet alternate: when one swings fast the other is still
    vr = np.linalg.norm(np.diff(m.points["RTIO"], axis=0), axis=-1) * m.rate_hz
    vl = np.linalg.norm(np.diff(m.points["LTIO"], axis=0), axis=-1) * m.rate_hz
    assert not np.any((vr > speed) & (vl > speed))
    # straight walking has no valgus in the pelvis frame
    assert max(abs(p["peak_mkd_mm"]) for p in m.params["valgus_realised"].values()) < 1.0


def test_walking_turns_by_the_requested_rate(athlete):
    m = gm.walk(athlete, np.random.default_rng(2), rate_hz=100.0, fps=50.0, duration_s=3.0, turn_deg_s=-40.0)
    _common_checks(m, athlete)
    turned = _heading_deg(m, m.n_samples - 1) - _heading_deg(m, 0)
    assert abs(turned - (-40.0 * (m.n_samples - 1) / m.rate_hz)) < 2.0
    mid = 0.5 * (m.points["RFEP"] + m.points["LFEP"])
    assert mid[-1, 0] > mid[0, 0] + 300  # turning right from facing +Y heads toward +X


def test_standing_keeps_the_feet_and_moves_the_arms_and_turns(athlete):
    m = gm.stand(athlete, np.random.default_rng(3), rate_hz=100.0, fps=50.0, duration_s=4.0, turn_deg=25.0,
                 arm_moves=4)
    _common_checks(m, athlete)
    for s in "RL":
        for k in ("TIO", "HEE", "TOE"):
            assert np.ptp(m.points[f"{s}{k}"], axis=0).max() < 1e-6
    heading = np.array([_heading_deg(m, i) for i in range(m.n_samples)])
    assert 10.0 < np.ptp(heading) <= 2 * 25.0 + 1.0
    for s in "RL":
        sho, wri = m.points[f"{s}SHO"], m.points[f"{s}WRI"]
        lift = wri[:, 2] - sho[:, 2]
        assert np.ptp(lift) > 150.0  # the arm moves a lot
        upper = np.linalg.norm(m.points[f"{s}ELB"] - sho, axis=-1)
        assert np.allclose(upper, athlete.upper_arm_mm, atol=0.01)


@pytest.mark.parametrize("kind", ["walk", "turn", "stand"])
def test_generic_motions_pose_the_mesh_body(kind, athlete):
    rng = np.random.default_rng(4)
    if kind == "stand":
        m = gm.stand(athlete, rng, rate_hz=100.0, fps=50.0, duration_s=2.0)
    else:
        m = gm.walk(athlete, rng, rate_hz=100.0, fps=50.0, duration_s=2.0, turn_deg_s=35.0 if kind == "turn" else 0.0)
    asset = mb.load_body_asset()
    shape = mb.shape_for(athlete, rng, asset)
    posed = mb.pose_body(asset, shape, m.points)
    for k in mb.JOINT_LABELS:
        assert np.abs(posed.joint_centres[k] - m.points[k]).max() < 1.0
    mid = 0.5 * (m.points["RFEP"] + m.points["LFEP"])
    reach = np.linalg.norm(posed.vertices - mid[:, None].astype(np.float32), axis=-1).max()
    assert 0.45 * athlete.height_mm < reach < 0.8 * athlete.height_mm
    lowest = posed.vertices[..., 2].min(axis=1)
    assert lowest.min() > -5.0  # nothing sinks into the floor
    assert lowest.max() < 20.0  # and a sole is on it in every frame (nobody floats while walking or standing)
