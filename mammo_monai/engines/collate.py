"""A DataLoader ``collate_fn`` for mammograms whose meta dicts hold ``None`` values.

:class:`~mammo_monai.io.MammogramReader` reports a missing DICOM attribute (no pixel spacing, a PNG with no
header at all) as ``None`` in the image's meta dict; PyTorch's ``default_collate`` cannot batch ``None``, and it
cannot batch a key that only some items of the batch have either. :func:`mammogram_collate` drops those meta
keys (from the batch's copies only) and then batches with MONAI's ``list_data_collate``, so the transform
history (``applied_operations``) that ``Invertd`` needs survives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monai.data import MetaTensor, list_data_collate

__all__ = ["mammogram_collate"]


def _items(batch: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for item in batch:
        out.extend(item if isinstance(item, list) else [item])
    return out


def _holds_none(value: Any) -> bool:
    """``None``, or a dict/list/tuple with ``None`` somewhere inside (``default_collate`` fails on both)."""
    if value is None:
        return True
    if isinstance(value, Mapping):
        return any(_holds_none(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_holds_none(v) for v in value)
    return False


def mammogram_collate(batch: Sequence[Any]) -> Any:
    """``monai.data.list_data_collate`` after dropping meta keys that are ``None`` (or hold a ``None``, such as a
    dict of options) or absent in any item.

    Args:
        batch: dataset items (dicts of tensors/MetaTensors, or lists of such dicts for multi-sample transforms).

    Returns:
        The collated batch, as ``list_data_collate`` returns it.
    """
    items = _items(batch)
    fields = {k for item in items if isinstance(item, Mapping) for k, v in item.items() if isinstance(v, MetaTensor)}
    cleaned = [dict(item) if isinstance(item, Mapping) else item for item in items]
    for key in fields:
        tensors = [item.get(key) for item in cleaned if isinstance(item, dict)]
        metas = [t.meta for t in tensors if isinstance(t, MetaTensor)]
        if len(metas) != len(tensors):
            continue
        common = set.intersection(*(set(m) for m in metas)) if metas else set()
        keep = {k for k in common if all(not _holds_none(m[k]) for m in metas)}
        for item in cleaned:
            old = item[key]
            meta = {k: v for k, v in old.meta.items() if k in keep}
            item[key] = MetaTensor(old.as_tensor(), meta=meta, applied_operations=list(old.applied_operations))
    return list_data_collate(cleaned)
