"""Bundled data: the shipped model, the demo recording. Installed as ``kneeview.resources``."""
from importlib.resources import files
from pathlib import Path


def resource_path(*parts: str) -> Path:
    """Path of a bundled file (works for source trees, editable and regular installs)."""
    return Path(str(files(__name__).joinpath(*parts)))
