"""Bundled data: the shipped model (model/), the demo recording (demo/).

Installed as the package ``kneeview.resources``; use ``kneeview.bundled.resource_path``.
"""
from kneeview.bundled import resource_path

__all__ = ["resource_path"]
