# Sourced by the scripts/mias_*.sh recipes (not run on its own): their common start.
#   mias_prepare DEFAULT_OUT [MIAS_DIR] [OUT_DIR]
# Sets MIAS and OUT (absolute; defaults ../shared/data/mias and DEFAULT_OUT), PY and MM (the venv's python and
# mammo-monai), runs the set-up, creates OUT
# and indexes mini-MIAS into OUT/mias.json once (splits by woman stratified by lesion type, mass masks: the one
# split every MIAS recipe shares; an existing index is reused). Call it from the repository root.
mias_prepare() {
    local default_out="$1"
    MIAS="$(realpath "${2:-../shared/data/mias}")"
    OUT="$(realpath -m "${3:-$default_out}")"
    PY=.venv/bin/python
    MM=.venv/bin/mammo-monai
    bash scripts/setup.sh >/dev/null
    mkdir -p "$OUT"
    if [ ! -f "$OUT/mias.json" ]; then
        "$MM" index mias "$MIAS" --out "$OUT/mias.json" --stratify lesion_types \
            --mask_types '["mass"]' --progress False
    fi
}

# The classification recipes' steps for one run, after mias_prepare:
#   mias_classifier_run CONFIGS_DIR RUN_DIR LOG_PREFIX
# with the bundle's arguments in the array COMMON and `mammo-monai eval classification`'s own (task...) in the
# array SCORE: train with the 2-CPU recipe (configs/mias_cpu.json), evaluate the best checkpoint on the test split,
# write validation and test probabilities into RUN_DIR/predictions, score the test split into RUN_DIR/report
# (threshold chosen on the validation probabilities); logs in RUN_DIR.
mias_classifier_run() {
    local B="$1" R="$2" TAG="$3"
    echo "== ${TAG}training ($(date -u +%T))"
    time $PY -m monai.bundle run training --config_file "['$B/train.json','$B/mias_cpu.json']" "${COMMON[@]}" \
        > "$R/training.log" 2>&1
    echo "== ${TAG}evaluating the best checkpoint on the test split ($(date -u +%T))"
    $PY -m monai.bundle run evaluating --config_file "['$B/train.json','$B/evaluate.json','$B/mias_cpu.json']" \
        "${COMMON[@]}" > "$R/evaluating.log" 2>&1
    for SPLIT in validation test; do
        echo "== ${TAG}probabilities on the $SPLIT split ($(date -u +%T))"
        $PY -m monai.bundle run inferring --config_file "['$B/inference.json','$B/mias_cpu.json']" "${COMMON[@]}" \
            --output_dir "$R/predictions" --infer_split "$SPLIT" > "$R/inferring_$SPLIT.log" 2>&1
    done
    echo "== ${TAG}mammo-monai eval classification ($(date -u +%T))"
    "$MM" eval classification --pred "$R/predictions/test_probabilities.csv" --label "$OUT/mias.json" \
        --out "$R/report" --val_pred "$R/predictions/validation_probabilities.csv" --overwrite True "${SCORE[@]}"
    echo "${TAG}bundle evaluation: $R/bundle/eval/metrics.csv; report: $R/report; logs: $R/*.log"
}
