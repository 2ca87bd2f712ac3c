"""Plug-in Gait joint centres from C3D files (ezc3d; the ``c3d`` package as a fallback).

Reads the six joint centres (``kneeview.joints.JOINTS``) in the lab frame, converted to
millimetres, gaps as NaN. Labels may carry a Nexus subject prefix (``Athlete:RFEP``) or be
one of the usual aliases (``RHJC``...). ezc3d reads Intel and DEC storage, integer and
float; for big-endian (SGI/MIPS) files, which ezc3d refuses, the pure-Python ``c3d``
package reads them instead.
"""
from __future__ import annotations

import logging
import math
import struct
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .. import joints as J
from ..atomic import atomic_path
from ..errors import GroundTruthError

log = logging.getLogger(__name__)

_UNIT_TO_MM = {"mm": 1.0, "m": 1000.0, "cm": 10.0, "millimeters": 1.0, "meters": 1000.0, "metres": 1000.0}


@dataclass(frozen=True)
class PointData:
    """All points of a C3D file: (T, N, 3) in the file's units, NaN where invalid."""

    path: Path
    labels: list[str]
    points: np.ndarray
    rate_hz: float
    first_frame: int
    units: str
    reader: str  # "ezc3d" or "c3d"
    frames_declared: int | None = None  # what the header promises; None when it does not say


@dataclass(frozen=True)
class GroundTruth:
    """Joint centres over time: ``joints_lab_mm`` (T, 6, 3), lab frame, mm, NaN in gaps."""

    path: Path
    joints_lab_mm: np.ndarray
    rate_hz: float
    time_s: np.ndarray  # (T,) time of each sample since the capture started
    labels: dict[str, str] = field(default_factory=dict)  # joint -> label found in the file
    source_units: str = "mm"
    reader: str = "ezc3d"
    frames_declared: int | None = None  # the header's frame count (None: not stated)
    frames_read: int | None = None  # samples actually read from the file

    @property
    def n_frames(self) -> int:
        return int(self.joints_lab_mm.shape[0])

    @property
    def partial(self) -> bool:
        """True when the file holds fewer frames than its header declares (a truncated file)."""
        return self.frames_declared is not None and self.frames_read is not None and self.frames_read < self.frames_declared

    def partial_problem(self) -> str | None:
        """A sentence describing the truncation, or None for a complete file."""
        if not self.partial:
            return None
        return (f"truncated C3D: the header declares {self.frames_declared} frames but only {self.frames_read} "
                f"could be read")

    def require_complete(self, allow_partial: bool = False) -> "GroundTruth":
        """Raise :class:`GroundTruthError` when the file is truncated, unless ``allow_partial``
        (``--allow-partial``), in which case a warning is logged. Returns ``self`` so that a
        loader can chain it.
        """
        problem = self.partial_problem()
        if problem is None:
            return self
        if not allow_partial:
            raise GroundTruthError(self.path, f"{problem}; pass --allow-partial to use them", "POINT:FRAMES")
        log.warning("%s: %s; using them (--allow-partial)", self.path, problem)
        return self

    def completeness(self) -> dict:
        """``{"gt_frames_declared", "gt_frames_read", "gt_partial"}`` for a summary row."""
        return {"gt_frames_declared": self.frames_declared, "gt_frames_read": self.frames_read,
                "gt_partial": bool(self.partial)}

    @property
    def missing(self) -> list[str]:
        return [j for j in J.JOINTS if j not in self.labels]

    def gaps(self) -> dict[str, dict]:
        """Per joint: number of missing samples and of contiguous gaps."""
        out = {}
        for k, joint in enumerate(J.JOINTS):
            bad = np.any(~np.isfinite(self.joints_lab_mm[:, k]), axis=-1)
            starts = int(np.count_nonzero(bad[1:] & ~bad[:-1]) + (1 if bad.size and bad[0] else 0))
            out[joint] = {"missing_samples": int(bad.sum()), "gaps": starts}
        return out

    def resample(self, times_s) -> "GroundTruth":
        """Linear interpolation at ``times_s``; NaN outside the capture or next to a gap."""
        times_s = np.asarray(times_s, dtype=np.float64)
        out = np.full((times_s.size,) + self.joints_lab_mm.shape[1:], np.nan)
        t = self.time_s
        if t.size >= 2:
            pos = (times_s - t[0]) * self.rate_hz
            i0 = np.floor(pos).astype(np.int64)
            frac = pos - i0
            exact = np.isclose(frac, 0.0, atol=1e-6)
            i0 = np.where(exact, np.round(pos).astype(np.int64), i0)
            frac = np.where(exact, 0.0, frac)
            inside = (i0 >= 0) & (i0 < t.size) & ((i0 + 1 < t.size) | exact)
            a = self.joints_lab_mm[np.clip(i0, 0, t.size - 1)]
            b = self.joints_lab_mm[np.clip(i0 + 1, 0, t.size - 1)]
            f = frac[:, None, None]
            val = np.where(f == 0, a, (1 - f) * a + f * b)
            out[inside] = val[inside]
        return replace(self, joints_lab_mm=out, time_s=times_s, rate_hz=float("nan"))


