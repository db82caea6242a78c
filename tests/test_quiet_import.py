"""A newcomer's first commands print no warning they cannot act on: ``import monai, mammo_monai`` is silent in the
environment the README's test command leaves (.venv), and MONAI's expected-condition messages are demoted."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from mammo_monai.expected_conditions import is_expected_config_root_warning
from tests.deploy import deploy_sdk_installed

REPO_ROOT = Path(__file__).resolve().parents[1]
BUNDLE_CONFIGS = REPO_ROOT / "bundles" / "mammo_mass_segmentation" / "configs"


def _python(code: str, **env: str | None) -> subprocess.CompletedProcess:
    """``python -c code`` in this environment, from the checkout's root, with ``env`` set (``None``: unset)."""
    merged = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT,
                          env={k: v for k, v in merged.items() if v is not None}, timeout=300, check=False)


def test_import_monai_and_mammo_monai_is_silent() -> None:
    assert not deploy_sdk_installed(), (
        f"the MONAI Deploy App SDK is installed in {sys.prefix}: MONAI then imports it and Holoscan at every "
        "`import monai` (a stack-size crash warning); it belongs in .venv-deploy (scripts/setup_deploy.sh)")
    done = _python("import monai, mammo_monai")
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_load_image_without_nvimagecodec_is_silent() -> None:
    """Every ``LoadImage`` builds MONAI's GPU DICOM reader, which logs and warns that nvImageCodec is missing:
    demoted once ``mammo_monai`` is imported (as every bundle config does), kept when that reader was asked for."""
    code = "import mammo_monai\nfrom monai.transforms import LoadImage\nLoadImage(image_only=True)\nprint('ok')"
    done = _python(code, MONAI_DICOM_READER=None)
    assert done.returncode == 0 and done.stdout.strip() == "ok" and done.stderr == "", done.stderr
    asked = _python(code, MONAI_DICOM_READER="nvimgcodec")
    assert asked.returncode == 0 and "nvImageCodec" in asked.stderr


def _config_root_record(root: Path) -> logging.LogRecord:
    message = (f"Not all config files are in {root}. If logging_file and meta_file arenot specified, {root} will be "
               "used as the default config root directory.")
    return logging.LogRecord("monai.bundle.workflows", logging.WARNING, __file__, 0, message, None, None)


def test_config_root_warning_demoted_only_for_a_bundle(tmp_path: Path) -> None:
    assert is_expected_config_root_warning(_config_root_record(BUNDLE_CONFIGS))
    assert not is_expected_config_root_warning(_config_root_record(tmp_path))
    logger = logging.getLogger("monai.bundle.workflows")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    try:
        logger.setLevel(logging.INFO)
        logger.handle(_config_root_record(BUNDLE_CONFIGS))
        logger.handle(_config_root_record(tmp_path))
        assert [r.levelname for r in seen] == ["WARNING"] and str(tmp_path) in seen[0].getMessage()
        logger.setLevel(logging.DEBUG)
        logger.handle(_config_root_record(BUNDLE_CONFIGS))
        assert seen[-1].levelname == "DEBUG"
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
