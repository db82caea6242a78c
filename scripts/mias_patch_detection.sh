#!/usr/bin/env bash
# Reproduce the measured MIAS result of bundles/mammo_patch_detection (its docs/README.md, "Measured results"):
# index mini-MIAS (splits by woman stratified by lesion type: the split of the other MIAS recipes), train the
# patch detector with the 2-CPU recipe (configs/mias_cpu.json: normal / mass / calcification patches, hard-negative
# mining), then evaluate.json: detections of the test split (one JSON + heatmap PNG per image) scored by
# `mammo-monai eval detection` (FROC, sensitivity at 0.125-8 FP per image, CPM; bootstrap CIs by woman).
#   bash scripts/mias_patch_detection.sh [MIAS_DIR] [OUT_DIR]   (defaults: ../shared/data/mias, outputs/mias_patch_detection)
# OUT_DIR is created; an existing run there is resumed from its last checkpoint (delete OUT_DIR to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/mias_common.sh
mias_prepare outputs/mias_patch_detection "${1:-}" "${2:-}"
B=bundles/mammo_patch_detection/configs
COMMON=(--meta_file "$B/metadata.json" --logging_file "$B/logging.conf" --bundle_root "$OUT/bundle"
        --datalist "$OUT/mias.json" --data_root_dir "$MIAS")
echo "== training ($(date -u +%T))"
time $PY -m monai.bundle run training --config_file "['$B/train.json','$B/mias_cpu.json']" "${COMMON[@]}" \
    > "$OUT/training.log" 2>&1
echo "== detections on the test split and their FROC ($(date -u +%T))"
time $PY -m monai.bundle run evaluating --config_file "['$B/inference.json','$B/evaluate.json','$B/mias_cpu.json']" \
    "${COMMON[@]}" 2>&1 | tee "$OUT/evaluating.log" | grep -v " - INFO - \|^\s*$\|nvImageCodec\|NvImgCodec"
echo "detections: $OUT/bundle/eval/detections; FROC report: $OUT/bundle/eval/froc; logs: $OUT/*.log"
