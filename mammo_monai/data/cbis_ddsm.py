"""Indexing a real TCIA CBIS-DDSM download into a datalist (see :mod:`mammo_monai.data.schema`).

CBIS-DDSM comes as four case-description CSVs (one row per abnormality) and a tree of DICOM files:
one full mammogram per case folder ``Mass-Training_P_00001_LEFT_CC`` and, per abnormality, a cropped
lesion image and a binary ROI mask under ``Mass-Training_P_00001_LEFT_CC_1``. The tree comes in two
layouts, both handled here because files are matched by the DICOM UIDs in their headers, never by
their names:

- TCIA/NBIA: ``<case>/<StudyInstanceUID>/<SeriesInstanceUID>/1-1.dcm`` (or ``000000.dcm``);
- descriptive names: ``[CBIS-DDSM/]<case>/07-20-2016-DDSM-74994/1.000000-full mammogram images-24515/1-1.dcm``.

Which of a row's two lesion files is the crop and which is the ROI mask is told by content (a mask has
the size of its full image and two pixel values), because the CSV columns are swapped in ~100 real rows.
A mammogram listed in both a Mass and a Calc table (two DICOM files of one film) becomes one item. A
woman listed in any Test table goes to ``"test"`` with all her images, so that no patient is on both
sides of the split. Everything that is wrong with a download is collected in a
:class:`~mammo_monai.data.problems.ProblemLog` and written beside the datalist instead of stopping the scan.

Example:
    >>> result = index_cbis_ddsm("/data/CBIS-DDSM", "/data/cbis-csv", "/data/cbis.json")  # doctest: +SKIP
    >>> item = result.datalist["training"][0]  # doctest: +SKIP
    >>> item["patient_id"], item["laterality"], item["view"], item["lesions"][0]["type"]  # doctest: +SKIP
    ('P_00001', 'L', 'CC', 'mass')
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mammo_monai.io import MammogramReadError, read_dicom_header, read_dicom_mammogram
from mammo_monai.io.files import find_dicom_files, pixel_data_looks_intact

from .geometry import lesion_geometry_from_mask
from .problems import ProblemLog
from .schema import SPLITS, ensure_outside_inputs, escapes_root, make_item, make_lesion, normalise_laterality
from .splits import split_by_patient
from .summary import IndexResult, write_index

__all__ = [
    "CBIS_TABLES",
    "CbisRow",
    "DicomRecord",
    "binary_mask",
    "index_cbis_ddsm",
    "parse_case_folder",
    "parse_case_row",
    "read_case_descriptions",
    "read_roi_mask",
    "scan_dicom_tree",
    "unsafe_relative_path",
]

#: The four case-description tables: table name -> (CSV file name, abnormality, official split).
CBIS_TABLES: dict[str, tuple[str, str, str]] = {
    "mass_train": ("mass_case_description_train_set.csv", "mass", "training"),
    "mass_test": ("mass_case_description_test_set.csv", "mass", "test"),
    "calc_train": ("calc_case_description_train_set.csv", "calc", "training"),
    "calc_test": ("calc_case_description_test_set.csv", "calc", "test"),
}
_ABNORMALITY_TABLES = {
    "mass": ("mass_train", "mass_test"),
    "calc": ("calc_train", "calc_test"),
    "both": ("mass_train", "mass_test", "calc_train", "calc_test"),
}
_LESION_TYPE = {"mass": "mass", "calc": "calcification"}
_CASE_FOLDER = re.compile(
    r"^(?P<abnormality>Mass|Calc)-(?P<split>Training|Test)_(?P<patient_id>P_\d+)_(?P<side>LEFT|RIGHT)_"
    r"(?P<view>[A-Z]+?)(?:_(?P<abnormality_id>\d+))?$",
    re.IGNORECASE,
)
# columns after normalisation (lower case, "_" -> " "): both density spellings become "breast density"
_REQUIRED_COLUMNS = (
    "patient id", "left or right breast", "image view", "abnormality id", "pathology",
    "image file path", "cropped image file path", "roi mask file path",
)
_RANGES = {"subtlety": (1, 5), "density": (1, 4), "birads": (0, 5), "abnormality_id": (1, None)}
_SCAN_THREADS = 8


# ------------------------------------------------------------------------------------------------ CSV rows


@dataclass(frozen=True)
class CbisRow:
    """One row (one abnormality) of a CBIS-DDSM case-description CSV, normalised.

    ``row`` is the 1-based number of the data record in its CSV, header not counted (records, not
    lines: one real path column holds a newline inside its quotes). Paths are as written in the CSV
    (whitespace stripped), relative to the original TCIA tree; ``crop_path``/``mask_path`` are the values
    of the ``cropped image file path``/``ROI mask file path`` columns, which are swapped in some real rows.
    Integers are ``None`` when the cell is empty or not a number; text fields are ``None`` when empty.
    """

    table: str  #: "mass_train" | "mass_test" | "calc_train" | "calc_test"
    csv_name: str
    abnormality: str  #: "mass" | "calc"
    official_split: str  #: "training" | "test"
    row: int
    patient_id: str
    laterality: str  #: "L" | "R"
    view: str
    abnormality_id: int | None
    abnormality_type: str | None
    pathology: str  #: raw: MALIGNANT | BENIGN | BENIGN_WITHOUT_CALLBACK
    birads: int | None  #: the ``assessment`` column
    subtlety: int | None
    density: int | None  #: ``breast_density`` (mass files) or ``breast density`` (calc files)
    mass_shape: str | None
    mass_margins: str | None
    calc_type: str | None
    calc_distribution: str | None
    image_path: str
    crop_path: str
    mask_path: str

    @property
    def where(self) -> str:
        """``"<csv name>:row N"``: how problems name this row."""
        return f"{self.csv_name}:row {self.row}"

    @property
    def case(self) -> str:
        """The full image's case folder (``Mass-Training_P_00001_LEFT_CC``)."""
        return _path_parts(self.image_path)[0]

    @property
    def lesion_case(self) -> str:
        """The abnormality's case folder (``Mass-Training_P_00001_LEFT_CC_1``)."""
        for path in (self.crop_path, self.mask_path):
            parts = _path_parts(path)
            if parts and parts[0]:
                return parts[0]
        return f"{self.case}_{self.abnormality_id}"

    @property
    def image_uids(self) -> tuple[str, str] | None:
        """``(StudyInstanceUID, SeriesInstanceUID)`` of the full image, from its CSV path."""
        return _path_uids(self.image_path)

    @property
    def lesion_type(self) -> str:
        """The schema's lesion type: ``"mass"`` or ``"calcification"``."""
        return _LESION_TYPE[self.abnormality]


