"""What every indexer returns and reports: the datalist, the problems, and a summary of both.

Example:
    >>> dl = {"training": [{"patient_id": "P1", "pathology": "benign",
    ...                     "lesions": [{"type": "mass", "pathology": "benign"}]}]}
    >>> s = summarize_datalist(dl)
    >>> s["images"], s["patients"], s["lesions"]
    (1, 1, {'mass/benign': 1})
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .problems import ProblemLog, problems_path_for
from .schema import LESIONS, PATHOLOGY, PATIENT_ID, TYPE, write_datalist
from .splits import assert_patient_disjoint

__all__ = ["IndexResult", "format_summary", "summarize_datalist", "write_index"]


@dataclass
class IndexResult:
    """The outcome of an indexer: the datalist it wrote, the problems it met, and a summary."""

    datalist: dict[str, list[dict[str, Any]]]
    problems: ProblemLog
    summary: dict[str, Any] = field(default_factory=dict)
    datalist_path: Path | None = None
    problems_path: Path | None = None


def summarize_datalist(
    datalist: Mapping[str, Sequence[Mapping[str, Any]]], problems: ProblemLog | None = None
) -> dict[str, Any]:
    """Counts: images, patients, per split (images, patients, image pathology), lesions by type/pathology,
    problems by kind."""
    patients: set[str] = set()
    lesions: Counter[str] = Counter()
    splits: dict[str, dict[str, Any]] = {}
    for split, items in datalist.items():
        split_patients = {str(item.get(PATIENT_ID)) for item in items}
        patients |= split_patients
        splits[split] = {
            "images": len(items),
            "patients": len(split_patients),
            "pathology": dict(sorted(Counter(str(item.get(PATHOLOGY)) for item in items).items())),
        }
        for item in items:
            for lesion in item.get(LESIONS, []):
                lesions[f"{lesion.get(TYPE)}/{lesion.get(PATHOLOGY)}"] += 1
    return {
        "images": sum(s["images"] for s in splits.values()),
        "patients": len(patients),
        "splits": splits,
        "lesions": dict(sorted(lesions.items())),
        "problems": dict(sorted((problems.counts() if problems is not None else {}).items())),
    }


def write_index(
    datalist: Mapping[str, Sequence[Mapping[str, Any]]],
    problems: ProblemLog,
    out: str | os.PathLike,
    overwrite: bool = False,
    **extra_summary: Any,
) -> IndexResult:
    """Check the splits are patient-disjoint, write the datalist and its ``<stem>_problems.csv``, summarise.

    Raises:
        ValueError: a patient is on more than one side (a bug in the indexer, never written to disk).
        FileExistsError: ``out`` exists and ``overwrite`` is False.
    """
    assert_patient_disjoint(datalist)
    datalist_path = write_datalist(datalist, out, overwrite=overwrite)
    problems_path = problems.write_csv(problems_path_for(datalist_path))
    summary = summarize_datalist(datalist, problems)
    summary.update(extra_summary)
    summary["datalist_path"] = str(datalist_path)
    summary["problems_path"] = str(problems_path)
    return IndexResult({k: list(v) for k, v in datalist.items()}, problems, summary, datalist_path, problems_path)


def format_summary(summary: Mapping[str, Any], problems: ProblemLog | None = None, max_problems: int = 20) -> str:
    """A human-readable multi-line summary (what the CLI prints at the end of a scan)."""
    lines = [f"images: {summary.get('images', 0)}   patients: {summary.get('patients', 0)}"]
    for split, counts in summary.get("splits", {}).items():
        pathology = ", ".join(f"{k} {v}" for k, v in counts["pathology"].items())
        lines.append(f"  {split:<10} {counts['images']:>6} images {counts['patients']:>6} patients   {pathology}")
    if summary.get("lesions"):
        lines.append("lesions: " + ", ".join(f"{k} {v}" for k, v in summary["lesions"].items()))
    for key, value in summary.items():
        if key not in ("images", "patients", "splits", "lesions", "problems", "datalist_path", "problems_path"):
            lines.append(f"{key}: {value}")
    counts = summary.get("problems") or {}
    lines.append("problems: " + (", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "none"))
    if problems is not None:
        for problem in list(problems)[:max_problems]:
            lines.append(f"  {problem}")
        if len(problems) > max_problems:
            lines.append(f"  ... {len(problems) - max_problems} more in {summary.get('problems_path')}")
    if summary.get("datalist_path"):
        lines.append(f"datalist: {summary['datalist_path']}")
    if summary.get("problems_path"):
        lines.append(f"problem report: {summary['problems_path']}")
    return "\n".join(lines)
