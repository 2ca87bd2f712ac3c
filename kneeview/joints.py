"""The six Plug-in Gait joint centres KneeView estimates: names, order, pairs, skeleton.

This module owns the joint order. Every array with a joint axis uses it.
"""
from __future__ import annotations

#: Plug-in Gait labels, in the order of every joint axis in KneeView.
#: (The paper's table prints FEQ; Plug-in Gait writes FEO, the femur origin = knee centre.)
JOINTS: tuple[str, ...] = ("RFEP", "LFEP", "RFEO", "LFEO", "RTIO", "LTIO")
N_JOINTS = len(JOINTS)

#: Human-readable names, same order.
JOINT_NAMES: dict[str, str] = {
    "RFEP": "right hip",
    "LFEP": "left hip",
    "RFEO": "right knee",
    "LFEO": "left knee",
    "RTIO": "right ankle",
    "LTIO": "left ankle",
}

#: Alternative labels a lab may export instead of the PiG segment names.
ALIASES: dict[str, tuple[str, ...]] = {
    "RFEP": ("RHJC", "RHipJC", "R_HJC", "RightHipJC"),
    "LFEP": ("LHJC", "LHipJC", "L_HJC", "LeftHipJC"),
    "RFEO": ("RKJC", "RKneeJC", "R_KJC", "RightKneeJC"),
    "LFEO": ("LKJC", "LKneeJC", "L_KJC", "LeftKneeJC"),
    "RTIO": ("RAJC", "RAnkleJC", "R_AJC", "RightAnkleJC"),
    "LTIO": ("LAJC", "LAnkleJC", "L_AJC", "LeftAnkleJC"),
}

#: BlazePose landmark of each joint (MediaPipe's 33 pose landmarks: 23/24 left/right hip,
#: 25/26 knees, 27/28 ankles; its left and right are the person's, as Plug-in Gait's are).
BLAZEPOSE_INDEX: tuple[int, ...] = (24, 23, 26, 25, 28, 27)

#: Index of the joint that a horizontal (left/right) mirror turns each joint into.
FLIP_INDEX: tuple[int, ...] = (1, 0, 3, 2, 5, 4)

#: Index triples (hip, knee, ankle) per side.
RIGHT_LEG: tuple[int, int, int] = (0, 2, 4)
LEFT_LEG: tuple[int, int, int] = (1, 3, 5)
LEGS: dict[str, tuple[int, int, int]] = {"right": RIGHT_LEG, "left": LEFT_LEG}

#: Skeleton edges as index pairs: pelvis, thighs, shanks.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (2, 4), (1, 3), (3, 5))


def index(label: str) -> int:
    """Index of a PiG label (or one of its aliases) in :data:`JOINTS`."""
    label = label.strip()
    if label in JOINTS:
        return JOINTS.index(label)
    for joint, aliases in ALIASES.items():
        if label in aliases:
            return JOINTS.index(joint)
    raise KeyError(f"{label!r} is not one of the joint centres {', '.join(JOINTS)}")


def side(label: str) -> str:
    """'right' or 'left' for a joint label."""
    return "right" if JOINTS[index(label)].startswith("R") else "left"
