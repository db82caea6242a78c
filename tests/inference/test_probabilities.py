"""The classification prediction file written by ClassificationProbabilitySaver."""

from __future__ import annotations

import csv

import pytest
import torch
from monai.data import MetaTensor

from mammo_monai.inference import ClassificationProbabilitySaver, probability_rows

CLASSES = ["benign", "malignant"]


def _item(name: str, **extra) -> dict:
    return {"image": MetaTensor(torch.zeros(1, 4, 4), meta={"filename_or_obj": name}), **extra}


def test_rows_name_the_image_extra_keys_and_every_class():
    rows = probability_rows([_item("/d/a.dcm", lesion_index=1), _item("/d/b.dcm", lesion_index=torch.tensor(-1))],
                            [{"pred": torch.tensor([0.25, 0.75])}, {"pred": torch.tensor([1.0, 0.0])}], CLASSES,
                            extra_keys=["lesion_index"])
    assert rows == [{"image": "/d/a.dcm", "lesion_index": 1, "prob_benign": 0.25, "prob_malignant": 0.75},
                    {"image": "/d/b.dcm", "lesion_index": "", "prob_benign": 1.0, "prob_malignant": 0.0}]
    with pytest.raises(ValueError, match="softmax"):
        probability_rows([_item("/d/a.dcm")], [{"pred": torch.tensor([2.0, 3.0])}], CLASSES)
    with pytest.raises(ValueError, match="3 probabilities for 2 classes"):
        probability_rows([_item("/d/a.dcm")], [{"pred": torch.tensor([0.2, 0.3, 0.5])}], CLASSES)
    with pytest.raises(ValueError, match="filename_or_obj"):
        probability_rows([{"image": torch.zeros(1, 4, 4)}], [{"pred": torch.tensor([0.5, 0.5])}], CLASSES)


class _State:
    def __init__(self, batch, output):
        self.batch, self.output = batch, output


class _Engine:
    def __init__(self):
        self.state = None


def test_saver_collects_an_epoch_and_writes_once(tmp_path):
    saver = ClassificationProbabilitySaver(tmp_path / "out", "test_probabilities.csv", CLASSES)
    engine = _Engine()
    saver._reset(engine)
    for name, p in (("/d/a.dcm", 0.9), ("/d/b.dcm", 0.2)):
        engine.state = _State([_item(name)], [{"pred": torch.tensor([1 - p, p])}])
        saver._collect(engine)
    saver._write(engine)
    with open(tmp_path / "out" / "test_probabilities.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["image"] for r in rows] == ["/d/a.dcm", "/d/b.dcm"]
    assert float(rows[0]["prob_malignant"]) == pytest.approx(0.9)
    keep = ClassificationProbabilitySaver(tmp_path / "out", "test_probabilities.csv", CLASSES, overwrite=False)
    with pytest.raises(FileExistsError):
        keep._write(engine)
    engine.state = _State({"image": torch.zeros(2, 1, 4, 4)}, {"pred": torch.zeros(2, 2)})
    with pytest.raises(ValueError, match="decollated"):
        saver._collect(engine)
