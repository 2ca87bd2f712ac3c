"""Task events from kinematics alone: ankle heights and velocities, pelvis height.

Drop jump (``"drop_jump"``): the athlete stands on a box, drops, lands, rebounds.

* ``initial_contact``: first frame after a flight at which an ankle centre comes within the
  contact band above its floor level (the floor level of each ankle is the 5th percentile
  of its height over the trial; the band is 15 mm, wider for noisy data, up to 60 mm);
* ``take_off``: first frame after initial contact with both ankles higher above the floor
  than a heel raise (5.5 % of leg length, about 50 mm: the ankle centre rises while the
  toes are still on the ground); for a rebound lower than that, both ankles above the band;
* ``second_landing``: first frame after take-off with an ankle back in the band;
* ``deepest``: lowest pelvis (mid-hip height) between initial contact and take-off, read as
  the vertex of a parabola fitted to the bottom (:func:`lowest_frame`; the frame of maximum
  knee flexion is among the per-trial peaks).

Where the ankles' contact comes only after the pelvis has already jumped again (the first
landing's feet unseen: hidden behind the box from a rear camera), the first landing is read
from the pelvis instead (:func:`pelvis_first_landing`: its fastest descent and ascent around
its first valley) and the ankles' landing becomes the second (a note says so).

Given the feet's floor contacts (``contact``: a single-view reconstruction's, read from the
image, whose heights can float by centimetres within a trial), initial contact and the second
landing are read from them and take-off from the rise above the landing's own ankle level.
Given the joints' ``heights`` (a single-view reconstruction's, read on each keypoint's ray at
the fit's slow depth: ``Reconstruction.heights_mm``), every event reads them instead of the
trajectories' own heights, whose depth errors wobble frame to frame.

Single-leg squat (``"single_leg_squat"``): the stance leg is the one whose ankle stays
lower (the free foot is held up); ``deepest`` is the lowest pelvis (:func:`lowest_frame`); ``start`` and ``end``
are where the pelvis's vertical speed falls below 10 % of its peak (at least 10 mm/s),
walking back from the fastest descent and forward from the fastest ascent of that squat.

Signals are gap-filled (linear interpolation) and low-pass filtered (zero lag; ankles at
12 Hz, pelvis at 6 Hz) before detection, and contact states shorter than 30 ms are
ignored, which makes the events robust to marker noise and short gaps. Frames are row
indices of the input.

Measured on the synthetic trials of :mod:`kneeview.synth` at 100 Hz (no noise): drop-jump
events within 10 ms of the truth; squat start/end 20-30 ms inside the truth (a smooth
start has no sharp onset), deepest within 10 ms.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import joints as J
from .filtering import fill_gaps, lowpass

DROP_JUMP = "drop_jump"
SINGLE_LEG_SQUAT = "single_leg_squat"
TASKS = (DROP_JUMP, SINGLE_LEG_SQUAT)
DROP_JUMP_EVENTS = ("initial_contact", "deepest", "take_off", "second_landing")
SQUAT_EVENTS = ("start", "deepest", "end")
EVENT_NAMES = ("initial_contact", "deepest", "take_off", "second_landing", "start", "end")

_ALIASES = {
    "dj": DROP_JUMP, "drop_jump": DROP_JUMP, "dropjump": DROP_JUMP, "drop jump": DROP_JUMP,
    "drop-jump": DROP_JUMP, "dvj": DROP_JUMP, "drop_vertical_jump": DROP_JUMP,
    "sls": SINGLE_LEG_SQUAT, "single_leg_squat": SINGLE_LEG_SQUAT, "single leg squat": SINGLE_LEG_SQUAT,
    "single-leg squat": SINGLE_LEG_SQUAT, "single-leg-squat": SINGLE_LEG_SQUAT, "singlelegsquat": SINGLE_LEG_SQUAT,
}

EVENT_CUTOFF_HZ = 12.0
PELVIS_CUTOFF_HZ = 6.0
#: heel raise at toe-off as a fraction of leg length (about 50 mm)
TAKE_OFF_RISE = 0.055
MIN_STATE_S = 0.03


def normalise_task(task) -> str | None:
    """``"DJ"``, ``"drop jump"``... -> ``"drop_jump"``; ``"SLS"``... -> ``"single_leg_squat"``; None/"" -> None."""
    if task is None:
        return None
    key = str(task).strip().lower()
    if key in ("", "auto", "none", "unknown"):
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    raise ValueError(f"unknown task {task!r} (expected one of: dj, sls, drop_jump, single_leg_squat)")


@dataclass
class Events:
    """Events of one trial as row indices (None where not found)."""

    task: str | None
    frames: dict[str, int | None] = field(default_factory=dict)
    leg: str | None = None  # stance leg of a single-leg squat
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> int | None:
        return self.frames.get(name)

    @property
    def reference_frame(self) -> int | None:
        """The frame of MKD definition 2: initial contact, or the start of a squat."""
        if self.task == DROP_JUMP:
            return self.get("initial_contact")
        if self.task == SINGLE_LEG_SQUAT:
            return self.get("start")
        return None

    @property
    def landing_phase(self) -> tuple[int | None, int | None]:
        """Frames [first, last] where peaks are taken; (None, None) means the whole trial.

        Drop jump: initial contact to the last frame before take-off (to the end without
        take-off). Single-leg squat: start to end.
        """
        if self.task == DROP_JUMP and self.get("initial_contact") is not None:
            to = self.get("take_off")
            return self.get("initial_contact"), (None if to is None else to - 1)
        if self.task == SINGLE_LEG_SQUAT and self.get("deepest") is not None:
            return self.get("start"), self.get("end")
        return None, None


# ----------------------------------------------------------------------------- signals
def _smooth(x, rate_hz, cutoff_hz=EVENT_CUTOFF_HZ):
    cutoff = min(cutoff_hz, 0.4 * rate_hz)
    return lowpass(fill_gaps(x), rate_hz, cutoff)


def _heights(joints_lab_mm, rate_hz, with_noise=False):
    """Smoothed ankle heights (T, 2) [right, left] and pelvis height (T,), mm (and the noise)."""
    joints = np.asarray(joints_lab_mm, dtype=np.float64)
    ankles = joints[:, [J.LEGS["right"][2], J.LEGS["left"][2]], 2]
    hips = joints[:, [J.LEGS["right"][0], J.LEGS["left"][0]], 2]
    seen = np.isfinite(hips)
    with np.errstate(invalid="ignore", divide="ignore"):
        pelvis = np.where(seen, hips, 0.0).sum(axis=1) / seen.sum(axis=1)
    smooth = _smooth(ankles, rate_hz)
    if with_noise:
        return smooth, _smooth(pelvis, rate_hz, PELVIS_CUTOFF_HZ), _noise_mm(ankles, smooth)
    return smooth, _smooth(pelvis, rate_hz, PELVIS_CUTOFF_HZ)


def _runs(mask):
    """(value, start, stop) of the runs of a boolean array."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    starts = np.concatenate([[0], edges])
    stops = np.concatenate([edges, [mask.size]])
    return [(bool(mask[a]), int(a), int(b)) for a, b in zip(starts, stops)]