def read_points(path) -> PointData:
    """Every 3D point of a C3D file, in the file's own units."""
    path = Path(path)
    if not path.is_file():
        raise GroundTruthError(path, "C3D file not found")
    declared = check_structure(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the readers' own advice is not for the user
            data = _read_ezc3d(path)
    except GroundTruthError:
        raise
    except Exception:  # ezc3d refuses big-endian files (and raises with advice meant for programmers)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = _read_c3d_package(path)
        except GroundTruthError:
            raise
        except Exception:
            raise GroundTruthError(path, "cannot read this C3D file: its parameters or data are malformed") from None
    return replace(data, frames_declared=declared)


_PROCESSORS = {84: "<", 85: "<", 86: ">"}  # Intel, DEC (read as little-endian integers), SGI/MIPS


def check_structure(path) -> int | None:
    """Check a C3D file's header and parameter section; return the header's frame count.

    C3D readers trust the header's block pointers: ezc3d loops forever on a file cut inside
    its parameter section. This walks the header and every parameter record with bounds
    checks first, then the numbers ezc3d sizes its reading of the data with, so that a
    truncated or malformed file is a :class:`GroundTruthError`, not a crashed or hung process
    (ezc3d is C++: it trusts every length and count in the file).
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(512)
            if len(head) < 512:
                raise GroundTruthError(path, f"not a C3D file: {size} bytes, shorter than a C3D header (512 bytes)")
            if head[1] != 0x50 or head[0] < 2:
                raise GroundTruthError(path, "not a C3D file (its header does not have the C3D signature)")
            param_start = (head[0] - 1) * 512
            fh.seek(param_start)
            phead = fh.read(4)
            if len(phead) < 4:
                raise GroundTruthError(path, "truncated C3D: the file ends before its parameter section", "header")
            endian = _PROCESSORS.get(phead[3])
            if endian is None:
                raise GroundTruthError(path, f"not a C3D file: unknown processor type {phead[3]} in the parameter section",
                                       "parameters")
            n_blocks = phead[2]
            if n_blocks < 1:
                raise GroundTruthError(path, "malformed C3D: the parameter section has no blocks", "parameters")
            end = param_start + 512 * n_blocks
            if size < end:
                raise GroundTruthError(path, f"truncated C3D: the file ends inside its parameter section "
                                       f"({size} of at least {end} bytes)", "parameters")
            fh.seek(param_start)
            section = fh.read(512 * n_blocks)
    except OSError as exc:
        raise GroundTruthError(path, f"cannot read the file: {exc.strerror or exc}") from None
    params = _walk_parameters(path, section, endian)
    words = struct.unpack(endian + "10H", head[:20])
    data_start = words[8]
    if data_start == 0 or (data_start - 1) * 512 < end:
        raise GroundTruthError(path, f"malformed C3D: the data start block ({data_start}) lies inside the parameter section",
                               "header")
    first, last = words[3], words[4]
    declared = int(last - first + 1) if words[1] and last >= first >= 1 else None
    if declared is not None and size < (data_start - 1) * 512 + 1:
        raise GroundTruthError(path, "truncated C3D: the file ends before its data section", "header")
    values = _Values(params, endian, dec=phead[3] == 85)
    _check_data_size(path, values, first, last, values.floats(head[20:24])[0], data_start, size)
    return declared


#: Parameters the C3D format requires of every file; a file that lacks one has a broken
#: parameter chain, and ezc3d crashes the process (a segmentation fault) on some of those.
REQUIRED_PARAMETERS = ("POINT:USED", "POINT:SCALE", "POINT:RATE", "POINT:DATA_START", "POINT:FRAMES",
                       "ANALOG:USED", "ANALOG:RATE")


def _walk_parameters(path: Path, section: bytes, endian: str) -> dict[str, tuple[int, bytes]]:
    """Follow the group/parameter records as ezc3d does, checking every field it trusts, and
    that the parameters every C3D file must have are there.

    ezc3d walks from record to record by each record's offset (read unsigned) and stops at a
    name length of 0 (it refuses a group 0, where the c3d package stops); it reads each record
    whole, trusting its length bytes, before it notices that the record does not end where
    the offset says (and gives up). So each record must make sense on its own: a character
    parameter has dimensions (ezc3d indexes the first one), its dimensions do not multiply up
    beyond the section (ezc3d loops over each in turn, even when a later one is 0), and its
    values and description, whose length is a signed byte (ezc3d reads a negative one as ~4 GB
    to allocate, or, for -1, as a zero-length buffer to overrun), end by the next record.
    """
    pos, n = 4, len(section)
    groups: dict[int, str] = {}
    params: list[tuple[int, str, int, bytes]] = []
    for _ in range(100_000):
        if pos + 2 > n:
            raise GroundTruthError(path, "malformed C3D: a parameter record runs past the parameter section", "parameters")
        name_len = abs(_signed_byte(section, pos))
        group_id = _signed_byte(section, pos + 1)
        if name_len == 0 or group_id == 0:
            break  # the last record (ezc3d refuses a group 0; the c3d package stops there)
        name_end = pos + 2 + name_len
        if name_end + 2 > n:
            raise GroundTruthError(path, "malformed C3D: a parameter record runs past the parameter section", "parameters")
        name = section[pos + 2:name_end].decode("latin-1").strip().upper()
        offset = struct.unpack(endian + "H", section[name_end:name_end + 2])[0]
        nxt = name_end + offset
        # The last record (offset 0), or one pointing past the section as an SGI export's last
        # record does, still has to fit in the section: readers read it before they stop.
        limit = nxt if 0 < offset and nxt <= n else n
        if group_id < 0:
            _check_description(path, section, name_end + 2, limit, f"group {name!r}")
            groups[-group_id] = name
        else:
            what = f"parameter {name!r} (group {group_id})"
            elem, values = _check_parameter(path, section, name_end + 2, limit, what)
            params.append((group_id, name, elem, values))
        if offset == 0 or nxt > n:
            break  # the last record (readers stop at one pointing nowhere too)
        pos = nxt
    else:
        raise GroundTruthError(path, "malformed C3D: too many parameter records", "parameters")
    found = {f"{groups.get(g, '?')}:{name}": (elem, values) for g, name, elem, values in params}
    missing = [p for p in REQUIRED_PARAMETERS if p not in found]
    if missing:
        raise GroundTruthError(path, f"malformed C3D: the parameter section lacks {', '.join(missing)}, which every "
                               "C3D file has", "parameters")
    return found


def _signed_byte(data: bytes, pos: int) -> int:
    return struct.unpack("b", data[pos:pos + 1])[0]


def _check_parameter(path: Path, section: bytes, pos: int, limit: int, what: str) -> tuple[int, bytes]:
    """A parameter record's type, dimensions, values and description, from ``pos`` (after its
    offset) up to ``limit`` (where the next record starts); returns its type and value bytes."""
    if pos + 2 > limit:
        raise GroundTruthError(path, f"malformed C3D: {what} is cut short", "parameters")
    elem = _signed_byte(section, pos)
    ndim = section[pos + 1]
    if elem not in (-1, 1, 2, 4):
        raise GroundTruthError(path, f"malformed C3D: {what} has an unknown value type ({elem})", "parameters")
    if elem == -1 and ndim == 0:
        raise GroundTruthError(path, f"malformed C3D: {what} holds characters but has no dimensions", "parameters")
    if pos + 2 + ndim > limit:
        raise GroundTruthError(path, f"malformed C3D: {what} is cut short", "parameters")
    count = 1
    for d in section[pos + 2:pos + 2 + ndim]:
        count *= d
        if count > len(section):  # ezc3d loops over each dimension in turn, even when a later one is 0
            raise GroundTruthError(path, f"malformed C3D: the dimensions of {what} describe more values than the "
                                   "parameter section holds", "parameters")
    end = pos + 2 + ndim + abs(elem) * count
    if end > limit:
        raise GroundTruthError(path, f"malformed C3D: the values of {what} do not fit in its record", "parameters")
    _check_description(path, section, end, limit, what)
    return elem, section[pos + 2 + ndim:end]


def _check_description(path: Path, section: bytes, pos: int, limit: int, what: str) -> None:
    """The description (a signed length byte, then the characters) at ``pos`` ends by ``limit``."""
    if pos + 1 > limit:
        raise GroundTruthError(path, f"malformed C3D: {what} is cut short", "parameters")
    length = _signed_byte(section, pos)
    if length < 0:
        raise GroundTruthError(path, f"malformed C3D: the description of {what} has a negative length ({length})",
                               "parameters")
    if pos + 1 + length > limit:
        raise GroundTruthError(path, f"malformed C3D: the description of {what} does not fit in its record",
                               "parameters")


class _Values:
    """The numbers of the parameter records ``_walk_parameters`` returned, decoded as ezc3d does."""

    def __init__(self, params: dict[str, tuple[int, bytes]], endian: str, dec: bool):
        self.params, self.endian, self.dec = params, endian, dec

    def floats(self, raw: bytes) -> list[float]:
        if self.dec:  # DEC (VAX) floats: the two 16-bit halves swapped, and 4 times an IEEE float
            raw = b"".join(raw[i + 2:i + 4] + raw[i:i + 2] for i in range(0, len(raw) - 3, 4))
            return [v / 4 for v in struct.unpack(f"<{len(raw) // 4}f", raw)]
        return list(struct.unpack(f"{self.endian}{len(raw) // 4}f", raw[:len(raw) // 4 * 4]))

    def numbers(self, key: str) -> list[float]:
        """The values of parameter ``key``; none when it is absent or holds characters."""
        elem, raw = self.params.get(key, (-1, b""))
        if elem == 4:
            return self.floats(raw)
        if elem in (1, 2):
            fmt = "b" if elem == 1 else "h"
            return [float(v) for v in struct.unpack(f"{self.endian}{len(raw) // elem}{fmt}", raw)]
        return []


#: Parameters ezc3d reads as one number, its first value: one that is there but holds no
#: number makes it index an empty vector (a segmentation fault).
_SCALARS = ("POINT:USED", "POINT:SCALE", "POINT:RATE", "POINT:FRAMES", "ANALOG:USED", "ANALOG:RATE",
            "ANALOG:GEN_SCALE", "ROTATION:USED", "ROTATION:DATA_START", "ROTATION:RATIO", "ROTATION:RATE")
_COUNTS = ("POINT:USED", "ANALOG:USED", "ROTATION:USED", "ROTATION:RATIO")
_RATES = ("POINT:RATE", "ANALOG:RATE", "ROTATION:RATE")

#: Sub-frames ezc3d may walk beyond one per byte of data: about a second of its time, and
#: room for 512 analog samples per frame over 65535 frames.
_MAX_EMPTY_SUBFRAMES = 2 ** 25


def _check_data_size(path: Path, values: _Values, first: int, last: int, header_rate: float, data_start: int,
                     size: int) -> None:
    """Check the numbers ezc3d sizes its reading of the data with, derived as ezc3d derives them.

    ezc3d takes each of ``_SCALARS`` as one number, and ANALOG:SCALE and ANALOG:OFFSET as one
    per analog channel (with fewer, it reads past them, or crashes). Then it walks every
    frame and, in each, every analog and rotation sub-frame, reading every channel even past
    the end of the file and walking sub-frames that hold no channel at all. A huge
    ANALOG:RATE / POINT:RATE, a negative ROTATION:RATIO, or a header whose last frame comes
    before its first, makes that billions of steps: a reader that never returns. So the walk
    must be in proportion to the data the file holds. Rotations, read from their own blocks,
    must all be in the file: ezc3d aborts the process when they run out.
    """
    value = {}
    for key in _SCALARS:
        if key in values.params:
            numbers = values.numbers(key)
            if not numbers:
                raise GroundTruthError(path, f"malformed C3D: {key} holds no number", key)
            if not math.isfinite(numbers[0]):
                raise GroundTruthError(path, f"malformed C3D: {key} is not a finite number ({numbers[0]})", key)
            value[key] = numbers[0]
    for key in _COUNTS:
        if value.get(key, 0) < 0:
            raise GroundTruthError(path, f"malformed C3D: {key} is negative ({value[key]:g})", key)
    for key in _RATES:
        if value.get(key, 0) < 0:
            raise GroundTruthError(path, f"malformed C3D: {key} is a negative rate ({value[key]:g})", key)
    if value.get("ROTATION:DATA_START", 1) < 1:  # ezc3d corrupts its memory on such a file with frames missing
        raise GroundTruthError(path, f"malformed C3D: ROTATION:DATA_START ({value['ROTATION:DATA_START']:g}) is not a "
                               "block of the file (they are numbered from 1)", "ROTATION:DATA_START")
    channels = int(value.get("ANALOG:USED", 0))
    for key in ("ANALOG:SCALE", "ANALOG:OFFSET"):
        have = len(values.numbers(key))
        if have < channels:
            raise GroundTruthError(path, f"malformed C3D: {key} holds {have} values for {channels} analog channels "
                                   "(ANALOG:USED)", key)
    frames = int(value.get("POINT:FRAMES", 0)) & 0xFFFF  # ezc3d reads it unsigned (more than 32767 frames)
    if not frames:  # ezc3d counts the header's frames instead
        if last + 1 < first:
            raise GroundTruthError(path, f"malformed C3D: the header's last frame ({last}) comes before its first "
                                   f"({first})", "header")
        frames = last - first + 1
    points, rate = int(value.get("POINT:USED", 0)), value.get("POINT:RATE", 0.0)
    analog = value.get("ANALOG:RATE", 0.0) / rate if rate >= 1 else 1.0  # samples per frame, as ezc3d derives it
    rotations = ratio = 0.0
    if "ROTATION:USED" in value and "ROTATION:DATA_START" in value:  # else ezc3d refuses the file
        rotations = value["ROTATION:USED"]
        if "ROTATION:RATIO" in value:
            ratio = value["ROTATION:RATIO"]
        elif value.get("ROTATION:RATE"):  # over the point rate (the header's, if POINT:RATE is 0 but points are used)
            frame_rate = rate if rate or not points else header_rate
            ratio = value["ROTATION:RATE"] / frame_rate if frame_rate > 0 else math.inf
    data_bytes = max(0, size - (data_start - 1) * 512)
    frame_bytes = 2 * (4 * points + analog * channels)  # at least (2-byte integers)
    walked = frames if frame_bytes == 0 else min(frames, data_bytes // frame_bytes + 1)
    subframes = walked * (analog * max(channels, 1) + ratio * max(rotations, 1))
    if not subframes <= _MAX_EMPTY_SUBFRAMES + data_bytes:  # (also when it is NaN)
        raise GroundTruthError(
            path, f"malformed C3D: its parameters describe {subframes:,.0f} analog and rotation samples to read "
            f"({walked:,.0f} frames of {analog:g} analog samples of {channels} channels and {ratio:g} rotation samples "
            f"of {rotations:g} rotations), far more than its {data_bytes:,} bytes of data hold", "parameters")
    if rotations and ratio:
        start = (value["ROTATION:DATA_START"] - 1) * 512
        if start + frames * ratio * rotations * 17 * 4 > size:  # a 4x4 matrix and a residual, floats
            raise GroundTruthError(path, f"truncated C3D: its rotation data ({frames} frames of {ratio:g} x {rotations:g} "
                                   f"rotations, from block {value['ROTATION:DATA_START']:g}) runs past the end of the "
                                   "file", "ROTATION:DATA_START")


def _param(params: dict, group: str, name: str, default=None):
    try:
        return params[group][name]["value"]
    except (KeyError, TypeError):
        return default


def _read_ezc3d(path: Path) -> PointData:
    import ezc3d

    c = ezc3d.c3d(str(path))
    params = c["parameters"]
    labels = [str(s) for s in _param(params, "POINT", "LABELS", [])]
    more = _param(params, "POINT", "LABELS2", None)
    if more is not None:
        labels += [str(s) for s in more]
    pts = np.asarray(c["data"]["points"], dtype=np.float64)  # (4, N, T)
    if pts.ndim != 3 or pts.shape[1] == 0:
        raise GroundTruthError(path, "the file holds no 3D points", "POINT")
    xyz = np.transpose(pts[:3], (2, 1, 0)).copy()
    residuals = c["data"]["meta_points"]["residuals"] if "meta_points" in c["data"] else None
    if residuals is not None:
        res = np.asarray(residuals).reshape(-1, xyz.shape[1], xyz.shape[0])[0].T  # (T, N)
        xyz[res < 0] = np.nan
    rate = float(np.asarray(_param(params, "POINT", "RATE", [0.0])).ravel()[0])
    units = str((_param(params, "POINT", "UNITS", ["mm"]) or ["mm"])[0]).strip()
    first = int(c["header"]["points"]["first_frame"]) + 1  # ezc3d is 0-based
    return PointData(path, labels[: xyz.shape[1]], xyz, rate, first, units, "ezc3d")


def _read_c3d_package(path: Path) -> PointData:
    import c3d

    with path.open("rb") as fh:
        reader = c3d.Reader(fh)
        labels = [str(s).strip() for s in reader.point_labels]
        frames = [p for _, p, _ in reader.read_frames(copy=True)]
        rate = float(reader.point_rate)
        first = int(reader.first_frame)
        units = "mm"
        try:
            units = reader.get("POINT:UNITS").string_value.strip() or "mm"
        except Exception:
            pass
    if not frames:
        raise GroundTruthError(path, "the file holds no frames", "POINT")
    arr = np.asarray(frames, dtype=np.float64)  # (T, N, 5): x y z residual cameras
    xyz = arr[..., :3].copy()
    xyz[arr[..., 3] < 0] = np.nan
    return PointData(path, labels[: xyz.shape[1]], xyz, rate, first, units, "c3d")


def _strip_prefix(label: str) -> str:
    return label.split(":")[-1].strip()


def find_joint_labels(labels: list[str]) -> dict[str, int]:
    """Map each PiG joint to the index of its column, by exact name first, then alias."""
    found: dict[str, int] = {}
    stripped = [_strip_prefix(lab).upper() for lab in labels]
    for joint in J.JOINTS:
        for candidate in (joint,) + J.ALIASES[joint]:
            cand = candidate.upper()
            if cand in stripped:
                found[joint] = stripped.index(cand)
                break
    return found


def read_ground_truth(path) -> GroundTruth:
    """The six joint centres of a C3D file, lab frame, mm. Raises :class:`GroundTruthError`."""
    data = read_points(path)
    columns = find_joint_labels(data.labels)
    if not columns:
        raise GroundTruthError(
            data.path,
            "no Plug-in Gait joint centres (RFEP, LFEP, RFEO, LFEO, RTIO, LTIO or RHJC/RKJC/RAJC...) "
            f"among its {len(data.labels)} point labels; run the PiG model in Nexus and export again",
            "POINT:LABELS",
        )
    scale = _UNIT_TO_MM.get(data.units.lower())
    if scale is None:
        raise GroundTruthError(data.path, f"unknown point units {data.units!r}", "POINT:UNITS")
    if not data.rate_hz > 0:
        raise GroundTruthError(data.path, f"point rate {data.rate_hz} is not positive", "POINT:RATE")
    T = data.points.shape[0]
    joints = np.full((T, J.N_JOINTS, 3), np.nan)
    for joint, col in columns.items():
        joints[:, J.index(joint)] = data.points[:, col] * scale
    # Vicon writes exact zeros for unlabelled samples in some exports.
    joints[np.all(joints == 0.0, axis=-1)] = np.nan
    time_s = (data.first_frame - 1 + np.arange(T)) / data.rate_hz
    return GroundTruth(
        path=data.path,
        joints_lab_mm=joints,
        rate_hz=data.rate_hz,
        time_s=time_s,
        labels={j: data.labels[c] for j, c in columns.items()},
        source_units=data.units,
        reader=data.reader,
        frames_declared=data.frames_declared,
        frames_read=T,
    )


def write_ground_truth(path, joints_lab_mm, rate_hz: float, extra_points: dict | None = None,
                       subject: str = "", first_frame: int = 1) -> Path:
    """Write joint centres (T, 6, 3) mm (and optional extra named points) as a C3D with ezc3d.

    Written to a temporary file first and moved into place (atomic).
    """
    import ezc3d

    path = Path(path)
    joints_lab_mm = np.asarray(joints_lab_mm, dtype=np.float64)
    names = [f"{subject}:{j}" if subject else j for j in J.JOINTS]
    arrays = [joints_lab_mm[:, k] for k in range(J.N_JOINTS)]
    for name, arr in (extra_points or {}).items():
        names.append(f"{subject}:{name}" if subject else name)
        arrays.append(np.asarray(arr, dtype=np.float64))
    T = joints_lab_mm.shape[0]
    data = np.ones((4, len(names), T))
    for k, arr in enumerate(arrays):
        data[:3, k, :] = arr.T
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [float(rate_hz)]
    c["parameters"]["POINT"]["LABELS"]["value"] = names
    c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    c["data"]["points"] = data
    c["header"]["points"]["first_frame"] = first_frame - 1
    with atomic_path(path, suffix=".c3d") as tmp:
        c.write(str(tmp))
    return path
