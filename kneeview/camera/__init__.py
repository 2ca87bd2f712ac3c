"""Camera calibrations: Vicon .xcp, Qualisys .qca.txt, OpenCV-style TOML/JSON; the Vicon radial model; projection."""
from .distortion import BrownConrady, NoDistortion, NotInvertibleError, ViconRadial
from .model import Calibration, Camera, look_at_rotation, matrix_to_quaternion, quaternion_to_matrix
from .opencv_calib import read_opencv_calibration
from .qualisys import read_qca
from .xcp import read_xcp, write_xcp


def read_calibration(path) -> Calibration:
    """Read any supported calibration file, chosen by its name."""
    from pathlib import Path

    name = Path(path).name.lower()
    if name.endswith((".toml", ".json")):
        return read_opencv_calibration(path)
    if name.endswith((".qca.txt", ".qca")):
        return read_qca(path)
    return read_xcp(path)


__all__ = [
    "BrownConrady",
    "Calibration",
    "Camera",
    "NoDistortion",
    "NotInvertibleError",
    "ViconRadial",
    "look_at_rotation",
    "matrix_to_quaternion",
    "quaternion_to_matrix",
    "read_calibration",
    "read_opencv_calibration",
    "read_qca",
    "read_xcp",
    "write_xcp",
]
