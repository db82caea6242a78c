"""Collecting the problems an indexer meets in a download, so that a scan reports them all and goes on.

Example:
    >>> log = ProblemLog()
    >>> _ = log.add("/d/x.dcm", "missing_file", "listed in mass_case_description_train_set.csv row 12")
    >>> len(log), log.counts()
    (1, {'missing_file': 1})
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from ..io.writers import atomic_write_text

__all__ = ["Problem", "ProblemLog", "problems_path_for"]


@dataclass(frozen=True)
class Problem:
    """One problem: the file (or CSV row) it concerns, a short machine-readable kind, and a human detail."""

    path: str
    kind: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.kind}" + (f" ({self.detail})" if self.detail else "")


class ProblemLog:
    """An ordered list of :class:`Problem` with a CSV writer and per-kind counts."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, path: str | os.PathLike, kind: str, detail: str = "") -> Problem:
        problem = Problem(str(path), kind, detail)
        self.problems.append(problem)
        return problem

    def __len__(self) -> int:
        return len(self.problems)

    def __iter__(self):
        return iter(self.problems)

    def counts(self) -> dict[str, int]:
        return dict(Counter(p.kind for p in self.problems))

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write ``path,kind,detail`` rows (a header line even when there is no problem), atomically."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["path", "kind", "detail"])
        writer.writeheader()
        writer.writerows(asdict(p) for p in self.problems)
        return atomic_write_text(path, buffer.getvalue())


def problems_path_for(datalist_path: str | os.PathLike) -> Path:
    """The problem report that sits beside a datalist: ``cbis.json`` -> ``cbis_problems.csv``."""
    datalist_path = Path(datalist_path)
    return datalist_path.with_name(f"{datalist_path.stem}_problems.csv")
