"""Calibrated per-trial reconstruction: the network's output -> lab-frame joint centres with uncertainty.

The network's 2D keypoints are precise, its 3D (mid-hip-relative, camera frame) is not, and
placing that 3D from the 2D alone (:func:`.frames.locate_mid_hip`) leaves the depth wrong by
decimetres. :func:`reconstruct` solves, once per trial, a sparse robust non-linear least-squares
problem for every joint centre of every frame in the lab frame (mm, Z up, floor Z =
``floor_mm``), with an analytic sparse Jacobian and these terms, each in units of its standard
deviation:

* reprojection: each joint projects (pinhole ``camera.K``, ``camera.R``, ``camera.position_mm``)
  onto its UNDISTORTED 2D keypoint, in corrected pixels, weighted by sqrt(confidence); joints
  with confidence 0 or NaN 2D give none; robust (soft L1), so a mislabelled frame is outvoted;
* the network's 3D as a weak prior on the direction of each segment (right/left thigh and
  shank, hip to hip), rotated into the lab (``lab = cam @ R``): segment vector over the fitted
  length against the network's unit vector, so the prior does not favour a smaller skeleton; robust;
  with ``prior="lifter"`` the directions come instead from the temporal 2D->3D lifter
  (:mod:`.lifting`, run on the same 2D keypoints), held tightly in the second solve;
* constant segment lengths: thigh and shank per side and hip width are five unknowns of the
  trial (started at the median of the network's lengths, weakly held to it);
* the feet on the floor: an ankle joint centre is never below the trial's ankle contact
  height (one unknown, bounded above the floor) by more than ``floor_tolerance_mm`` (a soft
  hinge); while in contact (from a first solve without these terms: ankle still in the image
  and near its lowest level for ``min_contact_s``, see :func:`detect_contact`; less
  ``contact_pin_trim`` frames at each end of a contact) it is at that height and does not slide;
* temporal smoothness: second differences scaled by ``rate_hz**2`` (an acceleration, mm/s^2,
  in units of the athlete's size); Cauchy loss, so landing impacts are not smoothed away.

Frames where nobody was detected (NaN 2D) inside the trial are bridged by the smoothness and
segment-length terms (straight-line motion); gaps longer than ``max_gap_s`` are returned as
NaN, as are frames before the first and after the last detection.

Solver: :func:`levenberg_marquardt`, robust (IRLS) Levenberg-Marquardt whose steps are exact
solves of the banded normal equations. ``scipy.optimize.least_squares`` (``trf``) only takes
inexact LSMR steps with a sparse Jacobian; on this problem they stalled (50-300 s for a 200-frame
trial without converging), the exact steps converge in ~10 iterations (~0.2 s).

Two solves: the first without the floor terms, its scale from the network's segment lengths,
finds the contacts; the second starts from it scaled about the camera centre (which keeps every
reprojection) so that the contact ankle height matches the anthropometric prior, and has all
terms. Right and left thigh, and right and left shank, are held to the same length (8 mm).

Uncertainty: the Gauss-Newton covariance s^2 (J^T J)^-1 at the solution (J the robust-scaled
Jacobian, s^2 the residual variance per degree of freedom), computed from a banded Cholesky
factor of the per-frame block with the trial's unknowns (lengths, contact height) eliminated
by a Schur complement, so its diagonal and posterior samples cost O(T).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.linalg import cho_factor, cho_solve, cho_solve_banded, cholesky_banded, solve_banded, solve_triangular

from .. import joints as J
from .cautions import exceeds
from .facing import ANKLES, HIPS
from .filtering import lowpass
from .frames import camera_to_lab, locate_mid_hip
from .lifting import UNFAMILIAR_SPREAD_DEG, seen_from_behind_2d
from .metrics import knee_metrics_3d

#: The trial's segments: name -> (proximal joint, distal joint), in the order of the length unknowns.
SEGMENTS: dict[str, tuple[int, int]] = {
    "thigh_right": (J.JOINTS.index("RFEP"), J.JOINTS.index("RFEO")),
    "shank_right": (J.JOINTS.index("RFEO"), J.JOINTS.index("RTIO")),
    "thigh_left": (J.JOINTS.index("LFEP"), J.JOINTS.index("LFEO")),
    "shank_left": (J.JOINTS.index("LFEO"), J.JOINTS.index("LTIO")),
    "hip_width": (J.JOINTS.index("RFEP"), J.JOINTS.index("LFEP")),
}
KNEES = (J.JOINTS.index("RFEO"), J.JOINTS.index("LFEO"))
NJ = J.N_JOINTS
PER_FRAME = NJ * 3


#: Above this (mm) the two legs' fitted thighs or shanks differ by more than a body's do (a leg-length
#: difference over 20 mm is itself a clinical finding): the fit has held one leg to 2D or a direction
#: prior that the other contradicts, mostly a joint the camera could not see (a squat's lifted foot
#: behind the stance thigh, put 45 px off by the network at confidence 0.97; a knee behind the other
#: leg). Chosen on the tuning sets 90021, 90023, 90031 and 90041 (thirteenth session, README): the stance
#: legs' peak MKD error was 18.6 mm (median, 16 legs) above it and 8.2 (39) below; held out (97021-97023,
#: 97031, 97032, 97041) 16.8 (17 legs) against 6.0 (55). From the front it is rare (4 of the 34 held-out
#: legs, 33, 31, 11 and 9 mm off); from behind or high up common (37 % and 56 % of the legs).
LEGS_DISAGREE_MM = 25.0
#: What a clinician is told when a trial's legs disagree (the app, the screening report).
LEGS_DISAGREE_CAUTION = ("more than a body's legs do: a joint the camera could not see (a squat's lifted foot "
                         "behind the stance leg, a knee behind the other) was likely placed wrong, and the 3D reading "
                         "of both legs with it")
LEGS_DISAGREE_MEASURED = ("measured on synthetic trials no training used: peak MKD off by 17 mm (median) where "
                          "they differed by more, 6 mm where they did not")


def length_asymmetry_mm(segment_lengths_mm) -> float | None:
    """How far the two legs' fitted lengths disagree: the larger of |right - left| thigh and shank (mm),
    from :attr:`Reconstruction.segment_lengths_mm`; None where a length is missing."""
    L = segment_lengths_mm or {}
    try:
        d = [abs(float(L[f"{seg}_right"]) - float(L[f"{seg}_left"])) for seg in ("thigh", "shank")]
    except (KeyError, TypeError, ValueError):
        return None
    return max(d) if np.all(np.isfinite(d)) else None


def legs_disagree(asymmetry_mm):
    """Whether a trial's :func:`length_asymmetry_mm` (a number, None/NaN, or an array of them) is above
    :data:`LEGS_DISAGREE_MM`; missing values say no."""
    return exceeds(asymmetry_mm, LEGS_DISAGREE_MM)


@dataclass
class ReconstructionSettings:
    """Standard deviations (the weights) and thresholds of :func:`reconstruct`."""

    sigma_px: float | None = None  # 2D keypoint error, corrected pixels; None: sigma_px_per_diagonal x image diagonal
    sigma_px_per_diagonal: float = 0.0025
    sigma_direction: float = 0.15  # network segment direction prior: segment vector / length vs the network's unit vector
    #: the same with prior="lifter": the lifter's directions are good enough to be held tightly
    #: (seedA/seedA640 tuning: 0.15 -> 9.2 mm MKD RMS, 0.05 -> 5.7, 0.02 -> 4.7)
    sigma_direction_lifter: float = 0.02
    sigma_length_mm: float = 3.0  # frame-to-frame variation of a segment length
    sigma_length_prior_mm: float = 60.0  # fitted length vs the network's median length
    sigma_symmetry_mm: float = 8.0  # right vs left thigh, right vs left shank
    sigma_acceleration_mm_s2: float = 8000.0  # smoothness (second difference * rate^2)
    # the first solve (no floor) takes its scale from the network's lengths; little smoothing,
    # because accelerations shrink with the skeleton's size and would pull it towards the camera
    sigma_length_prior_first_mm: float = 15.0
    sigma_acceleration_first_mm_s2: float = 8000.0
    sigma_contact_mm: float = 4.0  # ankle height in contact vs the trial's contact height
    sigma_slide_mm: float = 3.0  # ankle horizontal motion per frame in contact
    sigma_floor_mm: float = 2.0  # stiffness of the below-contact-height hinge
    # anthropometric prior of the ankle joint centre's height in contact: a fraction of the leg
    # (ankle 0.039, thigh 0.245, shank 0.246 of stature: Drillis & Contini), which with the floor
    # fixes the trial's scale, hence the depth
    ankle_height_per_leg: float = 0.0795
    #: how far the trial's contact height may leave that prior. At 15 mm the fit's contact height
    #: drifted a median 7 mm (up to 24) above the truth's on the tuning sets (truth 62-80 mm) and with
    #: it the athlete's scale: a point raised along a ray that looks down at 6-17 degrees is 3-9x as
    #: much nearer the camera (knee position error 37 mm median). The network's ankle keypoints cause
    #: it: given the truth's ankle 2D (the rest the network's) the drift is 2 mm median (-3 to +11).
    #: 8 mm (about the ratio's spread across adults) keeps the scale: knee position 29 mm, MKD
    #: unchanged (tuning; 5 and 2 mm: 27 and 26). See docs/clinical-benchmark-history.md, tenth session.
    sigma_ankle_height_mm: float = 8.0
    floor_tolerance_mm: float = 10.0  # how far an ankle may sink below the contact height
    min_ankle_height_mm: float = 20.0  # lowest ankle contact height above the floor
    max_ankle_height_mm: float = 250.0
    contact_speed_mm_s: float = 250.0  # "slow" without 2D keypoints: 3D ankle speed below this
    contact_from_2d: bool = True  # "still" from the ankle's 2D track (see detect_contact)
    #: "still" in the image: the ankle's 2D points over a window of still_window_s lie within
    #: still_radius_mm (at the ankle's depth) of their mean. The network's ankle jitters by
    #: 200-300 mm/s in a deep landing (its 2D speed said "moving" and the landing was missed);
    #: a window's spread is immune to that, while a flying foot leaves the radius within a frame or two
    still_window_s: float = 0.1
    still_radius_mm: float = 30.0
    #: a still run's ends are cut where the ankle leaves its settled position (the run's median) by
    #: more than 2.5 x the run's own jitter (robust sd), at least settled_min_mm: a heel rise
    #: moves the ankle centre ~50 mm before the toes leave, and pinning it to the floor cost a
    #: noise-free trial 20 mm of knee position
    settled_min_mm: float = 8.0
    contact_height_mm: float = 50.0  # "low": within this of the ankle's lowest level
    #: ... or, while both feet are still and level with each other (within contact_pair_diff_mm),
    #: within contact_pair_height_mm: a two-footed landing whose single-view heights float
    #: above the trial's lowest level (the other foot keeps a squat's lifted foot out)
    contact_pair_height_mm: float = 150.0
    contact_pair_diff_mm: float = 40.0
    #: the frames held on the floor are the contact minus this many at each end of a run
    #: (touch-down and heel rise, the least certain; a wrongly pinned rising heel shrank a trial)
    contact_pin_trim: int = 2
    min_contact_s: float = 0.08
    #: heights for the events (:func:`image_heights`): the camera depth low-passed at this cutoff
    height_depth_cutoff_hz: float = 2.0
    robust_px: float = 3.0  # soft-L1 knee of the 2D residuals, in sigma units
    robust_direction: float = 2.0
    robust_acceleration: float = 3.0
    max_gap_s: float = 0.25  # longer runs of undetected frames come back NaN
    reliable_residual: float = 3.0  # frame unreliable above this RMS 2D residual (sigma units)
    reliable_confidence: float = 0.3  # ... or below this mean confidence
    reliable_sd_mm: float = 60.0  # ... or a knee sd (norm over x, y, z) over this (before the inflation below)
    #: ... or, with the lifter's prior, its networks' spread over this (degrees; lifting.UNFAMILIAR_SPREAD_DEG)
    reliable_prior_spread_deg: float = UNFAMILIAR_SPREAD_DEG
    #: The Gauss-Newton posterior treats the prior's and the 2D's errors as independent; they are
    #: biased, so the reported sd (and the samples) are this many times the posterior's. Measured
    #: on held-out synthetic trials (seeds 97001 at 1920x1080 and 97002 at 640x480, 7,438 frames,
    #: the network's prior): the posterior's 1 sd covered 24 % of the per-frame MKD errors, 3.5 sd
    #: covers 68 % (fitted on either set alone it covers 39-92 % of the other's: rough). Re-fitted
    #: 2026-12-04 for the default since then (the shipped model, the wide-valgus lifter's prior) on
    #: the Anny tuning sets 90021 and 90023 (6,151 stance-leg frames): 3.5 covers 68 % there (x0.99);
    #: on the held-out Anny sets 97021-97023 it covers 63 % (84 % within 2 sd). Re-fitted 2026-12-05 with
    #: knee_depth_fraction for the 3 s lifter (whose errors are about half the previous one's): see there.
    posterior_inflation: float = 2.0
    #: A single view cannot tell a knee that moves medially from one that moves forward where both
    #: move it along the ray; the direction prior picks one, with an error that persists over the
    #: trial, which the posterior (errors independent frame to frame) does not see. So each knee also
    #: gets, in the reported sd and the samples, an error along its ray of this fraction x its distance
    #: from the hip-ankle line (none for a straight leg), the same standard normal draw over the whole
    #: trial (not scaled by ``posterior_inflation``). Along the ray of a frontal camera this barely moves
    #: MKD; of an oblique one, by about the sine of the view's angle. Fitted 2026-12-04 (seventh
    #: session, the refined 2D) on the tuning sets 90021 + 90023 for the peaks a clinician reads: the
    #: model's peak-MKD error was within 2 reported sd on 26 % of the legs (1.2-4.5 sd off on oblique
    #: views), 93 % with 0.15; held-out 97021-97023: 35 -> 79 %, the worst leg's 68.8 mm error at sd
    #: 5.1 -> 21.6 mm. The price: frames away from the peak are over-covered on oblique views (±1 sd
    #: covers 65 -> 82 % of all held-out frames; frontal 67 -> 71 %). Re-fitted 2026-12-05 (eighth session) with
    #: posterior_inflation for the 3 s lifter, on the same tuning sets: (3.5, 0.15) covered every peak within
    #: 2 sd but 95 % of all frames within 1 sd; (2.0, 0.10) 89 % of the peaks, 89 % of the frames ((1.5, 0.06)
    #: and (1.0, 0.08): 70 % of the peaks). Held out: peaks within 2 sd 88 %, frames within 1 sd 81 % (frontal
    #: 77 %), median sd 3.4 mm frontal, 8.6 oblique. Checked again (ninth session) for the lifter ensemble
    #: read on the mirror image too: (2.0, 0.10) covers 96 % of the tuning peaks within 2 sd (93 % of the
    #: frames within 1 sd), held out 88 % (87 %); (1.5, 0.08) matched the tuning sets' earlier 89 % / 88 %
    #: but held out covered only 76 % of the peaks, so the wider bands stay (a band too narrow misleads a
    #: clinician more than one too wide). Re-fitted 2026-12-05 (thirteenth session) with pelvis_yaw_sd_deg,
    #: per camera placement: 0.10 alone had covered every oblique peak at 3 sd (median sd 17-19 mm at the
    #: peak, errors 7-8) and only 71-76 % of the frontal ones within 2 sd (sd 4-6 mm); see pelvis_yaw_sd_deg.
    knee_depth_fraction: float = 0.05
    #: The pelvis's yaw is what a single view reads worst: the lifter takes it from the whole body's 2D,
    #: and a pelvis turned a degree or two against the legs looks the same; MKD and FPPA are read in the
    #: pelvis's frontal plane, where a yaw error of d moves a knee sideways by about d x its distance
    #: ahead of the hip-ankle line (150 mm in a deep squat: 2.6 mm a degree), one knee medially and the
    #: other laterally. So the two hips also get, in the reported sd and the samples, a turn about the
    #: vertical through the mid-hip with this standard deviation (degrees), the same standard normal
    #: draw over the whole trial (not scaled by ``posterior_inflation``). The lifter's pelvis yaw is off
    #: by 1.0 degree (sd over the front tuning trials of each trial's mean error) given the true 2D, 1.8
    #: with the network's; what MKD feels is the pelvis turned against the legs, less than that, so the
    #: value is fitted with knee_depth_fraction (thirteenth session, README) on
    #: the tuning sets 90021 + 90023: (1.0, 0.05) covers every peak within 2 sd from both placements
    #: (frontal 71 % before, at median peak sd 7.1 mm instead of 5.5; oblique 100 % as before, at 11.2
    #: instead of 17.4) and 90-91 % of the frames within 1 sd (83 and 97 % before). Held out (97021-97023):
    #: frontal peaks 76 -> 88 %, frames 78 -> 86 %, sd 4.2 -> 6.3 mm; oblique 100 -> 94 %, 97 -> 92 %,
    #: 18.6 -> 11.6 mm ((0.8, 0.03) and (0.6, 0.05) left the frontal tuning peaks at 71 %; (1.7, *) covered
    #: 92-98 % of the frames within 1 sd and nearly doubled the frontal bands).
    pelvis_yaw_sd_deg: float = 1.0
    #: Frames where the camera sees the athlete from behind (the 2D hips' order,
    #: :func:`.lifting.seen_from_behind_2d`) have their reported sd and samples multiplied by this: the bundled
    #: model reads a back view less well, and with the front's bands the rear sets' peak-MKD errors were within
    #: 2 sd on 79 % of the tuning legs (90031; 68 % over the three rear sets with 97031 + 97032) and their
    #: frames within 1 sd on 78 % (76 %), where the front's are 96 % and 93 %. Fitted on 90031 (twelfth session,
    #: docs/clinical-benchmark-history.md): 2.0 covers 93 % of its peaks and 94 % of its frames (3.0: 93 / 98
    #: %); held out 81 % and 91 %. With the thirteenth session's bands (pelvis_yaw_sd_deg, knee_depth_fraction
    #: 0.05): 86 % and 94 %; held out 89 % and 92 %.
    rear_sd_factor: float = 2.0
    #: ... and, with the lifter's prior, by the square root of its networks' spread (degrees,
    #: ``prior_spread_deg``) over this, where that is larger (the larger of the two reasons counts). Where the
    #: networks disagree the errors grow faster than the bands: per frame, the share of MKD errors within 1 sd
    #: was 94 % at a spread under 2 degrees, 70 % at 4-6, 53-62 % above 6 (tuning sets 90021, 90031 and the high
    #: cameras' 90041; twelfth session, docs/clinical-benchmark-history.md). Fitted there: 2.0 brings the high
    #: set's frames within 1 sd 80 -> 86 % and its peaks within 2 sd 71 -> 86 %, the front's and the rear's
    #: unchanged; held out (97041) 63 -> 83 % and 73 -> 82 %. The square root, not the ratio itself (which
    #: fitted the high set as well at 3.0), because the ratio widened the real recording's bands to 66 mm
    #: (median sd; 97 % of its frames within 1 sd of the labels): the errors grow with the spread, but slower
    #: than it. Re-fitted to 1.0 with the narrower knee_depth_fraction (thirteenth session), which took the high
    #: cameras' knees most of their band: with 2.0 the high tuning set's peaks within 2 sd fell 100 -> 79 % and
    #: its frames within 1 sd 86 -> 75 % (1.5: 86 %, 80 %); with 1.0, 100 % and 87 % (median peak sd 21 mm, 21
    #: before); held out (97041) 82 -> 100 % and 84 -> 83 % (sd 22.6 -> 19.9). The front and rear sets' peak sds
    #: move by 0.4 mm or less from 2.0 (their peaks' spreads are near 1 degree); the real recording's widen from
    #: 39 to 55 mm (median sd; 82 -> 91 % of its frames within 1 sd of the labels).
    spread_sd_scale_deg: float = 1.0


@dataclass
class Reconstruction:
    """Result of :func:`reconstruct`. Frames (rows) as in the input."""

    joints_lab_mm: np.ndarray  # (T, 6, 3) lab frame, mm; NaN outside the solved frames
    joints_sd_mm: np.ndarray  # (T, 6, 3) posterior standard deviation per coordinate, mm
    segment_lengths_mm: dict  # SEGMENTS name -> fitted length, mm
    segment_lengths_sd_mm: dict
    ankle_contact_height_mm: float  # the trial's ankle joint centre height in floor contact
    contact: np.ndarray  # (T, 2) bool: right, left ankle in floor contact (detect_contact; the events read it)
    #: (T, 6) each joint's lab height (mm) read on its 2D keypoint's ray at the fit's low-passed
    #: camera depth (:func:`image_heights`; the events read it); the fit's own height where no 2D
    heights_mm: np.ndarray
    reliable: np.ndarray  # (T,) bool
    residual_2d: np.ndarray  # (T,) RMS reprojection residual per frame, in units of sigma_px (NaN: no 2D)
    bridged: np.ndarray  # (T,) bool: no detection, filled by the smoothness (short gaps)
    sigma_px: float  # the 2D error used (given or estimated)
    residual_scale: float  # s: covariance scaled by s^2
    rate_hz: float
    solve_time_s: float
    settings: ReconstructionSettings = field(repr=False, default_factory=ReconstructionSettings)
    _posterior: object = field(repr=False, default=None)
    #: (T, 2, 3) the knee ambiguity's direction x its sd (mm; not inflated): the right and
    #: left knee's unit ray from the camera times knee_depth_fraction x the bulge (None: no term)
    _knee_depth: np.ndarray | None = field(repr=False, default=None)
    #: (T, 2, 3) the right and left hip's displacement (mm; not inflated) for a pelvis yaw of one
    #: pelvis_yaw_sd_deg (None: no term)
    _pelvis_yaw: np.ndarray | None = field(repr=False, default=None)
    #: (T,) degrees: how much the lifter's networks disagree on each frame (lifting.reading_spread_deg);
    #: None with the network's prior
    prior_spread_deg: np.ndarray | None = None
    #: (T,) the factor each frame's sd and samples carry on top of the posterior's (rear_sd_factor,
    #: spread_sd_scale_deg)
    _sd_factor: np.ndarray | None = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.joints_lab_mm)

    @property
    def length_asymmetry_mm(self) -> float | None:
        """The larger left-right difference of the fitted thigh and shank lengths (mm; see
        :data:`LEGS_DISAGREE_MM`), None without a fit."""
        return length_asymmetry_mm(self.segment_lengths_mm)

    def sample(self, n: int, seed=None) -> np.ndarray:
        """``n`` draws (n, T, 6, 3) mm from the Gaussian posterior around :attr:`joints_lab_mm`.

        Frames returned as NaN stay NaN in every draw.
        """
        rng = np.random.default_rng(seed)
        out = np.repeat(self.joints_lab_mm[None], int(n), axis=0)
        if self._posterior is None or n <= 0:
            return out
        delta = self._posterior.draw(int(n), rng) * self.settings.posterior_inflation  # (n, n_frames_solved * 18)
        span = self._posterior.span
        factor = np.ones(len(out[0])) if self._sd_factor is None else np.asarray(self._sd_factor, float)
        d = delta.reshape(int(n), span[1] - span[0], NJ, 3) * factor[span[0]:span[1], None, None]
        out[:, span[0]:span[1]] += d
        if self._knee_depth is not None:  # one draw per knee for the whole trial (see knee_depth_fraction)
            z = rng.standard_normal((int(n), 1, 2, 1))
            out[:, :, list(KNEES)] += z * (np.nan_to_num(self._knee_depth) * factor[:, None, None])[None]
        if self._pelvis_yaw is not None:  # one turn of the pelvis for the whole trial (see pelvis_yaw_sd_deg)
            z = rng.standard_normal((int(n), 1, 1, 1))
            out[:, :, list(HIPS)] += z * (np.nan_to_num(self._pelvis_yaw) * factor[:, None, None])[None]
        return out


# ------------------------------------------------------------------------------------ helpers
def _interpolate_frames(X, ok):
    """Fill frames (T, ...) where ``ok`` is False by linear interpolation (nearest at the ends)."""
    X = np.array(X, dtype=np.float64, copy=True)
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return X
    flat = X.reshape(len(X), -1)
    t = np.arange(len(X))
    for c in range(flat.shape[1]):
        flat[:, c] = np.interp(t, idx, flat[idx, c])
    return flat.reshape(X.shape)


def _runs(mask):
    """[start, stop) of the runs of True in a 1D bool array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _robust_rows(scale, cauchy):
    """A least_squares-style loss per residual: soft L1 (or Cauchy where ``cauchy``) with knee
    ``scale`` in sigma units; plain squares where the scale is inf."""
    c2 = np.asarray(scale, dtype=np.float64) ** 2
    robust = np.isfinite(c2)
    soft = robust & ~np.asarray(cauchy, bool)
    heavy = robust & np.asarray(cauchy, bool)
    cs, ch = c2[soft], c2[heavy]

    def loss(z):
        rho = np.empty((3, z.size))
        rho[0], rho[1], rho[2] = z, 1.0, 0.0
        q = 1.0 + z[soft] / cs
        sq = np.sqrt(q)
        rho[0, soft] = 2.0 * cs * (sq - 1.0)
        rho[1, soft] = 1.0 / sq
        rho[2, soft] = -0.5 / (cs * q * sq)
        q = 1.0 + z[heavy] / ch
        rho[0, heavy] = ch * np.log(q)
        rho[1, heavy] = 1.0 / q
        rho[2, heavy] = -1.0 / (ch * q * q)
        return rho

    return loss


