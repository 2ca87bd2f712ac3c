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


def demo_path() -> Path:
    """The bundled demo recording (a session folder)."""
    return resource_path("demo")