def _clean(mask, min_len):
    """Flip interior runs shorter than ``min_len`` (noise), shortest first, until none is left."""
    mask = np.asarray(mask, dtype=bool).copy()
    for _ in range(mask.size):
        runs = _runs(mask)
        short = [(b - a, v, a, b) for (v, a, b) in runs[1:-1] if b - a < min_len]
        if not short:
            break
        _, v, a, b = min(short)
        mask[a:b] = not v
    return mask


def _noise_mm(raw_ankles, smooth_ankles) -> float:
    """Robust standard deviation of the measurement noise around the smoothed ankle heights."""
    r = (np.asarray(raw_ankles) - smooth_ankles).ravel()
    r = r[np.isfinite(r)]
    if r.size < 3:
        return 0.0
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def _contact(ankles, valid, noise_mm=0.0):
    """Per-foot contact (T, 2), floor levels and the contact band (mm).

    The band above each floor level is 15 mm, widened to 3 noise standard deviations for
    noisy trajectories (network output), at most 60 mm.
    """
    floors = []
    for f in range(2):
        z = ankles[valid[:, f], f]
        floors.append(np.percentile(z, 5) if z.size else np.nan)
    floors = np.array(floors)
    band = float(np.clip(3.0 * noise_mm, 15.0, 60.0))
    with np.errstate(invalid="ignore"):
        contact = (ankles < floors + band) & valid
    return contact, floors, band


