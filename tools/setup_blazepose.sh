#!/usr/bin/env bash
# A separate virtual environment for the BlazePose 2D detector (tools/blazepose_detect.py).
#
#   bash tools/setup_blazepose.sh [VENV]        # default: .venv-blazepose in the repository
#
# mediapipe 0.10.21 needs numpy < 2, which the app's environment (.venv) does not have,
# so the detector lives apart and is called as a tool; the app never imports mediapipe.
# The pose_landmark_full model ships inside the mediapipe wheel: nothing is downloaded at
# run time. opencv-python-headless (not opencv-python) keeps Qt/X11 out of this venv; it is
# pinned (4.11.0.86, the newest that supports numpy < 2) because the decoder changes the
# detections (docs/real-recording.md, "Sensitivity to the decoder").
# Safe to run again: pip installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:-.venv-blazepose}
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
# mediapipe 0.10.21 declares opencv-contrib-python; install its other requirements and
# the headless OpenCV, then mediapipe itself without dependencies, so one cv2 is present.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check \
  "numpy<2" "opencv-python-headless==4.11.0.86" "absl-py" "attrs>=19.1.0" "flatbuffers>=2.0" "jax" "jaxlib" \
  "matplotlib" "protobuf>=4.25.3,<5" "sentencepiece" "sounddevice>=0.4.4"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "mediapipe==0.10.21"
if "$VENV/bin/python" -m pip show -q opencv-contrib-python >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip uninstall -q -y opencv-contrib-python
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "opencv-python-headless==4.11.0.86"
fi
"$VENV/bin/python" - <<'PY'
import importlib.resources, cv2, mediapipe, numpy
model = importlib.resources.files("mediapipe") / "modules/pose_landmark/pose_landmark_full.tflite"
assert model.is_file(), f"mediapipe lacks {model}"
print(f"setup_blazepose: done (mediapipe {mediapipe.__version__}, numpy {numpy.__version__}, opencv {cv2.__version__})")
PY
