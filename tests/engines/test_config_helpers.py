"""The library calls that replaced code in the bundle configs (issue 22): the MLflow tracking URI (which creates the
output folder) and printing an evaluation report's summary; and no config creates folders, prints or globs."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest

from mammo_monai.data.problems import ProblemLog
from mammo_monai.engines import evaluation_summary, mlflow_tracking_uri, print_evaluation_summary
from mammo_monai.evaluation import DetectionReport, SegmentationReport

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_mlflow_tracking_uri_creates_the_folder_and_is_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = mlflow_tracking_uri(os.path.join("models", "run"))
    assert uri == "sqlite:///" + str(tmp_path / "models" / "run" / "mlruns.db")
    assert (tmp_path / "models" / "run").is_dir() and not (tmp_path / "models" / "run" / "mlruns.db").exists()
    assert mlflow_tracking_uri(tmp_path / "models" / "run", "other.db").endswith("run/other.db")  # exists: fine


def test_mlflow_tracking_uri_is_what_the_configs_wrote_before(tmp_path):
    out = str(tmp_path / "o")
    before = "sqlite:///" + os.path.join(os.makedirs(os.path.abspath(out), exist_ok=True) or os.path.abspath(out),
                                         "mlruns.db")
    assert mlflow_tracking_uri(out) == before


def _segmentation_report() -> SegmentationReport:
    empty = {"images": 0, "patients": 0, **{m: {"mean": None, "mean_ci": [None, None], "median": None,
                                                "median_ci": [None, None], "n": 0, "n_nan": 0}
                                            for m in ("dice", "iou", "hd95_px", "hd95_mm")}}
    summary = {"counts": {"evaluated": 0, "images": 1, "patients": 1, "missing": 1,
                          "missing_by_reason": {"missing_prediction": 1}, "both_empty": 0, "false_positive": 0,
                          "missed": 0, "hd95_undefined": 0},
               "metrics": {"lesion": empty, "all": empty}, "by_pathology": {}}
    problems = ProblemLog()
    problems.add("a.png", "missing_prediction", "no mask")
    return SegmentationReport([], summary, problems, {"problems": Path("p.csv")})


def test_print_evaluation_summary_prints_the_formatter_of_the_report_type(capsys):
    report = _segmentation_report()
    text = print_evaluation_summary(report)
    assert capsys.readouterr().out == text + "\n"
    assert text.startswith("evaluated 0 of 1 images (1 patients); missing 1 (missing_prediction: 1)")
    assert text.endswith("problems: 1 (missing_prediction: 1) -> p.csv\nwrote p.csv")
    buffer = io.StringIO()
    assert print_evaluation_summary(report, file=buffer) == text and buffer.getvalue() == text + "\n"
    assert capsys.readouterr().out == ""


def test_evaluation_summary_refuses_other_objects():
    with pytest.raises(TypeError, match="got dict"):
        evaluation_summary({"counts": {}})
    with pytest.raises(KeyError):  # a detection report goes to the detection formatter
        evaluation_summary(DetectionReport([], [], {}, ProblemLog()))


def test_no_config_creates_folders_prints_or_globs():
    """Folder creation, printing and checkpoint globbing are library calls (mlflow_tracking_uri,
    print_evaluation_summary, find_resume_checkpoint), not config code."""
    found = []
    for path in sorted((REPO_ROOT / "bundles").glob("*/configs/*.json")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"makedirs|mkdir|print\(|glob", line):
                found.append(f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}")
        json.loads(path.read_text())
    assert not found, "\n".join(found)
