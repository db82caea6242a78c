# Sourced by the scripts/mias_*.sh recipes (not run on its own): their common start.
#   mias_prepare DEFAULT_OUT [MIAS_DIR] [OUT_DIR]
# Sets MIAS and OUT (absolute; defaults ../shared/data/mias and DEFAULT_OUT) and PY, runs the set-up, creates OUT
# and indexes mini-MIAS into OUT/mias.json once (splits by woman stratified by lesion type, mass masks: the one
# split every MIAS recipe shares; an existing index is reused). Call it from the repository root.
mias_prepare() {
    local default_out="$1"
    MIAS="$(realpath "${2:-../shared/data/mias}")"
    OUT="$(realpath -m "${3:-$default_out}")"
    PY=.venv/bin/python
    bash scripts/setup.sh >/dev/null
    mkdir -p "$OUT"
    if [ ! -f "$OUT/mias.json" ]; then
        .venv/bin/mammo-monai index mias "$MIAS" --out "$OUT/mias.json" --stratify lesion_types \
            --mask_types '["mass"]' --progress False
    fi
}
