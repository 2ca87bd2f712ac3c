"""Events on synthetic trials whose true events are known; peaks within the landing phase."""
import numpy as np
import pytest

from analysis_fixtures import degrade, drop_jump, single_leg_squat
from kneeview.analysis import DROP_JUMP, SINGLE_LEG_SQUAT, analyse, detect_events, detect_task, normalise_task


def assert_events_near(found, truth, rate_hz, tol_s):
    for name, frame in truth.items():
        assert found.frames[name] is not None, f"{name} not found"
        err = abs(found.frames[name] - frame) / rate_hz
        assert err <= tol_s + 1e-9, f"{name}: found {found.frames[name]}, true {frame} ({err * 1000:.0f} ms off)"


@pytest.mark.parametrize("rate_hz", [50.0, 100.0, 200.0])
@pytest.mark.parametrize("box_mm,depth_mm", [(300.0, 250.0), (450.0, 150.0)])
@pytest.mark.parametrize("noise_mm", [0.0, 3.0])
def test_drop_jump_events_within_30_ms(rate_hz, box_mm, depth_mm, noise_mm):
    joints, truth = drop_jump(rate_hz=rate_hz, box_mm=box_mm, depth_mm=depth_mm, facing_deg=63.0)
    n = len(joints)
    gaps = ((n // 5, 4, 4), (n // 2, 5, 0), (int(0.7 * n), 3, 5))  # an ankle and a hip go missing for a while
    data = degrade(joints, noise_mm=noise_mm, gaps=gaps, seed=int(rate_hz))
    assert detect_task(data, rate_hz) == DROP_JUMP
    ev = detect_events(data, rate_hz)
    assert ev.task == DROP_JUMP
    assert_events_near(ev, truth, rate_hz, 0.030)
    assert ev.reference_frame == ev.frames["initial_contact"]
    assert ev.landing_phase == (ev.frames["initial_contact"], ev.frames["take_off"] - 1)


@pytest.mark.parametrize("rate_hz", [50.0, 100.0, 200.0])
@pytest.mark.parametrize("stance", ["right", "left"])
@pytest.mark.parametrize("noise_mm", [0.0, 2.0])
def test_single_leg_squat_events_and_leg(rate_hz, stance, noise_mm):
    joints, truth = single_leg_squat(rate_hz=rate_hz, stance=stance, duration_s=1.6, facing_deg=-120.0)
    n = len(joints)
    data = degrade(joints, noise_mm=noise_mm, gaps=((n // 3, 5, 0), (n // 2, 4, 4)), seed=7)
    assert detect_task(data, rate_hz) == SINGLE_LEG_SQUAT
    ev = detect_events(data, rate_hz, task="SLS")
    assert ev.task == SINGLE_LEG_SQUAT and ev.leg == stance
    assert_events_near(ev, truth, rate_hz, 0.050)
    assert ev.landing_phase == (ev.frames["start"], ev.frames["end"])


def test_peaks_within_the_landing_phase_per_leg_and_asymmetry():
    rate = 100.0
    joints, truth = drop_jump(rate_hz=rate, valgus_mm=(18.0, 31.0), facing_deg=-90.0)
    a = analyse(degrade(joints, noise_mm=1.0), rate, task="dj")
    p = a.peaks
    # the knees are displaced in proportion to the dip, most at the deepest point (the 6 Hz
    # filter rounds the landing impact, which moves the peaks by up to ~2 mm)
    assert p["mkd_peak_right_mm"] == pytest.approx(18.0, abs=2.0)
    assert p["mkd_peak_left_mm"] == pytest.approx(31.0, abs=2.0)
    assert p["mkd_peak_asymmetry_mm"] == pytest.approx(13.0, abs=3.0)
    raw = analyse(joints, rate, task="dj", cutoff_hz=None).peaks
    assert raw["mkd_peak_right_mm"] == pytest.approx(18.0 * np.cos(np.arctan(10 / 870)), abs=0.05)
    for side in ("right", "left"):
        assert abs(p[f"mkd_peak_{side}_frame"] - truth["deepest"]) <= 4
        assert abs(p[f"fppa_peak_{side}_frame"] - truth["deepest"]) <= 4
        first, last = a.events.landing_phase
        assert first <= p[f"fppa_peak_{side}_frame"] <= last
    assert p["fppa_peak_left_deg"] > p["fppa_peak_right_deg"] > 0


def test_no_events_for_a_standing_trial_and_task_aliases():
    joints, _ = single_leg_squat(depth_mm=0.0, free_foot_mm=0.0)
    assert detect_task(joints, 100.0) is None
    ev = detect_events(joints, 100.0)
    assert ev.task is None and ev.landing_phase == (None, None)
    ev = detect_events(joints, 100.0, task="single leg squat")
    assert ev.frames["deepest"] is None and ev.notes
    assert normalise_task("DJ") == DROP_JUMP and normalise_task("sls") == SINGLE_LEG_SQUAT
    assert normalise_task(None) is None
    with pytest.raises(ValueError):
        normalise_task("hop")


def test_events_survive_a_trial_with_a_missing_leg_and_all_nan():
    joints, truth = drop_jump(rate_hz=100.0)
    joints[:, 5] = np.nan  # left ankle never tracked
    ev = detect_events(joints, 100.0, task="dj")
    assert_events_near(ev, truth, 100.0, 0.030)
    empty = np.full((50, 6, 3), np.nan)
    assert detect_events(empty, 100.0, task="dj").frames["initial_contact"] is None
    assert detect_events(empty, 100.0, task="sls").frames["deepest"] is None
    assert detect_events(empty, 100.0).task is None


def test_a_floating_landing_is_found_from_the_floor_contacts():
    """A single-view reconstruction can float a deep landing above the trial's lowest ankle level (here
    70 mm, the whole body): from the heights alone its initial contact is missed and found at the second
    landing; with the feet's floor contacts given (as the reconstruction reads them from the image) every
    event is within 30 ms of the truth, and the ground-truth path (no contacts) is unchanged. (From the
    heights alone the pelvis now shows the missed first landing: within 60 ms.)"""
    rate = 100.0
    joints, truth = drop_jump(rate_hz=rate, box_mm=300.0, depth_mm=250.0, facing_deg=20.0)
    ic, to, land2 = truth["initial_contact"], truth["take_off"], truth["second_landing"]
    floated = joints.copy()
    ramp = np.clip(np.minimum(np.arange(len(joints)) - (ic - 5), to + 5 - np.arange(len(joints))) / 5.0, 0.0, 1.0)
    floated[..., 2] += 70.0 * ramp[:, None]
    premise = detect_events(floated, rate, task="dj")
    # from the heights the ankles' landing is the second one; the pelvis shows the first (read from it, roughly)
    assert any("pelvis" in n for n in premise.notes) and premise.frames["second_landing"] >= land2 - 3
    assert abs(premise.frames["initial_contact"] - ic) <= 0.06 * rate, premise.frames
    contact = np.zeros((len(joints), 2), bool)
    contact[ic:to - 10] = True  # flat-footed (the heels rise over the last 0.1 s)
    contact[land2:] = True
    ev = detect_events(floated, rate, task="dj", contact=contact)
    assert_events_near(ev, truth, rate, 0.030)
    assert_events_near(detect_events(joints, rate, task="dj"), truth, rate, 0.030)
    # contacts that show no landing (nothing after the first frame): the heights decide, as without them
    none = detect_events(floated, rate, task="dj", contact=np.zeros((len(joints), 2), bool))
    assert none.frames == premise.frames
    with pytest.raises(ValueError):
        detect_events(floated, rate, task="dj", contact=contact[:-1])


def test_the_deepest_frame_is_the_vertex_of_a_noisy_flat_bottom():
    """A squat's bottom at 60 Hz: an asymmetric cubic-Hermite-like dip (slow descent, quicker rise)
    whose true minimum is between frames, plus 4 mm of single-view height noise, low-passed as the
    events low-pass the pelvis, 200 draws. The plain minimum wanders by 1.8 frames on average (up
    to 7); the parabola vertex by under half that (at most 3). Without noise it is within a frame
    (the fit leans towards the flatter side of an asymmetric bottom)."""
    from kneeview.analysis.events import PELVIS_CUTOFF_HZ, lowest_frame
    from kneeview.analysis.filtering import lowpass

    rate = 60.0
    t = np.arange(240) / rate
    t_min = 2.0 + 0.3 / rate  # between frames 120 and 121
    down, up = 1.2, 0.9  # seconds of descent and of rise
    x = np.where(t < t_min, 700.0 - 300.0 * np.sin(0.5 * np.pi * np.clip((t - t_min + down) / down, 0, 1)),
                 700.0 - 300.0 * np.cos(0.5 * np.pi * np.clip((t - t_min) / up, 0, 1)))
    true_frame = int(np.argmin(x))
    assert true_frame == 120
    assert abs(lowest_frame(x) - true_frame) <= 1
    wander, vertex = [], []
    for seed in range(200):
        noisy = lowpass(x + np.random.default_rng(seed).normal(0.0, 4.0, len(x)), rate, PELVIS_CUTOFF_HZ)
        wander.append(abs(int(np.argmin(noisy)) - true_frame))
        vertex.append(abs(lowest_frame(noisy) - true_frame))
    assert np.mean(wander) > 1.5 and max(wander) >= 5  # the noise is enough to move the plain minimum
    assert np.mean(vertex) < 0.5 * np.mean(wander), (np.mean(vertex), np.mean(wander))
    assert max(vertex) <= 3


def test_lowest_frame_falls_back_to_the_minimum_on_a_sharp_or_short_bottom():
    from kneeview.analysis.events import lowest_frame

    v = np.array([500.0, 400.0, 300.0, 200.0, 100.0, 300.0, 500.0, 700.0])  # a V: 2 frames in the band
    assert lowest_frame(v) == 4
    w = np.array([10.0, 9.0, np.nan, 2.0, 1.0, 3.0, 8.0, 10.0])  # NaN inside: nanargmin, band stops at NaN
    assert lowest_frame(w) == 4


def test_a_first_landing_the_feet_do_not_show_is_read_from_the_pelvis():
    """A rear camera can lose the feet behind the box at the first landing: contacts that start only
    at the second landing. The pelvis has by then fallen, bottomed out and jumped again, so the first
    landing is read from it (its fastest descent and ascent around its first valley) and the contacts'
    landing is the second; with the first landing's contacts shown nothing changes."""
    rate = 100.0
    joints, truth = drop_jump(rate_hz=rate, box_mm=300.0, depth_mm=250.0, facing_deg=20.0)
    ic, to, land2 = truth["initial_contact"], truth["take_off"], truth["second_landing"]
    late = np.zeros((len(joints), 2), bool)
    late[land2:] = True
    ev = detect_events(joints, rate, task="dj", contact=late)
    assert abs(ev.frames["initial_contact"] - ic) <= 0.05 * rate, (ev.frames, truth)
    assert abs(ev.frames["deepest"] - truth["deepest"]) <= 0.03 * rate
    assert abs(ev.frames["take_off"] - to) <= 0.08 * rate
    assert ev.frames["second_landing"] == land2
    assert any("pelvis" in n for n in ev.notes)
    full = np.zeros((len(joints), 2), bool)
    full[ic:to - 10] = True
    full[land2:] = True
    seen = detect_events(joints, rate, task="dj", contact=full)
    assert not any("pelvis" in n for n in seen.notes)
    assert_events_near(seen, truth, rate, 0.030)
