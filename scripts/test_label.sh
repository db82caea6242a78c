#!/usr/bin/env bash
# The MONAI Label app's tests (a real server on 127.0.0.1), and the library under the oldest versions it
# supports: pydicom 2.4 and numpy 1.26, MONAI Label 0.8.5's pins, which .venv-label has (the io, data,
# transforms and evaluation tests). Sets .venv-label up first (scripts/setup_label.sh). Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_label.sh
bash scripts/setup_orthanc.sh
.venv-label/bin/python -c 'import pydicom, numpy; print(f"label/compat: pydicom {pydicom.__version__}, numpy {numpy.__version__}")'
.venv-label/bin/python -m pytest -q -p no:cacheprovider mammo_monai/label tests/label tests/io tests/data \
    tests/transforms tests/evaluation "$@"
