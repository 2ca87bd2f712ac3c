"""Bad inputs built from the bundled demo: one builder per case (issue 18).

Shared by the CLI matrix (foundation/test_bad_input_matrix.py) and the app (tests/gui/test_bad_input_app.py).
Each builder gets a fresh copy of the demo session folder and spoils one file in it; it
returns the file the message must name and a word of the problem it must state.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kneeview.bundled import demo_path

TRIAL = "DropJump01"
VIDEO_CAMERA = "2184870"


def copy_demo(dest: Path) -> Path:
    """The demo session (xcp, c3d, avi, json) copied to ``dest`` (created)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in demo_path().iterdir():
        if f.suffix.lower() in (".xcp", ".c3d", ".avi", ".json"):
            shutil.copy2(f, dest / f.name)
    return dest


def xcp(session: Path) -> Path:
    return session / "demo.xcp"


def c3d(session: Path) -> Path:
    return session / f"{TRIAL}.c3d"


def video(session: Path) -> Path:
    return session / f"{TRIAL}.{VIDEO_CAMERA}.avi"


def edit_video_keyframe(session: Path, attribute: str, value: str | None) -> Path:
    """Set (None: remove) an attribute of the video camera's KeyFrame in the .xcp."""
    path = xcp(session)
    text = path.read_text()
    start = text.index(f'DEVICEID="{VIDEO_CAMERA}"')
    kf = text.index("<KeyFrame ", start)
    end = text.index("/>", kf)
    element = text[kf:end]
    pattern = re.compile(rf'\s{attribute}="[^"]*"')
    assert pattern.search(element), attribute
    element = pattern.sub("" if value is None else f' {attribute}="{value}"', element)
    path.write_text(text[:kf] + element + text[end:])
    return path


def edit_video_camera(session: Path, attribute: str, value: str) -> Path:
    path = xcp(session)
    text = path.read_text()
    start = text.index(f'DEVICEID="{VIDEO_CAMERA}"')
    head_end = text.index(">", start)
    head = re.sub(rf'{attribute}="[^"]*"', f'{attribute}="{value}"', text[start:head_end])
    path.write_text(text[:start] + head + text[head_end:])
    return path


def truncate(path: Path, keep: int | float) -> Path:
    data = path.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    path.write_bytes(data[:n])
    return path


# --------------------------------------------------------------------------- builders
def _xml_truncated(s):
    return truncate(xcp(s), 0.5), "malformed XML"


def _xml_bomb(s):
    bomb = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    for i in range(1, 10):
        bomb += f' <!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">\n'
    bomb += ']>\n<Cameras><Camera DEVICEID="&lol9;"/></Cameras>'
    xcp(s).write_text(bomb)
    return xcp(s), "unsafe XML"


def _xxe(s):
    secret = s.parent / "secret.txt"
    secret.write_text("TOP-SECRET")
    xcp(s).write_text(f'<?xml version="1.0"?><!DOCTYPE c [<!ENTITY x SYSTEM "file://{secret}">]>'
                      '<Cameras><Camera DEVICEID="&x;"/></Cameras>')
    return xcp(s), "unsafe XML"


def _focal_missing(s):
    return edit_video_keyframe(s, "FOCAL_LENGTH", None), "no FOCAL_LENGTH"


def _focal_nan(s):
    return edit_video_keyframe(s, "FOCAL_LENGTH", "nan"), "not finite"


def _focal_negative(s):
    return edit_video_keyframe(s, "FOCAL_LENGTH", "-621.5"), "must be positive"


def _folding_distortion(s):
    return edit_video_keyframe(s, "VICON_RADIAL2", "Vicon3Parameter 328.5 238.8 -2e-05 0 0"), "folds over"


def _zero_quaternion(s):
    return edit_video_keyframe(s, "ORIENTATION", "0 0 0 0"), "zero quaternion"


