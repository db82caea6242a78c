"""The one evaluation runner: the skeleton the segmentation, classification and detection evaluators share.

Every evaluator does the same seven steps; :class:`EvaluationRunner` does them once, in :meth:`~EvaluationRunner.run`,
and a task (a subclass) supplies only what differs:

1. **check** the arguments (the split here; the task's own: thresholds, rates, ...) and that the inputs exist;
2. **guard** the report folder (:func:`report_paths`): never inside an input folder
   (:func:`~mammo_monai.io.writers.ensure_outside_inputs`), no report file replacing an input file, no existing
   report file replaced without ``overwrite`` -- all before any work;
3. **load** the datalist split (:func:`load_split`; an empty split is an error);
4. **match and score** (the task's :meth:`~EvaluationRunner.evaluate`): predictions to items, problems into
   :attr:`~EvaluationRunner.problems`, the task's pure metric functions on the matched data;
5. **bootstrap by woman** (:func:`bootstrap_figures`: every figure from the same patient resamples);
6. **summarise** (:meth:`~EvaluationRunner.summary`): ``task``, ``created``, ``inputs``, ``settings``, the task's
   sections, ``problems``, ``files``, ``versions``;
7. **write** the task's tables and plots (:meth:`~EvaluationRunner.write_reports`), the problems CSV, and the summary
   JSON last.

Example:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> class Count(EvaluationRunner):
    ...     task = "count"
    ...     report_files = {"metrics": "count.json", "problems": "count_problems.csv"}
    ...     def evaluate(self, datalist):
    ...         return {"counts": {"items": len(datalist[self.split])}}
    ...     def settings(self):
    ...         return self.bootstrap_settings("images")
    >>> scratch = tempfile.TemporaryDirectory(); d = Path(scratch.name)
    >>> _ = (d / "dl.json").write_text(json.dumps({"test": [{"image": "a.png"}]}))
    >>> summary = Count(d / "dl.json", d / "dl.json", d / "report").run()
    >>> summary["counts"], sorted(p.name for p in (d / "report").iterdir())
    ({'items': 1}, ['count.json', 'count_problems.csv'])
    >>> scratch.cleanup()
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from monai import __version__ as monai_version

from .. import __version__
from ..data.problems import ProblemLog
from ..data.schema import SPLITS, ensure_outside_inputs, ensure_writable, load_datalist
from ..io.writers import write_json
from .bootstrap import CONFIDENCE, SharedResamples, bootstrap_by_group

__all__ = [
    "CONFIDENCE",
    "MAX_LISTED_PROBLEMS",
    "EvaluationRunner",
    "bootstrap_figures",
    "format_problems_and_files",
    "load_split",
    "problems_entry",
    "report_paths",
]

#: problems listed in a summary JSON (all of them are in the problems CSV)
MAX_LISTED_PROBLEMS = 100


def report_paths(out_dir: str | os.PathLike, files: Mapping[str, str],
                 inputs: Sequence[tuple[str | os.PathLike | None, str]], overwrite: bool = False) -> dict[str, Path]:
    """Guard a report folder before any work: ``files`` key -> ``out_dir / name``.

    Args:
        out_dir: the report folder (it may not exist yet).
        files: report key -> file name.
        inputs: ``(path, what)`` of each input (``None`` paths are skipped); ``what`` names it in the error
            (``"the label datalist"``).
        overwrite: whether existing report files may be replaced.

    Raises:
        OutputInsideInputError: (a ``ValueError``) ``out_dir`` is an input or inside an input folder.
        ValueError: a report file would replace an input file (even with ``overwrite``).
        FileExistsError: a report file exists and ``overwrite`` is False.

    Example:
        >>> paths = report_paths("/tmp/none/report", {"metrics": "m.json"}, [("/tmp/none/dl.json", "the datalist")])
        >>> paths["metrics"].as_posix()
        '/tmp/none/report/m.json'
        >>> try:
        ...     report_paths("/tmp/none", {"metrics": "dl.json"}, [("/tmp/none/dl.json", "the datalist")])
        ... except ValueError as e:
        ...     print(str(e).split(": ")[1])
        the report would replace the datalist; choose another out folder
    """
    out_dir = Path(out_dir)
    ensure_outside_inputs(out_dir, *(path for path, _ in inputs))
    protected = {Path(path).resolve(): what for path, what in inputs if path is not None}
    paths = {key: out_dir / name for key, name in files.items()}
    for path in paths.values():
        if path.resolve() in protected:
            raise ValueError(f"{path}: the report would replace {protected[path.resolve()]}; choose another out folder")
        ensure_writable(path, overwrite)
    return paths


def load_split(label: str | os.PathLike, split: str) -> dict[str, list[dict[str, Any]]]:
    """The datalist at ``label``, checked to hold items in ``split``.

    Raises:
        ValueError: ``split`` is not one of :data:`~mammo_monai.data.schema.SPLITS`, or has no item.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    datalist = load_datalist(label)
    if not datalist[split]:
        raise ValueError(f"{label}: split {split!r} has no item to evaluate")
    return datalist


