#!/usr/bin/env bash
# Create (or update) a virtual environment (.venv by default) with torch first, then mammo-monai in editable mode.
#   bash scripts/setup.sh                  # .venv: core + dev tools (pytest, ruff)
#   bash scripts/setup_deploy.sh           # .venv-deploy: + the MONAI Deploy app's SDK (VENV=.venv-deploy EXTRAS=dev,deploy)
#   PYTHON=python3.11 bash scripts/setup.sh
#
# Which torch build (torch is pinned here, not in pyproject.toml, whose range is for users who bring their own):
#   - torch==$TORCH_VERSION already there (any build: CPU, CUDA, ROCm): kept as it is.
#   - else, without TORCH_INDEX_URL: `pip install torch==$TORCH_VERSION` from the index pip is configured with. On
#     PyPI that is, on Linux x86_64, the CUDA build (several GB with its nvidia-* wheels; it also runs on a machine
#     without a GPU), elsewhere the CPU build. Works with nothing but PyPI.
#   - TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu: the CPU build (about 200 MB) from PyTorch's own index
#     (.../whl/cu126 and the like for a given CUDA version); the rest still comes from the configured index.
# The last line says which build got installed (the version, and the CUDA version built in or "CPU only").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_INDEX_URL="${TORCH_INDEX_URL:-}"
EXTRAS="${EXTRAS:-dev}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mammo-monai needs Python >= 3.10")'
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check -q)
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    if [ -n "$TORCH_INDEX_URL" ]; then
        echo "setup: installing torch==$TORCH_VERSION from $TORCH_INDEX_URL"
        "${PIP[@]}" install --extra-index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"
    else
        echo "setup: installing torch==$TORCH_VERSION from the configured package index (TORCH_INDEX_URL picks a build)"
        "${PIP[@]}" install "torch==$TORCH_VERSION"
    fi
fi
"${PIP[@]}" install -e ".[$EXTRAS]"
# what got installed (-I: the venv's own packages and metadata, not the checkout's folder first on sys.path)
"$PY" -I - "$VENV" <<'EOF'
import importlib.metadata as md
import sys

import torch

build = f"CUDA {torch.version.cuda} built in" if torch.version.cuda else "CPU only"
if getattr(torch.version, "hip", None):
    build = f"ROCm {torch.version.hip} built in"
print(f"setup: {sys.argv[1]} ready (torch {torch.__version__}, {build}; monai {md.version('monai')})")
EOF
