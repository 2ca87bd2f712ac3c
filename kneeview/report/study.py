"""A study across athletes, from the summary CSV ``kneeview batch`` writes.

:func:`study_tables` groups the summary's trials per athlete, task and year (a session):
left/right peak MKD and FPPA (the mean over the session's trials) with their standard
deviation, the left-right asymmetry (the left mean minus the right: for single-leg squats, whose
trials are read on their stance leg only, the squats on the left leg against those on the right)
and its rank (largest absolute MKD asymmetry first), and, for an athlete recorded in two years, the
change from one to the next.
:func:`write_study` writes them as a PDF or a self-contained HTML page with a plot of the
cohort's distribution and each athlete's place in it.

The standard deviation of a session's mean of n trials, each with its own sd_i, is
sqrt(sum sd_i^2) / n (independent errors); it is empty where a trial has none (the C3D
ground truth).
"""
from __future__ import annotations

import html
import io
import math
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import ExportError, KneeViewInputError
from . import style
from .style import fmt

#: Per-leg peak columns of a summary row, their unit and label.
PEAKS = {"mkd_peak_{side}_mm": ("mm", "Peak MKD (mm)"), "fppa_peak_{side}_deg": ("deg", "Peak FPPA (deg)")}
TASK_SHORT = {"drop_jump": "DJ", "single_leg_squat": "SLS"}
#: The columns of the study table, in order.
COLUMNS = ["rank", "athlete_id", "task", "year", "n_trials",
           "mkd_left_mm", "mkd_left_mm_sd", "mkd_right_mm", "mkd_right_mm_sd", "mkd_asymmetry_mm",
           "fppa_left_deg", "fppa_left_deg_sd", "fppa_right_deg", "fppa_right_deg_sd", "fppa_asymmetry_deg",
           "caution", "recording"]


