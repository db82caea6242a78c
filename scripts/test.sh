#!/usr/bin/env bash
# Set up, then lint and run the whole test suite (what CI runs through .ci/run).
# Tests that need the real data in ../shared/data skip with a reason when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
# the MONAI Label app, and the same library under pydicom 2.4 / numpy 1.26 (MONAI Label's pins), in
# .venv-label; MAMMO_MONAI_SKIP_LABEL=1 skips it
if [ "${MAMMO_MONAI_SKIP_LABEL:-0}" != "1" ]; then
    bash scripts/test_label.sh
fi
