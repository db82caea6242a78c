#!/usr/bin/env bash
# The library under the oldest versions it supports: pydicom 2.4 and numpy 1.26 (what MONAI Label 0.8.5
# needs), in .venv-compat, running the io, data, transforms and evaluation tests. Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
if [ ! -x .venv-compat/bin/python ]; then
    "$PYTHON" -m venv .venv-compat
fi
PIP=(.venv-compat/bin/python -m pip --disable-pip-version-check -q)
if ! .venv-compat/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    "${PIP[@]}" install "torch==$TORCH_VERSION"
fi
"${PIP[@]}" install -e '.[dev]' 'pydicom>=2.4,<3' 'numpy>=1.26,<2'
.venv-compat/bin/python -c 'import pydicom, numpy; print(f"compat: pydicom {pydicom.__version__}, numpy {numpy.__version__}")'
.venv-compat/bin/python -m pytest -q -p no:cacheprovider tests/io tests/data tests/transforms tests/evaluation "$@"