def _valid_feet(joints_lab_mm):
    joints = np.asarray(joints_lab_mm, dtype=np.float64)
    ok = np.stack([np.isfinite(joints[:, J.LEGS[s][2]]).all(-1) for s in ("right", "left")], axis=1)
    # a foot that is never seen is ignored; one seen at times counts as present throughout
    return np.repeat(ok.any(axis=0, keepdims=True), len(joints), axis=0)


# ----------------------------------------------------------------------------- drop jump
def _leg_length(joints) -> float:
    """Mean thigh + shank length of both legs (mm); 850 mm when unknown."""
    lengths = []
    for side in ("right", "left"):
        h, k, a = J.LEGS[side]
        seg = np.linalg.norm(joints[:, k] - joints[:, h], axis=-1) + np.linalg.norm(joints[:, a] - joints[:, k], axis=-1)
        seg = seg[np.isfinite(seg)]
        if seg.size:
            lengths.append(float(np.median(seg)))
    return float(np.mean(lengths)) if lengths else 850.0


def detect_drop_jump(joints_lab_mm, rate_hz: float, contact=None) -> Events:
    """Drop-jump events; with ``contact`` (T, 2) floor contacts (a single-view reconstruction's,
    read from the image), from those: see :func:`_drop_jump_from_contact`."""
    ev = Events(DROP_JUMP, {k: None for k in DROP_JUMP_EVENTS})
    joints = np.asarray(joints_lab_mm, dtype=np.float64)
    if len(joints) < 3:
        ev.notes.append("too few frames")
        return ev
    ankles, pelvis, noise = _heights(joints, rate_hz, with_noise=True)
    if contact is not None and _drop_jump_from_contact(ev, joints, ankles, pelvis, rate_hz, np.asarray(contact, bool)):
        _first_landing_from_pelvis(ev, pelvis, rate_hz)
        return ev
    valid = _valid_feet(joints)
    if not valid.any():
        ev.notes.append("no ankle joint centre in the trial")
        return ev
    contact, floors, band = _contact(ankles, valid, noise)
    min_len = max(2, int(round(MIN_STATE_S * rate_hz)))
    on = _clean(contact.any(axis=1), min_len)
    runs = _runs(on)
    ic = next((a for (v, a, b) in runs if v and a > 0), None)
    if ic is None:
        ev.notes.append("no landing found (the ankles never come down to the floor after a flight)")
        return ev
    ev.frames["initial_contact"] = ic
    # the heel rises before the toes leave the ground: take-off is when both ankles are higher
    # than a heel raise (a fraction of leg length) above the floor, when the jump is that high
    lift = max(band, TAKE_OFF_RISE * _leg_length(joints))
    with np.errstate(invalid="ignore"):
        up = _clean(((ankles > floors + lift) | ~valid).all(axis=1) & valid.any(axis=1), min_len)
    to = next((a for (v, a, b) in _runs(up) if v and a > ic), None)
    to_band = next((a for (v, a, b) in runs if not v and a > ic), None)
    if to is None or (to_band is not None and any(v for (v, a, b) in runs if to_band < a < to)):
        to = to_band  # a low rebound, or a landing in between: the contact band decides
    _rebound(ev, ic, to, runs, pelvis)
    _first_landing_from_pelvis(ev, pelvis, rate_hz)
    return ev


