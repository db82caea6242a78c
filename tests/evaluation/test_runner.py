"""The one evaluation runner (mammo_monai.evaluation.runner): the folder guard, the split loading, the shared bootstrap,
the summary layout and the order of the skeleton's steps, on a toy task and on the three evaluators."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mammo_monai.data.problems import ProblemLog
from mammo_monai.evaluation import evaluate_classification, evaluate_detection, evaluate_segmentation
from mammo_monai.evaluation.bootstrap import CONFIDENCE, bootstrap_by_group
from mammo_monai.evaluation.runner import (
    MAX_LISTED_PROBLEMS,
    EvaluationRunner,
    bootstrap_figures,
    format_problems_and_files,
    load_split,
    problems_entry,
    report_paths,
)
from mammo_monai.io.writers import OutputInsideInputError

FILES = {"metrics": "toy_metrics.json", "table": "toy.csv", "problems": "toy_problems.csv"}


def _datalist(path: Path, test: list[dict] | None = None) -> Path:
    test = [{"image": "a.png", "patient_id": "P1"}, {"image": "b.png", "patient_id": "P1"},
            {"image": "c.png", "patient_id": "P2"}] if test is None else test
    path.write_text(json.dumps({"training": [], "validation": [], "test": test}))
    return path


class Toy(EvaluationRunner):
    """A task that scores each item 1 when its image name is listed in the prediction file (one name a line)."""

    task = "toy"
    report_files = FILES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.steps: list[str] = []
        self.rows: list[dict[str, Any]] = []

    def prepare(self) -> None:
        self.steps.append("prepare")

    def settings(self) -> dict[str, Any]:
        return {"before": 1, **self.bootstrap_settings("images", "figure"), "after": 2}

    def evaluate(self, datalist):
        self.steps.append("evaluate")
        listed = set(self.pred.read_text().split())
        for item in datalist[self.split]:
            if item["image"] not in listed:
                self.problems.add(item["image"], "missing_prediction")
            self.rows.append({"image": item["image"], "hit": float(item["image"] in listed)})
        hits = np.array([r["hit"] for r in self.rows])
        flat = self.bootstrap(lambda idx: {"mean": float(hits[idx].mean())}, len(hits),
                              [i["patient_id"] for i in datalist[self.split]])
        return {"counts": {"items": len(self.rows)}, "metrics": flat}

    def write_reports(self, summary: dict[str, Any]) -> None:
        self.steps.append("write_reports")
        assert self.out_dir.is_dir() and not self.paths["metrics"].exists()  # the summary JSON comes last
        with open(self.paths["table"], "w", newline="") as f:
            csv.DictWriter(f, ["image", "hit"]).writerows(self.rows)


@pytest.fixture
def toy(tmp_path: Path) -> dict[str, Path]:
    pred = tmp_path / "pred.txt"
    pred.write_text("a.png\nc.png\n")
    return {"pred": pred, "label": _datalist(tmp_path / "datalist.json"), "out": tmp_path / "report"}


# ------------------------------------------------------------------------------------------------ the skeleton


def test_run_writes_every_report_with_the_summary_sections_in_order(toy):
    runner = Toy(toy["pred"], toy["label"], toy["out"], n_resamples=50, seed=3)
    summary = runner.run()
    assert runner.steps == ["prepare", "evaluate", "write_reports"]
    assert sorted(p.name for p in toy["out"].iterdir()) == sorted(FILES.values())
    written = json.loads(runner.paths["metrics"].read_text())
    assert list(written) == list(summary) == ["task", "created", "inputs", "settings", "counts", "metrics",
                                              "problems", "files", "versions"]
    assert written["task"] == "toy" and written["counts"] == {"items": 3}
    assert written["inputs"] == {"pred": str(toy["pred"].resolve()), "label": str(toy["label"].resolve()),
                                 "split": "test"}
    assert list(written["settings"]) == ["before", "n_resamples", "seed", "confidence", "bootstrap", "after"]
    assert written["settings"]["bootstrap"] == ("percentile, resampling patients with replacement (all their images);"
                                                " every figure from the same draws")
    assert written["settings"]["confidence"] == CONFIDENCE and written["settings"]["n_resamples"] == 50
    assert written["problems"] == {"counts": {"missing_prediction": 1}, "file": str(runner.paths["problems"]),
                                   "first": [str(runner.problems.problems[0])]}
    assert written["files"] == {k: str(toy["out"] / v) for k, v in FILES.items()}
    assert set(written["versions"]) == {"mammo_monai", "monai"}
    assert written["metrics"]["mean"]["estimate"] == pytest.approx(2 / 3)
    assert "missing_prediction" in runner.paths["problems"].read_text()


def test_summary_without_files_and_with_task_details(toy):
    class Quiet(Toy):
        list_files = False

        def task_entry(self):
            return {"name": "toy", "classes": ["a", "b"]}

        def input_details(self):
            return {"pred_kind": "file"}

        def versions(self):
            return {**super().versions(), "extra": "1"}

    summary = Quiet(toy["pred"], toy["label"], toy["out"], n_resamples=20).run()
    assert "files" not in summary and summary["task"] == {"name": "toy", "classes": ["a", "b"]}
    assert summary["inputs"]["pred_kind"] == "file" and summary["versions"]["extra"] == "1"


def test_nothing_is_written_when_a_check_fails(toy, tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        Toy(toy["pred"], toy["label"], toy["out"], split="train").run()
    with pytest.raises(FileNotFoundError, match="label datalist not found"):
        Toy(toy["pred"], tmp_path / "nope.json", toy["out"]).run()
    with pytest.raises(ValueError, match="has no item"):
        Toy(toy["pred"], _datalist(tmp_path / "empty.json", []), toy["out"]).run()
    assert not toy["out"].exists()


def test_the_guard_runs_before_prepare_and_before_any_work(toy, tmp_path):
    runner = Toy(toy["pred"], toy["label"], toy["pred"])  # the report folder is the prediction file
    with pytest.raises(OutputInsideInputError):
        runner.run()
    assert runner.steps == []
    toy["out"].mkdir()
    (toy["out"] / FILES["table"]).write_text("mine\n")
    runner = Toy(toy["pred"], toy["label"], toy["out"])
    with pytest.raises(FileExistsError, match="toy.csv: already exists"):
        runner.run()
    assert runner.steps == [] and (toy["out"] / FILES["table"]).read_text() == "mine\n"
    Toy(toy["pred"], toy["label"], toy["out"], n_resamples=10, overwrite=True).run()
    assert (toy["out"] / FILES["table"]).read_text() != "mine\n"


# ------------------------------------------------------------------------------------------------ the pieces


def test_report_paths_refuses_inputs_and_existing_files(tmp_path):
    label = _datalist(tmp_path / "toy_metrics.json")  # a datalist named like a report file
    with pytest.raises(ValueError, match="would replace the label datalist"):
        report_paths(tmp_path, FILES, [(None, "nothing"), (label, "the label datalist")], overwrite=True)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    with pytest.raises(OutputInsideInputError, match="inside the input folder"):
        report_paths(inputs / "report", FILES, [(inputs, "the predictions")])
    out = tmp_path / "out"
    paths = report_paths(out, FILES, [(label, "the label datalist")])
    assert paths == {k: out / v for k, v in FILES.items()} and not out.exists()
    out.mkdir()
    (out / "toy.csv").write_text("x")
    with pytest.raises(FileExistsError):
        report_paths(out, FILES, [])
    assert report_paths(out, FILES, [], overwrite=True)["table"] == out / "toy.csv"


def test_load_split(tmp_path):
    label = _datalist(tmp_path / "d.json")
    assert [i["image"] for i in load_split(label, "test")["test"]] == ["a.png", "b.png", "c.png"]
    with pytest.raises(ValueError, match="has no item"):
        load_split(label, "training")
    with pytest.raises(ValueError, match="split must be one of"):
        load_split(label, "val")


def test_bootstrap_figures_share_the_draws_of_bootstrap_by_group():
    rng = np.random.default_rng(0)
    y, s = rng.integers(0, 2, 40), rng.random(40)
    groups = [f"P{i // 3}" for i in range(40)]
    calls = []

    def metric(idx):
        calls.append(1)
        return {"accuracy": float(np.mean((s[idx] > 0.5) == y[idx])), "mean_score": float(s[idx].mean()),
                "undefined": float("nan") if len(set(y[idx])) < 2 else 1.0}

    flat = bootstrap_figures(metric, 40, groups, n_resamples=100, seed=4)
    assert list(flat) == ["accuracy", "mean_score", "undefined"]
    assert len(calls) <= 101  # once per distinct resample, not once per figure
    for name in ("accuracy", "mean_score"):
        ref = bootstrap_by_group(lambda idx, name=name: metric(idx)[name], groups, 100, CONFIDENCE, 4)
        assert flat[name] == {"estimate": ref["estimate"], "ci": [ref["low"], ref["high"]],
                              "n_invalid": ref["n_invalid"]}
    assert flat["undefined"]["estimate"] == 1.0


def test_problems_entry_and_terminal_lines(tmp_path):
    log = ProblemLog()
    for i in range(MAX_LISTED_PROBLEMS + 5):
        log.add(f"{i}.png", "missing_prediction", "none")
    entry = problems_entry(log, tmp_path / "p.csv")
    assert entry["counts"] == {"missing_prediction": MAX_LISTED_PROBLEMS + 5}
    assert len(entry["first"]) == MAX_LISTED_PROBLEMS and entry["file"] == str(tmp_path / "p.csv")
    lines = format_problems_and_files(log, {"problems": tmp_path / "p.csv", "metrics": tmp_path / "m.json"})
    assert lines == [f"problems: {MAX_LISTED_PROBLEMS + 5} (missing_prediction: {MAX_LISTED_PROBLEMS + 5}) -> "
                     f"{tmp_path / 'p.csv'}", f"wrote {tmp_path / 'p.csv'}", f"wrote {tmp_path / 'm.json'}"]
    assert format_problems_and_files(ProblemLog(), {}) == []


# ------------------------------------------------------------------------------------------------ the three users


@pytest.mark.parametrize("evaluate", ["segmentation", "classification", "detection"])
def test_every_evaluator_keeps_its_report_out_of_its_inputs(tmp_path, evaluate):
    label = _datalist(tmp_path / "datalist.json")
    if evaluate == "classification":
        pred = tmp_path / "pred.csv"
        pred.write_text("image,prob_malignant\na.png,0.5\n")
        run = lambda out: evaluate_classification(pred, label, out, "malignant")  # noqa: E731
        what = "is the input file"
    else:
        pred = tmp_path / "preds"
        pred.mkdir()
        fn = evaluate_segmentation if evaluate == "segmentation" else evaluate_detection
        run = lambda out: fn(pred, label, out)  # noqa: E731
        what = "inside the input folder"
    with pytest.raises(OutputInsideInputError, match=what):
        run(pred if evaluate == "classification" else pred / "report")
    with pytest.raises(OutputInsideInputError):
        run(label)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datalist.json", pred.name]
