"""Collection rules for the whole tree (``--doctest-modules`` imports every module under the testpaths)."""

import importlib.util

from tests.deploy import deploy_sdk_installed

collect_ignore_glob = []
if importlib.util.find_spec("monailabel") is None:
    # the MONAI Label app and its test helpers import MONAI Label: they are collected in .venv-label
    # (scripts/test_label.sh); tests/label/test_*.py still report the skip with its reason
    collect_ignore_glob += ["mammo_monai/label/*", "tests/label/server.py", "tests/label/studies.py",
                            "tests/label/orthanc.py"]

if not deploy_sdk_installed():
    # the MONAI Deploy app imports the App SDK (the deploy extra, which scripts/test.sh installs);
    # tests/deploy/test_*.py still report the skip with its reason
    collect_ignore_glob += ["mammo_monai/deploy/*"]
