"""The bridge to the exporters in :mod:`kneeview.io.export` (CSV, TRC)."""
from __future__ import annotations

import importlib
from pathlib import Path


def _module():
    try:
        return importlib.import_module("kneeview.io.export")
    except ImportError:
        return None


def available(kind: str) -> bool:
    return _module() is not None


def export(kind: str, state, path) -> list[Path]:  # wired when kneeview.io.export lands
    raise NotImplementedError
