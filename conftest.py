"""Collection rules for the whole tree (``--doctest-modules`` imports every module under the testpaths)."""

import importlib.util

collect_ignore_glob = []
if importlib.util.find_spec("monailabel") is None:
    # the MONAI Label app and its test helpers import MONAI Label: they are collected in .venv-label
    # (scripts/test_label.sh); tests/label/test_*.py still report the skip with its reason
    collect_ignore_glob += ["mammo_monai/label/*", "tests/label/server.py", "tests/label/studies.py",
                            "tests/label/orthanc.py"]