#: A drop jump's pelvis: standing on the box, a fall of more than PELVIS_DROP_MM, the first landing's
#: valley, then a rise of at least PELVIS_REBOUND_MM (the jump) before the second landing.
PELVIS_DROP_MM = 100.0
PELVIS_REBOUND_MM = 80.0


def pelvis_first_landing(pelvis, rate_hz: float) -> tuple[int, int, int, int] | None:
    """A drop jump's first landing read from the smoothed pelvis height alone: (initial contact,
    deepest, take-off, the frame the jump has lifted the pelvis PELVIS_REBOUND_MM above the valley),
    or None where the pelvis shows no drop, valley and jump.

    The pelvis falls freely from the box and is braked by the landing: initial contact is its fastest
    descent before the valley; take-off its fastest ascent after it (flight then slows it). On the
    synthetic drop jumps (C3D truth and the model's reconstruction, front and rear cameras) that is
    1-3 frames before the feet's contact and 1-6 before their take-off, the valley within a frame of the
    deepest point: a fallback for a landing whose feet the camera does not see, not the reading itself."""
    p = np.asarray(pelvis, dtype=np.float64)
    T = len(p)
    n0 = max(3, int(round(0.3 * rate_hz)))
    if T < n0 + 3 or not np.isfinite(p).all():
        return None
    below = np.flatnonzero(p < float(np.median(p[:n0])) - PELVIS_DROP_MM)
    if not below.size:
        return None
    drop, low, rise = int(below[0]), int(below[0]), None
    for i in range(drop, T):
        if p[i] < p[low]:
            low = i
        elif p[i] > p[low] + PELVIS_REBOUND_MM:
            rise = i
            break
    if rise is None:
        return None
    v = np.gradient(p) * rate_hz
    a = max(0, drop - n0)
    ic = a + int(np.argmin(v[a:low + 1]))
    top = rise
    while top + 1 < T and p[top + 1] >= p[top]:
        top += 1
    to = low + int(np.argmax(v[low:top + 1]))
    return ic, low, to, rise


def _first_landing_from_pelvis(ev: Events, pelvis, rate_hz: float) -> None:
    """Where the feet's contacts missed the first landing (their initial contact comes after the pelvis
    has already jumped again, :func:`pelvis_first_landing`: the feet hidden at the landing, e.g. behind
    the box from a rear camera), read it from the pelvis; the contacts' landing becomes the second."""
    ic = ev.frames.get("initial_contact")
    found = pelvis_first_landing(pelvis, rate_hz) if ic is not None else None
    if found is None or ic <= found[3]:
        return
    p_ic, _, p_to, _ = found
    ev.frames.update({"initial_contact": p_ic, "take_off": p_to, "second_landing": ic})
    ev.frames["deepest"] = p_ic + lowest_frame(np.asarray(pelvis, dtype=np.float64)[p_ic:p_to + 1])
    ev.notes.append("first landing read from the pelvis (the feet's contact with the floor was not seen)")


def _rebound(ev, ic, to, runs, pelvis):
    """Set take-off ``to``, the second landing (the next contact run of ``runs`` after it) and the
    deepest frame (lowest pelvis between initial contact ``ic`` and take-off, or the end)."""
    ev.frames["take_off"] = to
    if to is not None:
        ev.frames["second_landing"] = next((a for (v, a, b) in runs if v and a > to), None)
    stop = to if to is not None else len(pelvis)
    if np.isfinite(pelvis[ic:stop]).any():
        ev.frames["deepest"] = ic + lowest_frame(pelvis[ic:stop])


