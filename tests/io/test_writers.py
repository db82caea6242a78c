"""Atomic writes (issue 21): a write interrupted mid-way leaves the previous file intact and no temporary file;
DICOM files (the synthetic films, the Deploy app's SEG and SR, through the same function) likewise."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pydicom
import pytest

from mammo_monai.io.compat import save_dataset
from mammo_monai.io.writers import atomic_write_file, atomic_write_text, write_json
from tests.io.dicom_factory import write_dicom


class Interrupted(Exception):
    """What the interrupted serializers raise."""


def _half_then_raise(f) -> None:
    f.write(b"half of a new file")
    f.flush()
    raise Interrupted("killed mid-write")


def test_interrupted_write_leaves_the_previous_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    write_json({"n": 1}, path)
    before = path.read_bytes()
    with pytest.raises(Interrupted):
        atomic_write_file(path, _half_then_raise)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]
    with pytest.raises(Interrupted):  # a first write interrupted leaves nothing at all
        atomic_write_file(tmp_path / "out" / "new.bin", _half_then_raise)
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]


def test_written_file_has_ordinary_permissions(tmp_path: Path) -> None:
    mask = os.umask(0o022)
    os.umask(mask)
    path = atomic_write_text(tmp_path / "a.txt", "x\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not the owner-only mode of a temporary file
    assert path.read_text() == "x\n"


def test_no_overwrite_refuses_an_existing_file(tmp_path: Path) -> None:
    path = atomic_write_file(tmp_path / "seg.dcm", lambda f: f.write(b"first"), overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write_file(path, lambda f: f.write(b"second"), overwrite=False)
    assert path.read_bytes() == b"first" and sorted(os.listdir(tmp_path)) == ["seg.dcm"]
    atomic_write_file(path, lambda f: f.write(b"second"))
    assert path.read_bytes() == b"second"


def test_dicom_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``save_dataset`` (and the Deploy app's ``save_new``, which also writes through ``atomic_write_file``): a
    serializer that dies after writing part of the file leaves the previous DICOM readable and no temporary."""
    source = write_dicom(tmp_path / "src.dcm", np.arange(64, dtype=np.uint16).reshape(8, 8))
    ds = pydicom.dcmread(source)
    out = tmp_path / "out" / "copy_seg.dcm"
    save_dataset(ds, out)
    before = out.read_bytes()
    assert pydicom.dcmread(out).SOPInstanceUID == ds.SOPInstanceUID
    with pytest.raises(FileExistsError):  # the Deploy app's default: never over an existing file
        save_dataset(ds, out, overwrite=False)
    assert out.read_bytes() == before

    real = pydicom.dataset.Dataset.save_as

    def dies_midway(self, filename, *args, **kwargs):
        real(self, filename, *args, **kwargs)  # the whole dataset into the temporary file ...
        raise Interrupted("killed after writing")  # ... then killed before the rename

    monkeypatch.setattr(pydicom.dataset.Dataset, "save_as", dies_midway)
    ds.PatientName = "Changed^Name"
    with pytest.raises(Interrupted):
        save_dataset(ds, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["copy_seg.dcm"]