def load_summary(path) -> pd.DataFrame:
    """The summary CSV (one row per trial); an error naming the file when it is not one."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except FileNotFoundError:
        raise KneeViewInputError(path, "no such file") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise KneeViewInputError(path, f"cannot read the summary CSV: {exc}") from None
    needed = {"athlete_id", "mkd_peak_left_mm", "mkd_peak_right_mm"}
    missing = sorted(needed - set(df.columns))
    if missing:
        raise KneeViewInputError(path, f"not a KneeView summary (no {', '.join(missing)} column; "
                                       "write one with `kneeview batch ROOT --out summary.csv`)")
    if df.empty:
        raise KneeViewInputError(path, "the summary holds no trial")
    return df


def _session_sd(sds: pd.Series, n: int):
    v = pd.to_numeric(sds, errors="coerce")
    if len(v) == 0 or v.isna().any():
        return None
    return float(np.sqrt(np.sum(np.square(v.to_numpy(float))))) / n


def _mean(values: pd.Series):
    v = pd.to_numeric(values, errors="coerce").dropna()
    return float(v.mean()) if len(v) else None


def caution(trials: pd.DataFrame) -> str | None:
    """What the summary rows of a session's trials say against trusting its values: trials whose 3D
    reading's networks disagree (``lifter_spread_deg`` above
    :data:`kneeview.analysis.lifting.UNFAMILIAR_SPREAD_DEG`), whose fitted legs disagree in length
    (``length_asymmetry_mm`` above :data:`kneeview.analysis.reconstruction.LEGS_DISAGREE_MM`) or that were
    filmed from behind (``seen_from_behind_pct`` > 0); None when nothing does."""
    from ..analysis.lifting import unfamiliar
    from ..analysis.reconstruction import legs_disagree

    n = len(trials)
    said = []
    for col, test, text in (("lifter_spread_deg", unfamiliar, "3D unsure"),
                            ("length_asymmetry_mm", legs_disagree, "legs disagree"),
                            ("seen_from_behind_pct", lambda v: v > 0, "from behind")):
        if col in trials:
            k = int(np.sum(test(pd.to_numeric(trials[col], errors="coerce").to_numpy(float))))
            if k:
                said.append(f"{text} ({k} of {n})")
    return "; ".join(said) or None


def study_tables(summary: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``{"sessions": ..., "changes": ...}``: one row per athlete, task and year, ranked by the
    absolute left-right MKD asymmetry (rank 1 the largest); and per athlete and task recorded in
    more than one year, the change of each value from one year to the next (later minus earlier)."""
    df = summary.copy()
    df["athlete_id"] = df["athlete_id"].astype(object).where(df["athlete_id"].notna(), "unknown")
    df["task"] = df["task"].map(lambda t: TASK_SHORT.get(t, t) if isinstance(t, str) else "?") if "task" in df else "?"
    df["year"] = pd.to_numeric(df["year"], errors="coerce") if "year" in df else np.nan
    rows = []
    for (athlete, task, year), g in df.groupby(["athlete_id", "task", df["year"].fillna(-1)], sort=True, dropna=False):
        n = len(g)
        r = {"athlete_id": str(athlete), "task": task, "year": None if year == -1 else int(year), "n_trials": n,
             "caution": caution(g), "recording": str(g["recording"].iloc[0]) if "recording" in g else None}
        for pattern, (unit, _) in PEAKS.items():
            name = pattern.split("_peak_")[0]
            for side in ("left", "right"):
                col = pattern.format(side=side)
                r[f"{name}_{side}_{unit}"] = _mean(g[col]) if col in g else None
                r[f"{name}_{side}_{unit}_sd"] = _session_sd(g[f"{col}_sd"], n) if f"{col}_sd" in g else None
        for name, unit in (("mkd", "mm"), ("fppa", "deg")):
            left, right = r.get(f"{name}_left_{unit}"), r.get(f"{name}_right_{unit}")
            r[f"{name}_asymmetry_{unit}"] = left - right if left is not None and right is not None else None
        rows.append(r)
    sessions = pd.DataFrame(rows)
    key = sessions["mkd_asymmetry_mm"].abs()
    order = key.sort_values(ascending=False, na_position="last", kind="stable").index
    sessions = sessions.loc[order].reset_index(drop=True)
    sessions["rank"] = np.where(sessions["mkd_asymmetry_mm"].notna(), np.arange(1, len(sessions) + 1), None)
    sessions = sessions[[c for c in COLUMNS if c in sessions.columns]]
    changes = []
    values = [c for c in sessions.columns if c.startswith(("mkd_", "fppa_")) and not c.endswith("_sd")]
    for (athlete, task), g in sessions[sessions["year"].notna()].groupby(["athlete_id", "task"]):
        g = g.sort_values("year")
        for (_, a), (_, b) in zip(g.iloc[:-1].iterrows(), g.iloc[1:].iterrows()):
            c = {"athlete_id": athlete, "task": task, "from_year": int(a["year"]), "to_year": int(b["year"])}
            for v in values:
                x, y = a[v], b[v]
                c[f"{v}_change"] = None if x is None or y is None or pd.isna(x) or pd.isna(y) else float(y) - float(x)
            changes.append(c)
    return {"sessions": sessions, "changes": pd.DataFrame(changes)}


