"""Model cards and model identity, without torch.

A checkpoint is two files side by side, ``NAME.safetensors`` and ``NAME.json`` (the
card), or a folder holding one such pair (the bundled model is ``resources/model/``).
:func:`resolve_checkpoint` is the one rule that turns what a user names (nothing, a
folder, either file) into that pair; :func:`read_card` checks the card.
:class:`ModelIdentity` says which model an estimate came from: the app's status bar and
info panel, the CLI and the estimate cache all read it, from a card alone (no weights
loaded) or from a loaded estimator (``Estimator.identity``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .. import joints as J
from ..errors import CheckpointError

FORMAT = "kneeview-pose-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_SUFFIX = ".safetensors"
CARD_SUFFIX = ".json"


def resolve_checkpoint(path=None) -> tuple[Path, Path]:
    """(weights, card) paths of a checkpoint given as a folder, a .safetensors or a .json;
    ``None`` is the bundled model."""
    if path is None:
        from ..bundled import model_path

        path = model_path(required=True)
    path = Path(path)
    if path.is_dir():
        weights = sorted(path.glob(f"*{WEIGHTS_SUFFIX}"))
        if len(weights) != 1:
            found = "none" if not weights else ", ".join(w.name for w in weights)
            raise CheckpointError(path, f"a checkpoint folder holds exactly one {WEIGHTS_SUFFIX} weights file; "
                                  f"this one holds {found}")
        path = weights[0]
    if path.suffix == CARD_SUFFIX:
        weights, card = path.with_suffix(WEIGHTS_SUFFIX), path
    else:
        weights, card = path, path.with_suffix(CARD_SUFFIX)
    if not weights.is_file():
        raise CheckpointError(weights, "checkpoint weights file not found")
    if not card.is_file():
        raise CheckpointError(card, "model card not found (a checkpoint is NAME.safetensors + NAME.json)")
    return weights, card


def read_card(card_path) -> dict:
    """The card's JSON, checked for format, version, joint order and the entries loading needs."""
    try:
        card = json.loads(Path(card_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(card_path, f"cannot read the model card: {exc}") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise CheckpointError(card_path, f"not a KneeView model card (expected format {FORMAT!r})", "format")
    if card.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(card_path, f"card format version {card.get('format_version')!r} is not {FORMAT_VERSION}", "format_version")
    if tuple(card.get("joints", ())) != J.JOINTS:
        raise CheckpointError(card_path, f"the model's joints {card.get('joints')} are not KneeView's {list(J.JOINTS)}", "joints")
    for key in ("config", "normalisation", "weights"):
        if not isinstance(card.get(key), dict):
            raise CheckpointError(card_path, "missing or malformed entry", key)
    if not isinstance(card["weights"].get("sha256"), str):
        raise CheckpointError(card_path, "missing the weights' sha256", "weights.sha256")
    return card


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made an estimate: a display name, the weights' sha256 (the cache key),
    the device it runs on ("" when not loaded) and its card."""

    name: str
    sha256: str
    device: str = ""
    card: dict = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_card(cls, card: dict, device: str = "") -> "ModelIdentity":
        details = [str(card[k]) for k in ("framework", "backbone") if card.get(k)]
        name = "kneeview-pose" + (f" ({', '.join(details)})" if details else "")
        version = card.get("version") or card.get("kneeview_version")
        if version:
            name += f" v{version}"
        return cls(name=name, sha256=str((card.get("weights") or {}).get("sha256", "")), device=device,
                   card={k: v for k, v in card.items() if not k.startswith("_")})

    def on(self, device: str) -> "ModelIdentity":
        return ModelIdentity(self.name, self.sha256, str(device), self.card)

    def as_model_dict(self) -> dict:
        """What a PoseSequence records about its model (``PoseSequence.model``)."""
        out = {"name": self.name, "checkpoint_sha256": self.sha256, "device": self.device}
        for key in ("framework", "backbone", "kneeview_version"):
            if self.card.get(key) is not None:
                out[key] = self.card[key]
        return out


def card_identity(checkpoint=None) -> ModelIdentity:
    """The identity of a checkpoint (``None``: the bundled model) from its card alone: no
    torch, no weights read, so a cached estimate is found before any model is loaded."""
    _, card_path = resolve_checkpoint(checkpoint)
    return ModelIdentity.from_card(read_card(card_path))