def _path_parts(path: str) -> list[str]:
    return [p for p in re.split(r"[\\/]+", path.strip()) if p]


def _path_uids(path: str) -> tuple[str, str] | None:
    parts = _path_parts(path)
    return (parts[1], parts[2]) if len(parts) >= 3 else None


def _text(value: str | None) -> str | None:
    """A stripped CSV value; empty and the real tables' ``NA`` (not applicable) become ``None``."""
    value = (value or "").strip()
    return value if value and value != "NA" else None


def _integer(value: str | None) -> int | None:
    value = (value or "").strip()
    try:
        return int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if number.is_integer() else None


def read_case_descriptions(
    csv_dir: str | os.PathLike, abnormality: str = "both"
) -> tuple[list[CbisRow], ProblemLog]:
    """Parse the CBIS-DDSM case-description CSVs of ``csv_dir`` into :class:`CbisRow` records.

    Handles the real files' quirks: CRLF line endings, a newline inside the quotes of one path column
    (every value is stripped), ``breast_density`` (mass) vs ``breast density`` (calc). A missing CSV is
    a ``missing_csv`` problem; an out-of-range value (subtlety 0, density 0, ...) is an
    ``out_of_range_value`` problem and the row is kept; a row that cannot be used (no image path with
    UIDs, unknown laterality or pathology) is a ``bad_row`` problem and left out.

    Args:
        csv_dir: folder holding ``mass_case_description_train_set.csv`` and the three others.
        abnormality: ``"mass"``, ``"calc"`` or ``"both"``: which tables to read.

    Returns:
        ``(rows, problems)``, rows in table order (mass train, mass test, calc train, calc test).

    Raises:
        ValueError: unknown ``abnormality``.
        FileNotFoundError: ``csv_dir`` is not a folder, or holds none of the requested CSVs.

    Example:
        >>> rows, problems = read_case_descriptions("/data/cbis-csv", "mass")  # doctest: +SKIP
        >>> len(rows), rows[0].case, rows[0].density, problems.counts()  # doctest: +SKIP
        (1696, 'Mass-Training_P_00001_LEFT_CC', 3, {'out_of_range_value': 2})
    """
    if abnormality not in _ABNORMALITY_TABLES:
        raise ValueError(f"unknown abnormality {abnormality!r}; expected one of {sorted(_ABNORMALITY_TABLES)}")
    csv_dir = Path(csv_dir)
    if not csv_dir.is_dir():
        raise FileNotFoundError(f"{csv_dir}: CSV folder not found")
    problems = ProblemLog()
    rows: list[CbisRow] = []
    found = 0
    for table in _ABNORMALITY_TABLES[abnormality]:
        csv_name = CBIS_TABLES[table][0]
        path = csv_dir / csv_name
        if not path.is_file():
            problems.add(path, "missing_csv", f"the {table.replace('_', ' ')} table is missing; its rows are skipped")
            continue
        found += 1
        rows.extend(_read_table(path, table, problems))
    if not found:
        names = ", ".join(CBIS_TABLES[t][0] for t in _ABNORMALITY_TABLES[abnormality])
        raise FileNotFoundError(f"{csv_dir}: none of the CBIS-DDSM case-description CSVs ({names}) is there")
    return rows, problems


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # a patient id / view that is safe in a file name


def unsafe_relative_path(path: str) -> str | None:
    """Why a path read from a data file may not be joined to its dataset root, or ``None`` when it may.

    A path from data is relative to the root it is declared in: an absolute path (``/x``, ``\\\\server\\x``,
    ``C:\\x``, ``~/x``) or one whose ``..`` parts climb out of that root is refused.

    Example:
        >>> unsafe_relative_path("Mass-Training_P_00001_LEFT_CC/1.2/1.3/000000.dcm") is None
        True
        >>> unsafe_relative_path("../../etc/passwd"), unsafe_relative_path("/etc/passwd")
        ('it uses .. to leave its root', 'it is absolute')
        >>> unsafe_relative_path("a/../b/c") is None
        True
    """
    text = str(path).strip()
    if text.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", text):
        return "it is absolute"
    if escapes_root(text):
        return "it uses .. to leave its root"
    return None


