"""Per-athlete body dimensions and appearance.

Segment lengths follow Winter's proportions of standing height (hip-knee 0.245 H,
knee-ankle 0.246 H, ankle height 0.039 H, ...) with per-athlete variation, so every
athlete has plausible, slightly different limbs. Colours are BGR (OpenCV order).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: Skin tones, light to dark (BGR).
SKIN_TONES = (
    (196, 214, 244), (170, 195, 234), (150, 180, 225), (120, 160, 205),
    (100, 135, 190), (80, 110, 160), (60, 85, 130), (45, 62, 95),
)
HAIR_COLOURS = ((20, 20, 25), (30, 40, 60), (40, 70, 110), (70, 110, 160), (110, 160, 200), (140, 140, 140))
CLOTHING_COLOURS = (
    (40, 40, 40), (30, 30, 160), (160, 60, 20), (40, 140, 40), (230, 230, 230), (0, 140, 230),
    (120, 40, 120), (170, 150, 40), (50, 50, 110), (90, 90, 90), (20, 200, 230), (140, 80, 30),
    (180, 120, 200), (60, 100, 60), (200, 200, 60), (30, 60, 200),
)
TOPS = ("tank", "tshirt", "longsleeve")
BOTTOMS = ("shorts", "tights", "capri")
HAIR_STYLES = ("short", "ponytail", "bun", "shaved")


@dataclass(frozen=True)
class Athlete:
    """One synthetic athlete: dimensions in mm, appearance, and a valgus tendency."""

    athlete_id: str
    sex: str
    height_mm: float
    thigh_mm: float  # hip joint centre to knee joint centre
    shank_mm: float  # knee joint centre to ankle joint centre
    ankle_height_mm: float
    foot_mm: float
    hip_width_mm: float  # between the hip joint centres
    trunk_mm: float  # mid-hip to the base of the neck
    shoulder_width_mm: float  # between the shoulder joint centres
    upper_arm_mm: float
    forearm_mm: float
    neck_mm: float
    head_radius_mm: float
    build: float  # girth multiplier, 0.85 (slim) .. 1.2 (heavy)
    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    hair_style: str
    top: str
    top_colour: tuple[int, int, int]
    bottom: str
    bottom_colour: tuple[int, int, int]
    shoe_colour: tuple[int, int, int]
    sole_colour: tuple[int, int, int]
    sock_colour: tuple[int, int, int]
    #: Typical peak medial knee displacement of this athlete (mm), right and left.
    valgus_tendency_mm: tuple[float, float] = (0.0, 0.0)

    @property
    def leg_mm(self) -> float:
        return self.thigh_mm + self.shank_mm

    def to_json(self) -> dict:
        return {
            "athlete_id": self.athlete_id,
            "sex": self.sex,
            "height_mm": round(self.height_mm, 1),
            "thigh_mm": round(self.thigh_mm, 1),
            "shank_mm": round(self.shank_mm, 1),
            "hip_width_mm": round(self.hip_width_mm, 1),
            "build": round(self.build, 3),
        }


def _colour(rng: np.random.Generator, palette, jitter: int = 18) -> tuple[int, int, int]:
    base = np.array(palette[rng.integers(len(palette))], dtype=float)
    return tuple(int(v) for v in np.clip(base + rng.normal(0, jitter, 3), 0, 255))


def sample_appearance(rng: np.random.Generator) -> dict:
    """Clothing, hair and shoes (what changes between recording years)."""
    top_colour = _colour(rng, CLOTHING_COLOURS)
    bottom_colour = _colour(rng, CLOTHING_COLOURS)
    return {
        "top": TOPS[rng.integers(len(TOPS))],
        "top_colour": top_colour,
        "bottom": BOTTOMS[rng.integers(len(BOTTOMS))],
        "bottom_colour": bottom_colour,
        "shoe_colour": _colour(rng, CLOTHING_COLOURS, 25),
        "sole_colour": (235, 235, 235) if rng.random() < 0.7 else (40, 40, 40),
        "sock_colour": (240, 240, 240) if rng.random() < 0.6 else _colour(rng, CLOTHING_COLOURS),
    }


def sample_athlete(rng: np.random.Generator, athlete_id: str) -> Athlete:
    """A plausible young athlete (height 1.55-1.98 m)."""
    sex = "F" if rng.random() < 0.5 else "M"
    height = float(np.clip(rng.normal(1680 if sex == "F" else 1800, 65), 1550, 1980))

    def prop(ratio: float, sd: float = 0.03) -> float:
        return height * ratio * float(np.clip(rng.normal(1.0, sd), 0.92, 1.08))

    tendency_mean = rng.normal(12.0, 14.0)
    tendency = tuple(float(np.clip(tendency_mean + rng.normal(0, 8), -15, 90)) for _ in range(2))
    return Athlete(
        athlete_id=athlete_id,
        sex=sex,
        height_mm=height,
        thigh_mm=prop(0.245),
        shank_mm=prop(0.246),
        ankle_height_mm=prop(0.039, 0.05),
        foot_mm=prop(0.150),
        hip_width_mm=prop(0.105 if sex == "F" else 0.098, 0.06),
        trunk_mm=prop(0.288),
        shoulder_width_mm=prop(0.195 if sex == "F" else 0.215, 0.05),
        upper_arm_mm=prop(0.186),
        forearm_mm=prop(0.146),
        neck_mm=prop(0.052),
        head_radius_mm=prop(0.058, 0.04),
        build=float(np.clip(rng.normal(1.0, 0.08), 0.85, 1.2)),
        skin=_colour(rng, SKIN_TONES, 8),
        hair=_colour(rng, HAIR_COLOURS, 8),
        hair_style=HAIR_STYLES[rng.integers(len(HAIR_STYLES))],
        valgus_tendency_mm=tendency,  # type: ignore[arg-type]
        **sample_appearance(rng),
    )


def next_year(athlete: Athlete, rng: np.random.Generator) -> Athlete:
    """The same athlete a year later: a little taller, other clothes."""
    grow = 1.0 + float(rng.uniform(0.0, 0.015))
    return replace(
        athlete,
        height_mm=athlete.height_mm * grow,
        thigh_mm=athlete.thigh_mm * grow,
        shank_mm=athlete.shank_mm * grow,
        trunk_mm=athlete.trunk_mm * grow,
        build=float(np.clip(athlete.build + rng.normal(0, 0.03), 0.85, 1.2)),
        **sample_appearance(rng),
    )
