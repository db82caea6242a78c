#!/usr/bin/env bash
# Reproduce one row of docs/results.md: a 5-fold cross-validation by woman on mini-MIAS (folds stratified by the
# woman's worst pathology and lesion types, seed 0; pooled out-of-fold figures with bootstrap CIs by woman).
#   bash scripts/mias_cv.sh ARM [MIAS_DIR] [OUT_DIR]   (defaults: ../shared/data/mias, outputs/mias_cv)
# ARM:
#   image_plain            normal vs abnormal films: the image classifier's 2-CPU recipe (mias_cpu.json), 25 epochs
#                          at most, early stop after 8 without a better validation AUC
#   image_contralateral    the same with the other breast as a second channel ("contralateral": true)
#   image_tta              image_plain's fold models (run image_plain first) with flip test-time augmentation
#   lesion_pathology       benign vs malignant lesion crops: the lesion classifier's 2-CPU recipe, task pathology,
#                          40 epochs at most, early stop after 12
#   lesion_pathology_ensemble  the same, each fold's lesions scored by a fold ensemble (nested CV: four member
#                          models trained inside the fold, their mean probability; "--fold_ensemble True")
#   segmentation           mass segmentation: the segmentation bundle's 2-CPU recipe (mias_cpu.json: mass and
#                          background 128-px patches 1:1), 36 epochs at most; the post-processing rows (plain argmax
#                          with the recipe's 450-px component rule, then the rule and film gate chosen inside folds)
#                          are scored from the same fold models
#   segmentation_background  the same with three background patches to each mass patch ("patch_pos": 1,
#                          "patch_neg": 3): the mass:background ratio of the training crops, measured
#   segmentation_mass      the same with three mass patches to each background patch ("patch_pos": 3, "patch_neg": 1)
#   film_classifier        normal vs abnormal films: handcrafted film features and gradient boosting (three rows: the
#                          film, + the other breast, + the detector's best candidates; reuses two_stage's candidates)
#   two_stage              mass detection: LoG blob candidates, then gradient boosting with and without the other
#                          breast's features, and with CNN features of two-scale candidate crops from an autoencoder
#                          pretrained on the unlabelled crops of every film (and untrained, as control): five rows
#   two_stage_blend        the first three two_stage rows again, plus stage 2 also trained on each training mass
#                          blended into 3 normal films of the fold's other training women (reuses two_stage's
#                          candidates when that run is there)
# Each ARM writes OUT_DIR/ARM (cv_report.md or two_stage_report.md; the evaluator's report and plots inside). An
# interrupted run is resumed where it stopped (delete OUT_DIR/ARM to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
ARM="${1:?usage: bash scripts/mias_cv.sh image_plain|image_contralateral|image_tta|lesion_pathology|lesion_pathology_ensemble|segmentation|segmentation_background|segmentation_mass|film_classifier|two_stage|two_stage_blend [MIAS_DIR] [OUT_DIR]}"
. scripts/mias_common.sh
mias_prepare outputs/mias_cv "${2:-}" "${3:-}"
EPOCHS='"max_epochs": 25, "early_stop_patience": 8'
case "$ARM" in
    image_plain) OVERRIDES="{$EPOCHS}" ;;
    image_contralateral) OVERRIDES="{$EPOCHS, \"contralateral\": true}" ;;
    image_tta)
        time "$MM" cv bundles/mammo_image_classification --datalist "$OUT/mias.json" --out "$OUT/image_tta" --folds 5 \
            --configs '["mias_cpu.json"]' --overrides "{$EPOCHS}" --infer_overrides '{"tta": true}' \
            --train_from "$OUT/image_plain"
        exit 0 ;;
    lesion_pathology)
        time "$MM" cv bundles/mammo_lesion_classification --datalist "$OUT/mias.json" --out "$OUT/lesion_pathology" \
            --folds 5 --configs '["mias_cpu.json"]' \
            --overrides '{"task": "pathology", "include_normal": false, "max_epochs": 40, "early_stop_patience": 12}'
        exit 0 ;;
    lesion_pathology_ensemble)
        time "$MM" cv bundles/mammo_lesion_classification --datalist "$OUT/mias.json" \
            --out "$OUT/lesion_pathology_ensemble" --folds 5 --configs '["mias_cpu.json"]' --fold_ensemble True \
            --overrides '{"task": "pathology", "include_normal": false, "max_epochs": 40, "early_stop_patience": 12}'
        exit 0 ;;
    segmentation)
        time "$MM" cv bundles/mammo_mass_segmentation --datalist "$OUT/mias.json" --out "$OUT/segmentation" \
            --folds 5 --configs '["mias_cpu.json"]' --gate_cache "$OUT/two_stage/candidates"
        exit 0 ;;
    segmentation_background)
        time "$MM" cv bundles/mammo_mass_segmentation --datalist "$OUT/mias.json" \
            --out "$OUT/segmentation_background" --folds 5 --configs '["mias_cpu.json"]' \
            --overrides '{"patch_pos": 1, "patch_neg": 3}' --gate_cache "$OUT/two_stage/candidates"
        exit 0 ;;
    segmentation_mass)
        time "$MM" cv bundles/mammo_mass_segmentation --datalist "$OUT/mias.json" \
            --out "$OUT/segmentation_mass" --folds 5 --configs '["mias_cpu.json"]' \
            --overrides '{"patch_pos": 3, "patch_neg": 1}' --gate_cache "$OUT/two_stage/candidates"
        exit 0 ;;
    film_classifier)
        time "$MM" film_classifier_cv --datalist "$OUT/mias.json" --out "$OUT/film_classifier" --folds 5 \
            --candidates_cache "$OUT/two_stage/candidates"
        exit 0 ;;
    two_stage)
        time "$MM" two_stage_cv --datalist "$OUT/mias.json" --out "$OUT/two_stage" --folds 5 --crop_embedding True
        exit 0 ;;
    two_stage_blend)
        if [ -d "$OUT/two_stage/candidates" ] && [ ! -d "$OUT/two_stage_blend/candidates" ]; then
            mkdir -p "$OUT/two_stage_blend" && cp -r "$OUT/two_stage/candidates" "$OUT/two_stage_blend/"
        fi
        time "$MM" two_stage_cv --datalist "$OUT/mias.json" --out "$OUT/two_stage_blend" --folds 5 --blend_lesions 3
        exit 0 ;;
    *) echo "unknown ARM '$ARM'" >&2; exit 2 ;;
esac
time "$MM" cv bundles/mammo_image_classification --datalist "$OUT/mias.json" --out "$OUT/$ARM" --folds 5 \
    --configs '["mias_cpu.json"]' --overrides "$OVERRIDES"
