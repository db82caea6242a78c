"""Tests of the MONAI Deploy app (they need the ``deploy`` extra)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: the skip reason where the App SDK is missing
SDK_MISSING = ("the MONAI Deploy App SDK is not installed in this environment: these tests run in .venv-deploy "
               "(bash scripts/test_deploy.sh, which scripts/test.sh runs; the SDK is kept out of .venv because with it "
               "every `import monai` imports Holoscan)")


def deploy_sdk_installed() -> bool:
    """Whether ``monai/deploy`` (the App SDK installs itself inside MONAI's package) is there, without importing
    MONAI."""
    spec = importlib.util.find_spec("monai")
    return spec is not None and any((Path(p) / "deploy").is_dir() for p in (spec.submodule_search_locations or []))
