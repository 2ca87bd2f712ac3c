"""The "Recording and model" panel: what is open, which camera, which model."""
from __future__ import annotations

import json
from html import escape as html_escape

from PySide6 import QtCore, QtWidgets

from ..analysis.facing import BEHIND_CAUTION, BEHIND_MEASURED
from ..analysis.lifting import (UNFAMILIAR_CAUTION, UNFAMILIAR_MEASURED, UNFAMILIAR_SPREAD_DEG, median_spread_deg,
                                unfamiliar)
from ..analysis.reconstruction import LEGS_DISAGREE_CAUTION, LEGS_DISAGREE_MEASURED, LEGS_DISAGREE_MM, legs_disagree


class InfoPanel(QtWidgets.QTextBrowser):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setOpenLinks(False)
        # keep the keyboard for scrubbing: the text pane would take PageUp/PageDown, arrows...
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)

    def show_state(self, state, model=None) -> None:
        """The open recording of ``state`` (a SessionState) and ``model`` (a ModelIdentity or None)."""
        rec = state.recording
        if rec is None:
            self.setHtml("<p>No recording open.</p>")
            return
        v = state.reader.info
        view = state.view
        cam = view.camera
        rows = [("Recording", str(rec.root)), ("Trial", rec.trial)]
        if len(rec.views) > 1:
            rows.append(("View", f"{state.view_index + 1} of {len(rec.views)} synchronised videos"))
        rows += [
            ("Video", f"{view.video_path.name} — {v.width}×{v.height}, "
             f"{v.fps:g} frames/s, {v.frame_count} frames ({v.duration_s:.2f} s), {v.codec}"),
            ("Calibration", str(rec.calibration_path) if rec.calibration_path else "none"),
            ("Camera", f"{cam.device_id} {cam.name} (f = {cam.focal_length_px:.0f} px; {view.camera_match})" if cam else "none"),
            ("Ground truth", str(rec.c3d_path) if rec.c3d_path else "none"),
        ]
        for key in ("athlete_id", "task", "year"):
            if key in rec.metadata:
                rows.append((key.replace("_", " ").capitalize(), str(rec.metadata[key])))
        behind = view_of_athlete(state)
        if behind is not None:
            rows.append(("View of the athlete", behind))
        reading = reading_3d(state)
        if reading is not None:
            rows.append(("3D reading", reading))
        legs = leg_lengths(state)
        if legs is not None:
            rows.append(("Leg lengths", legs))
        if model is not None:
            rows.append(("Model", model.name))
            rows.append(("Device", device_text(model)))
            rows.append(("Checkpoint", model.sha256[:16]))
        html = "<table cellspacing=3>" + "".join(
            f"<tr><td><b>{k}</b></td><td>{html_escape(v)}</td></tr>" for k, v in rows) + "</table>"
        if rec.problems:
            html += "<p><b>Notes</b></p><ul>" + "".join(f"<li>{html_escape(p)}</li>" for p in rec.problems) + "</ul>"
        if model is not None and model.card:
            card = {k: v for k, v in model.card.items() if not isinstance(v, (list, dict)) or len(json.dumps(v, default=str)) < 400}
            html += "<p><b>Model card</b></p><pre>" + html_escape(json.dumps(card, indent=1, default=str)) + "</pre>"
        self.setHtml(html)


def view_of_athlete(state) -> str | None:
    """Whether the camera saw the athlete's front or back (the complete estimate's
    ``seen_from_behind_frames``, kneeview.analysis.facing), None before an estimate."""
    est = state.estimate
    if est is None or not est.done.all():
        return None
    frames = (est.pose.model or {}).get("seen_from_behind_frames")
    if frames is None:
        return None
    if frames == 0:
        return "from the front"
    pct = 100.0 * frames / max(len(est.done), 1)
    return f"from behind in {pct:.0f} % of the frames: {BEHIND_CAUTION} ({BEHIND_MEASURED})"


def reading_3d(state) -> str | None:
    """Whether the 3D reading's networks agree on this recording (the median over the frames of
    the analysed estimate's lifter spread, kneeview.analysis.lifting), None before an analysis
    or without the lifter's prior."""
    med = median_spread_deg(getattr(_reconstruction(state), "prior_spread_deg", None))
    if med is None:
        return None
    if not unfamiliar(med):
        return f"its networks agree (spread {med:.1f}° median)"
    return (f"unsure, its networks disagree by {med:.0f}° (median; above {UNFAMILIAR_SPREAD_DEG:g}°): "
            f"{UNFAMILIAR_CAUTION} ({UNFAMILIAR_MEASURED})")


def _reconstruction(state):
    est = state.estimate
    analysed = getattr(est, "analysed", None) if est is not None else None
    return analysed.inputs.reconstruction if analysed is not None else None


def leg_lengths(state) -> str | None:
    """Whether the reconstruction's fitted legs agree in length (kneeview.analysis.reconstruction,
    :data:`LEGS_DISAGREE_MM`), None before an analysis or without the calibrated reconstruction."""
    recon = _reconstruction(state)
    asym = getattr(recon, "length_asymmetry_mm", None)
    if asym is None:
        return None
    if not legs_disagree(asym):
        return f"the two legs agree (thigh and shank within {asym:.0f} mm)"
    return (f"the two legs disagree: their fitted thighs or shanks differ by {asym:.0f} mm (above "
            f"{LEGS_DISAGREE_MM:g} mm), {LEGS_DISAGREE_CAUTION} ({LEGS_DISAGREE_MEASURED})")


def device_text(model) -> str:
    """Where the model runs; a model known only from its card (a cached estimate) is not loaded."""
    return model.device or "not loaded (cached estimate)"