def _tiny_quaternion(s):
    return edit_video_keyframe(s, "ORIENTATION", "1e-6 0 0 1e-6"), "norm"


def _absurd_position(s):
    return edit_video_keyframe(s, "POSITION", "1e308 1e308 1e308"), "not physical"


def _zero_sensor(s):
    return edit_video_camera(s, "SENSOR_SIZE", "0 0"), "positive integers"


def _infinite_principal_point(s):
    return edit_video_keyframe(s, "PRINCIPAL_POINT", "inf 240"), "not finite"


def _size_mismatch(s):
    return edit_video_camera(s, "SENSOR_SIZE", "1920 1080"), "does not match"


def _video_zero_bytes(s):
    video(s).write_bytes(b"")
    return video(s), "empty"


def _video_text(s):
    video(s).write_text("this is not a video\n" * 20)
    return video(s), "cannot open the video"


def _c3d_truncated(s):
    return truncate(c3d(s), 0.5), "truncated C3D"


def _c3d_cut_in_parameters(s):
    return truncate(c3d(s), 1024), "truncated C3D"  # ezc3d alone never returns on this file


def _c3d_header_only(s):
    return truncate(c3d(s), 512), "truncated C3D"


def _c3d_text(s):
    c3d(s).write_text("not a c3d file, just text\n" * 40)
    return c3d(s), "not a C3D file"


def _c3d_without_joint_centres(s):
    data = c3d(s).read_bytes()
    for joint in (b"RFEP", b"LFEP", b"RFEO", b"LFEO", b"RTIO", b"LTIO"):
        data = data.replace(b":" + joint, b":" + joint[:1] + b"XX" + joint[3:])
    c3d(s).write_bytes(data)
    return c3d(s), "no Plug-in Gait joint centres"


def _two_trials(s):
    shutil.copy2(video(s), s / f"DropJump02.{VIDEO_CAMERA}.avi")
    return s, "several trials"


@dataclass(frozen=True)
class BadFile:
    """A session spoilt in one file: what the message names and states; ``info`` tells whether
    ``kneeview info`` still describes the recording (exit 0, a Problem line) under the rule
    "exit 2 only when the recording cannot be opened"."""

    id: str
    build: Callable[[Path], tuple[Path, str]]
    info_describes: bool = False
    app_opens: bool = False  # the app opens the recording and reports the problem when it is used


BAD_FILES = [
    BadFile("xcp-truncated-xml", _xml_truncated),
    BadFile("xcp-xml-bomb", _xml_bomb),
    BadFile("xcp-external-entity", _xxe),
    BadFile("xcp-focal-missing", _focal_missing),
    BadFile("xcp-focal-nan", _focal_nan),
    BadFile("xcp-focal-negative", _focal_negative),
    BadFile("xcp-folding-distortion", _folding_distortion),
    BadFile("xcp-zero-quaternion", _zero_quaternion),
    BadFile("xcp-tiny-quaternion", _tiny_quaternion),
    BadFile("xcp-position-1e308", _absurd_position),
    BadFile("xcp-zero-sensor", _zero_sensor),
    BadFile("xcp-infinite-principal-point", _infinite_principal_point),
    BadFile("xcp-size-mismatch", _size_mismatch, info_describes=True),
    BadFile("video-zero-bytes", _video_zero_bytes),
    BadFile("video-text", _video_text),
    BadFile("c3d-truncated-half", _c3d_truncated, info_describes=True, app_opens=True),
    BadFile("c3d-cut-in-parameters", _c3d_cut_in_parameters, info_describes=True, app_opens=True),
    BadFile("c3d-header-only", _c3d_header_only, info_describes=True, app_opens=True),
    BadFile("c3d-text", _c3d_text, info_describes=True, app_opens=True),
    BadFile("c3d-without-joint-centres", _c3d_without_joint_centres, info_describes=True, app_opens=True),
    BadFile("two-ambiguous-trials", _two_trials),
]
