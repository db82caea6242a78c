#!/usr/bin/env bash
# The main job on the embedded default data, from a fresh clone: set up, then run `mammo-monai demo`.
# Outputs go to outputs/demo (regenerated on every run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/mammo-monai demo --out outputs/demo --overwrite "$@"
