"""The MIAS (mini-MIAS) indexer: ``Info.txt`` + ``mdbNNN.pgm``/``.png`` -> datalist, circle masks and boxes.

``Info.txt`` is the archive's README with the data lines in the middle. Only lines matching
``^mdb\\d{3}\\s`` are data, in the forms::

    mdb001 G CIRC B 535 425 197      # REFNUM BG CLASS SEVERITY X Y RADIUS
    mdb003 D NORM                    # normal: 3 fields (often a trailing space)
    mdb059 F CIRC B                  # class and severity, no position
    mdb219 G CALC M *NOTE 3*         # calcifications over the whole breast, no position

An image may have several lines (one per abnormality). MIAS coordinates have their origin at the
bottom-left corner with Y growing upwards, so a lesion is at ``row = height - Y``, ``col = X`` of the
image array. Image ``2k+1`` is the right and ``2k+2`` the left breast of one woman, so splits keep the
pair together (patient id ``mdb001_002``). Every image is an MLO view.

Example:
    >>> records, problems = parse_mias_info("mdb001 G CIRC B 535 425 197\\nmdb003 D NORM \\n")
    >>> [(r.reference, r.mias_class, r.x, r.y, r.radius) for r in records]
    [('mdb001', 'CIRC', 535, 425, 197.0), ('mdb003', 'NORM', None, None, None)]
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .pairing import add_contralateral_images
from .problems import ProblemLog
from .schema import PATHOLOGY, ensure_outside_inputs, ensure_writable, make_item, make_lesion
from .splits import LESION_TYPES, split_by_patient
from .summary import IndexResult, write_index

__all__ = ["MIAS_CLASSES", "MiasRecord", "index_mias", "mias_patient_id", "parse_mias_info"]

#: MIAS abnormality class -> datalist lesion type.
MIAS_CLASSES = {
    "CALC": "calcification",
    "CIRC": "mass",
    "SPIC": "mass",
    "MISC": "mass",
    "ARCH": "architectural_distortion",
    "ASYM": "asymmetry",
}
_BACKGROUNDS = {"F", "G", "D"}
_DATA_LINE = re.compile(r"^(mdb\d{3})\s")
_IMAGE_NAME = re.compile(r"^(mdb\d{3})\.(png|pgm)$", re.IGNORECASE)
DEFAULT_FRACTIONS = {"training": 0.7, "validation": 0.15, "test": 0.15}


@dataclass(frozen=True)
class MiasRecord:
    """One data line of ``Info.txt`` (``x``/``y``/``radius`` None when the line gives no position)."""

    reference: str
    background: str
    mias_class: str
    severity: str | None
    x: int | None
    y: int | None
    radius: float | None
    line_number: int
    note: str | None = None


def mias_patient_id(reference: str) -> str:
    """``mdb001``/``mdb002`` -> ``mdb001_002``: the two breasts of one woman share an id."""
    number = int(reference[3:])
    first = number if number % 2 else number - 1
    return f"mdb{first:03d}_{first + 1:03d}"


def _laterality(reference: str) -> str:
    return "R" if int(reference[3:]) % 2 else "L"


_NUMBER = re.compile(r"\d{1,9}(\.\d{1,9})?")  # a plain non-negative decimal: no sign, exponent, nan or inf


def _parse_line(fields: list[str], number: int) -> tuple[MiasRecord | None, str | None]:
    """One data line's fields -> ``(record, why it is malformed)``: a line whose only fault is its position is
    kept as a lesion without position (``note`` holds the position text)."""
    record = _parse_fields(fields, number)
    if isinstance(record, str):
        return None, record
    if isinstance(record, tuple):
        return record
    return record, None


def _parse_fields(fields: list[str], number: int) -> MiasRecord | str | tuple[MiasRecord, str]:
    if len(fields) < 3:
        return f"{len(fields)} field(s), expected REFNUM BG CLASS [SEVERITY X Y RADIUS]"
    reference, background, mias_class = fields[:3]
    if int(reference[3:]) == 0:
        return f"reference {reference!r}: MIAS numbers start at mdb001"
    if background not in _BACKGROUNDS:
        return f"unknown background tissue {background!r} (expected one of {sorted(_BACKGROUNDS)})"
    if mias_class not in MIAS_CLASSES and mias_class != "NORM":
        return f"unknown class {mias_class!r} (expected NORM or one of {sorted(MIAS_CLASSES)})"
    if mias_class == "NORM":
        if len(fields) > 3:
            return f"a NORM line with more fields: {fields[3:]}"
        return MiasRecord(reference, background, mias_class, None, None, None, None, number)
    if len(fields) < 4 or fields[3] not in ("B", "M"):
        return "abnormality without severity B/M"
    severity, rest = fields[3], fields[4:]
    if not rest:
        return MiasRecord(reference, background, mias_class, severity, None, None, None, number)
    if rest[0].startswith("*"):  # "*NOTE 3*": calcifications over the whole breast
        return MiasRecord(reference, background, mias_class, severity, None, None, None, number, " ".join(rest))
    unplaced = MiasRecord(reference, background, mias_class, severity, None, None, None, number, " ".join(rest))
    if len(rest) != 3:
        return unplaced, f"unreadable position {' '.join(rest)!r}: expected X Y RADIUS (three numbers)"
    bad = [v for v in rest if not _NUMBER.fullmatch(v)]
    if bad:
        return unplaced, f"unreadable position {' '.join(rest)!r}: {bad[0]!r} is not a non-negative number"
    x, y, radius = float(rest[0]), float(rest[1]), float(rest[2])
    if radius <= 0:
        return unplaced, f"unreadable position {' '.join(rest)!r}: the radius is not positive"
    return MiasRecord(reference, background, mias_class, severity, int(x), int(y), radius, number)


def parse_mias_info(text: str, source: str = "Info.txt") -> tuple[list[MiasRecord], ProblemLog]:
    """Parse the data lines of an ``Info.txt`` text; malformed data lines are problems, never errors.

    Any text gives records and problems, never an exception. A data line (``^mdb\\d{3}\\s``) is a
    ``malformed_line`` problem, naming ``<source>:line N``, when it has fewer than 3 fields, an unknown
    background or class, an abnormality without severity ``B``/``M``, a position that is not three plain
    non-negative numbers (signs, exponents, ``nan``/``inf`` and numbers of more than 9 digits are refused)
    or has a radius of 0 (the lesion is then kept without position, the text in ``note``), or reference
    ``mdb000``. A line repeated word for word is a ``duplicate_line`` problem
    (the first is kept); a NORM line for an image that also has an abnormality line is a
    ``conflicting_lines`` problem, and so are lines of one image with different background tissue (both
    keep the first line's meaning: the NORM line is dropped, the first background wins).
    """
    records: list[MiasRecord] = []
    problems = ProblemLog()
    seen: dict[tuple[str, ...], int] = {}
    first_of: dict[str, MiasRecord] = {}
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        if not _DATA_LINE.match(line):
            continue
        fields = line.split()
        where = f"{source}:line {number}"
        parsed, why = _parse_line(fields, number)
        if why is not None:
            problems.add(where, "malformed_line", f"{why}: {line.strip()!r}")
        if parsed is None:
            continue
        key = tuple(fields)
        if key in seen:
            problems.add(where, "duplicate_line", f"same as line {seen[key]}; the first one is kept")
            continue
        seen[key] = number
        first = first_of.get(parsed.reference)
        if first is not None:
            if first.background != parsed.background:
                problems.add(where, "conflicting_lines", f"background {parsed.background!r} but line "
                                                         f"{first.line_number} says {first.background!r}; "
                                                         "the first is kept")
            if (first.mias_class == "NORM") != (parsed.mias_class == "NORM"):
                problems.add(where, "conflicting_lines", f"{parsed.reference} is both NORM and abnormal "
                                                         f"(line {first.line_number}); the NORM line is dropped")
                if parsed.mias_class == "NORM":
                    continue
                records = [r for r in records if not (r.reference == parsed.reference and r.mias_class == "NORM")]
                first_of[parsed.reference] = parsed
        else:
            first_of[parsed.reference] = parsed
        records.append(parsed)
    return records, problems


def _circle_mask(shape: tuple[int, int], row: float, col: float, radius: float) -> np.ndarray:
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    return (rows - row) ** 2 + (cols - col) ** 2 <= radius**2


def _image_lesions(lines: Sequence[MiasRecord], path: Path, height: int, width: int,
                   mask_types: Sequence[str] | None, problems: ProblemLog) -> tuple[list[dict], np.ndarray | None]:
    """One image's lesions from its ``Info.txt`` lines (centre, radius, the box clipped to the image) and the union
    of their circles (only ``mask_types`` when given; ``None`` without any)."""
    lesions, mask = [], None
    for record in lines:
        if record.mias_class == "NORM":
            continue
        fields = {"mias_class": record.mias_class, "background_tissue": record.background}
        if record.note:
            fields["note"] = record.note
        if record.x is None:
            lesions.append(make_lesion(MIAS_CLASSES[record.mias_class], record.severity, **fields))
            continue
        row, col, radius = float(height - record.y), float(record.x), record.radius
        if not (0 <= row < height and 0 <= col < width):
            problems.add(path, "lesion_outside_image", f"line {record.line_number}: centre (row {row}, col {col})")
            lesions.append(make_lesion(MIAS_CLASSES[record.mias_class], record.severity, **fields))
            continue
        lesion = make_lesion(MIAS_CLASSES[record.mias_class], record.severity, (row, col), radius, **fields)
        r0, c0, r1, c1 = lesion["box"]
        lesion["box"] = [max(r0, 0), max(c0, 0), min(r1, height), min(c1, width)]
        lesions.append(lesion)
        if mask_types is not None and lesion["type"] not in mask_types:
            continue
        circle = _circle_mask((height, width), row, col, radius)
        mask = circle if mask is None else (mask | circle)
    return lesions, mask


def index_mias(
    mias_dir: str | os.PathLike,
    out: str | os.PathLike,
    masks_dir: str | os.PathLike | None = None,
    fractions: Mapping[str, float] | None = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
    stratify: str = "pathology",
    mask_types: Sequence[str] | None = None,
) -> IndexResult:
    """Index a MIAS folder (``Info.txt`` + ``mdbNNN.png`` or ``.pgm``) into a datalist at ``out``.

    Each lesion with a position gets ``center`` ``[height - Y, X]``, ``radius`` and the circle's box
    (clipped to the image); the circles of an image are merged into one 0/1 PNG mask written to
    ``masks_dir`` (default ``<out stem>_masks/`` beside ``out``; the MIAS folder is never written to).
    Images without a positioned lesion have no ``label``. Each item names the woman's other breast as
    ``contralateral_image`` (:func:`~mammo_monai.data.pairing.add_contralateral_images`).
    ``mask_types`` (e.g. ``["mass"]``) puts only
    those lesion types into the masks (the others stay in ``lesions``), so a mass-segmentation ground truth
    holds no calcification or asymmetry circles; images without such a lesion then have no ``label``.
    Splits are by woman (the left/right pair), stratified by pathology, with ``fractions`` (default
    70/15/15) and ``seed``; ``stratify="lesion_types"`` stratifies by pathology and the set of lesion types,
    so that the 40 images with a positioned mass are spread over the splits too (29/5/6 images with seed 0,
    against 32/2/6 by pathology alone): use it for mass segmentation.

    Problems (reported, never fatal): ``malformed_line``, ``missing_file`` (a line whose image is not
    in the folder), ``unlisted_image`` (an image with no line), ``unreadable_image``,
    ``lesion_outside_image``.

    Raises:
        FileNotFoundError: ``mias_dir`` or its ``Info.txt`` is missing.
        FileExistsError: ``out`` or a mask file exists and ``overwrite`` is False.
        OutputInsideInputError: (a ``ValueError``) ``out`` or ``masks_dir`` is, or is inside, ``mias_dir``.
        ValueError: an unknown ``stratify`` or ``mask_types`` value (before anything is written).
    """
    if mask_types is not None:
        mask_types = [mask_types] if isinstance(mask_types, str) else list(mask_types)
        unknown = sorted(set(mask_types) - set(MIAS_CLASSES.values()))
        if unknown:
            known = sorted(set(MIAS_CLASSES.values()))
            raise ValueError(f"mask_types: unknown lesion type(s) {unknown}; MIAS has {known}")
    if stratify not in ("pathology", "lesion_types"):
        raise ValueError(f"stratify must be 'pathology' or 'lesion_types', got {stratify!r}")
    mias_dir = Path(mias_dir).resolve()
    info = mias_dir / "Info.txt"
    if not info.is_file():
        raise FileNotFoundError(f"{info}: MIAS ground-truth file not found")
    masks_dir = Path(masks_dir) if masks_dir is not None else Path(out).with_name(f"{Path(out).stem}_masks")
    ensure_outside_inputs(out, mias_dir)
    ensure_outside_inputs(masks_dir, mias_dir, what="masks folder")
    out = ensure_writable(out, overwrite)
    records, problems = parse_mias_info(info.read_text(errors="replace"), source=str(info))

    images: dict[str, Path] = {}
    for path in sorted(mias_dir.iterdir()):
        match = _IMAGE_NAME.match(path.name)
        if match and match.group(1) not in images:
            images[match.group(1)] = path
    by_reference: dict[str, list[MiasRecord]] = defaultdict(list)
    for record in records:
        by_reference[record.reference].append(record)
    for reference in sorted(set(images) - set(by_reference)):
        problems.add(images[reference], "unlisted_image", "no line in Info.txt")

    if not overwrite:  # refuse before any mask is written, not half-way through
        for reference in sorted(set(by_reference) & set(images)):
            target = masks_dir / f"{reference}_mask.png"
            if target.exists():
                raise FileExistsError(f"{target}: mask file already exists; pass overwrite=True (--overwrite)")

    items = []
    for reference in tqdm(sorted(by_reference), desc="MIAS", disable=not progress):
        lines = by_reference[reference]
        if reference not in images:
            problems.add(mias_dir / f"{reference}.png", "missing_file",
                         f"listed in {info.name} line {lines[0].line_number}")
            continue
        path = images[reference]
        try:
            with Image.open(path) as img:
                width, height = img.size
        except Exception as e:
            problems.add(path, "unreadable_image", f"{type(e).__name__}: {e}")
            continue
        lesions, mask = _image_lesions(lines, path, height, width, mask_types, problems)
        label = None
        if mask is not None:
            label = masks_dir / f"{reference}_mask.png"
            if label.exists() and not overwrite:
                raise FileExistsError(f"{label}: mask file already exists; pass overwrite=True (--overwrite)")
            masks_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask.astype(np.uint8)).save(label)
            label = label.resolve()
        items.append(
            make_item(path, mias_patient_id(reference), _laterality(reference), "MLO", lesions, label=label,
                      background_tissue=lines[0].background)
        )

    items, _ = add_contralateral_images(items)  # the woman's other breast, for bilateral models
    datalist = split_by_patient(items, fractions or DEFAULT_FRACTIONS, seed=seed,
                                stratify_key=LESION_TYPES if stratify == "lesion_types" else PATHOLOGY)
    return write_index(datalist, problems, out, overwrite=overwrite, masks_dir=str(masks_dir))
