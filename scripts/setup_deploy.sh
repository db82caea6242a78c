#!/usr/bin/env bash
# Create (or update) .venv-deploy: what scripts/setup.sh puts in .venv, plus the `deploy` extra (the MONAI Deploy App
# SDK, Holoscan and the Holoscan CLI). The SDK lives apart from .venv because it installs itself inside MONAI's package
# (monai/deploy): MONAI's __init__ imports every monai.* subpackage it finds, so with the SDK every `import monai`
# imports Holoscan (seconds of import time, and a warning that the stack size "may cause segmentation faults or
# crashes") in the demo, every bundle run and every CLI call. scripts/test_deploy.sh runs the Deploy app's tests here.
#   bash scripts/setup_deploy.sh
#   TORCH_INDEX_URL=... PYTHON=... as for scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-deploy EXTRAS=dev,deploy bash scripts/setup.sh
