"""The README's main command: synthesise, index, train, evaluate, infer and report, end to end; and the README's
figure of it (the demo is seeded: its Dice is the same on every run of one machine)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from mammo_monai.engines import demo, run_demo

from .bundle_checks import run_bundle_status

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLE = REPO_ROOT / "bundles" / "mammo_mass_segmentation"


@pytest.fixture
def bundle_commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The demo's ``python -m monai.bundle`` commands run as ``bundle_checks`` runs them; collects ``[run, name]``."""
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
    return commands


def test_demo_end_to_end(tmp_path: Path, bundle_commands: list[list[str]]) -> None:
    commands = bundle_commands
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


def readme_demo_dice() -> float:
    """The test-split Dice the README gives for ``bash scripts/demo.sh`` ("test-split Dice **0.316**")."""
    found = re.search(r"test-split Dice \*\*(\d\.\d+)\*\*", (REPO_ROOT / "README.md").read_text())
    assert found, "README.md: the demo's figure 'test-split Dice **X**' is missing"
    return float(found[1])


@pytest.mark.slow
def test_demo_default_dice_is_the_readme_figure(tmp_path: Path) -> None:
    """``mammo-monai demo`` at its defaults (30 epochs, 256 px, 32 women, seed 0; ~35 s on 2 idle cores) gives the
    README's test-split Dice (mean over the 8 test images; 0.31640664860606194 on every run here). Its bundle
    commands run as the demo runs them (fresh processes with this environment: the bundle tests' fork server pins
    one thread, and the thread count changes the sums)."""
    _, report = run_demo(tmp_path / "demo", BUNDLE)
    dice = report.summary["metrics"]["all"]["dice"]
    assert dice["n"] == 8
    assert dice["mean"] == pytest.approx(readme_demo_dice(), abs=0.0005)
