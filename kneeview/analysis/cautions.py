"""The one rule behind a trial-level caution (the app's panel, the screening report, the study's Caution
column): a figure of the trial above its limit; a figure that could not be computed says nothing."""
from __future__ import annotations

import numpy as np


def exceeds(value, limit: float):
    """Whether ``value`` (a number, None/NaN, or an array of them) is above ``limit``: a bool, or a bool
    array for an array; missing values are not above it."""
    m = np.asarray(np.nan if value is None else value, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = np.nan_to_num(m, nan=-np.inf) > float(limit)
    return bool(out) if out.ndim == 0 else out
