"""The datalist item schema: the item layout, its builders and the datalist file (keys in :mod:`mammo_monai.keys`).

A datalist is a MONAI "decathlon" style JSON object ``{"training": [...], "validation": [...],
"test": [...]}`` (readable by :func:`monai.data.load_decathlon_datalist`) with one item per image::

    {
      "image": "/abs/path/to/full_mammogram.dcm",
      "label": "/abs/path/to/merged_mask.png",     # absent when the image has no lesion mask
      "patient_id": "P_00001",
      "laterality": "L",                           # "L" | "R"
      "view": "CC",                                # "CC" | "MLO" | ... (DICOM ViewPosition terms)
      "pathology": "malignant",                    # worst lesion: "normal" | "benign" | "malignant"
                                                   # (None: not annotated, e.g. a hospital folder)
      "lesions": [
        {"type": "mass", "pathology": "malignant",
         "center": [row, col], "radius": 42.0, "box": [row0, col0, row1, col1],
         "birads": 4, "subtlety": 4, "shape": "IRREGULAR", ...}
      ]
    }

Coordinates are ``(row, col)`` in the image's own pixel array, origin at the top-left pixel.
``box`` is half-open like a numpy slice: ``image[row0:row1, col0:col1]`` is the lesion's box.
``center`` may be fractional; ``center``/``radius``/``box`` are ``None`` when the source gives no
position (for example MIAS calcifications spread over the whole breast).

Example:
    >>> item = make_item("/d/a.dcm", patient_id="P_1", laterality="L", view="CC",
    ...                  lesions=[make_lesion("mass", "benign", center=(10, 20), radius=5)])
    >>> item["pathology"], item["lesions"][0]["box"]
    ('benign', [5, 15, 16, 26])
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

# The keys and their vocabulary live one layer down (mammo_monai.keys, readable by transforms and networks);
# re-exported here, where the item layout is documented, so that every existing import keeps working.
from ..io.writers import OutputInsideInputError, ensure_outside_inputs
from ..keys import (
    BOX,
    CENTER,
    CONTRALATERAL_IMAGE,
    IMAGE,
    LABEL,
    LATERALITIES,
    LATERALITY,
    LESION_TYPES,
    LESIONS,
    OTHER_SIDE,
    PATHOLOGIES,
    PATHOLOGY,
    PATIENT_ID,
    RADIUS,
    SPLITS,
    TYPE,
    VIEW,
    normalise_laterality,
)

__all__ = [
    "CONTRALATERAL_IMAGE",
    "DATALIST_PATH_KEYS",
    "IMAGE",
    "LABEL",
    "LATERALITIES",
    "LESIONS",
    "LESION_TYPES",
    "OTHER_SIDE",
    "PATHOLOGIES",
    "PATHOLOGY",
    "PATIENT_ID",
    "SPLITS",
    "OutputInsideInputError",
    "check_datalist_paths",
    "ensure_outside_inputs",
    "ensure_writable",
    "escapes_root",
    "load_datalist",
    "load_decathlon_datalist",
    "make_item",
    "make_lesion",
    "normalise_laterality",
    "normalise_pathology",
    "worst_pathology",
    "write_datalist",
]

_PATHOLOGY_ALIASES = {
    "normal": "normal",
    "norm": "normal",
    "benign": "benign",
    "b": "benign",
    "benign_without_callback": "benign",
    "malignant": "malignant",
    "m": "malignant",
}


def normalise_pathology(value: str) -> str:
    """Map a source pathology spelling (``BENIGN_WITHOUT_CALLBACK``, ``M``, ...) to one of :data:`PATHOLOGIES`.

    Raises:
        ValueError: the value is not a known pathology.
    """
    key = str(value).strip().lower()
    if key not in _PATHOLOGY_ALIASES:
        raise ValueError(f"unknown pathology {value!r}; expected one of {sorted(_PATHOLOGY_ALIASES)}")
    return _PATHOLOGY_ALIASES[key]


def worst_pathology(lesions: Iterable[Mapping[str, Any]]) -> str:
    """The most severe pathology among ``lesions`` (``"normal"`` when there are none)."""
    worst = 0
    for lesion in lesions:
        worst = max(worst, PATHOLOGIES.index(lesion[PATHOLOGY]))
    return PATHOLOGIES[worst]


def make_lesion(
    lesion_type: str,
    pathology: str,
    center: Sequence[float] | None = None,
    radius: float | None = None,
    box: Sequence[int] | None = None,
    **source_fields: Any,
) -> dict[str, Any]:
    """Build one lesion record, checking its vocabulary.

    When ``box`` is not given but ``center`` and ``radius`` are, the box is the circle's bounding box
    (half-open, rounded outwards, not clipped to the image: clip with the image shape where needed).
    ``source_fields`` (BI-RADS, subtlety, shape, margins, density, ...) are stored as given.
    """
    if lesion_type not in LESION_TYPES:
        raise ValueError(f"unknown lesion type {lesion_type!r}; expected one of {LESION_TYPES}")
    pathology = normalise_pathology(pathology)
    if pathology == "normal":
        raise ValueError("a lesion cannot have pathology 'normal'")
    if center is not None:
        center = [float(c) for c in center]
    if radius is not None:
        radius = float(radius)
    if box is None and center is not None and radius is not None:
        import math

        box = [
            math.floor(center[0] - radius),
            math.floor(center[1] - radius),
            math.ceil(center[0] + radius) + 1,
            math.ceil(center[1] + radius) + 1,
        ]
    if box is not None:
        box = [int(b) for b in box]
        if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError(f"box must be [row0, col0, row1, col1] with row1 > row0 and col1 > col0, got {box}")
    lesion: dict[str, Any] = {TYPE: lesion_type, PATHOLOGY: pathology, CENTER: center, RADIUS: radius, BOX: box}
    lesion.update(source_fields)
    return lesion


def make_item(
    image: str | os.PathLike,
    patient_id: str,
    laterality: str | None,
    view: str | None,
    lesions: Sequence[Mapping[str, Any]] = (),
    label: str | os.PathLike | None = None,
    annotated: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """Build one datalist item; ``pathology`` is derived from the lesions (worst one wins).

    ``annotated=False`` marks an image whose findings are unknown (a hospital folder indexed without
    labels): its ``pathology`` is ``None`` rather than a false ``"normal"``.
    """
    lat = normalise_laterality(laterality)
    if laterality is not None and lat is None:
        raise ValueError(f"unknown laterality {laterality!r}; expected L/R/LEFT/RIGHT")
    item: dict[str, Any] = {IMAGE: str(image)}
    if label is not None:
        item[LABEL] = str(label)
    item.update(
        {
            PATIENT_ID: str(patient_id),
            LATERALITY: lat,
            VIEW: None if view is None else str(view).strip().upper(),
            PATHOLOGY: worst_pathology(lesions) if annotated else None,
            LESIONS: [dict(lesion) for lesion in lesions],
        }
    )
    item.update(extra)
    return item


def ensure_writable(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check before any work that ``path`` may be written: raise ``FileExistsError`` naming it when it exists
    and ``overwrite`` is False. Indexers call this first so a refused run leaves nothing half-written."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; pass overwrite=True (--overwrite) to replace it")
    return path


def write_datalist(datalist: Mapping[str, Sequence[Mapping[str, Any]]], path: str | os.PathLike,
                   overwrite: bool = False) -> Path:
    """Write ``datalist`` as JSON atomically (temporary file + rename).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False (nothing is ever overwritten silently).
        ValueError: a split name is not one of :data:`SPLITS`.
    """
    path = Path(path)
    unknown = set(datalist) - set(SPLITS)
    if unknown:
        raise ValueError(f"{path}: unknown split(s) {sorted(unknown)}; expected {SPLITS}")
    ensure_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({k: list(v) for k, v in datalist.items()}, f, indent=1)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


#: The item keys (and lesion keys) whose values are file paths: what :func:`check_datalist_paths` checks.
DATALIST_PATH_KEYS = (IMAGE, LABEL, CONTRALATERAL_IMAGE, "alt_images", "pred")
_LESION_PATH_KEYS = ("mask", "crop")


def escapes_root(value: str) -> bool:
    """Whether a RELATIVE path from a data file climbs out of the folder it is relative to with ``..``.

    Absolute paths are not judged here (see :func:`check_datalist_paths`); ``~`` counts as absolute.

    Example:
        >>> escapes_root("images/a.png"), escapes_root("a/../b.png"), escapes_root("../b.png")
        (False, False, True)
    """
    depth = 0
    for part in str(value).replace("\\", "/").split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _path_values(item: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for key in DATALIST_PATH_KEYS:
        value = item.get(key)
        for v in value if isinstance(value, list) else [value]:
            yield key, v
    lesions = item.get(LESIONS)
    for n, lesion in enumerate(lesions if isinstance(lesions, list) else []):
        if isinstance(lesion, Mapping):
            for key in _LESION_PATH_KEYS:
                yield f"{LESIONS}[{n}].{key}", lesion.get(key)


def check_datalist_paths(
    datalist: Mapping[str, Sequence[Mapping[str, Any]]], source: str | os.PathLike, allow_outside_root: bool = False
) -> None:
    """Refuse a datalist whose relative paths leave the folder they are relative to.

    The rule for paths read from a datalist (``image``, ``label``, ``contralateral_image``, ``alt_images``,
    ``pred``, and each lesion's ``mask``/``crop``): a relative path is relative to the datalist's folder (as
    MONAI's ``load_decathlon_datalist`` joins it) and may not use ``..`` to leave that folder. An absolute path
    is the user's own statement of where their data is (the indexers write absolute paths) and is kept as it is.
    ``allow_outside_root=True`` lets relative paths climb out too (a datalist kept beside, not above, its images).

    Raises:
        ValueError: naming ``source``, the split, the item number, the key and the path.
    """
    if allow_outside_root:
        return
    for split, items in datalist.items():
        for number, item in enumerate(items if isinstance(items, list) else []):
            if not isinstance(item, Mapping):
                continue
            for key, value in _path_values(item):
                if isinstance(value, str) and not (os.path.isabs(os.path.expanduser(value))) and escapes_root(value):
                    raise ValueError(
                        f"{source}: {split}[{number}].{key} = {value!r} uses '..' to leave the datalist's folder "
                        f"{Path(source).parent}; make it absolute or relative inside that folder, or pass "
                        "allow_outside_root=True"
                    )


def load_decathlon_datalist(
    data_list_file_path: str | os.PathLike,
    is_segmentation: bool = True,
    data_list_key: str = "training",
    base_dir: str | os.PathLike | None = None,
    allow_outside_root: bool = False,
) -> list[dict[str, Any]]:
    """:func:`monai.data.load_decathlon_datalist` (same arguments) after :func:`check_datalist_paths`.

    What the bundles' configs call to read their datalist: MONAI joins a relative path to ``base_dir`` (default:
    the datalist's folder) without checking that it stays there; this refuses one that climbs out with ``..``
    (naming the file, split, item and key) unless ``allow_outside_root``.
    """
    from monai.data import load_decathlon_datalist as _monai_load

    path = Path(data_list_file_path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        data = None  # MONAI's own error below names the file
    if isinstance(data, dict) and isinstance(data.get(data_list_key), list):
        check_datalist_paths({data_list_key: data[data_list_key]}, path, allow_outside_root)
    return _monai_load(path, is_segmentation, data_list_key, base_dir)


def load_datalist(path: str | os.PathLike, allow_outside_root: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Read a datalist JSON written by :func:`write_datalist` (missing splits come back empty).

    Relative paths in it may not leave its folder (:func:`check_datalist_paths`) unless ``allow_outside_root``.

    Raises:
        FileNotFoundError / ValueError: naming ``path``, when it is missing, not a datalist, or one of its
            relative paths leaves its folder.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: datalist not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(data, dict) or not set(data) & set(SPLITS):
        raise ValueError(f"{path}: not a datalist (expected a JSON object with keys among {SPLITS})")
    datalist = {split: list(data.get(split, [])) for split in SPLITS}
    check_datalist_paths(datalist, path, allow_outside_root)
    return datalist