class _Problem:
    """Residuals and sparse Jacobian of one solve over frames ``0..n-1`` (already cut to the span)."""

    def __init__(self, uv_corr, weight_2d, dir_lab, dir_ok, lengths0, camera, rate_hz, s: ReconstructionSettings,
                 sigma_px, contact=None, with_floor=True, floor_mm=0.0):
        self.n = n = len(uv_corr)
        self.floor_mm = float(floor_mm)
        self.K = np.asarray(camera.K, float)
        self.R = np.asarray(camera.R, float)
        self.C = np.asarray(camera.position_mm, float)
        self.s = s
        self.n_x = n * PER_FRAME
        self.iL = self.n_x  # 5 lengths
        self.ih = self.n_x + len(SEGMENTS)
        self.n_var = self.ih + 1
        self.lengths0 = np.asarray(lengths0, float)
        self.leg_ref = 0.5 * float(self.lengths0[:4].sum())
        self.with_floor = with_floor
        blocks = []  # (name, rows) in residual order
        scales = []

        # 2D reprojection
        t2, j2 = np.nonzero(weight_2d > 0)
        self.t2, self.j2 = t2, j2
        self.uv = uv_corr[t2, j2]
        self.w2 = weight_2d[t2, j2] / sigma_px
        blocks.append(("2d", 2 * len(t2)))
        scales.append(np.full(2 * len(t2), s.robust_px))

        # direction prior
        seg = np.array(list(SEGMENTS.values()))
        td, ed = np.nonzero(dir_ok)
        self.td, self.ed = td, ed
        self.dhat = dir_lab[td, ed]
        self.dp, self.dc = seg[ed, 0], seg[ed, 1]
        blocks.append(("direction", 3 * len(td)))
        scales.append(np.full(3 * len(td), s.robust_direction))

        # segment lengths, every frame and segment
        tl, el = np.meshgrid(np.arange(n), np.arange(len(seg)), indexing="ij")
        self.tl, self.el = tl.ravel(), el.ravel()
        self.lp, self.lc = seg[self.el, 0], seg[self.el, 1]
        blocks.append(("length", len(self.tl)))
        blocks.append(("length_prior", len(seg)))
        blocks.append(("symmetry", 2))
        scales.append(np.full(len(self.tl) + len(seg) + 2, np.inf))

        # floor hinge, every ankle sample
        if with_floor:
            blocks.append(("floor", 2 * n))
            scales.append(np.full(2 * n, np.inf))
            contact = np.zeros((n, 2), bool) if contact is None else contact
            tc, ac = np.nonzero(contact)
            self.tc, self.ac = tc, np.asarray(ANKLES)[ac]
            both = contact[1:] & contact[:-1]
            ts, as_ = np.nonzero(both)
            self.ts, self.as_ = ts + 1, np.asarray(ANKLES)[as_]
            blocks.append(("ankle_height", 1))
            blocks.append(("contact", len(tc)))
            blocks.append(("slide", 2 * len(ts)))
            scales.append(np.full(1 + len(tc) + 2 * len(ts), np.inf))

        # smoothness
        self.n_acc = max(n - 2, 0) * PER_FRAME
        self.acc_w = rate_hz ** 2 / s.sigma_acceleration_mm_s2
        blocks.append(("acceleration", self.n_acc))
        scales.append(np.full(self.n_acc, s.robust_acceleration))

        self.blocks = blocks
        offs = np.cumsum([0] + [b[1] for b in blocks])
        self.offset = {name: int(o) for (name, _), o in zip(blocks, offs[:-1])}
        self.m = int(offs[-1])
        scale = np.concatenate(scales)
        cauchy = np.zeros(len(scale), bool)
        cauchy[self.offset["acceleration"]:] = True  # landings: rare, very large accelerations
        self.loss = _robust_rows(scale, cauchy)
        self._build_structure()

    # variable index of (frame, joint, coordinate)
    @staticmethod
    def xi(t, j, k=0):
        return (np.asarray(t) * NJ + np.asarray(j)) * 3 + k

    def _build_structure(self):
        rows, cols = [], []
        s = self
        # 2D: rows 2i+a, cols 3 of joint
        o = s.offset["2d"]
        r = o + 2 * np.arange(len(s.t2))[:, None, None] + np.arange(2)[None, :, None]
        c = s.xi(s.t2, s.j2)[:, None, None] + np.arange(3)[None, None, :]
        r, c = np.broadcast_arrays(r, c)
        rows.append(r.ravel()), cols.append(c.ravel())
        # direction: 3 rows x (child 3 diag, parent 3 diag, length 1)
        o = s.offset["direction"]
        base = o + 3 * np.arange(len(s.td))[:, None] + np.arange(3)[None, :]
        rows += [base.ravel(), base.ravel(), base.ravel()]
        cols += [(s.xi(s.td, s.dc)[:, None] + np.arange(3)).ravel(), (s.xi(s.td, s.dp)[:, None] + np.arange(3)).ravel(),
                 np.repeat(s.iL + s.ed, 3)]
        # length: 1 row x (child 3, parent 3, length 1)
        o = s.offset["length"]
        base = o + np.arange(len(s.tl))
        rows += [np.repeat(base, 3), np.repeat(base, 3), base]
        cols += [(s.xi(s.tl, s.lc)[:, None] + np.arange(3)).ravel(), (s.xi(s.tl, s.lp)[:, None] + np.arange(3)).ravel(),
                 s.iL + s.el]
        o = s.offset["length_prior"]
        rows.append(o + np.arange(len(SEGMENTS)))
        cols.append(s.iL + np.arange(len(SEGMENTS)))
        o = s.offset["symmetry"]  # thigh right - left, shank right - left
        rows.append(np.array([o, o, o + 1, o + 1]))
        cols.append(s.iL + np.array([0, 2, 1, 3]))
        if s.with_floor:
            o = s.offset["floor"]
            ta = np.repeat(np.arange(s.n), 2)
            aa = np.tile(np.asarray(ANKLES), s.n)
            base = o + np.arange(2 * s.n)
            rows += [base, base]
            cols += [s.xi(ta, aa, 2), np.full(2 * s.n, s.ih)]
            o = s.offset["ankle_height"]
            rows += [np.full(5, o)]
            cols += [np.array([s.ih, s.iL, s.iL + 1, s.iL + 2, s.iL + 3])]
            o = s.offset["contact"]
            base = o + np.arange(len(s.tc))
            rows += [base, base]
            cols += [s.xi(s.tc, s.ac, 2), np.full(len(s.tc), s.ih)]
            o = s.offset["slide"]
            base = o + 2 * np.arange(len(s.ts))[:, None] + np.arange(2)
            rows += [base.ravel(), base.ravel()]
            cols += [(s.xi(s.ts, s.as_)[:, None] + np.arange(2)).ravel(), (s.xi(s.ts - 1, s.as_)[:, None] + np.arange(2)).ravel()]
        o = s.offset["acceleration"]
        if s.n_acc:
            base = o + np.arange(s.n_acc)
            rows += [base, base, base, np.repeat(base, 4)]
            cols += [base - o, base - o + PER_FRAME, base - o + 2 * PER_FRAME, np.tile(s.iL + np.arange(4), s.n_acc)]
        self.rows = np.concatenate(rows).astype(np.int64)
        self.cols = np.concatenate(cols).astype(np.int64)

    def unpack(self, x):
        return x[:self.n_x].reshape(self.n, NJ, 3), x[self.iL:self.iL + len(SEGMENTS)], x[self.ih]

    def residuals(self, x):
        return self._evaluate(x, jac=False)

    def jacobian(self, x):
        return self._evaluate(x, jac=True)

    def _evaluate(self, x, jac):
        s, st = self, self.s
        X, L, h = self.unpack(x)
        res, vals = [], []
        # 2D
        P = X[s.t2, s.j2]
        Xc = (P - s.C) @ s.R.T
        z = np.maximum(Xc[:, 2], 1.0)
        uvw = Xc @ s.K.T
        p = uvw[:, :2] / z[:, None]
        res.append((s.w2[:, None] * (p - s.uv)).ravel())
        if jac:
            dcam = (s.K[None, :2, :] - p[:, :, None] * s.K[None, 2:3, :]) / z[:, None, None]  # (n, 2, 3) camera frame
            vals.append((s.w2[:, None, None] * (dcam @ s.R)).ravel())
        # direction prior
        w = 1.0 / st.sigma_direction
        Le = L[s.ed, None]
        d = X[s.td, s.dc] - X[s.td, s.dp]
        res.append((w * (d / Le - s.dhat)).ravel())
        if jac:
            wl = np.repeat(w / Le[:, 0], 3)
            vals += [wl, -wl, (-w * d / Le ** 2).ravel()]
        # lengths
        w = 1.0 / st.sigma_length_mm
        d = X[s.tl, s.lc] - X[s.tl, s.lp]
        ln = np.linalg.norm(d, axis=-1)
        res.append(w * (ln - L[s.el]))
        if jac:
            u = d / np.maximum(ln, 1e-9)[:, None]
            vals += [(w * u).ravel(), (-w * u).ravel(), np.full(len(s.tl), -w)]
        w = 1.0 / st.sigma_length_prior_mm
        res.append(w * (L - s.lengths0))
        if jac:
            vals.append(np.full(len(SEGMENTS), w))
        w = 1.0 / st.sigma_symmetry_mm
        res.append(w * np.array([L[0] - L[2], L[1] - L[3]]))
        if jac:
            vals.append(np.array([w, -w, w, -w]))
        if s.with_floor:
            w = 1.0 / st.sigma_floor_mm
            za = X[:, ANKLES, 2].ravel()
            gap = h - st.floor_tolerance_mm - za
            active = gap > 0
            res.append(w * np.where(active, gap, 0.0))
            if jac:
                vals += [np.where(active, -w, 0.0), np.where(active, w, 0.0)]
            w = 1.0 / st.sigma_ankle_height_mm
            k = st.ankle_height_per_leg / 2.0
            res.append(np.array([w * (h - self.floor_mm - k * (L[0] + L[1] + L[2] + L[3]))]))
            if jac:
                vals += [np.array([w, -w * k, -w * k, -w * k, -w * k])]
            w = 1.0 / st.sigma_contact_mm
            res.append(w * (X[s.tc, s.ac, 2] - h))
            if jac:
                vals += [np.full(len(s.tc), w), np.full(len(s.tc), -w)]
            w = 1.0 / st.sigma_slide_mm
            res.append((w * (X[s.ts, s.as_, :2] - X[s.ts - 1, s.as_, :2])).ravel())
            if jac:
                vals += [np.full(2 * len(s.ts), w), np.full(2 * len(s.ts), -w)]
        if s.n_acc:
            # in units of the athlete's size (leg_ref / leg), so that smoothness does not favour
            # a smaller skeleton nearer the camera, which would look the same and move less
            leg = 0.5 * (L[0] + L[1] + L[2] + L[3])
            w = s.acc_w * s.leg_ref / leg
            xf = x[:s.n_x].reshape(s.n, PER_FRAME)
            r = (w * (xf[2:] - 2.0 * xf[1:-1] + xf[:-2])).ravel()
            res.append(r)
            if jac:
                vals += [np.full(s.n_acc, w), np.full(s.n_acc, -2.0 * w), np.full(s.n_acc, w),
                         np.repeat(-0.5 * r / leg, 4)]
        if not jac:
            return np.concatenate(res)
        return sparse.csr_matrix((np.concatenate(vals), (s.rows, s.cols)), shape=(s.m, s.n_var))

    def block(self, f, name):
        o = self.offset[name]
        size = dict(self.blocks)[name]
        return f[o:o + size]


