#!/usr/bin/env bash
# The MONAI Deploy app's tests (tests/deploy and the doctests of mammo_monai/deploy) in .venv-deploy, the only
# environment with the App SDK (see scripts/setup_deploy.sh, which this runs first). Called by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_deploy.sh
.venv-deploy/bin/python -m pytest -q -p no:cacheprovider tests/deploy mammo_monai/deploy "$@"
