"""Pair each mammogram with the other breast of the same woman and view (the contralateral image).

Radiologists read a mammogram beside the other breast: a mass or an asymmetry stands out as what one breast
has and the other has not. :func:`add_contralateral_images` writes that partner's path into each item as
``contralateral_image`` (:data:`~mammo_monai.data.schema.CONTRALATERAL_IMAGE`), which
:class:`mammo_monai.transforms.ContralateralChanneld` loads as a second input channel. Pairs are made only
inside one woman (``patient_id``) and one view, so a pair never crosses a split by woman; an image without
exactly one partner (one-view data, a missing breast, two candidate films) gets no key and is counted.

mini-MIAS stores the two MLO films of a woman as consecutive numbers (``mdb001`` right, ``mdb002`` left), which
its indexer already gives one ``patient_id``; CBIS-DDSM and DICOM folders pair by patient, view and laterality
the same way.

Example:
    >>> items = [{"image": "a.png", "patient_id": "w1", "laterality": "R", "view": "MLO"},
    ...          {"image": "b.png", "patient_id": "w1", "laterality": "L", "view": "MLO"},
    ...          {"image": "c.png", "patient_id": "w2", "laterality": "L", "view": "CC"}]
    >>> paired, unpaired = add_contralateral_images(items)
    >>> [i.get("contralateral_image") for i in paired], unpaired
    (['b.png', 'a.png', None], 1)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .schema import CONTRALATERAL_IMAGE, IMAGE, LATERALITY, OTHER_SIDE, PATIENT_ID, VIEW, normalise_laterality

__all__ = ["add_contralateral_images"]


def add_contralateral_images(items: Sequence[Mapping[str, Any]], patient_key: str = PATIENT_ID,
                             view_key: str = VIEW, laterality_key: str = LATERALITY,
                             image_key: str = IMAGE) -> tuple[list[dict[str, Any]], int]:
    """Copies of ``items`` with ``contralateral_image`` set where the woman has exactly one image of the same
    view of the other breast.

    Args:
        items: datalist items (any splits; pairs are made inside one woman, so one split by woman).
        patient_key, view_key, laterality_key, image_key: the item keys used.

    Returns:
        ``(items, n_unpaired)``: the copies in input order, and how many got no partner (no laterality, no
        partner, or more than one candidate). An existing ``contralateral_image`` is replaced or removed.
    """
    by_film: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for item in items:
        side = normalise_laterality(item.get(laterality_key))
        if side and item.get(image_key):
            by_film[(str(item.get(patient_key)), str(item.get(view_key)), side)].append(str(item[image_key]))
    out, unpaired = [], 0
    for item in items:
        copy = dict(item)
        copy.pop(CONTRALATERAL_IMAGE, None)
        side = normalise_laterality(item.get(laterality_key))
        partners = by_film.get((str(item.get(patient_key)), str(item.get(view_key)), OTHER_SIDE.get(side, "")), [])
        if side and len(partners) == 1:
            copy[CONTRALATERAL_IMAGE] = partners[0]
        else:
            unpaired += 1
        out.append(copy)
    return out, unpaired