class _ArrowCholesky:
    """Cholesky factor of a symmetric positive definite matrix whose first ``n_x`` unknowns (the
    frames, ordered in time) form a band and whose last few (the trial's unknowns) are dense:
    banded Cholesky of the frame block, Schur complement for the rest. O(T) time and memory."""

    def __init__(self, H, n_x):
        H = H.tocsr()
        B = H[:n_x, :n_x].tocoo()
        self.C = H[:n_x, n_x:].toarray()
        D = H[n_x:, n_x:].toarray()
        upper = B.row <= B.col
        kb = int(np.max(B.col[upper] - B.row[upper])) if upper.any() else 0
        ab = np.zeros((kb + 1, n_x))
        np.add.at(ab, (kb + B.row[upper] - B.col[upper], B.col[upper]), B.data[upper])
        self.kb, self.n_x = kb, n_x
        self.U = cholesky_banded(ab, lower=False)
        self.BinvC = cho_solve_banded((self.U, False), self.C) if self.C.shape[1] else self.C
        S = D - self.C.T @ self.BinvC
        self.S_cho = cho_factor(0.5 * (S + S.T), lower=True)

    def solve(self, rhs):
        bx, bg = rhs[:self.n_x], rhs[self.n_x:]
        y = cho_solve_banded((self.U, False), bx)
        g = cho_solve(self.S_cho, bg - self.C.T @ y)
        return np.concatenate([y - self.BinvC @ g, g])