def _drop_jump_from_contact(ev, joints, ankles, pelvis, rate_hz, contact) -> bool:
    """Drop-jump events from given floor contacts into ``ev``; False (``ev`` untouched) when they
    show no landing. ``ankles``, ``pelvis``: the smoothed heights of :func:`_heights`.

    A single-view reconstruction's ankle heights drift by centimetres within a trial, so "within
    a band of the trial's lowest level" can miss a deep landing that floats above the second
    one; its contacts come from the image instead (``Reconstruction.contact``). Initial contact:
    the first contact that does not start the trial (standing on the box is not "low");
    take-off: both ankles a heel raise above their level in that contact (median height there);
    second landing: the next contact after take-off; deepest: the lowest pelvis in between.
    """
    if contact.shape != (len(joints), 2):
        raise ValueError(f"contact must be ({len(joints)}, 2), got {contact.shape}")
    min_len = max(2, int(round(MIN_STATE_S * rate_hz)))
    runs = _runs(_clean(contact.any(axis=1), min_len))
    landing = next(((a, b) for (v, a, b) in runs if v and a > 0), None)
    if landing is None:
        return False
    ic, ic_end = landing
    ev.frames["initial_contact"] = ic
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a foot unseen throughout the landing: NaN level
        floors = np.nanmedian(ankles[ic:ic_end], axis=0)
    with np.errstate(invalid="ignore"):
        up = _clean((ankles > floors + TAKE_OFF_RISE * _leg_length(joints)).all(axis=1), min_len)
    _rebound(ev, ic, next((a for (v, a, b) in _runs(up) if v and a > ic), None), runs, pelvis)
    return True


# ----------------------------------------------------------------------------- lowest point
#: the bottom of a movement: the frames around the minimum within this fraction of the signal's
#: range (at least LOWEST_BAND_MIN_MM), to which a parabola is fitted. Chosen 2026-12-04 against
#: the synthesiser's own deepest frame on the tuning and held-out Anny sets (40 trials): the
#: model's within one frame 82.5 -> 87.5 % (0.05 and 0.1 no better), the C3D truth's mean
#: distance 0.375 -> 0.475 frames (the wider bands lean more on an asymmetric bottom)
LOWEST_BAND = 0.03
LOWEST_BAND_MIN_MM = 5.0


def lowest_frame(signal) -> int:
    """The frame of a signal's minimum, as the vertex of a parabola fitted to its bottom.

    A squat's or a landing's bottom is flat for a tenth of a second: there a single-view pelvis
    height's few millimetres of noise move the plain minimum by several frames, the vertex of the
    least-squares parabola through the run of frames within ``LOWEST_BAND`` of the range above
    the minimum does not. The plain minimum where that run is shorter than 5 frames or not convex.
    """
    x = np.asarray(signal, dtype=np.float64)
    i0 = int(np.nanargmin(x))
    lo = x[i0]
    band = max(LOWEST_BAND * float(np.nanmax(x) - lo), LOWEST_BAND_MIN_MM)
    inside = np.isfinite(x) & (x <= lo + band)
    a, b = next((s, e) for v, s, e in _runs(inside) if v and s <= i0 < e)  # the run holding the minimum
    if b - a < 5:
        return i0
    t = np.arange(a, b, dtype=np.float64)
    c2, c1, _ = np.polyfit(t - i0, x[a:b], 2)
    if not c2 > 0:
        return i0
    return int(np.clip(round(i0 - c1 / (2.0 * c2)), a, b - 1))


