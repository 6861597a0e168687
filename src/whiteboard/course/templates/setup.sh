#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
# It installs Python >= 3.11 if the image lacks it, a virtual environment in $VENV, PyTorch's
# CPU build (no CUDA download) and the Whiteboard kit from /autograder/source.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${WHITEBOARD_VENV:-$ROOT/whiteboard-venv}"
export DEBIAN_FRONTEND=noninteractive

find_python() {
    for p in python3.13 python3.12 python3.11 python3; do
        if command -v "$p" >/dev/null 2>&1 &&
           "$p" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

PY="$(find_python || true)"
if [ -z "$PY" ]; then
    apt-get update
    apt-get install -y python3.11 python3.11-venv ||
        { apt-get install -y software-properties-common &&
          add-apt-repository -y ppa:deadsnakes/ppa && apt-get update &&
          apt-get install -y python3.11 python3.11-venv; }
    PY=python3.11
fi
if ! "$PY" -m venv "$VENV"; then
    apt-get update
    apt-get install -y "$("$PY" -c 'import sys; print(f"python3.{sys.version_info[1]}-venv")')" ||
        apt-get install -y python3-venv
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip
# PyTorch's CPU wheels: the PyPI build would pull gigabytes of CUDA libraries for nothing.
"$VENV/bin/python" -m pip install "@TORCH@" --extra-index-url @TORCH_INDEX@
"$VENV/bin/python" -m pip install "$ROOT/source" --extra-index-url @TORCH_INDEX@
"$VENV/bin/python" -c "import torch, whiteboard; print('torch', torch.__version__, 'ok')"
