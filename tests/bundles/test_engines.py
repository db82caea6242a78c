"""Tests of ``mammo_monai.engines``: the bundles' default data and the meta-safe collate function."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from monai.data import MetaTensor

from mammo_monai.engines import ensure_default_datalist, mammogram_collate


def test_ensure_default_datalist_generates_once_and_reuses(tmp_path: Path) -> None:
    folder = tmp_path / "synthetic"
    path = ensure_default_datalist(folder, n_patients=4, seed=0)
    assert Path(path) == folder / "datalist.json"
    datalist = json.loads(Path(path).read_text())
    assert set(datalist) == {"training", "validation", "test"}
    items = [i for split in datalist.values() for i in split]
    assert items and all(Path(i["image"]).is_file() for i in items)
    assert all(lesion["type"] == "mass" for i in items for lesion in i["lesions"])
    mtime = Path(path).stat().st_mtime_ns
    assert ensure_default_datalist(folder, n_patients=4, seed=0) == path
    assert Path(path).stat().st_mtime_ns == mtime  # reused, not regenerated


def test_mammogram_collate_drops_none_and_partial_meta_keeps_history() -> None:
    a = MetaTensor(torch.zeros(1, 4, 4), meta={"spacing": None, "view": "CC", "only_a": 1, "rows": 4})
    b = MetaTensor(torch.ones(1, 4, 4), meta={"spacing": 0.05, "view": "MLO", "rows": 4})
    a.push_applied_operation({"class": "Flip"})
    b.push_applied_operation({"class": "Flip"})
    batch = mammogram_collate([{"image": a}, {"image": b}])
    image = batch["image"]
    assert tuple(image.shape) == (2, 1, 4, 4)
    assert "spacing" not in image.meta and "only_a" not in image.meta
    assert list(image.meta["view"]) == ["CC", "MLO"]
    assert len(image.applied_operations) == 2
    assert a.meta["spacing"] is None and "only_a" in a.meta  # the items themselves are untouched


def test_mammogram_collate_drops_meta_holding_a_none() -> None:
    """A meta value that holds ``None`` inside (LesionMask's options dict) cannot be batched either."""
    a = MetaTensor(torch.zeros(1, 2, 2), meta={"lesion_mask": {"class_map": None, "shape": "circle"}, "rows": 2})
    b = MetaTensor(torch.zeros(1, 2, 2), meta={"lesion_mask": {"class_map": None, "shape": "circle"}, "rows": 2})
    batch = mammogram_collate([[{"label": a}, {"label": b}]])  # a multi-sample transform's list
    assert tuple(batch["label"].shape) == (2, 1, 2, 2) and "lesion_mask" not in batch["label"].meta
