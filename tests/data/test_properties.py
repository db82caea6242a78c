"""Property tests (hypothesis): the parsers never raise on any input, the datalist files round-trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import tests.hypothesis_profile  # noqa: F401  (registers and loads the deterministic profile)
from mammo_monai.data.cbis_ddsm import _REQUIRED_COLUMNS, CBIS_TABLES, parse_case_row, unsafe_relative_path
from mammo_monai.data.mias import MIAS_CLASSES, parse_mias_info
from mammo_monai.data.problems import ProblemLog
from mammo_monai.data.schema import SPLITS, escapes_root, load_datalist, write_datalist

_TOKENS = st.sampled_from(["mdb001", "mdb000", "mdb322", "G", "F", "D", "X", "NORM", "CIRC", "CALC", "SPIC", "B", "M",
                           "*NOTE", "3*", "535", "425", "197", "-5", "0", "1e400", "nan", "inf", "9" * 40, "3.5",
                           "", "é", "\t"])
_MIAS_LINES = st.one_of(
    st.lists(_TOKENS, max_size=9).map(lambda t: " ".join(t)),
    st.lists(_TOKENS, max_size=8).map(lambda t: "mdb" + f"{len(t):03d} " + " ".join(t)),
    st.text(max_size=60),
    st.text(max_size=40).map(lambda s: "mdb123 " + s),
)


@given(st.lists(_MIAS_LINES, max_size=12))
def test_mias_any_text_gives_records_or_problems(lines):
    """Any Info.txt text: every data line is a record or a problem naming its line, never an exception."""
    text = "\n".join(lines)
    records, problems = parse_mias_info(text, source="Info.txt")
    for record in records:
        assert record.mias_class in MIAS_CLASSES or record.mias_class == "NORM"
        assert int(record.reference[3:]) > 0
        if record.x is not None:
            assert record.x >= 0 and record.y >= 0 and record.radius > 0
    for problem in problems:
        assert problem.path.startswith("Info.txt:line ")
    data_lines = sum(1 for line in text.splitlines() if line[:3] == "mdb" and len(line) > 6 and line[3:6].isdigit()
                     and line[6].isspace())
    assert len({r.line_number for r in records} | {int(p.path.rsplit(" ", 1)[1]) for p in problems}) <= data_lines


@given(st.integers(1, 322), st.sampled_from(sorted(MIAS_CLASSES)), st.sampled_from("BM"),
       st.integers(0, 1023), st.integers(0, 1023), st.integers(1, 500))
def test_mias_well_formed_lines_parse_exactly(number, cls, severity, x, y, radius):
    records, problems = parse_mias_info(f"mdb{number:03d} G {cls} {severity} {x} {y} {radius}\n")
    assert len(problems) == 0
    assert [(r.reference, r.x, r.y, r.radius) for r in records] == [(f"mdb{number:03d}", x, y, float(radius))]


_COLUMNS = [*_REQUIRED_COLUMNS, "assessment", "subtlety", "breast density", "abnormality type"]
_CELLS = st.one_of(
    st.sampled_from(["P_00001", "LEFT", "RIGHT", "L", "CC", "MLO", "1", "0", "-3", "nan", "inf", "1e999", "NA", "",
                     "MALIGNANT", "BENIGN", "BENIGN_WITHOUT_CALLBACK", "mass",
                     "Mass-Training_P_00001_LEFT_CC/1.2.3/1.2.4/000000.dcm", "../../etc/passwd/x/y",
                     "/abs/1.2/1.3/x.dcm", "C:\\x\\1.2\\1.3\\y.dcm", "a/../../b/c/d", "P_00001/../x", "..", "~/x/y/z"]),
    st.text(max_size=30),
)


@given(st.lists(_CELLS, min_size=0, max_size=len(_COLUMNS) + 2), st.sampled_from(sorted(CBIS_TABLES)))
def test_cbis_any_row_gives_a_row_or_problems(values, table):
    """Any CSV record: a CbisRow or a bad_row problem naming ``<csv>:row N``, never an exception."""
    problems = ProblemLog()
    row = parse_case_row(values, _COLUMNS, table, 7, problems)
    for problem in problems:
        assert problem.path == f"{CBIS_TABLES[table][0]}:row 7"
    if row is None:
        assert not any(v.strip() for v in values) or "bad_row" in problems.counts()
    else:
        assert row.laterality in ("L", "R") and row.image_uids is not None
        for path in (row.image_path, row.crop_path, row.mask_path):
            assert unsafe_relative_path(path) is None


@given(st.lists(st.sampled_from(["a", "b", "..", ".", ""]), max_size=8))
def test_escapes_root_agrees_with_a_normalised_join(parts):
    import posixpath

    path = "/".join(parts)
    assume(not path.startswith("/"))  # escapes_root judges relative paths
    joined = posixpath.normpath(posixpath.join("/root/ds", path))
    assert escapes_root(path) == (joined != "/root/ds" and not joined.startswith("/root/ds/"))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
_ITEMS = st.lists(st.dictionaries(st.text(max_size=8).filter(lambda k: k not in ("image", "label", "pred",
                                                                                   "contralateral_image",
                                                                                   "alt_images", "lesions")),
                                  _JSON, max_size=4), max_size=4)


@settings(max_examples=40)
@given(st.dictionaries(st.sampled_from(SPLITS), _ITEMS, min_size=1))
def test_datalist_round_trip(tmp_path_factory, datalist):
    """write_datalist -> load_datalist gives back the items (missing splits come back empty)."""
    path = tmp_path_factory.mktemp("dl") / "d.json"
    write_datalist(datalist, path)
    back = load_datalist(path)
    assert back == {split: json.loads(json.dumps(datalist.get(split, []))) for split in SPLITS}


@pytest.mark.parametrize("value, bad", [("x/../../y.png", True), ("x/y.png", False), ("/abs/y.png", False)])
def test_load_datalist_refuses_relative_paths_that_climb_out(tmp_path, value, bad):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"training": [{"image": "a.png", "lesions": [{"mask": value}]}]}))
    if bad:
        with pytest.raises(ValueError, match=r"training\[0\]\.lesions\[0\]\.mask"):
            load_datalist(path)
        assert load_datalist(path, allow_outside_root=True)["training"][0]["lesions"][0]["mask"] == value
    else:
        assert load_datalist(path)["training"][0]["lesions"][0]["mask"] == value