# ----------------------------------------------------------------------------- single-leg squat
def detect_single_leg_squat(joints_lab_mm, rate_hz: float) -> Events:
    ev = Events(SINGLE_LEG_SQUAT, {k: None for k in SQUAT_EVENTS})
    joints = np.asarray(joints_lab_mm, dtype=np.float64)
    if len(joints) < 3:
        ev.notes.append("too few frames")
        return ev
    ankles, pelvis = _heights(joints, rate_hz)
    med = np.array([np.median(ankles[np.isfinite(ankles[:, f]), f]) if np.isfinite(ankles[:, f]).any() else np.nan
                    for f in range(2)])
    if np.isfinite(med).all() and abs(med[0] - med[1]) > 30.0:
        ev.leg = "right" if med[0] < med[1] else "left"
    elif np.isfinite(med[0]) != np.isfinite(med[1]):
        ev.leg = "right" if np.isfinite(med[0]) else "left"
    else:
        ev.notes.append("cannot tell the stance leg (both ankles at the same height)")
    if not np.isfinite(pelvis).any():
        ev.notes.append("no hip joint centre in the trial")
        return ev
    standing = np.nanpercentile(pelvis, 95)
    depth = standing - np.nanmin(pelvis)
    if not depth > 30.0:
        ev.notes.append(f"no squat found (the pelvis moves down only {depth:.0f} mm)")
        return ev
    deepest = lowest_frame(pelvis)
    ev.frames["deepest"] = deepest
    v = np.gradient(pelvis) * rate_hz  # mm/s
    near_top = pelvis >= standing - 0.1 * depth
    before = np.flatnonzero(near_top[:deepest])
    a0 = int(before[-1]) if before.size else 0
    after = np.flatnonzero(near_top[deepest:])
    b0 = deepest + int(after[0]) if after.size else len(pelvis) - 1
    if deepest > a0:
        fastest = a0 + int(np.argmin(v[a0:deepest + 1]))
        thr = max(0.1 * -v[fastest], 10.0)
        slow = np.flatnonzero(-v[:fastest + 1] < thr)
        ev.frames["start"] = int(slow[-1]) if slow.size else 0
    if b0 > deepest:
        fastest = deepest + int(np.argmax(v[deepest:b0 + 1]))
        thr = max(0.1 * v[fastest], 10.0)
        slow = np.flatnonzero(v[fastest:] < thr)
        ev.frames["end"] = fastest + int(slow[0]) if slow.size else len(pelvis) - 1
    return ev


# ----------------------------------------------------------------------------- task
def detect_task(joints_lab_mm, rate_hz: float) -> str | None:
    """Guess the task: a flight with both feet high then a landing -> drop jump; one foot
    held well above the other most of the time -> single-leg squat; otherwise None."""
    joints = np.asarray(joints_lab_mm, dtype=np.float64)
    if len(joints) < 3:
        return None
    ankles, _, noise = _heights(joints, rate_hz, with_noise=True)
    valid = _valid_feet(joints)
    if valid.all():
        contact, floors, _ = _contact(ankles, valid, noise)
        min_len = max(2, int(round(0.05 * rate_hz)))
        both_high = _clean(((ankles - floors) > 100.0).all(axis=1), min_len)
        on = _clean(contact.any(axis=1), min_len)
        for v, a, b in _runs(both_high):
            if v and b - a >= min_len and on[b:].any():
                return DROP_JUMP
        with np.errstate(invalid="ignore"):
            apart = np.abs(ankles[:, 0] - ankles[:, 1]) > 50.0
        if apart.mean() > 0.3:
            return SINGLE_LEG_SQUAT
    return None


def detect_events(joints_lab_mm, rate_hz: float, task=None, contact=None, heights=None) -> Events:
    """Events for ``task`` (any alias, or None to detect it from the kinematics); ``contact``
    (T, 2) the feet's floor contacts where known otherwise than from the heights (a drop jump's
    landing and rebound are then read from them); ``heights`` (T, 6) the joints' heights (mm)
    where known better than the trajectories' own (a single view's, read from the image:
    ``Reconstruction.heights_mm``): every event then reads them."""
    task = normalise_task(task)
    if heights is not None:
        joints_lab_mm = np.array(joints_lab_mm, dtype=np.float64, copy=True)
        h = np.asarray(heights, dtype=np.float64)
        if h.shape != joints_lab_mm.shape[:2]:
            raise ValueError(f"heights must be {joints_lab_mm.shape[:2]}, got {h.shape}")
        known = np.isfinite(joints_lab_mm[..., 2])
        joints_lab_mm[..., 2] = np.where(known & np.isfinite(h), h, joints_lab_mm[..., 2])
    if task is None:
        task = detect_task(joints_lab_mm, rate_hz)
    if task == DROP_JUMP:
        return detect_drop_jump(joints_lab_mm, rate_hz, contact)
    if task == SINGLE_LEG_SQUAT:
        return detect_single_leg_squat(joints_lab_mm, rate_hz)
    return Events(None, {}, notes=["task not recognised: no events"])
