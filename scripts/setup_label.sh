#!/usr/bin/env bash
# Create (or update) .venv-label: the CPU build of torch, MONAI Label 0.8.5 with the pins it needs, then
# mammo-monai in editable mode, plus what its tests need here (pytest, pydicom-data, hypothesis; requests for the server
# tests; not the dev extra's jsonschema>=4, which pydicom-seg refuses: the bundle tests that use it run in
# .venv). .venv is not touched. scripts/test_label.sh runs the tests in it.
#   bash scripts/setup_label.sh
#   PYTHON=python3.11 bash scripts/setup_label.sh
# Why the pins: monailabel 0.8.5 imports pydicom-seg, which needs a module pydicom 3 removed (pydicom<3);
# numpymaxflow and pydicom-seg need numpy<2; dicomweb-client/pynetdicom releases after those below need
# pydicom 3. monailabel pulls sam2 -> a bare `torch` requirement, so torch is pinned by a constraints file
# (otherwise pip replaces the CPU torch with a multi-GB CUDA build). The torchvision that comes along
# (PyPI's CUDA-linked 0.28.0) does not import with the CPU torch ("operator torchvision::nms does not
# exist"): the server and BasicInferTask work without it, but monailabel.transform.post (Restored) and so
# monailabel.tasks.infer.bundle import torchvision.utils; an app using them must stub it (no CPU build on PyPI).
# Start the server with the venv first on PATH (the `monailabel` script runs `python` from PATH):
#   PATH="$PWD/.venv-label/bin:$PATH" monailabel start_server --app APP --studies STUDIES ...
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
MONAILABEL_VERSION="${MONAILABEL_VERSION:-0.8.5}"
VENV=.venv-label
PY="$VENV/bin/python"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "mammo-monai needs Python >= 3.10")'

# Versions from the installed metadata (no imports: torch alone takes seconds to import).
versions() {
    "$PY" -I - <<'EOF'
import importlib.metadata as md
names = ["torch", "monai", "monailabel", "numpy", "pydicom", "pytest", "pydicom-data", "hypothesis", "requests"]
print("setup_label: .venv-label ready (" + ", ".join(f"{n} {md.version(n)}" for n in names) + ")")
EOF
}

# Fast no-op check: everything at the expected versions, mammo-monai installed editable from this checkout.
# -I: without it the checkout's own mammo_monai.egg-info (cwd on sys.path) shadows the installed metadata.
ready() {
    [ -x "$PY" ] || return 1
    "$PY" -I - "$TORCH_VERSION" "$MONAILABEL_VERSION" "$PWD" <<'EOF' 2>/dev/null
import importlib.metadata as md, json, os, re, sys
from urllib.parse import unquote, urlparse
torch_v, ml_v, root = sys.argv[1:4]
def major(name):
    return int(md.version(name).split(".")[0])
def at_least(name, *floor):
    return tuple(int(n) for n in re.findall(r"\d+", md.version(name))[:len(floor)]) >= floor
ok = (
    md.version("torch").split("+")[0] == torch_v
    and "+cu" not in md.version("torch")
    and md.version("monailabel") == ml_v
    and major("numpy") < 2
    and major("pydicom") < 3
    and at_least("pytest", 9, 0, 3)
    and at_least("pydicom", 2, 4, 5)
    and at_least("monai", 1, 6)
    and bool(md.version("pydicom-data")) and bool(md.version("highdicom"))
    and bool(md.version("requests")) and bool(md.version("hypothesis"))
)
url = json.loads(md.distribution("mammo-monai").read_text("direct_url.json") or "{}")
where = os.path.realpath(unquote(urlparse(url.get("url", "")).path))
ok = ok and url.get("dir_info", {}).get("editable", False) and where == os.path.realpath(root)
sys.exit(0 if ok else 1)
EOF
}

if ready; then
    versions
    exit 0
fi

if [ ! -x "$PY" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check -q)
# the same way as scripts/setup.sh: the pinned CPU torch only when no torch $TORCH_VERSION is there
# (TORCH_INDEX_URL as there: e.g. https://download.pytorch.org/whl/cpu for the CPU build)
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "${PIP[@]}" install --extra-index-url "$TORCH_INDEX_URL" "torch==$TORCH_VERSION"
    else
        "${PIP[@]}" install "torch==$TORCH_VERSION"
    fi
fi
CONSTRAINTS="$(mktemp "${TMPDIR:-/tmp}/setup_label_constraints.XXXXXX")"
trap 'rm -f "$CONSTRAINTS"' EXIT
# `torch==X` also matches the installed local build X+cpu, so pip keeps it instead of fetching CUDA torch
printf '%s\n' "torch==$TORCH_VERSION" 'numpy<2' 'pydicom<3' 'dicomweb-client<0.61' 'pynetdicom<3' 'jsonschema<4' >"$CONSTRAINTS"
"${PIP[@]}" install -c "$CONSTRAINTS" "monailabel==$MONAILABEL_VERSION" 'pydicom<3' 'dicomweb-client<0.61' 'pynetdicom<3'
"${PIP[@]}" install -c "$CONSTRAINTS" -e . 'pytest>=9.0.3' 'pydicom-data>=1.0' 'hypothesis>=6.100' requests
# fail loudly if anything slipped past the constraints or does not import
"$PY" -c "import torch, sys; v = torch.__version__; sys.exit(0 if v.split('+')[0] == '$TORCH_VERSION' and '+cu' not in v else f'unexpected torch {v}')"
"$PY" -c 'import numpy, pydicom, monai, monailabel.interfaces.app, mammo_monai.io, pytest, hypothesis, requests'
ready || { echo "setup_label: $VENV is not as expected after install" >&2; exit 1; }
versions
