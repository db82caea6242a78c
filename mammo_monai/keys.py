"""The datalist item keys and their vocabulary: the constants every layer reads, and nothing else.

This module sits at the bottom of the import layers (beside :mod:`mammo_monai.io`) and imports nothing from the
project, so transforms and networks can read the datalist keys without reaching into :mod:`mammo_monai.data`
(see docs/architecture.md). :mod:`mammo_monai.data.schema` documents the item layout and re-exports every name
here; indexers and evaluators may keep importing them from there.

Example:
    >>> from mammo_monai.keys import IMAGE, OTHER_SIDE, normalise_laterality
    >>> IMAGE, OTHER_SIDE[normalise_laterality("left")]
    ('image', 'R')
"""

from __future__ import annotations

__all__ = [
    "BOX",
    "CENTER",
    "CONTRALATERAL_IMAGE",
    "IMAGE",
    "LABEL",
    "LATERALITIES",
    "LATERALITY",
    "LESIONS",
    "LESION_TYPES",
    "OTHER_SIDE",
    "PATHOLOGIES",
    "PATHOLOGY",
    "PATIENT_ID",
    "RADIUS",
    "SPLITS",
    "TYPE",
    "VIEW",
    "normalise_laterality",
]

# item keys
IMAGE = "image"
LABEL = "label"
PATIENT_ID = "patient_id"
LATERALITY = "laterality"
VIEW = "view"
PATHOLOGY = "pathology"
LESIONS = "lesions"
#: the other breast's image of the same woman and view (:func:`mammo_monai.data.pairing.add_contralateral_images`)
CONTRALATERAL_IMAGE = "contralateral_image"

# lesion keys
TYPE = "type"
CENTER = "center"
RADIUS = "radius"
BOX = "box"

SPLITS = ("training", "validation", "test")
LATERALITIES = ("L", "R")
#: the other breast's laterality
OTHER_SIDE = {"L": "R", "R": "L"}
PATHOLOGIES = ("normal", "benign", "malignant")  # ordered from least to most severe
LESION_TYPES = ("mass", "calcification", "architectural_distortion", "asymmetry", "other")

_LATERALITY_ALIASES = {"l": "L", "left": "L", "r": "R", "right": "R"}


def normalise_laterality(value: str | None) -> str | None:
    """``"LEFT"``/``"l"``/``"L"`` -> ``"L"``, right likewise; ``None`` or anything else -> ``None``."""
    if value is None:
        return None
    return _LATERALITY_ALIASES.get(str(value).strip().lower())
