"""Calibration XML (Vicon .xcp, Qualisys .qca.txt) parsed safely: defusedxml, no DTDs, a size cap."""
from __future__ import annotations

from pathlib import Path

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from ..errors import CalibrationError


def parse_calibration_xml(path: Path, max_bytes: int):
    """The root element of the calibration file at ``path``. Raises :class:`CalibrationError`.

    Entities and DTDs are refused (billion laughs, external entities), and a file larger
    than ``max_bytes`` is refused before it is read.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CalibrationError(path, f"cannot open calibration: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise CalibrationError(path, f"file is {size / 2**20:.0f} MiB, far too large for a camera calibration")
    try:
        return DET.parse(str(path), forbid_dtd=True).getroot()
    except DefusedXmlException as exc:
        raise CalibrationError(path, f"refused unsafe XML ({type(exc).__name__}: DTDs and entities are not allowed)") from None
    except (DET.ParseError, LookupError) as exc:  # LookupError: the declaration names an unknown encoding
        raise CalibrationError(path, f"malformed XML: {exc}") from None
    except (OSError, UnicodeError, ValueError) as exc:
        raise CalibrationError(path, f"cannot read calibration: {exc}") from None