# ----------------------------------------------------------------------------- figures
def _cohort_figure(fig, sessions: pd.DataFrame, box):
    """Per metric: the cohort's values (every session, both legs) and each athlete's place among them."""
    left, bottom, width, height = box
    panels = [("mkd_{side}_mm", "Peak MKD, definition 1 (mm)"), ("fppa_{side}_deg", "Peak FPPA (deg)"),
              ("mkd_asymmetry_mm", "MKD asymmetry, left - right (mm)")]
    n = len(panels)
    for k, (col, title) in enumerate(panels):
        ax = fig.add_axes([left + k * width / n + 0.035, bottom, width / n - 0.05, height])
        ax.set_title(title, fontsize=7.5, loc="left")
        labels = [f"{a} {t}" + (f" Y{int(y)}" if y is not None and not pd.isna(y) else "")
                  for a, t, y in zip(sessions["athlete_id"], sessions["task"], sessions["year"])]
        ypos = np.arange(len(sessions))[::-1]
        if "{side}" in col:
            all_values = []
            for side, colour, dy in (("left", style.LEFT, 0.15), ("right", style.RIGHT, -0.15)):
                c = col.format(side=side)
                v = pd.to_numeric(sessions[c], errors="coerce").to_numpy(float)
                sd = pd.to_numeric(sessions.get(f"{c}_sd"), errors="coerce").to_numpy(float) if f"{c}_sd" in sessions else None
                ax.errorbar(v, ypos + dy, xerr=sd if sd is not None and np.isfinite(sd).any() else None, fmt="o",
                            color=colour, ms=3, lw=0.7, capsize=1.5, label=side)
                all_values.append(v[np.isfinite(v)])
            pooled = np.concatenate(all_values) if all_values else np.array([])
        else:
            v = pd.to_numeric(sessions[col], errors="coerce").to_numpy(float)
            ax.barh(ypos, v, color=np.where(v >= 0, style.LEFT, style.RIGHT), height=0.6, alpha=0.8)
            pooled = v[np.isfinite(v)]
        if pooled.size >= 2:
            q1, med, q3 = np.percentile(pooled, [25, 50, 75])
            ax.axvspan(q1, q3, color="#dddddd", alpha=0.6, lw=0, zorder=0)
            ax.axvline(med, color="#777777", lw=0.8, zorder=0)
        ax.axvline(0, color="#999999", lw=0.5)
        ax.set_yticks(ypos)
        ax.set_yticklabels(labels if k == 0 else [], fontsize=5.5)
        ax.set_ylim(-0.7, len(sessions) - 0.3)
        for s in ("top", "right"):
            ax.spines[s].set_visible(False)
        if k == 0:
            ax.legend(fontsize=6, frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2,
                      borderaxespad=0.0)


def _draw_table(fig, frame: pd.DataFrame, columns, top: float, title: str):
    """``frame`` as a table from ``top`` down: (header, column, sd column or None) per column."""
    fig.text(0.05, top, title, fontsize=10, fontweight="bold", va="top")
    height = 0.0175 * (len(frame) + 2)
    ax = fig.add_axes([0.04, top - 0.02 - height, 0.92, height])
    ax.axis("off")
    cells = [[_cell(r, col, sd) for _, col, sd in columns] for _, r in frame.iterrows()] or [["—"] * len(columns)]
    widths = [0.05 if h in ("Rank", "Task", "Year", "Trials", "From", "To") else 0.12 if h == "Athlete"
              else 0.2 if h == "Caution" else 0.1 for h, _, _ in columns]
    table = ax.table(cellText=cells, colLabels=[h for h, _, _ in columns], loc="upper center", cellLoc="center",
                     colWidths=[w / sum(widths) for w in widths])
    table.auto_set_font_size(False)
    table.set_fontsize(6.3)
    for (i, _), cell in table.get_celld().items():
        cell.set_linewidth(0.3)
        cell.set_edgecolor("#bbbbbb")
        cell.set_height(1.0 / (len(cells) + 2) * (2 if i == 0 else 1))
        if i == 0:
            cell.set_text_props(fontweight="bold")
            cell.set_facecolor("#eeeeee")
    return top - 0.04 - height


def _table_pages(frame: pd.DataFrame, title: str, columns: list[tuple[str, str, str | None]], rows_per_page=44):
    """matplotlib pages holding ``frame`` as a table."""
    from matplotlib.figure import Figure

    pages = []
    for start in range(0, max(len(frame), 1), rows_per_page):
        fig = Figure(figsize=style.A4)
        _draw_table(fig, frame.iloc[start:start + rows_per_page], columns, 0.96, title + (" (continued)" if start else ""))
        pages.append(fig)
    return pages