class _Posterior:
    """Gaussian posterior N(x, s^2 (J^T J)^-1) of the frame unknowns, from an :class:`_ArrowCholesky`."""

    def __init__(self, Jac, n_x, scale2, span):
        self.span = span
        A = (Jac.T @ Jac).tocsr()
        A = A + sparse.diags(np.full(A.shape[0], 1e-9 * max(float(A.diagonal().max()), 1.0)))
        f = _ArrowCholesky(A, n_x)
        self.kb, self.n_x, self.U, self.BinvC = f.kb, n_x, f.U, f.BinvC
        self.S_cho = f.S_cho
        self.Sinv = cho_solve(self.S_cho, np.eye(len(self.S_cho[0])))
        self.scale2 = scale2
        diag = self._diag_inverse_banded() + np.einsum("ij,jk,ik->i", self.BinvC, self.Sinv, self.BinvC)
        self.var_x = scale2 * np.maximum(diag, 0.0)
        self.var_g = scale2 * np.maximum(np.diag(self.Sinv), 0.0)

    def _diag_inverse_banded(self):
        """diag(B^-1) from B = U^T U (U upper, band kb), by the Takahashi recursion over the band."""
        kb, n = self.kb, self.n_x
        U = np.zeros((n + kb, kb + 1))  # U[i, d] = U_{i, i+d}
        for d in range(kb + 1):
            U[:n - d, d] = self.U[kb - d, d:]
        Z = np.zeros((n + kb, kb + 1))  # Z[i, d] = (B^-1)_{i, i+d}, within the band
        a = np.arange(kb)
        base = np.minimum(a[:, None], a[None, :])
        dist = np.abs(a[:, None] - a[None, :])
        diag = np.empty(n)
        for i in range(n - 1, -1, -1):
            u = U[i, 1:]
            W = Z[i + 1 + base, dist]
            uii = U[i, 0]
            row = -(u @ W) / uii
            Z[i, 1:] = row
            Z[i, 0] = 1.0 / uii ** 2 - (u @ row) / uii
            diag[i] = Z[i, 0]
        return diag

    def draw(self, n, rng):
        ng = len(self.Sinv)
        zg = rng.standard_normal((ng, n))
        Ls = np.tril(self.S_cho[0])  # S = Ls Ls^T, so Ls^-T z ~ N(0, S^-1)
        g = solve_triangular(Ls.T, zg, lower=False)
        zf = rng.standard_normal((self.n_x, n))
        f = solve_banded((0, self.kb), self.U, zf) - self.BinvC @ g
        return (np.sqrt(self.scale2) * f).T


