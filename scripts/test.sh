#!/usr/bin/env bash
# Set up, then lint and run the whole test suite (what CI runs through .ci/run).
# Tests that need the real data in ../shared/data skip with a reason when it is absent.
# Three environments (see README, "The two commands"):
#   .venv         the library, the bundles, the CLI: ruff and the main suite (scripts/setup.sh)
#   .venv-deploy  + the MONAI Deploy App SDK: the Deploy app's tests (scripts/test_deploy.sh); MAMMO_MONAI_SKIP_DEPLOY=1
#                 skips them
#   .venv-label   MONAI Label 0.8.5's pins (also the pydicom 2.4 / numpy 1.26 run): the MONAI Label app's tests
#                 (scripts/test_label.sh; Orthanc for its DICOMweb tests via scripts/setup_orthanc.sh: apt-get as
#                 root, else those tests skip); MAMMO_MONAI_SKIP_LABEL=1 skips them
# .venv-deploy and .venv-label are set up in the background while .venv is set up and its suite runs (their set-up
# is mostly downloads), then their tests run.
set -euo pipefail
cd "$(dirname "$0")/.."
DEPLOY=1
[ "${MAMMO_MONAI_SKIP_DEPLOY:-0}" = "1" ] && DEPLOY=0
LABEL=1
[ "${MAMMO_MONAI_SKIP_LABEL:-0}" = "1" ] && LABEL=0
BACKGROUND=()
LOGS=()
# a failure below stops the background set-ups too
trap 'for p in "${BACKGROUND[@]}"; do kill "$p" 2>/dev/null || true; done; rm -f "${LOGS[@]}"' EXIT
background() {  # background NAME COMMAND...: runs COMMAND with its output in a log; sets LAST_PID and LAST_LOG
    LAST_LOG="$(mktemp "${TMPDIR:-/tmp}/mammo_$1_setup.XXXXXX")"
    shift
    "$@" >"$LAST_LOG" 2>&1 &
    LAST_PID=$!
    BACKGROUND+=("$LAST_PID")
    LOGS+=("$LAST_LOG")
}
finish() {  # finish NAME PID LOG: waits for a background set-up, shows its output, stops on its failure
    local status=0
    wait "$2" || status=$?
    cat "$3"
    [ "$status" = 0 ] || { echo "test: setting up .venv-$1 failed ($status)" >&2; exit "$status"; }
}
if [ "$LABEL" = 1 ]; then
    background label bash -c 'bash scripts/setup_label.sh && bash scripts/setup_orthanc.sh'
    LABEL_SETUP=$LAST_PID LABEL_LOG=$LAST_LOG
fi
if [ "$DEPLOY" = 1 ]; then
    background deploy bash scripts/setup_deploy.sh
    DEPLOY_SETUP=$LAST_PID DEPLOY_LOG=$LAST_LOG
fi
# Earlier versions of this script installed the Deploy SDK into .venv, where every `import monai` then imports it
# and Holoscan (a crash warning about the stack size on every command): it lives in .venv-deploy now.
if [ -x .venv/bin/python ] && .venv/bin/python -m pip show -q monai-deploy-app-sdk >/dev/null 2>&1; then
    echo "test: removing the MONAI Deploy App SDK, Holoscan and the Holoscan CLI from .venv (they live in .venv-deploy)"
    mapfile -t LEFT < <(.venv/bin/python -m pip list --format=freeze 2>/dev/null |
        grep -E -o '^(monai-deploy-app-sdk|holoscan[A-Za-z0-9_.-]*)==' | sed 's/==$//')
    .venv/bin/python -m pip uninstall -y -q "${LEFT[@]}"
fi
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
if [ "$DEPLOY" = 1 ]; then
    finish deploy "$DEPLOY_SETUP" "$DEPLOY_LOG"
    bash scripts/test_deploy.sh
fi
if [ "$LABEL" = 1 ]; then
    finish label "$LABEL_SETUP" "$LABEL_LOG"
    bash scripts/test_label.sh
fi
