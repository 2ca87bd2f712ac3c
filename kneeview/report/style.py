"""What every report page shares: page size, colours, number formats, the citations, PDF output.

Numbers are printed with a fixed precision per unit (:func:`fmt`), so a test can find the
summary CSV's value in the PDF's text by rounding it the same way.
"""
from __future__ import annotations

import io
import math
from contextlib import contextmanager

#: A4 portrait, inches.
A4 = (8.27, 11.69)
#: The app's colours (kneeview.gui.style), darkened where needed to read on white paper.
LEFT = "#d6453b"
RIGHT = "#1f9a58"
GT = "#c79a00"
EVENT = "#8a8ab0"
MUTED = "#555555"
SIDE_COLOUR = {"left": LEFT, "right": RIGHT}

#: Decimals printed per unit.
DECIMALS = {"mm": 1, "pct": 1, "deg": 1, "ratio": 2, "px": 1}

#: Definitions cited on the pages. Only references whose content was checked are listed;
#: no normal range or cut-off is printed that is not in one of them.
REF_MKD = ("Ellenberger L, Oberle F, Lorenzetti S, Frey WO, Snedeker JG, Spörri J. Dynamic knee valgus in "
           "competitive alpine skiers: observation from youth to elite and influence of biological maturation. "
           "Scand J Med Sci Sports. 2020.")
REF_FPPA = ("Munro A, Herrington L, Carolan M. Reliability of 2-dimensional video assessment of frontal-plane "
            "dynamic knee valgus during common athletic screening tasks. J Sport Rehabil. 2012;21(1):7-11.")
#: Munro et al. 2012 (abstract): 2D FPPA in single-leg squat, drop jump and single-leg landing,
#: 20 recreationally active students: SEM and smallest detectable difference, degrees.
FPPA_SEM_DEG = (2.72, 3.01)
FPPA_SDD_DEG = (7.54, 8.93)


def fmt(value, unit: str = "mm", sd=None) -> str:
    """``12.3`` or ``12.3 ± 1.4``; an em dash where there is no value."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    d = DECIMALS.get(unit, 1)
    text = f"{float(value):.{d}f}"
    if float(text) == 0:
        text = f"{0.0:.{d}f}"  # no "-0.0"
    if sd is not None and isinstance(sd, (int, float)) and math.isfinite(float(sd)):
        text += f" ± {float(sd):.{d}f}"
    return text


def number(value):
    """A finite float, or None (for NaN, None, pandas' NA, text)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


@contextmanager
def pdf_style():
    """matplotlib settings of every page: TrueType fonts (searchable text), small sizes."""
    import matplotlib

    with matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "font.family": "DejaVu Sans",
                                "font.size": 7.5, "axes.titlesize": 8, "axes.labelsize": 7.5,
                                "xtick.labelsize": 6.5, "ytick.labelsize": 6.5, "legend.fontsize": 6.5,
                                "axes.linewidth": 0.6, "lines.linewidth": 1.1, "pdf.compression": 9}):
        yield


def pdf_bytes(figures, title: str = "", subject: str = "") -> bytes:
    """Pages (matplotlib Figures) -> the bytes of one PDF."""
    from matplotlib.backends.backend_pdf import PdfPages

    from .. import __version__

    buf = io.BytesIO()
    with pdf_style(), PdfPages(buf, metadata={"Title": title, "Subject": subject,
                                              "Creator": f"KneeView {__version__}"}) as pdf:
        for fig in figures:
            pdf.savefig(fig)
    return buf.getvalue()


def new_page():
    from matplotlib.figure import Figure

    with pdf_style():
        return Figure(figsize=A4)


def ranges(frames) -> str:
    """``[3, 4, 5, 9]`` -> ``"3-5, 9"``."""
    frames = sorted(int(f) for f in frames)
    parts: list[str] = []
    i = 0
    while i < len(frames):
        j = i
        while j + 1 < len(frames) and frames[j + 1] == frames[j] + 1:
            j += 1
        parts.append(str(frames[i]) if i == j else f"{frames[i]}-{frames[j]}")
        i = j + 1
    return ", ".join(parts)
