"""MONAI messages that report an expected condition, not something to act on: demoted to DEBUG (log records) or
left out (the matching Python warning), so that a bundle run, the demo and the CLI show only what a user must act on.

What is demoted, and why it is expected here:

- ``nvImageCodec is not available; skipping pydicom decoder plugin registration.`` (logger
  ``monai.data.nvimgcodec_pydicom_plugin``) and the warning ``NvImgCodecPydicomReader: nvImageCodec decoder plugin
  did not register successfully``: every ``LoadImage(d)`` builds all of MONAI's default readers, its GPU DICOM
  reader included, and says so on every machine without nvImageCodec, CuPy and CUDA; this project reads DICOM with
  its own reader (:mod:`mammo_monai.io`). Both stay as they are when the user asked for that reader
  (``MONAI_DICOM_READER=nvimgcodec``): then they are something to act on.
- ``Not all config files are in <folder>. If logging_file and meta_file are not specified, ...`` (logger
  ``monai.bundle.workflows``): a recipe layered over a bundle from outside it; nothing to act on where ``<folder>``
  holds the bundle's ``metadata.json`` (the folder MONAI then takes the metadata and logging files from is the
  bundle's own). Elsewhere it stays a warning.

:func:`install_expected_condition_filters` is called when :mod:`mammo_monai` is imported (every bundle config
imports it, as do the CLI and the apps); a process that logs at DEBUG still sees the demoted records.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path

__all__ = ["DemoteToDebug", "install_expected_condition_filters", "is_expected_config_root_warning",
           "is_expected_nvimgcodec_message"]

NVIMGCODEC_LOGGER = "monai.data.nvimgcodec_pydicom_plugin"
BUNDLE_WORKFLOW_LOGGER = "monai.bundle.workflows"
_NVIMGCODEC_WARNING = r"NvImgCodecPydicomReader: nvImageCodec decoder plugin did not register"
_CONFIG_ROOT = re.compile(r"Not all config files are in (?P<root>.+?)\. If logging_file and meta_file")


class DemoteToDebug(logging.Filter):
    """A logger filter that turns the records ``is_expected`` accepts into DEBUG records (dropped unless the logger
    is enabled for DEBUG); other records pass unchanged.

    Example:
        >>> log = logging.getLogger("mammo_monai.doctest.demote")
        >>> log.addFilter(DemoteToDebug(lambda record: "expected" in record.getMessage()))
        >>> record = log.makeRecord(log.name, logging.WARNING, __file__, 1, "an expected thing", None, None)
        >>> log.filters[0].filter(record), record.levelname   # dropped: the logger is not enabled for DEBUG
        (False, 'WARNING')
        >>> log.setLevel(logging.DEBUG)
        >>> log.filters[0].filter(record), record.levelname
        (True, 'DEBUG')
    """

    def __init__(self, is_expected: Callable[[logging.LogRecord], bool]) -> None:
        super().__init__()
        self.is_expected = is_expected

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or not self.is_expected(record):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def _nvimgcodec_requested() -> bool:
    return os.environ.get("MONAI_DICOM_READER", "").strip().lower() in ("nvimgcodec", "nvimgcodecpydicomreader")


def is_expected_nvimgcodec_message(record: logging.LogRecord) -> bool:
    """Whether ``record`` is MONAI's "nvImageCodec is not available" while nobody asked for its GPU DICOM reader."""
    return record.getMessage().startswith("nvImageCodec is not available") and not _nvimgcodec_requested()


def is_expected_config_root_warning(record: logging.LogRecord) -> bool:
    """Whether ``record`` is MONAI's "Not all config files are in <folder>" for a ``<folder>`` that holds a bundle's
    ``metadata.json`` (a recipe layered over that bundle from elsewhere).

    Example:
        >>> record = logging.LogRecord("monai.bundle.workflows", logging.WARNING, "", 0, "Not all config files are in "
        ...     "/nowhere/configs. If logging_file and meta_file arenot specified, ...", None, None)
        >>> is_expected_config_root_warning(record)   # no bundle there: still a warning
        False
    """
    found = _CONFIG_ROOT.match(record.getMessage())
    return bool(found) and (Path(found["root"]) / "metadata.json").is_file()


def install_expected_condition_filters() -> None:
    """Install the filters described in the module docstring (idempotent)."""
    for name, is_expected in ((NVIMGCODEC_LOGGER, is_expected_nvimgcodec_message),
                              (BUNDLE_WORKFLOW_LOGGER, is_expected_config_root_warning)):
        logger = logging.getLogger(name)
        if not any(isinstance(f, DemoteToDebug) and f.is_expected is is_expected for f in logger.filters):
            logger.addFilter(DemoteToDebug(is_expected))
    if not _nvimgcodec_requested():
        warnings.filterwarnings("ignore", message=_NVIMGCODEC_WARNING, category=UserWarning)