def _decode_csv(path: Path, problems: ProblemLog) -> str | None:
    """The text of a CSV (UTF-8, BOM or not); bytes that are not UTF-8 are a ``bad_csv`` problem naming the line,
    and the file is then read as Latin-1 (every byte is a character, so the ASCII paths and UIDs still match)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        problems.add(path, "bad_csv", f"cannot be read ({e.strerror or e})")
        return None
    data = data.removeprefix(b"\xef\xbb\xbf")  # a BOM is not part of the first column's name, whatever follows
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        problems.add(path, "bad_csv", f"line {line}: byte {data[e.start]:#04x} is not UTF-8 ({e.reason}); "
                                      "the file is read as Latin-1")
        return data.decode("latin-1")


def _read_table(path: Path, table: str, problems: ProblemLog) -> list[CbisRow]:
    csv_name = CBIS_TABLES[table][0]
    text = _decode_csv(path, problems)
    if text is None:
        return []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        problems.add(path, "bad_csv", "empty file")
        return []
    except csv.Error as e:
        problems.add(path, "bad_csv", f"header line: {e}")
        return []
    columns = [re.sub(r"[\s_]+", " ", c.strip().lower()) for c in header]
    missing = [c for c in _REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.add(path, "bad_csv", f"missing column(s) {missing}; found {header}")
        return []
    duplicated = sorted({c for c in columns if c in _REQUIRED_COLUMNS and columns.count(c) > 1})
    if duplicated:
        problems.add(path, "bad_csv", f"column(s) {duplicated} appear more than once; found {header}")
        return []
    rows = []
    number = 0
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as e:  # e.g. an unclosed quote that swallows the rest of the file
            problems.add(f"{csv_name}:row {number + 1}", "bad_csv",
                         f"line {reader.line_num}: {e}; the rest of {csv_name} is not read")
            break
        number += 1
        row = parse_case_row(values, columns, table, number, problems)
        if row is not None:
            rows.append(row)
    return rows


def parse_case_row(
    values: Sequence[str], columns: Sequence[str], table: str, number: int, problems: ProblemLog
) -> CbisRow | None:
    """One CSV record of a case-description table -> a :class:`CbisRow`, or ``None`` after reporting a ``bad_row``.

    ``columns`` are the header's names normalised (lower case, ``_`` -> space); ``number`` is the 1-based record
    number (header not counted). Never raises on any values: what is wrong goes to ``problems``
    (``bad_row``: the row is left out; ``out_of_range_value``: the row is kept), naming ``<csv name>:row N``.
    """
    csv_name, kind, split = CBIS_TABLES[table]
    if not any(v.strip() for v in values):
        return None
    where = f"{csv_name}:row {number}"
    reasons = []
    if len(values) != len(columns):
        reasons.append(f"{len(values)} values for {len(columns)} columns")
    cell = dict(zip(columns, (v.strip() for v in values)))
    laterality = normalise_laterality(cell.get("left or right breast"))
    pathology = cell.get("pathology", "")
    image_path = cell.get("image file path", "")
    if laterality is None:
        reasons.append(f"unknown laterality {cell.get('left or right breast')!r}")
    if pathology.lower() not in ("benign", "benign_without_callback", "malignant"):
        reasons.append(f"unknown pathology {pathology!r}")
    if _path_uids(image_path) is None:
        reasons.append(f"image file path {image_path!r} has no <case>/<study UID>/<series UID>")
    if not cell.get("patient id") or not cell.get("image view"):
        reasons.append("no patient_id or image view")
    for column in ("patient id", "image view"):
        if cell.get(column) and not _SAFE_NAME.fullmatch(cell[column]):
            reasons.append(f"{column} {cell[column]!r} is not a plain name (letters, digits, '_', '-', '.')")
    for column in ("image file path", "cropped image file path", "roi mask file path"):
        why = unsafe_relative_path(cell.get(column) or "")
        if why:
            reasons.append(f"{column} {cell[column]!r}: {why} (paths are relative to the image folder)")
    if reasons:
        problems.add(where, "bad_row", "; ".join(reasons))
        return None
    values_int = {
        "abnormality_id": _integer(cell.get("abnormality id")),
        "birads": _integer(cell.get("assessment")),
        "subtlety": _integer(cell.get("subtlety")),
        "density": _integer(cell.get("breast density")),
    }
    column_names = {"abnormality_id": "abnormality id", "birads": "assessment", "subtlety": "subtlety",
                    "density": "breast density"}
    for name, value in values_int.items():
        raw = cell.get(column_names[name], "")
        low, high = _RANGES[name]
        if value is None:
            if raw:
                problems.add(where, "out_of_range_value", f"{column_names[name]} = {raw!r} is not an integer")
        elif value < low or (high is not None and value > high):
            expected = f"{low}..{high}" if high is not None else f">= {low}"
            problems.add(where, "out_of_range_value", f"{column_names[name]} = {value} (expected {expected})")
    return (
        CbisRow(
            table=table,
            csv_name=csv_name,
            abnormality=kind,
            official_split=split,
            row=number,
            patient_id=cell["patient id"],
            laterality=laterality,
            view=cell["image view"].upper(),
            abnormality_type=_text(cell.get("abnormality type")),
            pathology=pathology,
            mass_shape=_text(cell.get("mass shape")),
            mass_margins=_text(cell.get("mass margins")),
            calc_type=_text(cell.get("calc type")),
            calc_distribution=_text(cell.get("calc distribution")),
            image_path=image_path,
            crop_path=cell.get("cropped image file path", ""),
            mask_path=cell.get("roi mask file path", ""),
            **values_int,
        )
    )


# ------------------------------------------------------------------------------------------------ DICOM scan


def parse_case_folder(name: str) -> dict[str, Any] | None:
    """Split a CBIS-DDSM case folder / PatientID into its parts, or ``None`` when it is not one.

    Example:
        >>> info = parse_case_folder("Mass-Training_P_00001_LEFT_CC_2")
        >>> info["abnormality"], info["split"], info["patient_id"], info["laterality"], info["view"]
        ('mass', 'training', 'P_00001', 'L', 'CC')
        >>> info["abnormality_id"], parse_case_folder("Calc-Test_P_00038_RIGHT_MLO")["abnormality_id"]
        (2, None)
        >>> parse_case_folder("1-1.dcm") is None
        True
    """
    match = _CASE_FOLDER.match(str(name).strip())
    if not match:
        return None
    abnormality_id = match.group("abnormality_id")
    return {
        "abnormality": match.group("abnormality").lower(),
        "split": match.group("split").lower(),
        "patient_id": "P_" + match.group("patient_id")[2:],
        "laterality": match.group("side").upper()[0],
        "view": match.group("view").upper(),
        "abnormality_id": int(abnormality_id) if abnormality_id is not None else None,
    }


@dataclass
class DicomRecord:
    """What the tree scan learns about one DICOM file from its header (no pixel decoding).

    ``case`` is the CBIS case folder the file belongs to: its PatientID when that is a case folder name,
    else the nearest enclosing folder that is one, else ``None``. ``error`` is set (and the other fields
    may be ``None``) when the file cannot be read or its pixel data is cut short.
    """

    path: str
    study_uid: str | None = None
    series_uid: str | None = None
    patient_id: str | None = None
    case: str | None = None
    rows: int | None = None
    columns: int | None = None
    error: str | None = None

    @property
    def shape(self) -> tuple[int, int] | None:
        return (self.rows, self.columns) if self.rows and self.columns else None


def _case_of(patient_id: str | None, path: Path, root: Path) -> str | None:
    if patient_id and parse_case_folder(patient_id):
        return patient_id.strip()
    try:
        parts = path.relative_to(root).parts[:-1]
    except ValueError:
        parts = path.parts[:-1]
    for part in reversed(parts):
        if parse_case_folder(part):
            return part
    return None


def _scan_one(path: Path, root: Path) -> DicomRecord:
    record = DicomRecord(path=os.path.abspath(path))
    try:
        header = read_dicom_header(path)
    except (MammogramReadError, FileNotFoundError, OSError) as e:
        record.error = str(e)
        return record
    except Exception as e:  # a header pydicom trips over in an unexpected way: still a problem, not a crash
        record.error = f"{path}: unreadable DICOM header ({type(e).__name__}: {e})"
        return record
    record.study_uid = header.get("study_instance_uid")
    record.series_uid = header.get("series_instance_uid")
    record.patient_id = header.get("patient_id")
    record.rows, record.columns = header.get("rows"), header.get("columns")
    record.case = _case_of(record.patient_id, path, root)
    if not pixel_data_looks_intact(record.path, header):
        try:  # the cheap check is only a hint: decoding says for sure
            read_dicom_mammogram(path, invert_monochrome1=False)
        except (MammogramReadError, FileNotFoundError) as e:
            record.error = str(e)
        except Exception as e:
            record.error = f"{path}: pixel data cannot be decoded ({type(e).__name__}: {e})"
    return record


def scan_dicom_tree(root: str | os.PathLike, progress: bool = True) -> list[DicomRecord]:
    """Read the header of every DICOM file under ``root`` (recursively), without decoding pixel data.

    Files are the ones named ``*.dcm``/``*.dicom``/``*.dic`` or without suffix but with the DICOM
    preamble; hidden files are skipped. Unreadable files come back with ``error`` set (never raised).
    A file whose pixel data looks cut short (checked from its last bytes) is decoded once to confirm.

    Example:
        >>> records = scan_dicom_tree("/data/CBIS-DDSM", progress=False)  # doctest: +SKIP
        >>> records[0].case, records[0].study_uid is not None  # doctest: +SKIP
        ('Calc-Test_P_00038_LEFT_CC', True)

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image folder not found")
    files, _ = find_dicom_files(root)
    with ThreadPoolExecutor(max_workers=_SCAN_THREADS) as pool:
        results = pool.map(lambda p: _scan_one(p, root), files)
        return list(tqdm(results, total=len(files), desc="reading DICOM headers", unit="file", disable=not progress))


