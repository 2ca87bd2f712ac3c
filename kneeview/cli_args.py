"""argparse ``type=`` validators shared by every command.

Each turns the option's text into a value or raises :class:`argparse.ArgumentTypeError`;
argparse then prints ``kneeview CMD: error: argument --NAME: <problem>`` with the usage
and exits with status 2, before anything is read or loaded. ``nan``, ``inf`` and
out-of-range values are refused here rather than deep inside a computation.
"""
from __future__ import annotations

import argparse
import math


def _number(text: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _integer(text: str) -> int:
    try:
        return int(str(text).strip(), 10)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def finite_float(text: str) -> float:
    """Any finite number."""
    return _number(text)


def positive_float(text: str) -> float:
    """A finite number above 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def non_negative_float(text: str) -> float:
    """A finite number, 0 or more."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def unit_interval(text: str) -> float:
    """A finite number from 0 to 1 (a confidence, a fraction)."""
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def cutoff_hz(text: str):
    """A low-pass cutoff: ``auto``, 0 (no filtering) or a finite positive number of Hz.

    Whether it is below half the frame rate is known only once the video is opened.
    """
    if str(text).strip().lower() == "auto":
        return "auto"
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the cutoff must be 0 (no filtering) or a positive number of Hz")
    return value


def positive_int(text: str) -> int:
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def int_at_least(minimum: int):
    """A whole number of at least ``minimum``."""

    def check(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        return value

    check.__name__ = f"int_at_least_{minimum}"
    return check


def float_between(low: float, high: float, unit: str = ""):
    """A finite number strictly between ``low`` and ``high``."""

    def check(text: str) -> float:
        value = _number(text)
        if not low < value < high:
            raise argparse.ArgumentTypeError(f"{text!r} must be between {low:g} and {high:g}{(' ' + unit) if unit else ''}")
        return value

    check.__name__ = "float_between"
    return check


def image_size(text: str) -> tuple[int, int]:
    """``WxH`` in pixels, each from 16 to 16384."""
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        w, h = (int(p.strip(), 10) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        w = h = None
    if w is None or h is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size WxH such as 640x480")
    if not (16 <= w <= 16384 and 16 <= h <= 16384):
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be 16 to 16384 pixels")
    return w, h


def from_parser(parse):
    """Adapt a parser that raises :class:`~kneeview.errors.KneeViewInputError` to a ``type=``."""

    def check(text: str):
        from .errors import KneeViewInputError

        try:
            return parse(text)
        except KneeViewInputError as exc:
            problem = exc.problem
            if problem.startswith("--"):  # argparse names the option already
                problem = problem.split(" ", 1)[-1]
            raise argparse.ArgumentTypeError(problem) from None

    check.__name__ = getattr(parse, "__name__", "value")
    return check
