"""Camera calibrations: Vicon .xcp, Qualisys .qca.txt, OpenCV-style TOML/JSON; the Vicon radial model; projection."""
from .distortion import BrownConrady, NoDistortion, NotInvertibleError, ViconRadial
from .model import Calibration, Camera, look_at_rotation, matrix_to_quaternion, quaternion_to_matrix
from .opencv_calib import read_opencv_calibration
from .qualisys import read_qca
from .xcp import read_xcp, write_xcp


from pathlib import Path as _Path

#: Every calibration format: (file name suffix, reader, what it is, found in a session folder
#: by itself). Discovery, the File dialog's filter, drag-and-drop and :func:`read_calibration`
#: all derive from this one list. ``.json`` is read when named (``--calibration``, a drop)
#: but never picked up from a folder, where ``<trial>.json`` is a trial's metadata.
CALIBRATION_FORMATS = (
    (".xcp", read_xcp, "Vicon", True),
    (".qca.txt", read_qca, "Qualisys", True),
    (".qca", read_qca, "Qualisys", True),
    (".toml", read_opencv_calibration, "OpenCV / Pose2Sim", True),
    (".json", read_opencv_calibration, "OpenCV", False),
)
CALIBRATION_SUFFIXES = tuple(suffix for suffix, *_ in CALIBRATION_FORMATS)
DISCOVERED_SUFFIXES = tuple(suffix for suffix, _, _, found in CALIBRATION_FORMATS if found)


def calibration_reader(path):
    """The reader for a calibration file by its name, or None when no format has that suffix."""
    name = _Path(path).name.lower()
    return next((reader for suffix, reader, _, _ in CALIBRATION_FORMATS if name.endswith(suffix)), None)


def is_calibration_name(path) -> bool:
    return calibration_reader(path) is not None


def calibration_file_filter() -> str:
    """A file-dialog filter listing every calibration format."""
    patterns = " ".join(f"*{suffix}" for suffix in CALIBRATION_SUFFIXES)
    return f"Calibrations ({patterns});;All files (*)"


def read_calibration(path) -> Calibration:
    """Read any supported calibration file, chosen by its name (an unknown suffix is read as .xcp)."""
    return (calibration_reader(path) or read_xcp)(path)


__all__ = [
    "BrownConrady",
    "Calibration",
    "Camera",
    "NoDistortion",
    "NotInvertibleError",
    "CALIBRATION_FORMATS",
    "CALIBRATION_SUFFIXES",
    "DISCOVERED_SUFFIXES",
    "ViconRadial",
    "calibration_file_filter",
    "calibration_reader",
    "is_calibration_name",
    "look_at_rotation",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "read_calibration",
    "read_opencv_calibration",
    "read_qca",
    "read_xcp",
    "write_xcp",
]