@dataclass
class _Solution:
    x: np.ndarray
    fun: np.ndarray
    jac: object  # robust-scaled Jacobian at x (sparse)
    cost: float
    nfev: int
    converged: bool


def levenberg_marquardt(fun, jac, loss, x0, lb, ub, n_x: int, max_iter: int = 60, rtol: float = 1e-8,
                        xtol_mm: float = 1e-4) -> _Solution:
    """Robust Levenberg-Marquardt with exact sparse steps.

    Minimises 0.5 sum(loss(f(x)^2)) like ``least_squares(..., loss=loss)``, but each step solves
    the damped normal equations (J^T W J + lambda diag) dx = -J^T W f exactly (:class:`_ArrowCholesky`;
    the first ``n_x`` unknowns are the frames, in time order)
    (W: the loss's first derivative, iteratively reweighted least squares), which converges in a
    few dozen iterations where the trust-region solver's iterative LSMR steps stall on this
    poorly scaled problem (depth is weakly observed). Bounds are kept by clipping.
    """
    x = np.clip(np.asarray(x0, float), lb, ub)
    f = fun(x)
    rho = loss(f * f)
    cost = 0.5 * float(rho[0].sum())
    lam = 1e-3
    nfev = 1
    converged = False
    for _ in range(max_iter):
        Jm = jac(x)
        w = rho[1]
        Jw = sparse.diags(np.sqrt(w)) @ Jm
        H = (Jw.T @ Jw).tocsr()
        g = Jm.T @ (w * f)
        dH = np.maximum(H.diagonal(), 1e-9 * max(float(H.diagonal().max()), 1.0))
        improved = False
        for _ in range(10):
            try:
                step = -_ArrowCholesky(H + sparse.diags(lam * dH), n_x).solve(g)
            except np.linalg.LinAlgError:
                lam *= 8.0
                continue
            x_new = np.clip(x + step, lb, ub)
            f_new = fun(x_new)
            nfev += 1
            rho_new = loss(f_new * f_new)
            cost_new = 0.5 * float(rho_new[0].sum())
            if np.isfinite(cost_new) and cost_new <= cost:
                improved = True
                break
            lam *= 8.0
        if not improved:
            converged = True  # no descent left at any damping: a minimum to within round-off
            break
        small = np.max(np.abs(x_new - x)) < xtol_mm or (cost - cost_new) <= rtol * max(cost, 1e-12)
        x, f, rho, cost = x_new, f_new, rho_new, cost_new
        lam = max(lam / 5.0, 1e-9)
        if small:
            converged = True
            break
    Jm = jac(x)
    w = rho[1]
    return _Solution(x, f, sparse.diags(np.sqrt(w)) @ Jm, cost, nfev, converged)