def _unit(col: str) -> str:
    if col.endswith("_mm") or col.endswith("_mm_change"):
        return "mm"
    if col.endswith("_deg") or col.endswith("_deg_change"):
        return "deg"
    return ""


def _cell(r, col, sd=None) -> str:
    v = r.get(col)
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "—"
    unit = _unit(col)
    if unit:
        s = r.get(sd) if sd else None
        return fmt(style.number(v), unit, style.number(s))
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


SESSION_COLUMNS = [("Rank", "rank", None), ("Athlete", "athlete_id", None), ("Task", "task", None), ("Year", "year", None),
                   ("Trials", "n_trials", None),
                   ("MKD left\n(mm)", "mkd_left_mm", "mkd_left_mm_sd"), ("MKD right\n(mm)", "mkd_right_mm", "mkd_right_mm_sd"),
                   ("MKD L-R\n(mm)", "mkd_asymmetry_mm", None),
                   ("FPPA left\n(deg)", "fppa_left_deg", "fppa_left_deg_sd"),
                   ("FPPA right\n(deg)", "fppa_right_deg", "fppa_right_deg_sd"), ("FPPA L-R\n(deg)", "fppa_asymmetry_deg", None),
                   ("Caution", "caution", None)]
CHANGE_COLUMNS = [("Athlete", "athlete_id", None), ("Task", "task", None), ("From", "from_year", None), ("To", "to_year", None),
                  ("MKD left\n(mm)", "mkd_left_mm_change", None), ("MKD right\n(mm)", "mkd_right_mm_change", None),
                  ("MKD L-R\n(mm)", "mkd_asymmetry_mm_change", None), ("FPPA left\n(deg)", "fppa_left_deg_change", None),
                  ("FPPA right\n(deg)", "fppa_right_deg_change", None), ("FPPA L-R\n(deg)", "fppa_asymmetry_deg_change", None)]


def _note(summary_path, summary: pd.DataFrame) -> list[str]:
    sources = sorted(str(s) for s in summary.get("source", pd.Series(dtype=object)).dropna().unique())
    return [
        f"Summary: {Path(summary_path).name} — {len(summary)} trials, {summary['athlete_id'].nunique()} athletes; "
        f"source: {', '.join(sources) or 'not recorded'}; KneeView {__version__}.",
        "Each row is one athlete, task and year: the mean over its trials of the peak values in the landing phase "
        "(drop jump) or the squat (a single-leg squat on its stance leg: the left squats give the left values, the "
        "right ones the right); ± is one standard deviation of the video estimate (none for the C3D ground truth). "
        "Rows are ranked by the absolute left - right MKD asymmetry, largest first. Change: later year minus earlier. "
        "Caution: trials whose 3D reading was unsure (the lifter's networks disagreed: a recording unlike their "
        "training), whose fitted legs disagreed in length (a joint the camera could not see, likely placed wrong) "
        "or that were filmed from behind, where the bundled model's values are less certain.",
        "MKD definition 1: the knee centre's distance from the hip-ankle line in the frontal plane, medial positive "
        "(Ellenberger et al. 2020). FPPA: the thigh-shank angle in the frontal plane, valgus positive (Munro et al. 2012). "
        "No normal range is drawn: none is published for these 3D-derived values. For 2D video FPPA, Munro et al. report "
        f"a smallest detectable difference of {style.FPPA_SDD_DEG[0]:.2f}-{style.FPPA_SDD_DEG[1]:.2f} deg between days.",
        "Grey band: the cohort's interquartile range; grey line: its median.",
    ]


