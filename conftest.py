"""Collection rules for the whole tree (``--doctest-modules`` imports every module under the testpaths)."""

import importlib.util
from pathlib import Path

collect_ignore_glob = []
if importlib.util.find_spec("monailabel") is None:
    # the MONAI Label app and its test helpers import MONAI Label: they are collected in .venv-label
    # (scripts/test_label.sh); tests/label/test_*.py still report the skip with its reason
    collect_ignore_glob += ["mammo_monai/label/*", "tests/label/server.py", "tests/label/studies.py",
                            "tests/label/orthanc.py"]

_monai = importlib.util.find_spec("monai")  # finds the package without importing it
if _monai is None or not any((Path(p) / "deploy").is_dir() for p in (_monai.submodule_search_locations or [])):
    # the MONAI Deploy app imports the App SDK (the deploy extra, which scripts/test.sh installs);
    # tests/deploy/test_*.py still report the skip with its reason
    collect_ignore_glob += ["mammo_monai/deploy/*"]