# ------------------------------------------------------------------------------------------------ masks


def binary_mask(array: np.ndarray) -> np.ndarray | None:
    """The boolean mask of a two-valued image (0 and one positive value), else ``None``.

    Example:
        >>> binary_mask(np.array([[0, 255], [0, 0]])).tolist()
        [[False, True], [False, False]]
        >>> binary_mask(np.array([[0, 3], [7, 0]])) is None, binary_mask(np.zeros((2, 2))) is None
        (True, True)
    """
    array = np.asarray(array)
    if array.ndim != 2 or array.size == 0:
        return None
    high = array.max()
    if not high > 0:
        return None
    positive = array == high
    if np.count_nonzero(array) != np.count_nonzero(positive):
        return None  # a third value (or negative values)
    return positive


def read_roi_mask(
    path: str | os.PathLike, image_shape: Sequence[int] | None, shape: Sequence[int] | None = None
) -> np.ndarray | None:
    """The ROI mask in ``path`` as a boolean array, or ``None`` when the file is not an ROI mask (a crop).

    A CBIS-DDSM ROI mask has the rows x columns of its full image and two pixel values (0 and one
    positive value, 255 in the real data). The size is checked first, from ``shape`` (the file's
    ``(rows, columns)`` when already known from a header scan) or the header, so a crop is never decoded.
    With ``image_shape=None`` the size check is skipped (any size; the content decides).
    Stored pixel values are used (no MONOCHROME1 inversion): the lesion is the positive value.

    Raises:
        FileNotFoundError, MammogramReadError: the file cannot be read (naming it).

    Example:
        >>> mask = read_roi_mask("Mass-Training_P_00001_LEFT_CC_1/.../1-2.dcm", (5491, 3011))  # doctest: +SKIP
        >>> mask is None or (mask.shape == (5491, 3011) and mask.dtype == bool)  # doctest: +SKIP
        True
    """
    if image_shape is not None:
        if shape is None:
            header = read_dicom_header(path)
            shape = (header.get("rows"), header.get("columns"))
        if tuple(shape) != tuple(image_shape):
            return None
    array, _ = read_dicom_mammogram(path, invert_monochrome1=False)
    return binary_mask(array)


