#!/usr/bin/env bash
# The main job on the embedded default data, from a fresh clone: set up, then run `mammo-monai demo`:
# synthesise a CBIS-DDSM-shaped dataset, index it, train the mass segmentation bundle briefly (small UNet),
# evaluate, infer back onto the original images and write the evaluation report. Outputs: outputs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/mammo-monai demo --out outputs/demo "$@"
