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
echo "== training ($(date -u +%T))"
time $PY -m monai.bundle run training --config_file "['$B/train.json','$B/mias_cpu.json']" "${COMMON[@]}" \
    > "$OUT/training.log" 2>&1
echo "== evaluating the best checkpoint on the test split ($(date -u +%T))"
$PY -m monai.bundle run evaluating --config_file "['$B/train.json','$B/evaluate.json','$B/mias_cpu.json']" \
    "${COMMON[@]}" > "$OUT/evaluating.log" 2>&1
for SPLIT in validation test; do
    echo "== probabilities on the $SPLIT split ($(date -u +%T))"
    $PY -m monai.bundle run inferring --config_file "['$B/inference.json','$B/mias_cpu.json']" "${COMMON[@]}" \
        --output_dir "$OUT/predictions" --infer_split "$SPLIT" > "$OUT/inferring_$SPLIT.log" 2>&1
done
echo "== mammo-monai eval classification ($(date -u +%T))"
.venv/bin/mammo-monai eval classification --pred "$OUT/predictions/test_probabilities.csv" --label "$OUT/mias.json" \
    --out "$OUT/report" --task abnormal --val_pred "$OUT/predictions/validation_probabilities.csv" --overwrite True
echo "bundle evaluation: $OUT/bundle/eval/metrics.csv; report: $OUT/report; logs: $OUT/*.log"
