#!/usr/bin/env bash
# Re-measure the README's cheap figures on this machine; each line names the command that produced it:
#   - the demo (`mammo-monai demo` at its defaults): wall time and test-split Dice (tests/bundles/test_demo.py checks
#     the Dice against the README);
#   - `python -c "import monai, mammo_monai"` in .venv and .venv-deploy: wall time and what it prints on stderr;
#   - the disk each environment takes (du).
# It uses the environments scripts/test.sh leaves (missing ones are reported, not created). About a minute on 2 cores.
#   bash scripts/readme_figures.sh [OUT]     # OUT: the demo's output folder (default outputs/readme_figures)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-outputs/readme_figures}"
mkdir -p "$OUT"
TIMEFORMAT=%R
echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPU cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -x .venv/bin/mammo-monai ]; then
    seconds=$( { time .venv/bin/mammo-monai demo --out "$OUT/demo" >"$OUT/demo.log" 2>&1; } 2>&1 )
    dice=$(.venv/bin/python -c 'import json, sys; d = json.load(open(sys.argv[1]))["metrics"]["all"]["dice"]
print("{:.3f} (mean of {} test images)".format(d["mean"], d["n"]))' "$OUT/demo/report/segmentation_summary.json")
    echo "demo: ${seconds} s, test-split Dice ${dice}   [time .venv/bin/mammo-monai demo --out $OUT/demo]"
else
    echo "demo: .venv is missing (bash scripts/setup.sh)"
fi

for venv in .venv .venv-deploy; do
    if [ -x "$venv/bin/python" ]; then
        seconds=$( { time "$venv/bin/python" -c "import monai, mammo_monai" 2>"$OUT/import_stderr.txt"; } 2>&1 )
        lines=$(wc -l <"$OUT/import_stderr.txt")
        first=$(head -c 100 "$OUT/import_stderr.txt" | head -1)
        echo "import: $venv ${seconds} s, ${lines} line(s) on stderr${first:+: $first}   [time $venv/bin/python -c \"import monai, mammo_monai\"]"
    else
        echo "import: $venv is missing"
    fi
done

for venv in .venv .venv-deploy .venv-label; do
    if [ -d "$venv" ]; then
        echo "disk: $(du -sh "$venv" | cut -f1) $venv   [du -sh $venv]"
    else
        echo "disk: $venv is missing"
    fi
done
