"""Zero-lag Butterworth low-pass against analytic signals, with gaps."""
import numpy as np
import pytest
from scipy.signal import sosfreqz

from kneeview.analysis.filtering import design, fill_gaps, lowpass, min_samples

RATE = 100.0


def sine(freq, T=1000, amp=10.0, phase=0.3):
    t = np.arange(T) / RATE
    return amp * np.sin(2 * np.pi * freq * t + phase)


def interior(x, n=100):
    return x[n:-n]


def test_pass_band_sine_is_unchanged_and_not_delayed():
    x = sine(1.0)
    y = lowpass(x, RATE, 6.0)
    # forward-backward: |H(1 Hz)|^2 of a 2nd-order Butterworth at 6 Hz, no phase shift
    expected_gain = 1.0 / (1.0 + (1.0 / 6.0) ** 4)
    np.testing.assert_allclose(interior(y), expected_gain * interior(x), atol=0.01)
    assert expected_gain > 0.999


def test_stop_band_sine_is_attenuated_by_the_designed_gain():
    x = sine(25.0)
    y = lowpass(x, RATE, 6.0)
    _, h = sosfreqz(design(RATE, 6.0, 2), worN=[25.0], fs=RATE)
    gain = abs(h[0]) ** 2  # filtered twice
    assert gain < 0.01
    np.testing.assert_allclose(np.std(interior(y)), gain * np.std(interior(x)), rtol=0.05)


def test_cutoff_is_minus_6_db_and_order_is_configurable():
    for order in (2, 4):
        x = sine(6.0, T=4000)
        y = lowpass(x, RATE, 6.0, order=order)
        np.testing.assert_allclose(np.std(interior(y, 500)) / np.std(interior(x, 500)), 0.5, rtol=0.02)
    steep = lowpass(sine(12.0), RATE, 6.0, order=4)
    gentle = lowpass(sine(12.0), RATE, 6.0, order=2)
    assert np.std(interior(steep)) < 0.3 * np.std(interior(gentle))


def test_nans_are_restored_at_the_same_places_and_gaps_are_bridged():
    x = sine(1.0) + 100.0
    noisy = x + sine(30.0, amp=3.0)
    noisy[:7] = np.nan  # leading
    noisy[300:310] = np.nan  # interior gap of 0.1 s
    noisy[-5:] = np.nan  # trailing
    y = lowpass(noisy, RATE, 6.0)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(noisy))
    # around the gap the result is still the slow signal, not disturbed by the gap
    # (the bridge joins two noisy samples, so the frames right beside the gap carry their noise)
    near = np.r_[260:290, 320:350]
    np.testing.assert_allclose(y[near], x[near], atol=0.3)
    np.testing.assert_allclose(y[300 - 10:300], x[300 - 10:300], atol=1.5)


def test_multidimensional_arrays_filter_along_axis_0_with_per_column_gaps():
    T = 400
    base = np.stack([sine(1.0, T), sine(2.0, T, amp=5.0), sine(0.5, T, amp=20.0)], axis=1)
    data = np.repeat(base[:, None, :], 6, axis=1) + np.arange(6)[None, :, None] * 100.0  # (T, 6, 3)
    data[50:60, 2] = np.nan  # one joint missing for a while
    y = lowpass(data, RATE, 6.0)
    assert y.shape == data.shape
    np.testing.assert_array_equal(np.isnan(y), np.isnan(data))
    for k in range(6):  # each column filtered on its own
        np.testing.assert_allclose(y[:, k], lowpass(data[:, k], RATE, 6.0), atol=1e-9)


def test_too_short_segments_are_left_unfiltered():
    sos = design(RATE, 6.0, 2)
    n = min_samples(sos) - 1
    x = np.random.default_rng(0).normal(size=n)
    np.testing.assert_array_equal(lowpass(x, RATE, 6.0), x)
    # a long signal with a short island split off by a long gap, when gaps are not bridged
    y = np.full(300, np.nan)
    y[:200] = sine(1.0, 200)
    y[250:250 + n] = x
    out = lowpass(y, RATE, 6.0, max_gap_s=0.2)
    np.testing.assert_array_equal(out[250:250 + n], x)
    assert not np.allclose(out[:200], y[:200], atol=1e-12)
    assert lowpass(np.full(10, np.nan), RATE, 6.0).shape == (10,)


def test_no_cutoff_returns_a_copy_and_bad_cutoffs_raise():
    x = sine(1.0, 50)
    y = lowpass(x, RATE, None)
    np.testing.assert_array_equal(x, y)
    assert y is not x
    with pytest.raises(ValueError, match="Nyquist"):
        lowpass(x, RATE, 50.0)
    with pytest.raises(ValueError):
        lowpass(x, RATE, -1.0)


def test_fill_gaps_interpolates_and_holds_the_edges():
    x = np.array([np.nan, 1.0, np.nan, 3.0, np.nan, np.nan])
    np.testing.assert_array_equal(fill_gaps(x), [1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
