#!/usr/bin/env bash
# Set up, then lint and run the whole test suite (what CI runs through .ci/run).
# Tests that need the real data in ../shared/data skip with a reason when it is absent.
# The MONAI Label environment (.venv-label, MONAI Label's pins, which is also the pydicom 2.4 / numpy 1.26 run) is
# set up in the background while .venv is set up and its suite runs (its set-up is mostly downloads), then its
# tests run (scripts/test_label.sh); MAMMO_MONAI_SKIP_LABEL=1 skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
LABEL=1
[ "${MAMMO_MONAI_SKIP_LABEL:-0}" = "1" ] && LABEL=0
if [ "$LABEL" = 1 ]; then
    LABEL_LOG="$(mktemp "${TMPDIR:-/tmp}/mammo_label_setup.XXXXXX")"
    (bash scripts/setup_label.sh && bash scripts/setup_orthanc.sh) > "$LABEL_LOG" 2>&1 &
    LABEL_SETUP=$!
    # a failure below stops the background set-up too
    trap 'kill "$LABEL_SETUP" 2>/dev/null || true; rm -f "$LABEL_LOG"' EXIT
fi
# the deploy extra too: the MONAI Deploy app's tests (tests/deploy) run in .venv
EXTRAS=dev,deploy bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
if [ "$LABEL" = 1 ]; then
    status=0
    wait "$LABEL_SETUP" || status=$?
    cat "$LABEL_LOG"
    [ "$status" = 0 ] || { echo "test: setting up .venv-label failed ($status)" >&2; exit "$status"; }
    bash scripts/test_label.sh
fi
