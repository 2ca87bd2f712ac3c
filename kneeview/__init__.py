"""KneeView: dynamic knee valgus from a single calibrated video camera."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kneeview")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
