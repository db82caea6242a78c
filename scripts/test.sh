#!/usr/bin/env bash
# Set up, then lint and run the whole test suite (what CI runs through .ci/run).
# Tests that need the real data in ../shared/data skip with a reason when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
