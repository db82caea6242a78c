"""The flat-layout restructurer: names, crop vs mask by content, hard links and copies, idempotence, clashes,
dry runs, and never touching the source tree."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

import mammo_monai.data.restructure as restructure
from mammo_monai.data.cbis_ddsm import read_roi_mask
from mammo_monai.data.restructure import flat_name, restructure_cbis_ddsm
from mammo_monai.data.synthetic import synthesize_cbis_ddsm


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("restructure")
    return synthesize_cbis_ddsm(base / "synth", n_patients=5, seed=2, layout="tcia")


def _snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _expected_names(root: Path) -> dict[str, str]:
    """Flat name -> kind, worked out independently of the module from the case folders and pixel content."""
    names = {}
    for case_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        family, rest = case_dir.name.split("-", 1)
        split, rest = rest.split("_", 1)
        prefix = f"{family}-{'Train' if split == 'Training' else 'Test'}"
        parts = rest.split("_")  # P, 00001, LEFT, CC[, N]
        stem = f"{prefix}_{'_'.join(parts[:4])}"
        for f in case_dir.rglob("*.dcm"):
            if len(parts) == 4:
                names[f"{stem}_FULL.dcm"] = "full"
            else:
                kind = "MASK" if read_roi_mask(f, None) is not None else "CROP"
                names[f"{stem}_{kind}_{parts[4]}.dcm"] = kind.lower()
    return names


def test_flat_name():
    assert flat_name("Mass-Training_P_00038_LEFT_CC", "full") == "Mass-Train_P_00038_LEFT_CC_FULL.dcm"
    assert flat_name("Mass-Test_P_00038_RIGHT_MLO_1", "crop") == "Mass-Test_P_00038_RIGHT_MLO_CROP_1.dcm"
    assert flat_name("Calc-Training_P_00005_RIGHT_CC_3", "mask") == "Calc-Train_P_00005_RIGHT_CC_MASK_3.dcm"
    for case, kind in (("Mass-Training_P_00038_LEFT_CC", "mask"), ("Mass-Training_P_1_LEFT_CC_1", "full"),
                       ("1.3.6.1.4", "full")):
        with pytest.raises(ValueError):
            flat_name(case, kind)


def test_hardlink_idempotent_clash_and_dry_run(synthetic, tmp_path):
    root = Path(synthetic["image_dir"])
    before = _snapshot(root)
    expected = _expected_names(root)
    assert len(expected) == synthetic["n_dicom_files"]

    # dry run: plans everything, writes nothing
    out = tmp_path / "flat"
    dry = restructure_cbis_ddsm(root, out, dry_run=True, progress=False)
    assert not out.exists()
    assert dry["new"] == len(expected) and dry["created"] == 0 and dry["problems"].counts() == {}
    assert {Path(f["target"]).name for f in dry["files"]} == set(expected)
    assert {f["status"] for f in dry["files"]} == {"would_create"}

    res = restructure_cbis_ddsm(root, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    assert res["created"] == res["hardlinked"] == len(expected) and res["copied"] == 0
    assert res["fell_back_to_copy"] == 0 and res["fallback_reason"] is None
    assert (res["full"], res["crops"], res["masks"]) == (
        sum(k == "full" for k in expected.values()), sum(k == "crop" for k in expected.values()),
        sum(k == "mask" for k in expected.values()))
    for f in res["files"]:
        assert os.path.samefile(f["source"], f["target"])  # a hard link: same inode
        assert f["kind"] == expected[Path(f["target"]).name]
    assert res["source_files_before"] == res["source_files_after"] == len(before)
    assert res["source_bytes_before"] == res["source_bytes_after"]
    assert _snapshot(root) == before

    # a second run finds everything already there
    again = restructure_cbis_ddsm(root, out, progress=False)
    assert again["created"] == 0 and again["already_there"] == len(expected) and again["name_clashes"] == 0
    assert len(again["problems"]) == 0

    # a different file under a target name is reported and left alone; a deleted one is recreated
    clash = out / next(n for n, k in expected.items() if k == "mask")
    clash.unlink()
    clash.write_bytes(b"someone else's file")
    gone = out / next(n for n, k in expected.items() if k == "full")
    gone.unlink()
    third = restructure_cbis_ddsm(root, out, progress=False)
    assert third["name_clashes"] == 1 and third["created"] == 1
    assert [(p.kind, p.path) for p in third["problems"]] == [("name_clash", str(clash))]
    assert clash.read_bytes() == b"someone else's file"
    assert gone.exists()
    assert _snapshot(root) == before

    with pytest.raises(ValueError, match="inside the input folder"):
        restructure_cbis_ddsm(root, root / "flat", progress=False)
    with pytest.raises(ValueError, match="mode"):
        restructure_cbis_ddsm(root, out, mode="move", progress=False)


def test_copy_mode_and_hardlink_fallback(synthetic, tmp_path, monkeypatch):
    root = Path(synthetic["image_dir"])
    before = _snapshot(root)
    res = restructure_cbis_ddsm(root, tmp_path / "copies", mode="copy", progress=False)
    assert res["copied"] == res["created"] == synthetic["n_dicom_files"] and res["hardlinked"] == 0
    for f in res["files"]:
        assert not os.path.samefile(f["source"], f["target"])
        assert Path(f["source"]).read_bytes() == Path(f["target"]).read_bytes()
        assert os.stat(f["source"]).st_mtime == pytest.approx(os.stat(f["target"]).st_mtime, abs=1e-3)
    # copies are "already there" for a hard-link run: same bytes
    again = restructure_cbis_ddsm(root, tmp_path / "copies", progress=False)
    assert again["already_there"] == synthetic["n_dicom_files"] and again["created"] == 0

    # across file systems a hard link cannot be made: copy, and say so
    def no_link(src, dst, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(restructure.os, "link", no_link)
    fallback = restructure_cbis_ddsm(root, tmp_path / "other_fs", progress=False)
    assert fallback["fell_back_to_copy"] == fallback["created"] == synthetic["n_dicom_files"]
    assert "cross-device" in fallback["fallback_reason"]
    assert _snapshot(root) == before


def test_descriptive_layout_and_problems(tmp_path):
    info = synthesize_cbis_ddsm(tmp_path / "synth", n_patients=4, seed=1, layout="descriptive")
    root = Path(info["image_dir"])
    # a file outside any case folder, an unreadable one, and a lesion folder whose full image is gone
    (root / "misc").mkdir()
    stray = root / "misc" / "1-1.dcm"
    src = next(root.glob("Mass-*_1")).rglob("*.dcm").__next__()
    data = src.read_bytes().replace(src.parent.parent.parent.name.encode(), b"X" * len(src.parent.parent.parent.name))
    stray.write_bytes(data)
    broken = root / "misc" / "broken.dcm"
    broken.write_bytes(b"\0" * 500)
    full_case = sorted(p for p in root.iterdir() if p.name.startswith("Calc-") and not p.name[-1].isdigit())[0]
    for f in full_case.rglob("*.dcm"):
        f.unlink()
    before = _snapshot(root)

    res = restructure_cbis_ddsm(root, tmp_path / "flat", mode="copy", progress=False)
    kinds = {(p.kind, Path(p.path).name) for p in res["problems"]}
    assert ("unrecognised_file", "1-1.dcm") in kinds and ("unreadable_dicom", "broken.dcm") in kinds
    no_full = [p for p in res["problems"] if p.kind == "no_full_image"]
    assert no_full and all(f"{full_case.name}_" in p.path for p in no_full)
    names = {Path(f["target"]).name: f["kind"] for f in res["files"]}
    # without its full image, a lesion's mask is still told from its crop by content
    stem = flat_name(full_case.name, "full")[: -len("_FULL.dcm")]
    assert names[f"{stem}_MASK_1.dcm"] == "mask" and names[f"{stem}_CROP_1.dcm"] == "crop"
    assert len(names) == info["n_dicom_files"] - 1
    mask = read_roi_mask(tmp_path / "flat" / f"{stem}_MASK_1.dcm", None)
    assert mask is not None and np.count_nonzero(mask) > 0
    assert _snapshot(root) == before and res["source_files_after"] == res["source_files_before"]
