"""The mammo-monai command: sub-commands run the library, errors name the file and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from PIL import Image

from mammo_monai.cli import main

from .io.dicom_factory import write_dicom


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mammo_monai", *args], capture_output=True, text=True, timeout=120)


def test_index_mias_and_refuse_overwrite(tmp_path):
    mias = tmp_path / "mias"
    mias.mkdir()
    (mias / "Info.txt").write_text("mdb001 G CIRC B 30 40 8\nmdb002 D NORM \n")
    for n in (1, 2):
        Image.fromarray(np.full((100, 120), 50, np.uint8)).save(mias / f"mdb{n:03d}.png")
    out = tmp_path / "mias.json"
    done = _run("index", "mias", str(mias), "--out", str(out), "--progress", "False")
    assert done.returncode == 0, done.stderr
    assert "images: 2" in done.stdout and "problems: none" in done.stdout
    assert sum(len(v) for v in json.loads(out.read_text()).values()) == 2
    again = _run("index", "mias", str(mias), "--out", str(out))
    assert again.returncode == 2
    assert f"{out}: already exists" in again.stderr and "Traceback" not in again.stderr


def test_info_and_errors(tmp_path, capsys):
    path = write_dicom(tmp_path / "a.dcm", np.full((8, 6), 7, np.uint16), Laterality="R", PatientOrientation="MLO")
    assert main(["info", str(path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["shape"] == [8, 6] and shown["laterality"] == "R" and shown["view"] == "MLO"
    (tmp_path / "bad.dcm").write_text("nope")
    assert main(["info", str(tmp_path / "bad.dcm")]) == 2
    assert "bad.dcm: not a DICOM file" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing.dcm")]) == 2


def test_eval_segmentation(tmp_path):
    from mammo_monai.data.schema import make_item, write_datalist

    items = []
    for n in range(4):
        image = tmp_path / f"img{n}.png"
        Image.fromarray(np.full((40, 30), 100, np.uint8)).save(image)
        mask = np.zeros((40, 30), np.uint8)
        mask[10:20, 5:15] = 1
        Image.fromarray(mask).save(tmp_path / f"img{n}_mask.png")
        pred = np.zeros((40, 30), np.uint8)
        pred[10:20, 5:15 - n] = 255
        (tmp_path / "pred").mkdir(exist_ok=True)
        Image.fromarray(pred).save(tmp_path / "pred" / f"img{n}_seg.png")
        items.append(make_item(image, f"P{n // 2}", "L", "CC", label=tmp_path / f"img{n}_mask.png"))
    write_datalist({"test": items}, tmp_path / "d.json")
    done = _run("eval", "segmentation", "--pred", str(tmp_path / "pred"), "--label", str(tmp_path / "d.json"),
                "--out", str(tmp_path / "report"), "--n_resamples", "200")
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "report" / "segmentation_summary.json").read_text())
    assert summary and (tmp_path / "report" / "segmentation_metrics.csv").is_file()
    assert "dice" in done.stdout.lower()
