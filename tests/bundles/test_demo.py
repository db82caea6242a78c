"""The README's main command: synthesise, index, train, evaluate, infer and report, end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from mammo_monai.engines import demo, run_demo

from .bundle_checks import run_bundle_status

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mammo_mass_segmentation"


def test_demo_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands: list[list[str]] = []

    def run(command: list[str], stdout, stderr, check: bool) -> subprocess.CompletedProcess:
        """The demo's ``python -m monai.bundle`` commands, each run as ``bundle_checks`` runs them (its own process,
        forked from an interpreter that imported MONAI once), output into the demo's log file."""
        assert command[:3] == [sys.executable, "-m", "monai.bundle"] and stderr == subprocess.STDOUT and not check
        commands.append(command[3:5])
        rc, out = run_bundle_status(command[3:], Path.cwd())
        stdout.write(out)
        stdout.flush()
        return subprocess.CompletedProcess(command, rc)

    monkeypatch.setattr(demo, "subprocess", SimpleNamespace(run=run, STDOUT=subprocess.STDOUT))
    lines: list[str] = []
    outputs, report = run_demo(tmp_path / "demo", BUNDLE, epochs=1, image_size=64, n_patients=4, log=lines.append)
    assert commands == [["run", "training"], ["run", "evaluating"], ["run", "inferring"]]
    assert len(lines) == 5 and lines[0].startswith("[1/5]")
    assert "Epoch[1] Complete" in (Path(outputs["logs"]) / "training.log").read_text()
    assert list((Path(outputs["bundle_root"]) / "models").glob("model*.pt"))
    predictions = json.loads((tmp_path / "demo" / "predictions.json").read_text())["test"]
    assert predictions and all(Path(item["pred"]).is_file() for item in predictions)
    assert (Path(outputs["report"]) / "segmentation_summary.json").is_file()
    assert report.summary and not [p for p in report.problems if p.kind != "empty_split"]