# ------------------------------------------------------------------------------------------------ indexing


@dataclass
class _Lesion:
    row: CbisRow
    files: list[DicomRecord] = field(default_factory=list)
    missing: bool = False  # a missing_file problem was reported for its crop/mask


@dataclass
class _Image:
    record: DicomRecord
    rows: list[CbisRow]  # the (deduplicated) CSV rows of this file
    lesions: list[_Lesion] = field(default_factory=list)

    @property
    def first(self) -> CbisRow:
        return self.rows[0]


def _prefer_case(records: list[DicomRecord], case: str) -> list[DicomRecord]:
    same = [r for r in records if r.case == case]
    return same or records


def _mask_name(patient_id: str, laterality: str, view: str) -> str:
    side = {"L": "LEFT", "R": "RIGHT"}.get(laterality, laterality)
    return f"{patient_id}_{side}_{view}_mask.png"


def _write_png(mask: np.ndarray, path: Path, overwrite: bool) -> None:
    from PIL import Image

    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; pass overwrite=True (--overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8)).save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _rows_by_image(rows: Sequence[CbisRow], log: ProblemLog) -> dict[tuple[str, str, str], list[CbisRow]]:
    """The CSV rows grouped by full image file and abnormality table, duplicates (same image, abnormality and id)
    reported and left out."""
    seen_rows: dict[tuple, CbisRow] = {}
    image_rows: dict[tuple[str, str, str], list[CbisRow]] = defaultdict(list)
    for row in rows:
        key = (row.image_uids, row.abnormality, row.abnormality_id)
        if key in seen_rows:
            log.add(row.where, "duplicate_row", f"same image and abnormality id as {seen_rows[key].where}; "
                                                f"the first one is kept")
            continue
        seen_rows[key] = row
        image_rows[(*row.image_uids, row.abnormality)].append(row)
    return image_rows


def _match_images(image_rows: Mapping[tuple[str, str, str], list[CbisRow]],
                  by_series: Mapping[tuple[str, str], list[DicomRecord]], listed_in: dict[str, list[str]],
                  root: Path, log: ProblemLog) -> list[_Image]:
    """The full images (with their lesion files) of the row groups; records in ``listed_in`` which rows list
    each file. A group whose full image is missing is reported (``missing_file``), one whose file is unreadable
    is left out (reported later as ``unreadable_dicom``)."""
    images: list[_Image] = []
    for (study, series, _), group in image_rows.items():
        first = group[0]
        candidates = _prefer_case(by_series.get((study, series), []), first.case)
        # lesion files are matched even when the full image is missing, so that they are not "unmatched";
        # their absence is reported only when the full image is there (else one missing_file per row)
        lesions = [_match_lesion(row, by_series, log if candidates else None) for row in group]
        for lesion in lesions:
            for record in lesion.files:
                listed_in[record.path].append(lesion.row.where)
        for record in candidates:
            listed_in[record.path].extend(row.where for row in group)
        if not candidates:
            for row in group:
                log.add(row.where, "missing_file", f"full image {row.image_path} (study/series UIDs) not found "
                                                   f"under {root}")
            continue
        readable = [r for r in candidates if not r.error]
        if readable:  # else the file is reported as unreadable_dicom (below) and the rows left out
            images.append(_Image(record=readable[0], rows=group, lesions=lesions))
    return images


