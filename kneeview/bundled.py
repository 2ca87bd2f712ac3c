"""Where the bundled files (model, demo recording) are.

Installed (``pip install .`` or editable), ``resources/`` is the package
``kneeview.resources``; in a bare source tree it is the folder beside ``kneeview/``.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resource_path(*parts: str) -> Path:
    try:
        base = Path(str(files("kneeview.resources")))
    except ModuleNotFoundError:
        base = Path(__file__).resolve().parent.parent / "resources"
    return base.joinpath(*parts)


def model_path(required: bool = False) -> Path:
    """The bundled pose model's folder (``resources/model/``: safetensors + JSON card).

    With ``required``, a CheckpointError says so when the installation lacks it."""
    path = resource_path("model")
    if required and not (path.is_dir() and any(path.glob("*.safetensors"))):
        from .errors import CheckpointError

        raise CheckpointError(path, "the bundled model is missing from this installation (resources/model/)")
    return path


def demo_path() -> Path:
    """The bundled demo recording (a session folder)."""
    return resource_path("demo")
