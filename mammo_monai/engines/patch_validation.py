"""A fixed validation set of patches for patch classifiers (the detector's training-time validation).

Patches are drawn at random from every image (lesion-centred and normal tissue, as in training); drawn anew
every epoch, the validation metric would move with the draw as much as with the network. :func:`fixed_patches`
draws them once, seeded per item, with the training sampler and without augmentation, and returns them as plain
items for a ``Dataset`` the validator runs over every epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monai.data import MetaTensor
from monai.transforms import Randomizable

__all__ = ["fixed_patches"]


def _plain(value: Any) -> Any:
    if isinstance(value, MetaTensor):
        return value.as_tensor().clone()
    return value


def fixed_patches(items: Sequence[Mapping[str, Any]], transform: Callable[[Any], Any], seed: int = 0,
                  keys: Sequence[str] = ("image", "label")) -> list[dict[str, Any]]:
    """Every item's patches, drawn once by ``transform`` (seeded with ``seed + item position``).

    Args:
        items: datalist items (full mammograms).
        transform: the patch pipeline (a MONAI ``Compose`` ending with a multi-sample patch sampler, no
            augmentation); reseeded before each item, so the set depends on ``seed`` only.
        seed: the base seed.
        keys: the entries kept per patch (tensors become plain tensors: no metadata is needed to validate).

    Returns:
        The patches of all items, in item order.

    Raises:
        ValueError: an item that cannot be read or sampled, with its file name.

    Example:
        >>> import torch
        >>> from monai.transforms import Compose, Lambda
        >>> draw = Compose([Lambda(lambda d: [{"image": torch.zeros(1, 4, 4), "label": d["n"]}] * 2)])
        >>> [p["label"] for p in fixed_patches([{"n": 0}, {"n": 1}], draw)]
        [0, 0, 1, 1]
    """
    out: list[dict[str, Any]] = []
    for k, item in enumerate(items):
        if isinstance(transform, Randomizable):
            transform.set_random_state(seed=int(seed) + k)
        try:
            patches = transform(dict(item))
        except Exception as err:
            raise ValueError(f"validation patches of {item.get('image', f'item {k}')}: {err}") from err
        for patch in patches if isinstance(patches, list) else [patches]:
            missing = [key for key in keys if key not in patch]
            if missing:
                raise ValueError(f"validation patches of {item.get('image', f'item {k}')}: no {missing} in the "
                                 f"patch (keys {sorted(map(str, patch))})")
            out.append({key: _plain(patch[key]) for key in keys})
    return out
