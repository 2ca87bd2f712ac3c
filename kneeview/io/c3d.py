"""Plug-in Gait joint centres from C3D files (ezc3d; the ``c3d`` package as a fallback).

Reads the six joint centres (``kneeview.joints.JOINTS``) in the lab frame, converted to
millimetres, gaps as NaN. Labels may carry a Nexus subject prefix (``Athlete:RFEP``) or be
one of the usual aliases (``RHJC``...). ezc3d reads Intel and DEC storage, integer and
float; for big-endian (SGI/MIPS) files, which ezc3d refuses, the pure-Python ``c3d``
package reads them instead.
"""
from __future__ import annotations

import logging
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
    checks first, so that a truncated or malformed file is a :class:`GroundTruthError`.
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
    _walk_parameters(path, section, endian)
    words = struct.unpack(endian + "10H", head[:20])
    data_start = words[8]
    if data_start == 0 or (data_start - 1) * 512 < end:
        raise GroundTruthError(path, f"malformed C3D: the data start block ({data_start}) lies inside the parameter section",
                               "header")
    first, last = words[3], words[4]
    if words[1] and last >= first >= 1:
        if size < (data_start - 1) * 512 + 1:
            raise GroundTruthError(path, "truncated C3D: the file ends before its data section", "header")
        return int(last - first + 1)
    return None


#: Parameters the C3D format requires of every file; a file that lacks one has a broken
#: parameter chain, and ezc3d crashes the process (a segmentation fault) on some of those.
REQUIRED_PARAMETERS = ("POINT:USED", "POINT:SCALE", "POINT:RATE", "POINT:DATA_START", "POINT:FRAMES",
                       "ANALOG:USED", "ANALOG:RATE")


def _walk_parameters(path: Path, section: bytes, endian: str) -> None:
    """Follow every group/parameter record of the parameter section, checking each stays inside
    it, and that the parameters every C3D file must have are there."""
    pos, n = 4, len(section)
    groups: dict[int, str] = {}
    params: list[tuple[int, str]] = []
    for _ in range(100_000):
        if pos + 2 > n:
            raise GroundTruthError(path, "malformed C3D: a parameter record runs past the parameter section", "parameters")
        name_len = abs(struct.unpack("b", section[pos:pos + 1])[0])
        group_id = struct.unpack("b", section[pos + 1:pos + 2])[0]
        if name_len == 0 or group_id == 0:
            break  # the last record
        name_end = pos + 2 + name_len
        if name_end + 2 > n:
            raise GroundTruthError(path, "malformed C3D: a parameter record runs past the parameter section", "parameters")
        name = section[pos + 2:name_end].decode("latin-1").strip().upper()
        if group_id < 0:
            groups[-group_id] = name
        else:
            params.append((group_id, name))
        offset = struct.unpack(endian + "h", section[name_end:name_end + 2])[0]
        if offset == 0:
            break  # the last record
        nxt = name_end + offset
        if offset < 0 or nxt > n:
            break  # real files (an SGI export) end with a record pointing nowhere: readers stop there too
        if group_id > 0:  # a parameter: its dimensions and data must fit before the next record
            body = section[name_end + 2:nxt]
            if len(body) < 2:
                raise GroundTruthError(path, "malformed C3D: a parameter record is cut short", "parameters")
            elem = abs(struct.unpack("b", body[0:1])[0])
            ndim = body[1]
            if len(body) < 2 + ndim:
                raise GroundTruthError(path, "malformed C3D: a parameter record is cut short", "parameters")
            count = 1
            for d in body[2:2 + ndim]:
                count *= d
            if elem not in (1, 2, 4) or 2 + ndim + elem * count > len(body):
                raise GroundTruthError(path, "malformed C3D: a parameter's values do not fit in its record", "parameters")
        pos = nxt
    else:
        raise GroundTruthError(path, "malformed C3D: too many parameter records", "parameters")
    found = {f"{groups.get(g, '?')}:{name}" for g, name in params}
    missing = [p for p in REQUIRED_PARAMETERS if p not in found]
    if missing:
        raise GroundTruthError(path, f"malformed C3D: the parameter section lacks {', '.join(missing)}, which every "
                               "C3D file has", "parameters")


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
