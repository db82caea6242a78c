"""The README's main command: synthesise, index, train, evaluate, infer and report, end to end."""

from __future__ import annotations

import json
from pathlib import Path

from mammo_monai.engines import run_demo

BUNDLE = Path(__file__).resolve().parents[2] / "bundles" / "mammo_mass_segmentation"


def test_demo_end_to_end(tmp_path):
    lines: list[str] = []
    outputs, report = run_demo(tmp_path / "demo", BUNDLE, epochs=1, image_size=64, n_patients=4, log=lines.append)
    assert len(lines) == 5 and lines[0].startswith("[1/5]")
    assert list((Path(outputs["bundle_root"]) / "models").glob("model*.pt"))
    predictions = json.loads((tmp_path / "demo" / "predictions.json").read_text())["test"]
    assert predictions and all(Path(item["pred"]).is_file() for item in predictions)
    assert (Path(outputs["report"]) / "segmentation_summary.json").is_file()
    assert report.summary and not [p for p in report.problems if p.kind != "empty_split"]
