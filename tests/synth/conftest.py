"""Small synthetic trials shared by the synth tests (written once per session)."""
from __future__ import annotations

import numpy as np
import pytest

MAGENTA = (255, 0, 255)  # a background colour no clothing, skin, hair or shoe has


def frontal_mkd(hip, knee, ankle, lateral, medial_sign):
    """Signed frontal-plane distance of the knee from the hip-ankle line (reference, written
    from the definition independently of kneeview.synth): project on (lateral, Z), take the
    2D cross product, orient it toward the midline."""
    lat = np.asarray(lateral, float)
    h = np.stack([hip @ lat, hip[..., 2]], -1)
    k = np.stack([knee @ lat, knee[..., 2]], -1)
    a = np.stack([ankle @ lat, ankle[..., 2]], -1)
    d = a - h
    cross = d[..., 0] * (k - h)[..., 1] - d[..., 1] * (k - h)[..., 0]
    dist = cross / np.linalg.norm(d, axis=-1)
    # with the hip above the ankle, cross < 0 means the knee lies toward -lateral
    return dist * medial_sign


def mkd_both(joints, lateral=(1.0, 0.0, 0.0)):
    right = frontal_mkd(joints[:, 0], joints[:, 2], joints[:, 4], lateral, -1.0)
    left = frontal_mkd(joints[:, 1], joints[:, 3], joints[:, 5], lateral, 1.0)
    return np.stack([right, left], -1)


@pytest.fixture(scope="session")
def plain_trial(tmp_path_factory):
    """A drop jump on a uniform magenta background, no noise/blur/shadow, 320x240."""
    from kneeview.synth.dataset import TrialSpec, build_trial, render_trial

    out = tmp_path_factory.mktemp("plain")
    spec = TrialSpec(seed=3, index=0, athlete_index=0, year=1, task="DJ", size=(320, 240))
    opts = dict(fps=50.0, rate_hz=100.0, valgus_mm=(45.0, 10.0), plain=True, background=MAGENTA,
                strength=0.15, placement="oblique")
    entry = render_trial(spec, out, **opts)
    built = build_trial(spec, **opts)
    return out, entry, built
