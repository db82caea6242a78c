#!/usr/bin/env bash
# Reproduce the measured MIAS result of bundles/mammo_mass_segmentation (its docs/README.md, "Measured results"):
# index mini-MIAS (masses only, splits by woman stratified by lesion type), train the bundle with the 2-CPU
# recipe (configs/mias_cpu.json), evaluate the best checkpoint on the test split (preprocessed grid), infer the
# test split back onto the original films (masks + overlay PNGs), and score those with `mammo-monai eval
# segmentation` (original grid, bootstrap CIs by woman).
#   bash scripts/mias_mass_segmentation.sh [MIAS_DIR] [OUT_DIR]     (defaults: ../shared/data/mias, outputs/mias_mass_segmentation)
# OUT_DIR is created; an existing run there is resumed from its last checkpoint (delete OUT_DIR to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/mias_common.sh
mias_prepare outputs/mias_mass_segmentation "${1:-}" "${2:-}"
B=bundles/mammo_mass_segmentation/configs
COMMON=(--meta_file "$B/metadata.json" --logging_file "$B/logging.conf" --bundle_root "$OUT/bundle"
        --datalist "$OUT/mias.json")
echo "== training ($(date -u +%T))"
time $PY -m monai.bundle run training --config_file "['$B/train.json','$B/mias_cpu.json']" "${COMMON[@]}" \
    > "$OUT/training.log" 2>&1
echo "== evaluating the best checkpoint on the test split ($(date -u +%T))"
$PY -m monai.bundle run evaluating --config_file "['$B/train.json','$B/evaluate.json','$B/mias_cpu.json']" \
    "${COMMON[@]}" > "$OUT/evaluating.log" 2>&1
echo "== inferring on the test split, back onto the original films ($(date -u +%T))"
$PY -m monai.bundle run inferring --config_file "['$B/inference.json','$B/mias_cpu.json']" "${COMMON[@]}" \
    --output_dir "$OUT/predictions" --data_root_dir "$MIAS" > "$OUT/inferring.log" 2>&1
echo "== mammo-monai eval segmentation ($(date -u +%T))"
.venv/bin/mammo-monai eval segmentation --pred "$OUT/predictions" --label "$OUT/mias.json" --out "$OUT/report" \
    --split test --overwrite True
echo "bundle evaluation (preprocessed grid): $OUT/bundle/eval/metrics.csv; report: $OUT/report; logs: $OUT/*.log"
