"""Per-lesion items for lesion classification, from a per-image datalist.

A lesion classifier sees one item per lesion: the image it is on, the lesion record (``lesion``), and
the classes it can be trained on. Splits stay as they are (the per-image datalist is already split by
patient), so no woman's lesions cross a split.

Example:
    >>> image = {"image": "/d/a.dcm", "patient_id": "P1", "laterality": "L", "view": "CC", "pathology": "malignant",
    ...          "lesions": [{"type": "mass", "pathology": "malignant", "center": [10, 10], "radius": 4, "box": None},
    ...                      {"type": "calcification", "pathology": "benign", "center": None, "radius": None,
    ...                       "box": None}]}
    >>> items = lesion_items([image])
    >>> len(items), items[0]["lesion_index"], items[0]["type_pathology"]
    (1, 0, 'malignant_mass')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .schema import IMAGE, LESIONS

__all__ = ["lesion_items"]



def lesion_items(
    items: Iterable[Mapping[str, Any]],
    lesion_types: Sequence[str] | None = None,
    require_position: bool = True,
    use_crop_files: bool = False,
) -> list[dict[str, Any]]:
    """One item per lesion of ``items``.

    Args:
        items: per-image datalist items (one split).
        lesion_types: keep only these lesion types (default: all).
        require_position: skip lesions without a box or centre+radius (they cannot be cropped); with
            ``use_crop_files`` a lesion with a ``crop`` file is kept regardless.
        use_crop_files: set ``image`` to the lesion's own crop file (CBIS-DDSM ``crop``) and keep the full
            mammogram as ``full_image``; lesions without a crop file are skipped.

    Returns:
        items with the image's keys (minus ``lesions``) plus ``lesion`` (the record), ``lesion_index``,
        ``lesion_pathology``, ``lesion_type`` and ``type_pathology`` (e.g. ``"benign_calcification"``).
    """
    out = []
    for item in items:
        for index, lesion in enumerate(item.get(LESIONS, []) or []):
            if lesion_types is not None and lesion["type"] not in lesion_types:
                continue
            located = lesion.get("box") is not None or (lesion.get("center") is not None
                                                        and lesion.get("radius") is not None)
            if use_crop_files:
                if not lesion.get("crop"):
                    continue
            elif require_position and not located:
                continue
            entry = {k: v for k, v in item.items() if k != LESIONS}
            if use_crop_files:
                entry["full_image"], entry[IMAGE] = item[IMAGE], lesion["crop"]
            entry.update(
                lesion=dict(lesion),
                lesion_index=index,
                lesion_type=lesion["type"],
                lesion_pathology=lesion["pathology"],
                type_pathology=f"{lesion['pathology']}_{lesion['type']}",
            )
            out.append(entry)
    return out
