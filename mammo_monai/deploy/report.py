"""What a run of the Deploy app met besides results: files and series it skipped and why, and failures.

One :class:`RunReport` is shared by the app's operators (they run in one process); the JSON summary writes it
and every entry is also logged as it happens, so a run over a folder reports everything and goes on.

Kinds (those of :func:`mammo_monai.data.dicom_folder.index_dicom_folder` where they mean the same):
``not_dicom`` (a file that is not DICOM, ignored), ``unreadable_dicom`` (corrupt or truncated),
``not_mammography`` (a series the selection rules leave out, or a non-image object), ``not_2d`` (multi-frame),
``not_full_field`` (a lesion crop or an ROI mask), ``duplicate_instance``, ``inference_failed``, ``not_in_sr``
(a film whose classification or detection failed is left out of its study's SR), ``write_failed``.

Example:
    >>> report = RunReport()
    >>> report.add("/in/x.dcm", "unreadable_dicom", "pixel data cut short")
    >>> report.counts()
    {'unreadable_dicom': 1}
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict
from typing import Any

from ..data.problems import ProblemLog

__all__ = ["INFO_KINDS", "RunReport"]

logger = logging.getLogger("mammo_monai.deploy")

#: kinds that are expected in a normal study (logged at INFO); the others are problems (WARNING)
INFO_KINDS = ("not_mammography", "not_full_field", "not_dicom")


class RunReport:
    """A thread-safe :class:`~mammo_monai.data.problems.ProblemLog` that logs each entry."""

    def __init__(self) -> None:
        self.log = ProblemLog()
        self._lock = threading.Lock()

    def add(self, what: str | os.PathLike, kind: str, detail: str = "") -> None:
        """Record ``what`` (a file, or ``series <uid>``) with its ``kind`` and a human ``detail``."""
        with self._lock:
            problem = self.log.add(what, kind, detail)
        logger.log(logging.INFO if kind in INFO_KINDS else logging.WARNING, "skipped %s", problem)

    def counts(self) -> dict[str, int]:
        return self.log.counts()

    def entries(self) -> list[dict[str, Any]]:
        """``[{"path", "kind", "detail"}]`` in the order met."""
        with self._lock:
            return [asdict(p) for p in self.log]
