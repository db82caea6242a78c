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
