"""`kneeview synth --valgus strong`: a benchmark set of strong, one-sided valgus, otherwise the same trials.

The requested peaks fall in the documented ranges (one drop-jump knee collapsing, the other barely), the
motion realises them (the C3D's own MKD peak), and every other draw (athlete, camera, task, timing) is that of
the same seed with the default draw.
"""
from __future__ import annotations

import numpy as np
import pytest

from kneeview.errors import KneeViewInputError
from kneeview.synth.dataset import STRONG_DJ_MM, STRONG_SLS_MM, build_trial, parse_valgus, plan_dataset

SIZE = (96, 72)
N = 12


@pytest.fixture(scope="module")
def pairs():
    default = plan_dataset(N, seed=4242, size=SIZE)
    strong = plan_dataset(N, seed=4242, size=SIZE, valgus="strong")
    return [(build_trial(a), build_trial(b), b.task) for a, b in zip(default, strong)]


def test_strong_draw_in_its_ranges_and_realised(pairs):
    tasks = set()
    for _, b, task in pairs:
        req = b.motion.valgus_requested_mm
        real = b.motion.params["valgus_realised"]
        tasks.add(task)
        if task == "DJ":
            hi, lo = max(req.values()), min(req.values())
            assert STRONG_DJ_MM[0][0] <= hi <= STRONG_DJ_MM[0][1]
            assert STRONG_DJ_MM[1][0] <= lo <= STRONG_DJ_MM[1][1]
        else:
            stance = max(req.values())
            assert STRONG_SLS_MM[0] <= stance <= STRONG_SLS_MM[1]
        for leg in ("right", "left"):
            if req[leg]:
                assert abs(real[leg]["peak_mkd_mm"] - req[leg]) < 2.0, (leg, req, real, task)
    assert tasks == {"DJ", "SLS"}


def test_everything_else_is_the_default_draw(pairs):
    for a, b, _ in pairs:
        assert a.athlete == b.athlete
        assert a.fps == b.fps and len(a.renderer) == len(b.renderer)
        np.testing.assert_array_equal(a.cameras[0].position_mm, b.cameras[0].position_mm)
        assert a.metadata["camera"] == b.metadata["camera"]
        assert (a.motion.box is None) == (b.motion.box is None)
    differs = [a.motion.valgus_requested_mm != b.motion.valgus_requested_mm for a, b, _ in pairs]
    assert all(differs)


def test_unknown_valgus_refused():
    with pytest.raises(KneeViewInputError, match="--valgus"):
        parse_valgus("huge")


def test_body_joints_pig_moves_the_body_not_the_labels():
    """--body-joints pig: the C3D labels (the motion) are the same; the body is posed so that its own
    Plug-in Gait centres lie on them, so the picture changes, and the trial says which it is."""
    pytest.importorskip("moderngl")
    from kneeview.synth.dataset import TrialSpec

    base = plan_dataset(1, seed=11, size=SIZE, bodies="anny")[0]
    rig, pig = (build_trial(TrialSpec(**{**base.__dict__, "body_joints": j}), plain=True) for j in ("rig", "pig"))
    np.testing.assert_array_equal(rig.motion.joints_lab_mm, pig.motion.joints_lab_mm)
    assert rig.metadata["body_joints"] == "rig" and pig.metadata["body_joints"] == "pig"
    a, b = rig.renderer.frame(0).astype(int), pig.renderer.frame(0).astype(int)
    assert np.abs(a - b).max() > 30  # the body moved on the screen