def _report_unlisted_files(records: Sequence[DicomRecord], listed_in: Mapping[str, list[str]],
                           used_tables: set, log: ProblemLog) -> None:
    """Report the unreadable DICOM files and those no CSV row of the indexed tables lists."""
    for record in records:
        if record.error:
            where = listed_in.get(record.path)
            log.add(record.path, "unreadable_dicom",
                    record.error + (f" (listed in {', '.join(dict.fromkeys(where))})" if where else ""))
            continue
        if record.path in listed_in:
            continue
        info = parse_case_folder(record.case) if record.case else None
        if info and (info["abnormality"], info["split"]) not in used_tables:
            continue  # a file of a table that was not asked for
        log.add(record.path, "unmatched_dicom", f"no CSV row lists study {record.study_uid} series "
                                                f"{record.series_uid} (PatientID {record.patient_id!r})")


def _split(items: Sequence[dict[str, Any]], rows: Sequence[CbisRow], val_fraction: float, seed: int
           ) -> tuple[dict[str, list[dict[str, Any]]], set[str], int]:
    """The datalist splits: a woman in any Test table is in ``test`` with all her images, the other women split
    into training and validation by patient. Returns them, the women moved to test and their moved images."""
    test_patients = {row.patient_id for row in rows if row.official_split == "test"}
    datalist: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    training = []
    moved_patients, moved_images = set(), 0
    for item in items:
        if item["patient_id"] in test_patients:
            datalist["test"].append(item)
            if item["official_split"] != "test":
                moved_patients.add(item["patient_id"])
                moved_images += 1
        else:
            training.append(item)
    if val_fraction > 0 and training:
        parts = split_by_patient(training, {"training": 1.0 - val_fraction, "validation": val_fraction}, seed=seed)
        datalist["training"] = list(parts.get("training", []))
        datalist["validation"] = list(parts.get("validation", []))
    else:
        datalist["training"] = training
    return datalist, moved_patients, moved_images


def _images_by_view(images: Sequence[_Image], masks_dir: Path, overwrite: bool
                    ) -> dict[tuple[str, str, str], list[_Image]]:
    """The images grouped by physical mammogram (patient, laterality, view), in table and row order; without
    ``overwrite``, refuse (before any mask is written) when a mask file exists."""
    table_order = {t: i for i, t in enumerate(CBIS_TABLES)}
    by_view: dict[tuple[str, str, str], list[_Image]] = defaultdict(list)
    for image in sorted(images, key=lambda im: (table_order[im.first.table], im.first.row)):
        by_view[(image.first.patient_id, image.first.laterality, image.first.view)].append(image)
    if not overwrite:
        for patient_id, laterality, view in by_view:
            target = masks_dir / _mask_name(patient_id, laterality, view)
            if target.exists():
                raise FileExistsError(f"{target}: already exists; pass overwrite=True (--overwrite) to replace it")
    return by_view