def _pdf(summary_path, summary, tables) -> bytes:
    import textwrap

    from matplotlib.figure import Figure

    sessions, changes = tables["sessions"], tables["changes"]
    with style.pdf_style():
        fig = Figure(figsize=style.A4)
        fig.text(0.05, 0.975, "Dynamic knee valgus — study across athletes", fontsize=13, fontweight="bold", va="top")
        y = 0.945
        for line in _note(summary_path, summary):
            for part in textwrap.wrap(line, 150):
                fig.text(0.05, y, part, fontsize=6.6, va="top")
                y -= 0.0115
            y -= 0.004
        plot_h = min(0.72, 0.06 + 0.018 * len(sessions))
        _cohort_figure(fig, sessions, (0.08, y - 0.03 - plot_h, 0.88, plot_h))
        refs = ["References: " + style.REF_MKD, style.REF_FPPA]
        yy = 0.04
        for line in refs:
            for part in textwrap.wrap(line, 190):
                fig.text(0.05, yy, part, fontsize=5.2, va="top", color=style.MUTED)
                yy -= 0.0085
        pages = [fig]
        y = y - 0.07 - plot_h
        title = "Athletes ranked by MKD asymmetry"
        if 0.0175 * (len(sessions) + 2) + 0.04 < y - 0.06:
            y = _draw_table(fig, sessions, SESSION_COLUMNS, y, title)
        else:
            pages += _table_pages(sessions, title, SESSION_COLUMNS)
            y = -1.0
        if len(changes):
            title = "Year-to-year change (later minus earlier)"
            if 0.0175 * (len(changes) + 2) + 0.04 < y - 0.06:
                _draw_table(fig, changes, CHANGE_COLUMNS, y, title)
            else:
                pages += _table_pages(changes, title, CHANGE_COLUMNS)
        return style.pdf_bytes(pages, title="KneeView study", subject="Dynamic knee valgus across athletes")


def _html_table(frame: pd.DataFrame, columns) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _, _ in columns)
    body = []
    for _, r in frame.iterrows():
        body.append("<tr>" + "".join(f"<td>{html.escape(_cell(r, c, sd))}</td>" for _, c, sd in columns) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _html(summary_path, summary, tables) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    sessions, changes = tables["sessions"], tables["changes"]
    with style.pdf_style():
        import matplotlib

        with matplotlib.rc_context({"svg.fonttype": "none"}):
            fig = Figure(figsize=(8.27, max(2.5, 0.8 + 0.2 * len(sessions))))
            _cohort_figure(fig, sessions, (0.08, 0.08, 0.88, 0.82))
            buf = io.StringIO()
            FigureCanvasSVG(fig).print_svg(buf)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in _note(summary_path, summary))
    parts = [
        "<!DOCTYPE html>", "<html lang='en'><head><meta charset='utf-8'>",
        "<title>KneeView study</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;font-size:0.9em}"
        "td,th{border:1px solid #bbb;padding:0.2em 0.5em;text-align:center}th{background:#eee}p{font-size:0.9em}</style>",
        "</head><body>", "<h1>Dynamic knee valgus — study across athletes</h1>", notes, svg,
        "<h2>Athletes ranked by MKD asymmetry</h2>", _html_table(sessions, SESSION_COLUMNS),
    ]
    if len(changes):
        parts += ["<h2>Year-to-year change (later minus earlier)</h2>", _html_table(changes, CHANGE_COLUMNS)]
    parts += [f"<p>References: {html.escape(style.REF_MKD)}<br>{html.escape(style.REF_FPPA)}</p>", "</body></html>"]
    return "\n".join(parts) + "\n"


def write_study(summary_path, out) -> Path:
    """The study of a summary CSV as ``out`` (``.pdf`` or ``.html``), written atomically."""
    from ..atomic import atomic_write_bytes, atomic_write_text

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".pdf", ".html", ".htm"):
        raise KneeViewInputError(out, "the study is written as .pdf or .html", "--out")
    summary = load_summary(summary_path)
    tables = study_tables(summary)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(out.parent, f"cannot create the output folder: {exc.strerror or exc}") from None
    if suffix == ".pdf":
        atomic_write_bytes(out, _pdf(summary_path, summary, tables))
    else:
        atomic_write_text(out, _html(summary_path, summary, tables))
    return out
