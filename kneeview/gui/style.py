"""Colours and pens shared by the views: one place that says what left and right look like."""
from __future__ import annotations

# Vicon/clinical convention: left red, right green. Chosen dark/light enough to be told
# apart in greyscale too (red is darker than green), and the 3D and plots use the same.
LEFT = (230, 70, 60)
RIGHT = (40, 190, 110)
PELVIS = (235, 235, 235)
GT = (255, 210, 40)  # ground truth: amber crosses
LOW_CONF = (255, 255, 255)
EVENT = (160, 160, 200)
CURSOR = (255, 255, 255)


def side_colour(joint: int) -> tuple[int, int, int]:
    return RIGHT if joint % 2 == 0 else LEFT  # JOINTS alternate R, L


def hexcolour(rgb) -> str:
    return "#%02x%02x%02x" % tuple(rgb)