def index_cbis_ddsm(
    root: str | os.PathLike,
    csv_dir: str | os.PathLike,
    out: str | os.PathLike,
    masks_dir: str | os.PathLike | None = None,
    overwrite: bool = False,
    abnormality: str = "both",
    val_fraction: float = 0.1,
    seed: int = 0,
    progress: bool = True,
) -> IndexResult:
    """Index a TCIA CBIS-DDSM download into a datalist JSON with one item per physical mammogram.

    Steps: read the CSVs (:func:`read_case_descriptions`); read every DICOM header under ``root``
    (:func:`scan_dicom_tree`, no pixel decoding); match each row's full image and lesion files by the
    Study/Series Instance UIDs in its CSV paths (the case folder / PatientID breaks ties; file names are
    never used); tell each lesion's ROI mask from its crop by content (:func:`read_roi_mask`: only
    full-size files are decoded, each once); compute each lesion's centre/radius/box on its own mask
    (:func:`~mammo_monai.data.geometry.lesion_geometry_from_mask`); write the union of an image's
    lesion masks as a 0/1 8-bit PNG ``<masks_dir>/P_00001_LEFT_CC_mask.png``; merge a view listed in
    both a Mass and a Calc table into one item (the Mass file is ``image``, the Calc file goes to
    ``alt_images``); split by patient (official split, but a woman listed in any Test table goes to
    ``"test"`` entirely; ``"validation"`` is carved out of ``"training"`` by
    :func:`~mammo_monai.data.splits.split_by_patient`).

    Items carry ``image``, ``label`` (absent when no lesion mask was usable), ``patient_id``,
    ``laterality``, ``view``, ``pathology``, ``lesions``, ``alt_images``, ``cbis_cases`` and
    ``official_split`` (the table of ``image``: ``"training"``/``"test"``). Lesions carry ``type``,
    ``pathology``, ``center``/``radius``/``box`` (``None`` without a usable mask), ``abnormality_id``,
    ``birads``, ``subtlety``, ``density``, ``source_pathology``, ``shape``/``margins`` (masses) or
    ``calc_type``/``calc_distribution`` (calcifications), ``mask`` and ``crop`` (DICOM paths or ``None``).

    Problems are collected, never raised: ``missing_file``, ``mask_size_mismatch``, ``no_mask_found``,
    ``duplicate_row``, ``unmatched_dicom``, ``unreadable_dicom``, ``out_of_range_value``,
    ``alt_image_size_mismatch`` (and ``missing_csv``, ``bad_csv``, ``bad_row``), each naming the file or
    ``<csv name>:row N``; they are written to ``<out stem>_problems.csv``.

    Args:
        root: the image tree (either TCIA layout); nothing is ever written there.
        csv_dir: the folder of the four case-description CSVs.
        out: the datalist JSON to write.
        masks_dir: where the merged masks go; default ``<out folder>/<out stem>_masks/``.
        overwrite: replace an existing datalist / mask files (default: refuse).
        abnormality: ``"mass"``, ``"calc"`` or ``"both"``: which tables to index.
        val_fraction: fraction of the training patients moved to ``"validation"``.
        seed: seed of the validation split.
        progress: show tqdm progress bars.

    Raises:
        FileExistsError: ``out`` (or a mask file) exists and ``overwrite`` is False.
        FileNotFoundError: ``root`` or ``csv_dir`` is not a folder, or no CSV is there.
        ValueError: a bad argument; ``OutputInsideInputError`` (a ``ValueError``): ``out``/``masks_dir`` is, or is
            inside, ``root`` or ``csv_dir``.

    Example:
        >>> res = index_cbis_ddsm("/data/CBIS-DDSM", "/data/cbis-csv", "/data/cbis.json")  # doctest: +SKIP
        >>> sorted(res.datalist), res.problems_path.name  # doctest: +SKIP
        (['test', 'training', 'validation'], 'cbis_problems.csv')
    """
    from tqdm.auto import tqdm

    if abnormality not in _ABNORMALITY_TABLES:
        raise ValueError(f"unknown abnormality {abnormality!r}; expected one of {sorted(_ABNORMALITY_TABLES)}")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    root = Path(os.path.abspath(root))
    out = Path(os.path.abspath(out))
    masks_dir = Path(os.path.abspath(masks_dir)) if masks_dir is not None else out.with_name(f"{out.stem}_masks")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: image folder not found")
    ensure_outside_inputs(out, root, csv_dir)
    ensure_outside_inputs(masks_dir, root, csv_dir, what="masks folder")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out}: already exists; pass overwrite=True (--overwrite) to replace it")

    rows, csv_problems = read_case_descriptions(csv_dir, abnormality)
    log = ProblemLog()
    log.problems.extend(csv_problems)
    records = scan_dicom_tree(root, progress=progress)

    # --- the files, by (study, series); an unreadable file whose header gave its UIDs is still matched to
    # its row (so that the row is not also reported missing) but never used
    used_tables = {CBIS_TABLES[t][1:] for t in _ABNORMALITY_TABLES[abnormality]}
    by_series: dict[tuple[str, str], list[DicomRecord]] = defaultdict(list)
    for record in records:
        if record.study_uid and record.series_uid:
            by_series[(record.study_uid, record.series_uid)].append(record)
    listed_in: dict[str, list[str]] = defaultdict(list)  # file -> the CSV rows that list it
    images = _match_images(_rows_by_image(rows, log), by_series, listed_in, root, log)
    _report_unlisted_files(records, listed_in, used_tables, log)

    # --- one item per physical mammogram
    by_view = _images_by_view(images, masks_dir, overwrite)
    items: list[dict[str, Any]] = []
    for key, views in tqdm(by_view.items(), desc="reading ROI masks", unit="image", disable=not progress):
        items.append(_build_item(key, views, masks_dir, overwrite, log))

    datalist, moved_patients, moved_images = _split(items, rows, val_fraction, seed)

    all_lesions = [lesion for item in items for lesion in item["lesions"]]
    training_patients = {row.patient_id for row in rows if row.official_split == "training"}
    test_patients = {row.patient_id for row in rows if row.official_split == "test"}
    return write_index(
        datalist, log, out, overwrite=overwrite,
        lesions_total=len(all_lesions),
        lesions_with_geometry=sum(lesion["box"] is not None for lesion in all_lesions),
        images_with_mask=sum("label" in item for item in items),
        images_with_alt_images=sum(bool(item.get("alt_images")) for item in items),
        patients_crossing_official_split=len(training_patients & test_patients),
        patients_moved_to_test=len(moved_patients),
        images_moved_to_test=moved_images,
        dicom_files_scanned=len(records),
        masks_dir=str(masks_dir),
    )


def _match_lesion(
    row: CbisRow, by_series: dict[tuple[str, str], list[DicomRecord]], log: ProblemLog | None
) -> _Lesion:
    """The lesion files of ``row`` (crop and mask, in one or two series), by UIDs; missing ones reported to
    ``log`` (when given)."""
    lesion = _Lesion(row=row)
    log = log if log is not None else ProblemLog()
    columns: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for column, path in (("cropped image file path", row.crop_path), ("ROI mask file path", row.mask_path)):
        uids = _path_uids(path)
        if uids is None:
            log.add(row.where, "missing_file", f"{column} {path!r} has no <case>/<study UID>/<series UID>")
            lesion.missing = True
            continue
        columns[uids].append((column, path))
    seen: set[str] = set()
    for uids, listed in columns.items():
        found = _prefer_case(by_series.get(uids, []), row.lesion_case)
        if len(found) < len(listed):
            for column, path in listed[len(found):] if found else listed:
                detail = (f"{column} {path} not found" if not found else
                          f"{column} {path}: only {len(found)} of the {len(listed)} files listed in series "
                          f"{uids[1]} were found")
                log.add(row.where, "missing_file", detail)
            lesion.missing = True
        for record in found:
            if record.path not in seen:
                seen.add(record.path)
                lesion.files.append(record)
    return lesion