def bootstrap_figures(metric_fn: Callable[[np.ndarray], Mapping[str, float]], n: int, groups: Sequence[Any],
                      n_resamples: int, seed: int, confidence: float = CONFIDENCE) -> dict[str, dict[str, Any]]:
    """Every figure of ``metric_fn(indices)`` with its patient bootstrap CI, all from the same draws.

    ``metric_fn`` (a pure metric function of the item indices of a resample, repeated items repeated) is computed
    once per distinct resample (:class:`~mammo_monai.evaluation.bootstrap.SharedResamples`); ``groups`` are the
    ``n`` items' patients, so a woman's images are drawn together.

    Returns:
        ``{figure: {"estimate", "ci": [low, high], "n_invalid"}}`` in the order ``metric_fn`` returns them.

    Example:
        >>> y = np.array([0.0, 1.0, 1.0, 0.0])
        >>> flat = bootstrap_figures(lambda idx: {"mean": float(y[idx].mean())}, 4, ["a", "a", "b", "c"], 200, 0)
        >>> flat["mean"]["estimate"], flat["mean"]["ci"][0] <= 0.5 <= flat["mean"]["ci"][1]
        (0.5, True)
    """
    shared = SharedResamples(metric_fn)
    point = shared(np.arange(n))
    flat = {}
    for name in point:
        b = bootstrap_by_group(lambda idx, name=name: shared(idx)[name], groups, int(n_resamples), confidence, seed)
        flat[name] = {"estimate": b["estimate"], "ci": [b["low"], b["high"]], "n_invalid": b["n_invalid"]}
    return flat


def problems_entry(problems: ProblemLog, file: str | os.PathLike) -> dict[str, Any]:
    """The ``problems`` section of a summary: counts per kind, the CSV holding them all, the first few."""
    return {"counts": problems.counts(), "file": str(file),
            "first": [str(p) for p in problems.problems[:MAX_LISTED_PROBLEMS]]}


def format_problems_and_files(problems: ProblemLog, paths: Mapping[str, Path]) -> list[str]:
    """The last lines of an evaluator's terminal summary: the problems met (if any) and the files written.

    Example:
        >>> log = ProblemLog(); _ = log.add("a.png", "missing_prediction")
        >>> format_problems_and_files(log, {"problems": Path("p.csv")})
        ['problems: 1 (missing_prediction: 1) -> p.csv', 'wrote p.csv']
    """
    lines = []
    if len(problems):
        kinds = ", ".join(f"{k}: {v}" for k, v in problems.counts().items())
        lines.append(f"problems: {len(problems)} ({kinds}) -> {paths.get('problems')}")
    return lines + [f"wrote {path}" for path in paths.values()]


