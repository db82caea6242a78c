#!/usr/bin/env bash
# Reproduce the measured MIAS result of bundles/mammo_image_classification (its docs/README.md, "Measured results"):
# index mini-MIAS (splits by woman stratified by lesion type: the split of the segmentation recipe), train the
# bundle with the 2-CPU recipe (configs/mias_cpu.json: normal vs abnormal), evaluate the best checkpoint on the
# test split, write validation and test probabilities, and score the test split with `mammo-monai eval
# classification` (threshold chosen on the validation probabilities, bootstrap CIs by woman).
#   bash scripts/mias_image_classification.sh [MIAS_DIR] [OUT_DIR]   (defaults: ../shared/data/mias, outputs/mias_image_classification)
# OUT_DIR is created; an existing run there is resumed from its last checkpoint (delete OUT_DIR to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/mias_common.sh
mias_prepare outputs/mias_image_classification "${1:-}" "${2:-}"
B=bundles/mammo_image_classification/configs
COMMON=(--meta_file "$B/metadata.json" --logging_file "$B/logging.conf" --bundle_root "$OUT/bundle"
        --datalist "$OUT/mias.json")
SCORE=(--task abnormal)
mias_classifier_run "$B" "$OUT" ""
