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

__all__ = ["lesion_items", "repeat_lesion_images"]



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


def repeat_lesion_images(
    items: Iterable[Mapping[str, Any]],
    lesion_types: Sequence[str] | None = None,
    repeats: int = 1,
) -> list[dict[str, Any]]:
    """The per-image ``items`` with every image that holds a positioned lesion of ``lesion_types`` (default:
    any) listed ``repeats`` times: an epoch then samples lesion patches from them ``repeats`` times as often
    as from the others (MIAS has a positioned mass on 29 of its 152 training images). Use it on a training
    split only; the order is kept (repeats follow their original).

    Example:
        >>> items = [{"image": "a", "lesions": [{"type": "mass", "center": [5, 5]}]}, {"image": "b", "lesions": []}]
        >>> [i["image"] for i in repeat_lesion_images(items, ["mass"], repeats=3)]
        ['a', 'a', 'a', 'b']
    """
    if int(repeats) < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    wanted = set(lesion_types) if lesion_types else None
    out: list[dict[str, Any]] = []
    for item in items:
        has = any((wanted is None or les.get("type") in wanted) and (les.get("center") or les.get("box"))
                  for les in item.get(LESIONS) or [])
        out.extend(dict(item) for _ in range(int(repeats) if has else 1))
    return out
