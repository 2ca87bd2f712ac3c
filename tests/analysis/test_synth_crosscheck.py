"""Cross-check against the synthetic-recording generator (kneeview.synth): its trials carry
their true events and their true medial knee displacement, built independently of analysis."""
import numpy as np
import pytest

from kneeview.analysis import analyse, detect_events, knee_metrics_3d

motion = pytest.importorskip("kneeview.synth.motion")
anthropometrics = pytest.importorskip("kneeview.synth.anthropometrics")

RATE, FPS = 100.0, 50.0


@pytest.mark.parametrize("seed", range(6))
def test_synthetic_drop_jumps_and_squats(seed):
    rng = np.random.default_rng(100 + seed)
    athlete = anthropometrics.sample_athlete(rng, f"A{seed}")
    dj = motion.drop_jump(athlete, rng, RATE, FPS, valgus_mm=(rng.uniform(0, 40), rng.uniform(0, 40)))
    stance = ("right", "left")[seed % 2]
    sls = motion.single_leg_squat(athlete, rng, RATE, FPS, stance=stance, valgus_mm=rng.uniform(5, 40))
    for m, task, tol_s in ((dj, "drop_jump", 0.02), (sls, "single_leg_squat", 0.04)):
        joints = m.joints_lab_mm
        ev = detect_events(joints, RATE)  # task detected, not given
        assert ev.task == task
        if task == "single_leg_squat":
            assert ev.leg == stance
        for name, t in m.events_s.items():
            assert abs(ev.frames[name] / RATE - t) <= tol_s + 1e-9, (task, name, ev.frames[name], t)
        # the same MKD definition, computed independently
        mkd = knee_metrics_3d(joints)
        np.testing.assert_allclose(np.stack([mkd["mkd_right_mm"], mkd["mkd_left_mm"]], -1), m.mkd_mm(), atol=1e-6)
        a = analyse(joints, RATE)
        for side in ("right", "left"):
            realised = m.params["valgus_realised"][side]["peak_mkd_mm"]
            if task == "single_leg_squat" and side != stance:  # the lifted leg: no clinical peak
                assert np.isnan(a.peaks[f"mkd_peak_{side}_mm"]) and a.peaks[f"mkd_peak_{side}_frame"] is None
                assert np.isnan(a.peaks["mkd_peak_asymmetry_mm"])
                continue
            assert a.peaks[f"mkd_peak_{side}_mm"] == pytest.approx(realised, abs=1.0)