def _lesion_fields(row: CbisRow) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "abnormality_id": row.abnormality_id,
        "birads": row.birads,
        "subtlety": row.subtlety,
        "density": row.density,
        "source_pathology": row.pathology,
    }
    if row.abnormality == "mass":
        fields.update(shape=row.mass_shape, margins=row.mass_margins)
    else:
        fields.update(calc_type=row.calc_type, calc_distribution=row.calc_distribution)
    return fields


def _classify(
    lesion: _Lesion, image_shape: tuple[int, int] | None, decoded: dict[str, Any], log: ProblemLog
) -> tuple[DicomRecord | None, np.ndarray | None, DicomRecord | None, bool]:
    """``(mask record, mask array or None when its size is wrong, crop record, a lesion file is unreadable)``.

    Full-size files are decoded (each once, shared through ``decoded``: path -> boolean mask, ``None`` for
    "not binary", or the error message) and the first binary one is the mask. Only when there is none are
    the other files decoded, to find a mask of the wrong size.
    """
    failed = any(r.error for r in lesion.files)  # reported as unreadable_dicom by the scan
    usable = [r for r in lesion.files if not r.error]

    def read(record: DicomRecord) -> np.ndarray | None:
        nonlocal failed
        if record.path not in decoded:
            try:
                decoded[record.path] = read_roi_mask(record.path, None)
            except (MammogramReadError, FileNotFoundError) as e:
                log.add(record.path, "unreadable_dicom", f"{e} (listed in {lesion.row.where})")
                decoded[record.path] = str(e)
            except Exception as e:  # a decoder error of its own kind: the file is a problem, the run goes on
                message = f"{record.path}: pixel data cannot be decoded ({type(e).__name__}: {e})"
                log.add(record.path, "unreadable_dicom", f"{message} (listed in {lesion.row.where})")
                decoded[record.path] = message
        value = decoded[record.path]
        if isinstance(value, str):
            failed = True
            return None
        return value

    full = [r for r in usable if image_shape is not None and r.shape == image_shape]
    mask_record, mask = None, None
    for record in full:
        array = read(record)
        if array is not None:
            mask_record, mask = record, array
            break
    if mask_record is None:
        for record in usable:
            if record not in full and read(record) is not None:
                mask_record = record  # a binary image of the wrong size: the mask, but unusable
                break
    others = [r for r in usable if r is not mask_record]
    crops = [r for r in others if r not in full] + [r for r in others if r in full]
    return mask_record, mask, crops[0] if crops else None, failed


def _build_item(
    key: tuple[str, str, str], views: list[_Image], masks_dir: Path, overwrite: bool, log: ProblemLog
) -> dict[str, Any]:
    patient_id, laterality, view = key
    primary = views[0]
    image_shape = primary.record.shape
    alt_images: list[str] = []
    for other in views[1:]:
        if other.record.path == primary.record.path or other.record.path in alt_images:
            continue  # one file listed in two tables
        alt_images.append(other.record.path)
        if other.record.shape != image_shape:
            log.add(other.record.path, "alt_image_size_mismatch",
                    f"{other.record.shape} vs {image_shape} of {primary.record.path} (the same view in "
                    f"{other.first.csv_name} and {primary.first.csv_name}); its lesions are kept without geometry")

    merged: np.ndarray | None = None
    lesions = []
    decoded: dict[str, np.ndarray | None] = {}
    for image in views:
        aligned = image is primary or image.record.shape == image_shape
        for lesion in image.lesions:
            row = lesion.row
            mask_record, mask, crop_record, failed = _classify(lesion, image.record.shape, decoded, log)
            center = radius = box = None
            if mask_record is None:
                if not lesion.missing and not failed:
                    log.add(row.where, "no_mask_found",
                            f"no binary image of the full image's size {image.record.shape} among "
                            f"{[r.path for r in lesion.files] or 'no file'} (case {row.lesion_case})")
            elif mask is None:
                log.add(mask_record.path, "mask_size_mismatch",
                        f"ROI mask {mask_record.shape} vs full image {image.record.shape} ({image.record.path}); "
                        f"{row.where} is kept without geometry")
            elif not aligned:
                pass  # reported as alt_image_size_mismatch
            else:
                center, radius, box = lesion_geometry_from_mask(mask)
                merged = mask.copy() if merged is None else merged | mask
            lesions.append(
                make_lesion(
                    row.lesion_type,
                    row.pathology,
                    center=center,
                    radius=radius,
                    box=box,
                    **_lesion_fields(row),
                    mask=mask_record.path if mask_record is not None else None,
                    crop=crop_record.path if crop_record is not None else None,
                )
            )
    lesions.sort(key=lambda les: (les["type"] != "mass", les["abnormality_id"] if les["abnormality_id"] is not None
                                  else 1 << 30))
    label = None
    if merged is not None:
        label = masks_dir / _mask_name(patient_id, laterality, view)
        _write_png(merged, label, overwrite)
    cases = []
    for image in views:
        if image.first.case not in cases:
            cases.append(image.first.case)
    return make_item(
        primary.record.path,
        patient_id=patient_id,
        laterality=laterality,
        view=view,
        lesions=lesions,
        label=label,
        alt_images=alt_images,
        cbis_cases=cases,
        official_split=primary.first.official_split,
    )
