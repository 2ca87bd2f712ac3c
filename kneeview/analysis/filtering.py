"""Zero-lag Butterworth low-pass filtering of trajectories with gaps.

The filter is designed as second-order sections (``scipy.signal.butter(..., output="sos")``)
and run forward and backward (``sosfiltfilt``), so it has no phase lag and its effective
order is twice ``order`` (the default ``order=2`` gives the usual "4th-order zero-lag
Butterworth" of biomechanics, -6 dB at the cutoff).

NaN samples are gaps: within a segment of data, gaps are bridged by linear interpolation
for filtering and put back afterwards, so a filtered array has NaN exactly where its input
had NaN. Leading and trailing NaNs stay NaN. A segment too short for the filter's padding
(see :func:`min_samples`) is returned unfiltered rather than failing.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt


def design(rate_hz: float, cutoff_hz: float = 6.0, order: int = 2) -> np.ndarray:
    """Second-order sections of a Butterworth low-pass at ``cutoff_hz`` for data at ``rate_hz``."""
    rate_hz = float(rate_hz)
    cutoff_hz = float(cutoff_hz)
    if not (np.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"sample rate must be positive, got {rate_hz}")
    if not (0 < cutoff_hz < rate_hz / 2):
        raise ValueError(f"cutoff {cutoff_hz} Hz must lie between 0 and the Nyquist frequency {rate_hz / 2:g} Hz")
    if int(order) < 1:
        raise ValueError(f"filter order must be at least 1, got {order}")
    return butter(int(order), cutoff_hz, btype="low", fs=rate_hz, output="sos")


def min_samples(sos: np.ndarray) -> int:
    """Fewest samples ``sosfiltfilt`` filters with its default padding (more than padlen)."""
    padlen = 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
    return padlen + 1


def _segments(finite: np.ndarray, max_gap: int | None) -> list[tuple[int, int]]:
    """[start, stop) ranges from a finite sample to a finite sample, split at long gaps."""
    idx = np.flatnonzero(finite)
    if idx.size == 0:
        return []
    if max_gap is None:
        return [(int(idx[0]), int(idx[-1]) + 1)]
    breaks = np.flatnonzero(np.diff(idx) - 1 > max_gap)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    stops = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    return [(int(a), int(b)) for a, b in zip(starts, stops)]


def lowpass(data, rate_hz: float, cutoff_hz: float | None = 6.0, order: int = 2,
            max_gap_s: float | None = None) -> np.ndarray:
    """Low-pass ``data`` (T, ...) along axis 0, zero lag, NaN gaps bridged and restored.

    ``cutoff_hz=None`` returns an unfiltered copy. ``max_gap_s`` (default: bridge every gap)
    splits the data into separately filtered segments at gaps longer than that.
    """
    x = np.array(data, dtype=np.float64, copy=True)
    if cutoff_hz is None or x.shape[0] == 0:
        return x
    sos = design(rate_hz, cutoff_hz, order)
    need = min_samples(sos)
    max_gap = None if max_gap_s is None else int(np.floor(max_gap_s * rate_hz))
    T = x.shape[0]
    flat = x.reshape(T, -1)
    finite = np.isfinite(flat)
    # columns with the same gap pattern (x, y, z of one joint) are filtered together
    patterns, inverse = np.unique(finite.T, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).reshape(-1)
    t = np.arange(T)
    for p, pattern in enumerate(patterns):
        cols = np.flatnonzero(inverse == p)
        for a, b in _segments(pattern, max_gap):
            good = pattern[a:b]
            if good.sum() < need:
                continue  # too short to filter: leave as measured
            block = flat[a:b, cols]
            if not good.all():
                tt = t[a:b]
                block = np.stack([np.interp(tt, tt[good], block[good, c]) for c in range(len(cols))], axis=1)
            filtered = sosfiltfilt(sos, block, axis=0)
            filtered[~good] = np.nan
            flat[a:b, cols] = filtered
    return flat.reshape(x.shape)


def fill_gaps(data) -> np.ndarray:
    """Linear interpolation over NaN gaps along axis 0, edges held at the nearest value.

    For detection code that needs a complete signal; all-NaN columns stay NaN.
    """
    x = np.array(data, dtype=np.float64, copy=True)
    T = x.shape[0]
    flat = x.reshape(T, -1)
    t = np.arange(T)
    for c in range(flat.shape[1]):
        good = np.isfinite(flat[:, c])
        if good.any() and not good.all():
            flat[:, c] = np.interp(t, t[good], flat[good, c])
    return flat.reshape(x.shape)
