"""Every item of a datalist with absolute paths: what the cross-validation runners fold.

Example:
    >>> items = all_items(Path("work/mias.json"))  # doctest: +SKIP
    >>> Path(items[0]["image"]).is_absolute()  # doctest: +SKIP
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mammo_monai.data.schema import CONTRALATERAL_IMAGE, IMAGE, LABEL, SPLITS, load_datalist
from mammo_monai.evaluation.inputs import resolve_datalist_path

__all__ = ["PATH_KEYS", "all_items"]

#: the datalist keys holding paths, made absolute in the fold datalists
PATH_KEYS = (IMAGE, LABEL, CONTRALATERAL_IMAGE)


def all_items(datalist: Path) -> list[dict[str, Any]]:
    """Every item of every split of ``datalist`` (its split is ignored: the folds make their own), with the path
    keys (:data:`PATH_KEYS`) made absolute against the datalist's folder, so fold datalists written elsewhere
    still find the files."""
    items = []
    for item in (i for s in SPLITS for i in load_datalist(datalist)[s]):
        item = dict(item)
        for key in PATH_KEYS:
            if isinstance(item.get(key), str):
                item[key] = resolve_datalist_path(item[key], datalist.parent)
        items.append(item)
    return items
