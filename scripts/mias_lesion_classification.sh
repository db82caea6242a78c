#!/usr/bin/env bash
# Reproduce the measured MIAS results of bundles/mammo_lesion_classification (its docs/README.md, "Measured
# results"): index mini-MIAS (splits by woman stratified by lesion type: the split of the other MIAS recipes),
# then for each task -- `pathology` (benign vs malignant, every lesion with a pathology) and `type_pathology`
# with normal tissue (5 classes) -- train the bundle with the 2-CPU recipe (configs/mias_cpu.json), evaluate the
# best checkpoint on the test split, write validation and test probabilities, and score the test split with
# `mammo-monai eval classification` (threshold chosen on the validation probabilities, bootstrap CIs by woman).
#   bash scripts/mias_lesion_classification.sh [MIAS_DIR] [OUT_DIR] [TASKS]
#   (defaults: ../shared/data/mias, outputs/mias_lesion_classification, "pathology type_pathology+normal")
# OUT_DIR is created; an existing run there is resumed from its last checkpoint (delete OUT_DIR to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/mias_common.sh
mias_prepare outputs/mias_lesion_classification "${1:-}" "${2:-}"
TASKS="${3:-pathology type_pathology+normal}"
B=bundles/mammo_lesion_classification/configs
for RUN in $TASKS; do
    TASK="${RUN%+normal}"
    NORMAL=False
    [ "$RUN" != "$TASK" ] && NORMAL=True
    R="$OUT/$RUN"
    mkdir -p "$R"
    COMMON=(--meta_file "$B/metadata.json" --logging_file "$B/logging.conf" --bundle_root "$R/bundle"
            --datalist "$OUT/mias.json" --task "$TASK" --include_normal "$NORMAL")
    SCORE=(--task "$TASK" --include_normal "$NORMAL")
    mias_classifier_run "$B" "$R" "$RUN: "
done
