#!/usr/bin/env bash
# Create (or update) .venv with the CPU build of torch first, then mammo-monai in editable mode.
#   bash scripts/setup.sh            # core + dev tools (pytest, ruff)
#   EXTRAS=dev,deploy bash scripts/setup.sh   # + the MONAI Deploy app's SDK (what scripts/test.sh installs)
#   PYTHON=python3.11 bash scripts/setup.sh
# torch is pinned here, not in pyproject.toml: a bare `torch` requirement pulls a multi-GB CUDA build,
# while users with GPUs keep their own CUDA torch (pyproject accepts a broad range).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
EXTRAS="${EXTRAS:-dev}"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mammo-monai needs Python >= 3.10")'
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    "${PIP[@]}" install "torch==$TORCH_VERSION"
fi
"${PIP[@]}" install -e ".[$EXTRAS]"
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, monai; print("torch", torch.__version__, "monai", monai.__version__)'))"
