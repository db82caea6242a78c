#!/usr/bin/env bash
# Set up, then lint and run the whole test suite (what CI runs through .ci/run).
# Tests that need the real data in ../shared/data skip with a reason when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
# the same library under pydicom 2.4 / numpy 1.26 (MONAI Label's pins); MAMMO_MONAI_SKIP_COMPAT=1 skips it
if [ "${MAMMO_MONAI_SKIP_COMPAT:-0}" != "1" ]; then
    bash scripts/test_compat.sh
fi
