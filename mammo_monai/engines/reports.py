"""Showing an evaluation report at the end of a bundle's ``evaluating`` run.

A config used to ``$print(...)`` the report's terminal summary; it calls :func:`print_evaluation_summary` instead,
which picks the evaluator's formatter from the report's type:

.. code-block:: json

    "run": ["$@evaluator.run()", "$mammo_monai.engines.print_evaluation_summary(@froc_report)"]
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

__all__ = ["evaluation_summary", "print_evaluation_summary"]


def evaluation_summary(report: Any) -> str:
    """The terminal summary of any evaluator's report (``format_<task>_summary`` of its type).

    Raises:
        TypeError: ``report`` is not a segmentation, classification or detection report.

    Example:
        >>> try:
        ...     evaluation_summary({"counts": {}})
        ... except TypeError as e:
        ...     print(e)
        expected a segmentation, classification or detection report, got dict
    """
    # imported here: ``import mammo_monai.engines`` (every bundle config) stays free of the evaluators' imports
    from ..evaluation import (
        ClassificationReport,
        DetectionReport,
        SegmentationReport,
        format_classification_summary,
        format_detection_summary,
        format_segmentation_summary,
    )

    for kind, formatter in ((SegmentationReport, format_segmentation_summary),
                            (ClassificationReport, format_classification_summary),
                            (DetectionReport, format_detection_summary)):
        if isinstance(report, kind):
            return formatter(report)
    raise TypeError(f"expected a segmentation, classification or detection report, got {type(report).__name__}")


def print_evaluation_summary(report: Any, file: TextIO | None = None) -> str:
    """Print :func:`evaluation_summary` of ``report`` (to stdout, flushed, unless ``file`` is given); returns it.

    Example (``evaluate_detection`` of the ``evaluating`` run):

    .. code-block:: python

        report = evaluate_detection("eval/detections", "datalist.json", "eval/froc")
        print_evaluation_summary(report)  # detection of mass, calcification: evaluated 40 of 42 images ...
    """
    text = evaluation_summary(report)
    print(text, file=file or sys.stdout, flush=True)
    return text
