"""Paired CPM difference of two detection reports: read back from the evaluator's CSVs, same draws for both arms."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mammo_monai.evaluation.detection.froc import froc_metrics
from mammo_monai.evaluation.detection.paired import paired_cpm_difference, read_froc_inputs


def _report(folder: Path, films: dict[str, tuple[str, list[float], list[float]]]) -> Path:
    """A report folder as ``mammo-monai eval detection`` writes it (only the columns read back)."""
    folder.mkdir(parents=True)
    with open(folder / "detection_per_image.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "patient_id", "status", "fp_scores"])
        for image, (woman, fps, _) in films.items():
            w.writerow([image, woman, "ok", ";".join(str(s) for s in fps)])
        w.writerow(["broken.png", "W9", "unreadable", ""])  # not evaluated: left out
    with open(folder / "detection_per_lesion.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "patient_id", "role", "score"])
        for image, (woman, _, lesions) in films.items():
            for s in lesions:
                w.writerow([image, woman, "target", "" if s != s else s])
            w.writerow([image, woman, "other", 0.99])  # a lesion of another type: not a target
    return folder


FILMS = {f"f{i}.png": (f"W{i // 2}", [0.3, 0.2, 0.1], [0.15] if i % 3 == 0 else [])
         for i in range(12)}


def test_reads_back_what_the_evaluator_wrote(tmp_path):
    films = read_froc_inputs(_report(tmp_path / "a", FILMS))
    assert set(films) == set(FILMS) and films["f0.png"] == ("W0", [0.3, 0.2, 0.1], [0.15])
    missed = {**FILMS, "f1.png": ("W0", [0.3], [float("nan")])}
    assert read_froc_inputs(_report(tmp_path / "b", missed))["f1.png"][2][0] != 0.15  # NaN: a missed lesion


def test_difference_and_its_paired_interval(tmp_path):
    a = _report(tmp_path / "a", FILMS)
    same = paired_cpm_difference(a, _report(tmp_path / "same", FILMS), n_resamples=200)
    assert same["estimate"] == 0 and same["low"] == 0 and same["high"] == 0  # same draws: no spurious spread
    better = {k: (w, fps, [0.95] * len(les)) for k, (w, fps, les) in FILMS.items()}
    d = paired_cpm_difference(a, _report(tmp_path / "better", better), n_resamples=200)
    expected = froc_metrics([0.3, 0.2, 0.1] * 12, [0.95] * 4, 12)["cpm"] - froc_metrics(
        [0.3, 0.2, 0.1] * 12, [0.15] * 4, 12)["cpm"]
    assert d["estimate"] == pytest.approx(expected) and d["estimate"] > 0 and d["low"] >= 0
    assert d["cpm_b"] - d["cpm_a"] == pytest.approx(d["estimate"]) and d["n_groups"] == 6


def test_refusals(tmp_path):
    a = _report(tmp_path / "a", FILMS)
    fewer = {k: v for k, v in FILMS.items() if k != "f0.png"}
    with pytest.raises(ValueError, match="different films"):
        paired_cpm_difference(a, _report(tmp_path / "fewer", fewer))
    no_lesions = {k: (w, fps, []) for k, (w, fps, _) in FILMS.items()}
    with pytest.raises(ValueError, match="no target lesion"):
        paired_cpm_difference(_report(tmp_path / "n1", no_lesions), _report(tmp_path / "n2", no_lesions))
