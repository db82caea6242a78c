"""One bad input never aborts an index run; no command writes into what the user gave (issue 21).

The real files of ``/work/shared/data`` (or ``$MAMMO_SHARED_DATA``) are copied into a temporary folder and
mutated there; the tests are skipped where the data is not present.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mammo_monai.cli import main
from mammo_monai.data.cbis_ddsm import read_case_descriptions
from mammo_monai.data.dicom_folder import index_dicom_folder
from mammo_monai.data.mias import index_mias
from mammo_monai.io.writers import OutputInsideInputError, ensure_outside_inputs

SHARED = Path(os.environ.get("MAMMO_SHARED_DATA", "/work/shared/data"))
needs = pytest.mark.skipif(not (SHARED / "mias" / "Info.txt").is_file(), reason="shared data not here")

BAD_LINES = [
    "mdb001 G",  # truncated
    "mdb002 G CIRC B abc 1 2",  # non-numeric coordinate
    "mdb003 G CIRC B 1 1 " + "9" * 400,  # a number that overflows
    "mdb004 G CIRC B 10 10 -5",  # negative radius
    "mdb004 G CIRC B nan inf 3",
    "mdb001 G FOO B 1 2 3",  # unknown class
    "mdb000 G CIRC B 1 2 3",  # no such reference
]


def _mias_copy(tmp_path: Path, extra: list[str], only_bad: bool = False) -> Path:
    folder = tmp_path / "mias"
    folder.mkdir()
    for n in range(1, 5):
        shutil.copy(SHARED / "mias" / f"mdb{n:03d}.png", folder)
    lines = [] if only_bad else [ln for ln in (SHARED / "mias" / "Info.txt").read_text().splitlines()
                                 if ln[:6] in {f"mdb{n:03d}" for n in range(1, 5)}]
    (folder / "Info.txt").write_text("\n".join(lines + extra) + "\n")
    return folder


@needs
def test_mias_bad_lines_are_problems_and_the_rest_is_indexed(tmp_path):
    folder = _mias_copy(tmp_path, [*BAD_LINES, "mdb001 G CIRC B 535 425 197", "mdb001 G CIRC B 535 425 197"])
    result = index_mias(folder, tmp_path / "out" / "mias.json", progress=False)
    assert result.summary["images"] == 4
    counts = result.problems.counts()
    assert counts["malformed_line"] == len(BAD_LINES) and counts["duplicate_line"] == 2  # the real line is there too
    details = [p.path for p in result.problems if p.kind == "malformed_line"]
    assert all(":line " in d for d in details)
    assert sorted(os.listdir(folder)) == ["Info.txt", "mdb001.png", "mdb002.png", "mdb003.png", "mdb004.png"]


@needs
def test_cli_exit_codes(tmp_path, capsys):
    # lines no record can be made of (a bad position alone keeps the lesion, without position)
    folder = _mias_copy(tmp_path, ["mdb001 G", "mdb002 G FOO B 1 2 3", "mdb003 X NORM", "mdb004 G CIRC"], only_bad=True)
    before = sorted(os.listdir(folder))
    # output inside the input folder: refused before anything is written
    assert main(["index", "mias", str(folder), "--out", str(folder / "mias.json"), "--progress=False"]) == 2
    assert main(["index", "mias", str(folder), "--out", str(tmp_path / "m.json"), "--masks_dir", str(folder / "m"),
                 "--progress=False"]) == 2
    assert "inside the input folder" in capsys.readouterr().err
    assert sorted(os.listdir(folder)) == before
    # every line bad: the report is written, the exit status says nothing was indexed
    assert main(["index", "mias", str(folder), "--out", str(tmp_path / "m.json"), "--progress=False"]) == 1
    assert "nothing could be indexed" in capsys.readouterr().err
    assert (tmp_path / "m_problems.csv").is_file()


@needs
def test_cbis_bad_csv_rows_encodings_and_quotes(tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    name = "mass_case_description_test_set.csv"
    data = (SHARED / "cbis-ddsm" / name).read_bytes()
    lines = data.split(b"\r\n")
    header, first = lines[0], lines[1]
    escaping = first.replace(b"Mass-Test_P_00016_LEFT_CC/", b"../../Mass-Test_P_00016_LEFT_CC/", 1)
    absolute = first.replace(b"Mass-Test_P_00016_LEFT_CC/", b"/Mass-Test_P_00016_LEFT_CC/", 1)
    assert escaping != first and absolute != first
    bad_patient = first.replace(b"P_00016,", b"../P_00016,", 1)
    mutated = [header, b"P_00001,caf\xe9", escaping, absolute, bad_patient, *lines[1:], b'P_9,"unclosed']
    (csv_dir / name).write_bytes(b"\r\n".join(mutated))
    rows, problems = read_case_descriptions(csv_dir, "mass")
    real_rows, _ = read_case_descriptions(SHARED / "cbis-ddsm", "mass")
    assert len(rows) == len([r for r in real_rows if r.table == "mass_test"])
    kinds = [(p.kind, p.path) for p in problems]
    assert ("bad_csv", str(csv_dir / name)) in kinds  # the Latin-1 byte, naming its line
    assert any("line 2" in p.detail for p in problems if p.kind == "bad_csv")
    bad_rows = {p.path: p.detail for p in problems if p.kind == "bad_row"}
    assert "leave its root" in bad_rows[f"{name}:row 2"] and "absolute" in bad_rows[f"{name}:row 3"]
    assert "not a plain name" in bad_rows[f"{name}:row 4"]
    assert "missing_csv" in problems.counts()  # the train table is not there


@needs
def test_dicom_folder_broken_header_is_a_problem(tmp_path):
    folder = tmp_path / "dicom"
    folder.mkdir()
    shutil.copy(SHARED / "dicom" / "nema-wg04" / "MG1_J2KI.dcm", folder / "good.dcm")
    raw = (folder / "good.dcm").read_bytes()
    (folder / "cut.dcm").write_bytes(raw[:300])  # header cut in the middle of an element
    (folder / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00\x10\x00UI\xff\xff" + b"x" * 40)
    result = index_dicom_folder(folder, tmp_path / "d.json", progress=False)
    assert result.summary["images"] == 1
    assert {Path(p.path).name for p in result.problems if p.kind in ("unreadable_dicom", "bad_header")} == \
        {"cut.dcm", "garbage.dcm"}
    with pytest.raises(OutputInsideInputError):
        index_dicom_folder(folder, folder / "sub" / "d.json", progress=False)


def test_ensure_outside_inputs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "list.json").write_text("{}")
    link = tmp_path / "link"
    link.symlink_to(data)
    assert ensure_outside_inputs(tmp_path / "out.json", data, None) == tmp_path / "out.json"
    assert ensure_outside_inputs(tmp_path / "data2" / "x", data)  # a sibling with a common prefix is fine
    for out in (data, data / "x.json", data / "a" / "b", link / "x.json", tmp_path / "other" / ".." / "data" / "x"):
        with pytest.raises(OutputInsideInputError, match="input folder|input folder"):
            ensure_outside_inputs(out, data)
    with pytest.raises(OutputInsideInputError, match="input file"):
        ensure_outside_inputs(data / "list.json", data / "list.json")
    assert isinstance(OutputInsideInputError("x"), ValueError)


@needs
def test_a_bom_with_a_latin1_byte_keeps_the_csv_header(tmp_path):
    """Found by scripts/fuzz.py: a BOM plus one non-UTF-8 byte made the Latin-1 fallback read the BOM into the first
    column's name, and the whole table was lost."""
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    name = "mass_case_description_test_set.csv"
    data = (SHARED / "cbis-ddsm" / name).read_bytes()
    (csv_dir / name).write_bytes(b"\xef\xbb\xbf" + data + b"P_1,caf\xe9\r\n")
    rows, problems = read_case_descriptions(csv_dir, "mass")
    assert len(rows) == 378 and any("not UTF-8" in p.detail for p in problems)


def test_mias_info_with_a_bom():
    from mammo_monai.data.mias import parse_mias_info

    records, problems = parse_mias_info("\ufeffmdb001 G CIRC B 535 425 197\n")
    assert [r.reference for r in records] == ["mdb001"] and not list(problems)