class EvaluationRunner(ABC):
    """The load -> match -> bootstrap-by-woman -> write -> plot skeleton of an evaluator (see the module doc).

    A task subclasses it with :attr:`task`, :attr:`report_files` (with a ``"problems"`` CSV and the
    :attr:`summary_file` JSON), :meth:`evaluate` and :meth:`settings`, and where it needs to, the other hooks
    (:meth:`check_arguments`, :meth:`check_inputs`, :meth:`protected_inputs`, :meth:`prepare`,
    :meth:`input_details`, :meth:`versions`, :meth:`write_reports`). The metric functions a task calls are pure
    (inputs in, numbers out) and tested on their own; the runner does all the I/O.

    Args:
        pred: the predictions (a file or a folder, as the task reads them).
        label: the datalist JSON with the truth.
        out: the report folder (created when missing, after every check).
        split: the split of ``label`` that ``pred`` scores.
        n_resamples: bootstrap draws for the CIs (resampling patients).
        seed: bootstrap seed (the same draws for every figure).
        overwrite: replace existing report files (otherwise ``FileExistsError`` before any work).
    """

    #: the summary's ``task`` entry (a task may build a richer one in :meth:`task_entry`)
    task: ClassVar[Any] = None
    #: report key -> file name; an instance may narrow it (for example, no overlays PNG)
    report_files: ClassVar[Mapping[str, str]]
    #: the key of :attr:`report_files` that is the summary JSON
    summary_file: ClassVar[str] = "metrics"
    #: whether the summary lists the report files (``"files"``)
    list_files: ClassVar[bool] = True

    def __init__(self, pred: str | os.PathLike, label: str | os.PathLike, out: str | os.PathLike,
                 split: str = "test", n_resamples: int = 2000, seed: int = 0, overwrite: bool = False) -> None:
        self.pred, self.label, self.out_dir = Path(pred), Path(label), Path(out)
        self.split, self.n_resamples, self.seed, self.overwrite = split, n_resamples, seed, overwrite
        self.problems = ProblemLog()
        self.paths: dict[str, Path] = {}

    # ------------------------------------------------------------------------------------ the skeleton

    def run(self) -> dict[str, Any]:
        """Check, guard, load, evaluate, summarise and write; returns the summary (also in the JSON)."""
        self.check_arguments()
        self.check_inputs()
        self.paths = report_paths(self.out_dir, self.report_files, self.protected_inputs(), self.overwrite)
        self.prepare()
        datalist = load_split(self.label, self.split)
        summary = self.summary(self.evaluate(datalist))
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.write_reports(summary)
        self.problems.write_csv(self.paths["problems"])
        write_json(summary, self.paths[self.summary_file])
        return summary

    def summary(self, sections: Mapping[str, Any]) -> dict[str, Any]:
        """The summary JSON: ``task``, ``created``, ``inputs``, ``settings``, the task's ``sections``, ``problems``,
        ``files`` (when :attr:`list_files`), ``versions``."""
        summary: dict[str, Any] = {
            "task": self.task_entry(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "inputs": {"pred": str(self.pred.resolve()), "label": str(self.label.resolve()), "split": self.split,
                       **self.input_details()},
            "settings": self.settings(),
            **sections,
            "problems": problems_entry(self.problems, self.paths["problems"]),
        }
        if self.list_files:
            summary["files"] = {k: str(v) for k, v in self.paths.items()}
        summary["versions"] = self.versions()
        return summary

    def bootstrap(self, metric_fn: Callable[[np.ndarray], Mapping[str, float]], n: int,
                  groups: Sequence[Any]) -> dict[str, dict[str, Any]]:
        """:func:`bootstrap_figures` with this run's ``n_resamples`` and ``seed``."""
        return bootstrap_figures(metric_fn, n, groups, self.n_resamples, self.seed)

    def bootstrap_settings(self, unit: str, shared: str | None = None) -> dict[str, Any]:
        """``n_resamples``, ``seed``, ``confidence`` and how the draws were made, for :meth:`settings`: ``unit``
        is what a patient brings (``"images"``, ``"items"``), ``shared`` what shares the draws (``"figure"``)."""
        how = f"percentile, resampling patients with replacement (all their {unit})"
        return {"n_resamples": int(self.n_resamples), "seed": int(self.seed), "confidence": CONFIDENCE,
                "bootstrap": how + (f"; every {shared} from the same draws" if shared else "")}

    # ------------------------------------------------------------------------------------ what a task supplies

    def check_arguments(self) -> None:
        """Raise ``ValueError`` on a bad argument (before any file is looked at)."""
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")

    def check_inputs(self) -> None:
        """Raise when an input is missing or of the wrong kind (the label datalist here; a task adds its own)."""
        if not self.label.is_file():
            raise FileNotFoundError(f"{self.label}: label datalist not found")

    def protected_inputs(self) -> list[tuple[Path | None, str]]:
        """``(path, what)`` of the inputs the report folder must stay out of (and no report file replace)."""
        return [(self.pred, "an input file (the predictions)"), (self.label, "the label datalist")]

    def prepare(self) -> None:  # noqa: B027 (a hook: most tasks need nothing here)
        """Work after the folder guard and before the datalist is read (for example, listing prediction files)."""

    def task_entry(self) -> Any:
        """The summary's ``task`` entry (default :attr:`task`)."""
        return self.task

    def input_details(self) -> dict[str, Any]:
        """Entries of the summary's ``inputs`` beyond ``pred``, ``label`` and ``split``."""
        return {}

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The summary's ``settings`` (with :meth:`bootstrap_settings`)."""

    @abstractmethod
    def evaluate(self, datalist: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
        """Match the predictions to the split's items, score them, bootstrap; the summary's task sections
        (``counts``, ``metrics``, ...) in their order. Problems go to :attr:`problems`."""

    def versions(self) -> dict[str, str]:
        """The summary's ``versions``."""
        return {"mammo_monai": __version__, "monai": monai_version}

    def write_reports(self, summary: dict[str, Any]) -> None:  # noqa: B027 (a hook: a task may have no tables)
        """Write the task's tables and plots into :attr:`paths` (the folder exists); may add to ``summary``
        before it is written."""