# ----------------------------------------------------------------------------- the entry point
def reconstruct(keypoints_px, joints_cam_m, confidence, camera, rate_hz: float, floor_mm: float = 0.0,
                settings: ReconstructionSettings | None = None, prior: str = "network", lifter=None,
                **overrides) -> Reconstruction:
    """Lab-frame joint centres (mm) of one trial from the network's output and the calibration.

    ``keypoints_px`` (T, 6, 2) raw distorted pixels (NaN: not detected), ``joints_cam_m``
    (T, 6, 3) metres relative to the mid-hip in the camera frame, ``confidence`` (T, 6),
    ``camera`` a :class:`kneeview.camera.Camera`, ``rate_hz`` the frame rate, ``floor_mm`` the
    floor's lab Z. Weights and thresholds: :class:`ReconstructionSettings` (``settings`` or
    keyword overrides such as ``sigma_px=2.0``).

    ``prior``: where the segment directions' prior comes from. "network": ``joints_cam_m``;
    "lifter": the temporal 2D->3D lifter (:mod:`.lifting`; ``lifter`` or the bundled one,
    a KneeViewInputError when there is none) run on ``keypoints_px``, scaled to the network's
    leg length and held with ``sigma_direction_lifter``; "auto": the lifter when one is
    available, else the network.
    """
    t_start = time.perf_counter()
    st = settings or ReconstructionSettings()
    if overrides:
        st = ReconstructionSettings(**{**st.__dict__, **overrides})
    kp = np.asarray(keypoints_px, dtype=np.float64)
    net = np.asarray(joints_cam_m, dtype=np.float64)
    conf = np.nan_to_num(np.asarray(confidence, dtype=np.float64), nan=0.0)
    T = len(kp)
    if kp.shape != (T, NJ, 2) or net.shape != (T, NJ, 3) or conf.shape != (T, NJ):
        raise ValueError(f"expected keypoints (T, {NJ}, 2), joints (T, {NJ}, 3), confidence (T, {NJ}); "
                         f"got {kp.shape}, {net.shape}, {conf.shape}")
    rate_hz = float(rate_hz)

    # ---- depth prior: the network's 3D, or the lifter's (better relative depth; see lifting.py)
    if prior not in ("network", "lifter", "auto"):
        raise ValueError(f"prior must be 'network', 'lifter' or 'auto', got {prior!r}")
    sigma_direction_2 = st.sigma_direction
    prior_spread = None
    # the frames seen from behind: the lifter reads them on the depth-reflected scene, the bands widen there
    behind = seen_from_behind_2d(kp, conf, camera, rate_hz)
    if prior != "network":
        from .lifting import bundled_lifter, lifted_prior

        if lifter is None:
            lifter = bundled_lifter(required=prior == "lifter")
        lifted = lifted_prior(kp, net, conf, camera, rate_hz, lifter, behind) if lifter is not None else None
        if lifted is not None:
            net, prior_spread = lifted
            if "sigma_direction" not in overrides:  # held tightly in pass 2 only (see below)
                sigma_direction_2 = st.sigma_direction_lifter

    cor = camera.undistort_points(kp.reshape(-1, 2)).reshape(T, NJ, 2)
    obs = np.isfinite(cor).all(-1) & (conf > 0)
    has_data = obs.sum(-1) >= 2
    empty = _empty_result(T, rate_hz, st, prior_spread)
    if has_data.sum() < 3:
        return empty
    first, last = np.flatnonzero(has_data)[[0, -1]]
    span = (int(first), int(last) + 1)
    n = span[1] - span[0]
    sl = slice(*span)

    # network 3D in the lab: segment directions and lengths, and a first placement
    rel_lab = camera_to_lab(net, camera)
    seg = np.array(list(SEGMENTS.values()))
    vec = rel_lab[:, seg[:, 1]] - rel_lab[:, seg[:, 0]]
    net_len = np.linalg.norm(vec, axis=-1)
    dir_ok = np.isfinite(net_len) & (net_len > 1.0) & has_data[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        dir_lab = vec / net_len[..., None]
    lengths0 = np.array([np.median(net_len[dir_ok[:, e], e]) if dir_ok[:, e].any() else 450.0
                         for e in range(len(SEGMENTS))])
    hip = locate_mid_hip(net, kp, camera, conf)
    X0 = camera_to_lab(net, camera, hip)
    ok0 = np.isfinite(X0).all(axis=(1, 2))
    if not ok0[sl].any():
        return empty
    X0 = _interpolate_frames(X0[sl], ok0[sl])

    weight = np.where(obs, np.sqrt(np.clip(conf, 0.0, 1.0)), 0.0)[sl]
    uv = np.where(obs[..., None], cor, 0.0)[sl]
    dlab = np.where(dir_ok[..., None], dir_lab, 0.0)[sl]
    dok = dir_ok[sl]
    sigma_px = float(st.sigma_px) if st.sigma_px else st.sigma_px_per_diagonal * float(np.hypot(*camera.image_size))

    def solve(problem, x0):
        lb = np.full(problem.n_var, -np.inf)
        ub = np.full(problem.n_var, np.inf)
        lb[problem.ih] = floor_mm + st.min_ankle_height_mm
        ub[problem.ih] = floor_mm + st.max_ankle_height_mm
        return levenberg_marquardt(problem.residuals, problem.jacobian, problem.loss, x0, lb, ub, problem.n_x)

    # pass 1: no floor terms; tells where the feet are in contact and the 2D noise level
    st1 = ReconstructionSettings(**{**st.__dict__, "sigma_length_prior_mm": st.sigma_length_prior_first_mm,
                                    "sigma_acceleration_mm_s2": st.sigma_acceleration_first_mm_s2})
    p1 = _Problem(uv, weight, dlab, dok, lengths0, camera, rate_hz, st1, sigma_px, with_floor=False)
    x0 = np.concatenate([X0.ravel(), lengths0, [floor_mm + 60.0]])
    r1 = solve(p1, x0)
    X1, L1, _ = p1.unpack(r1.x)
    contact = detect_contact(lowpass(X1, rate_hz, min(6.0, 0.2 * rate_hz)), rate_hz, floor_mm, st,
                             uv_corr=np.where(obs[..., None], cor, np.nan)[sl] if st.contact_from_2d else None,
                             camera=camera)
    pinned = _trim_runs(contact, st.contact_pin_trim)
    hz = X1[:, list(ANKLES), 2][pinned]
    h0 = float(np.median(hz)) if hz.size else float(np.nanmin(X1[:, list(ANKLES), 2]))

    # pass 2: everything
    # start pass 2 from pass 1 scaled about the camera centre so that the contact ankle height
    # matches the anthropometric prior (scaling keeps every reprojection)
    Cz = float(camera.position_mm[2])
    leg1 = 0.5 * float(L1[:4].sum())
    k = 1.0
    if hz.size:
        den = h0 - Cz - st.ankle_height_per_leg * leg1
        k = (floor_mm - Cz) / den if abs(den) > 1e-6 else 1.0
        k = float(np.clip(k, 0.5, 2.0))
    C = np.asarray(camera.position_mm, float)
    X2_0 = C + k * (X1 - C)
    h0 = floor_mm + st.ankle_height_per_leg * k * leg1
    # a tight direction prior (the lifter's) only here: in pass 1 it would pull the scale and
    # the contacts with the prior's small biases (a 20 mm ankle bias cost 600 mm of depth on a test trial)
    st2 = st if sigma_direction_2 == st.sigma_direction else ReconstructionSettings(
        **{**st.__dict__, "sigma_direction": sigma_direction_2})
    p2 = _Problem(uv, weight, dlab, dok, lengths0, camera, rate_hz, st2, sigma_px, contact=pinned, with_floor=True,
                  floor_mm=floor_mm)
    r2 = solve(p2, np.concatenate([X2_0.ravel(), k * L1, [h0]]))
    X2, L2, h2 = p2.unpack(r2.x)

    # uncertainty
    dof = max(p2.m - p2.n_var, 1)
    scale2 = float(2.0 * r2.cost / dof)
    post = _Posterior(sparse.csr_matrix(r2.jac), p2.n_x, scale2, span)
    sd = np.full((T, NJ, 3), np.nan)
    sd[sl] = np.sqrt(post.var_x).reshape(n, NJ, 3)
    var_g = post.var_g

    out = np.full((T, NJ, 3), np.nan)
    out[sl] = X2
    # per-frame 2D residual (sigma units, without the confidence weight)
    r2d = p2.block(r2.fun, "2d").reshape(-1, 2) / weight[p2.t2, p2.j2][:, None]
    ss = np.zeros(n)
    cnt = np.zeros(n)
    np.add.at(ss, p2.t2, np.sum(r2d ** 2, axis=-1))
    np.add.at(cnt, p2.t2, 2)
    resid = np.full(T, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        resid[sl] = np.sqrt(ss / cnt)

    bridged = np.zeros(T, bool)
    bridged[sl] = ~has_data[sl]
    for a, b in _runs(~has_data[sl]):
        if (b - a) / rate_hz > st.max_gap_s:
            out[span[0] + a:span[0] + b] = np.nan
            sd[span[0] + a:span[0] + b] = np.nan
    contact_full = np.zeros((T, 2), bool)
    contact_full[sl] = contact
    mean_conf = np.where(obs, conf, 0.0).mean(-1)
    knee_sd = np.linalg.norm(sd[:, list(KNEES)], axis=-1).max(-1)
    reliable = (np.isfinite(out).all(axis=(1, 2)) & ~bridged & (np.nan_to_num(resid, nan=np.inf) <= st.reliable_residual)
                & (mean_conf >= st.reliable_confidence) & (np.nan_to_num(knee_sd, nan=np.inf) <= st.reliable_sd_mm))
    if prior_spread is not None:  # the lifter's networks disagree: a recording unlike their training
        reliable &= ~(prior_spread > st.reliable_prior_spread_deg)
    sd *= st.posterior_inflation
    knee_depth = None
    if st.knee_depth_fraction > 0:
        knee_depth = knee_depth_axes(out, camera.position_mm, st.knee_depth_fraction)
        sd[:, list(KNEES)] = np.sqrt(sd[:, list(KNEES)] ** 2 + knee_depth ** 2)
    pelvis_yaw = None
    if st.pelvis_yaw_sd_deg > 0:
        pelvis_yaw = pelvis_yaw_axes(out, st.pelvis_yaw_sd_deg)
        sd[:, list(HIPS)] = np.sqrt(sd[:, list(HIPS)] ** 2 + pelvis_yaw ** 2)
    sd_factor = np.where(behind, st.rear_sd_factor, 1.0)
    if prior_spread is not None:
        sd_factor = np.maximum(sd_factor, np.sqrt(np.nan_to_num(prior_spread) / st.spread_sd_scale_deg))
    sd *= sd_factor[:, None, None]
    heights = image_heights(out, np.where(obs[..., None], cor, np.nan), camera, rate_hz, st.height_depth_cutoff_hz)
    names = list(SEGMENTS)
    return Reconstruction(
        joints_lab_mm=out, joints_sd_mm=sd,
        segment_lengths_mm={k: float(v) for k, v in zip(names, L2)},
        segment_lengths_sd_mm={k: float(np.sqrt(v)) for k, v in zip(names, var_g[:len(names)])},
        ankle_contact_height_mm=float(h2), contact=contact_full, heights_mm=heights, reliable=reliable, residual_2d=resid,
        bridged=bridged, sigma_px=sigma_px, residual_scale=float(np.sqrt(scale2)), rate_hz=rate_hz,
        solve_time_s=time.perf_counter() - t_start, settings=st, _posterior=post, _knee_depth=knee_depth,
        _pelvis_yaw=pelvis_yaw,
        prior_spread_deg=prior_spread, _sd_factor=sd_factor)


def knee_depth_axes(joints_lab_mm, camera_position_mm, fraction: float) -> np.ndarray:
    """(T, 2, 3) right and left knee: the unit ray from the camera through the knee times ``fraction``
    x the knee's distance from its hip-ankle line (mm); NaN where a joint is missing."""
    X = np.asarray(joints_lab_mm, float)
    out = []
    for hip, knee, ankle in (J.LEGS["right"], J.LEGS["left"]):
        a, k, b = X[:, hip], X[:, knee], X[:, ankle]
        axis = b - a
        with np.errstate(invalid="ignore", divide="ignore"):
            axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
            off = (k - a) - np.sum((k - a) * axis, -1, keepdims=True) * axis
            ray = k - np.asarray(camera_position_mm, float)
            ray = ray / np.linalg.norm(ray, axis=-1, keepdims=True)
        out.append(ray * (fraction * np.linalg.norm(off, axis=-1, keepdims=True)))
    return np.stack(out, 1)


def pelvis_yaw_axes(joints_lab_mm, sd_deg: float) -> np.ndarray:
    """(T, 2, 3) right and left hip: how each moves (mm) when the pelvis turns by ``sd_deg`` about the
    lab's vertical through the mid-hip (to first order: the vertical x the hip's offset from the
    mid-hip, times the angle); NaN where a hip is missing."""
    X = np.asarray(joints_lab_mm, float)
    hips = X[:, list(HIPS)]
    arm = hips - hips.mean(axis=1, keepdims=True)
    return np.cross(np.array([0.0, 0.0, 1.0]), arm) * np.radians(float(sd_deg))


def _empty_result(T, rate_hz, st, prior_spread=None):
    nan = np.full((T, NJ, 3), np.nan)
    return Reconstruction(nan, nan.copy(), {k: float("nan") for k in SEGMENTS}, {k: float("nan") for k in SEGMENTS},
                          float("nan"), np.zeros((T, 2), bool), np.full((T, NJ), np.nan), np.zeros(T, bool), np.full(T, np.nan), np.zeros(T, bool),
                          float("nan"), float("nan"), float(rate_hz), 0.0, st, None, prior_spread_deg=prior_spread)


def image_heights(joints_lab_mm, uv_corr, camera, rate_hz: float, cutoff_hz: float = 2.0) -> np.ndarray:
    """(T, 6) lab heights (mm) of the joints, read on the rays through their undistorted 2D
    keypoints ``uv_corr`` (T, 6, 2; NaN: none) at the camera depth of ``joints_lab_mm`` (T, 6, 3)
    low-passed at ``cutoff_hz``; the joints' own heights where there is no 2D.

    A single view's depth is its least certain coordinate, and along a ray that is not level a
    depth error is a height error: the fit's pelvis and ankle heights wobble frame to frame by
    what its depth does (the lowest pelvis of a squat was found up to 15 frames off). The 2D
    keypoint is precise frame to frame; with the depth held to its slow trend the height follows
    the image, so the events (lowest pelvis, a heel's rise) are timed by what the camera sees.
    """
    X = np.asarray(joints_lab_mm, float)
    depth = lowpass(camera.world_to_camera(X)[..., 2], rate_hz, min(cutoff_hz, 0.4 * rate_hz))
    uv = np.asarray(uv_corr, float)
    ray = np.concatenate([uv, np.ones(uv.shape[:-1] + (1,))], axis=-1) @ np.linalg.inv(np.asarray(camera.K, float)).T
    on_ray = camera.camera_to_world(depth[..., None] * ray)  # camera depth 1 on ray: scaled to the depth
    return np.where(np.isfinite(on_ray[..., 2]), on_ray[..., 2], X[..., 2])


def detect_contact(joints_lab_mm, rate_hz, floor_mm=0.0, settings: ReconstructionSettings | None = None,
                   uv_corr=None, camera=None) -> np.ndarray:
    """(T, 2) bool, right and left ankle in floor contact: still and near the trial's lowest ankle level.

    With the undistorted 2D keypoints ``uv_corr`` (T, 6, 2) and the ``camera``, "still" is read
    from the image: a planted foot does not move in the image, while a single-view 3D ankle also
    moves along its ray wherever the depth is uncertain. A frame is still when it belongs to a
    window of ``still_window_s`` whose 2D points lie within ``still_radius_mm`` (pixels times the
    ankle's median depth over the focal length) of the window's mean. Without 2D, "slow" is the
    3D ankle speed under ``contact_speed_mm_s``.

    "Low": within ``contact_height_mm`` of the lowest level (a low percentile of both ankles'
    heights over the still frames: one floor, one pair of shoes), or within
    ``contact_pair_height_mm`` while the other foot is still too and level with this one.
    A contact must last ``min_contact_s``.
    """
    st = settings or ReconstructionSettings()
    X = np.asarray(joints_lab_mm, float)
    ank = X[:, list(ANKLES)]  # (T, 2, 3)
    if uv_corr is not None and camera is not None:
        depth = camera.world_to_camera(ank)[..., 2]
        uv = np.asarray(uv_corr, float)[:, list(ANKLES)]
        uv = _interpolate_frames(uv, np.isfinite(uv).all(axis=(1, 2)))  # short gaps bridged
        mm = uv * (np.nanmedian(depth, axis=0) / float(camera.focal_length_px))[None, :, None]
        win = max(2, int(round(st.still_window_s * rate_hz)))
        slow = np.stack([_still(mm[:, a], win, st.still_radius_mm) for a in range(2)], axis=1)
        slow = np.stack([_settled(mm[:, a], slow[:, a], st.settled_min_mm) for a in range(2)], axis=1)
    else:
        speed = np.linalg.norm(np.gradient(ank, axis=0) * rate_hz, axis=-1)
        slow = speed < st.contact_speed_mm_s
    z = ank[..., 2]
    if not slow.any():
        return np.zeros(z.shape, bool)
    level = np.percentile(z[slow], 5)
    low = z < level + st.contact_height_mm
    level_pair = (np.abs(z[:, 0] - z[:, 1]) < st.contact_pair_diff_mm)[:, None]
    low |= (z < level + st.contact_pair_height_mm) & slow[:, ::-1] & level_pair
    return _trim_runs(slow & low, 0, min_len=max(2, int(round(st.min_contact_s * rate_hz))))


def _still(points, win, radius):
    """(T,) bool: the frame lies in a window of ``win`` + 1 frames whose ``points`` (T, 2) are all
    within ``radius`` of the window's mean."""
    T = len(points)
    out = np.zeros(T, bool)
    if T <= win:
        return out
    w = np.lib.stride_tricks.sliding_window_view(points, win + 1, axis=0)  # (T - win, 2, win + 1)
    spread = np.linalg.norm(w - w.mean(axis=-1, keepdims=True), axis=1).max(axis=-1)
    for s in np.flatnonzero(spread < radius):
        out[s:s + win + 1] = True
    return out


def _settled(points, still, min_mm):
    """``still`` (T,) with each run's end frames dropped while their ``points`` (T, 2) lie further
    from the run's median than 2.5 x the run's robust spread (at least ``min_mm``)."""
    out = np.array(still, bool, copy=True)
    for s, e in _runs(still):
        p = points[s:e]
        d = np.linalg.norm(p - np.median(p, axis=0), axis=-1)
        tol = max(min_mm, 2.5 * 1.4826 * float(np.median(d)))
        ok = np.flatnonzero(d <= tol)
        out[s:e] = False
        if ok.size:
            out[s + ok[0]:s + ok[-1] + 1] = True
    return out


def _trim_runs(mask, n, min_len=2):
    """``mask`` (T, k) with ``n`` frames removed at each end of every run of True (runs touching
    the ends of the trial keep those ends); runs left shorter than ``min_len`` frames vanish."""
    out = np.zeros_like(mask)
    T = len(mask)
    for a in range(mask.shape[1]):
        for s, e in _runs(mask[:, a]):
            s2 = s + n if s > 0 else s
            e2 = e - n if e < T else e
            if e2 - s2 >= min_len:
                out[s2:e2, a] = True
    return out


def metric_uncertainty(recon: Reconstruction, reference_frame: int | None = None, n_samples: int = 200,
                       seed: int = 0) -> dict[str, np.ndarray]:
    """Per-frame standard deviation of the MKD and FPPA columns of :func:`.metrics.knee_metrics_3d`.

    Propagates the reconstruction's posterior by sampling: ``n_samples`` draws, the metrics
    of each, their per-frame sd. Keys: the metric's column name + ``_sd`` (``mkd_left_mm_sd``,
    ``mkd_ic_right_mm_sd``, ``fppa_left_deg_sd``...), same units as the metric.
    """
    draws = recon.sample(n_samples, seed=seed)
    cols = None
    acc: dict[str, list] = {}
    for d in draws:
        m = knee_metrics_3d(d, reference_frame)
        if cols is None:
            cols = [k for k in m if k.startswith(("mkd", "fppa"))]
        for k in cols:
            acc.setdefault(k, []).append(m[k])
    out = {}
    for k in cols or []:
        a = np.asarray(acc[k])
        with np.errstate(invalid="ignore"):
            out[f"{k}_sd"] = np.nanstd(a, axis=0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1])
    return out
