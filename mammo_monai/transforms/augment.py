"""Training augmentations for mammograms and mammogram patches: MONAI transforms with mammography defaults.

:func:`mammography_train_augmentations_config` returns the pipeline as a JSON-able list of
``{"_target_": "monai.transforms...", ...}`` dicts that a MONAI bundle config can hold as it is;
:func:`mammography_train_augmentations` instantiates that same list, so the Python and the bundle
pipelines cannot drift apart. In order:

1. ``RandRotated``: rotation by any angle in ``[-rotate_range, rotate_range]`` (default ``pi``: any angle;
   right for patches, whose texture has no orientation). For whole mammograms keep it small (e.g.
   ``pi / 18``): a rotation beyond 90 degrees also moves the chest wall to the right.
2. ``RandAffined``: small scale (zoom) / shear / translation.
3. ``Rand2DElasticd`` (optional, off by default: slow on full mammograms).
4. ``RandFlipd(spatial_axis=0)``: the up-down flip only. After laterality normalisation the chest wall is
   on the left (column 0); a left-right flip would put it on the right and undo the normalisation, so it
   is only added when asked for (``flip_left_right=True``).
   With ``fused_spatial=True`` steps 1, 2 and 4 are one
   :class:`~mammo_monai.transforms.fused_affine.RandFusedAffined` instead: the same random components drawn
   the same way, applied as one resampling (no inverse records; several times faster per call on small
   patches, see that module), followed by the elastic step when asked for.
5. intensity, image keys only: ``RandScaleIntensityd``, ``RandShiftIntensityd``, ``RandAdjustContrastd``
   (gamma), optional ``RandGaussianNoised``.

Masks (``label_keys``) go through the spatial transforms with nearest-neighbour interpolation and zero
padding, so a binary mask stays binary (values 0/1 only) and a class-valued mask keeps its classes; they
skip the intensity transforms. The defaults expect images windowed to ``[0, 1]`` with a zero background
(zero padding at rotated corners matches it). Wrap the list in ``monai.transforms.Compose`` — but not with
``lazy=True``: MONAI's fused lazy resampling then interpolates the masks as well (tried with MONAI 1.6: a
binary mask comes out with fractional values).

Example:
    >>> import torch
    >>> from monai.data import MetaTensor
    >>> from monai.transforms import Compose
    >>> augment = Compose(mammography_train_augmentations("image", label_keys="label", prob=1.0)).set_random_state(0)
    >>> label = torch.zeros(1, 64, 48); label[:, 20:40, 10:30] = 1
    >>> out = augment({"image": MetaTensor(torch.rand(1, 64, 48)), "label": MetaTensor(label)})
    >>> tuple(out["image"].shape), sorted(out["label"].unique().tolist())
    ((1, 64, 48), [0.0, 1.0])
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from monai.config import KeysCollection
from monai.utils import ensure_tuple

from .utils import symmetric_range

__all__ = ["mammography_train_augmentations", "mammography_train_augmentations_config"]


def mammography_train_augmentations_config(
    keys: KeysCollection,
    label_keys: KeysCollection = (),
    prob: float = 0.5,
    rotate_range: float | Sequence[float] = np.pi,
    scale_range: float = 0.1,
    shear_range: float = 0.05,
    translate_range: float = 0.0,
    flip_up_down: bool = True,
    flip_left_right: bool = False,
    intensity_scale: float = 0.1,
    intensity_shift: float = 0.05,
    gamma: Sequence[float] | None = (0.7, 1.5),
    noise_std: float = 0.0,
    elastic: bool = False,
    elastic_spacing: Sequence[float] = (64.0, 64.0),
    elastic_magnitude: Sequence[float] = (1.0, 4.0),
    fused_spatial: bool = False,
    allow_missing_keys: bool = False,
) -> list[dict[str, Any]]:
    """The augmentation pipeline as JSON-able MONAI bundle config items (see the module docstring).

    Args:
        keys: image keys (bilinear interpolation; intensity augmentations). Keys also in ``label_keys`` are
            treated as labels.
        label_keys: mask keys (nearest interpolation; no intensity augmentation).
        prob: the probability of each augmentation.
        rotate_range: rotation angle range in radians, ``r`` meaning ``[-r, r]``; 0 disables the rotation.
        scale_range: zoom: scale factor in ``1 +- scale_range``; ``shear_range`` likewise (shear factor);
            ``translate_range``: shift in pixels, ``+-``. All 0: no ``RandAffined``.
        flip_up_down: add ``RandFlipd(spatial_axis=0)``.
        flip_left_right: add ``RandFlipd(spatial_axis=1)`` — only for images not laterality-normalised (or
            when the chest-wall side does not matter): it moves the chest wall to the right.
        intensity_scale: ``RandScaleIntensityd`` factor range ``+-`` (image x ``(1 + f)``); 0 disables.
        intensity_shift: ``RandShiftIntensityd`` offset range ``+-``; 0 disables.
        gamma: ``RandAdjustContrastd`` gamma range; ``None`` disables.
        noise_std: ``RandGaussianNoised`` std; 0 disables.
        elastic: add ``Rand2DElasticd`` with control points ``elastic_spacing`` px apart moved by
            ``elastic_magnitude`` px.
        fused_spatial: rotation, affine and flips as one ``RandFusedAffined`` (training only: not invertible).
        allow_missing_keys: passed to every transform.

    Returns:
        a list of ``{"_target_": ..., **kwargs}`` dicts (``json.dumps``-able); ``monai.bundle.ConfigParser``
        instantiates it.
    """
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    labels = [str(k) for k in ensure_tuple(label_keys)]
    images = [str(k) for k in ensure_tuple(keys) if str(k) not in labels]
    spatial = images + labels
    if not spatial:
        raise ValueError("no keys to augment: give image keys and/or label_keys")
    interp = ["bilinear"] * len(images) + ["nearest"] * len(labels)
    common = {"allow_missing_keys": bool(allow_missing_keys)}
    prob = float(prob)
    out: list[dict[str, Any]] = []

    rot = symmetric_range(rotate_range, "rotate_range")
    for name, value in (("scale_range", scale_range), ("shear_range", shear_range),
                        ("translate_range", translate_range)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
    elastic_item = {"_target_": "monai.transforms.Rand2DElasticd", "keys": spatial,
                    "spacing": [float(s) for s in ensure_tuple(elastic_spacing)],
                    "magnitude_range": [float(m) for m in ensure_tuple(elastic_magnitude)], "prob": prob,
                    "mode": interp, "padding_mode": "zeros", **common}
    flip_axes = [axis for axis, wanted in ((0, flip_up_down), (1, flip_left_right)) if wanted]
    if fused_spatial:
        out.append({"_target_": "mammo_monai.transforms.RandFusedAffined", "keys": spatial, "prob": prob,
                    "rotate_range": rot, "scale_range": float(scale_range), "shear_range": float(shear_range),
                    "translate_range": float(translate_range), "flip_axes": flip_axes, "mode": interp,
                    "padding_mode": "zeros", **common})
        if elastic:
            out.append(elastic_item)
    else:
        if rot != [0.0, 0.0]:
            out.append({"_target_": "monai.transforms.RandRotated", "keys": spatial, "range_x": rot, "prob": prob,
                        "keep_size": True, "mode": interp, "padding_mode": "zeros", **common})
        if scale_range or shear_range or translate_range:
            out.append({"_target_": "monai.transforms.RandAffined", "keys": spatial, "prob": prob,
                        "scale_range": [float(scale_range)] * 2, "shear_range": [float(shear_range)] * 2,
                        "translate_range": [float(translate_range)] * 2, "mode": interp, "padding_mode": "zeros",
                        **common})
        if elastic:
            out.append(elastic_item)
        for axis in flip_axes:
            out.append({"_target_": "monai.transforms.RandFlipd", "keys": spatial, "prob": prob,
                        "spatial_axis": axis, **common})

    if images:
        if intensity_scale:
            out.append({"_target_": "monai.transforms.RandScaleIntensityd", "keys": images,
                        "factors": float(intensity_scale), "prob": prob, **common})
        if intensity_shift:
            out.append({"_target_": "monai.transforms.RandShiftIntensityd", "keys": images,
                        "offsets": float(intensity_shift), "prob": prob, **common})
        if gamma is not None:
            low, high = (float(g) for g in gamma)
            if not 0 < low <= high:
                raise ValueError(f"gamma must be a (low, high) pair with 0 < low <= high, got {gamma}")
            out.append({"_target_": "monai.transforms.RandAdjustContrastd", "keys": images, "gamma": [low, high],
                        "prob": prob, **common})
        if noise_std:
            if noise_std < 0:
                raise ValueError(f"noise_std must be >= 0, got {noise_std}")
            out.append({"_target_": "monai.transforms.RandGaussianNoised", "keys": images, "prob": prob,
                        "mean": 0.0, "std": float(noise_std), **common})
    return out


def _instantiate(item: dict[str, Any]) -> Any:
    module, name = item["_target_"].rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    return cls(**{k: v for k, v in item.items() if k != "_target_"})


def mammography_train_augmentations(
    keys: KeysCollection,
    label_keys: KeysCollection = (),
    prob: float = 0.5,
    rotate_range: float | Sequence[float] = np.pi,
    **kwargs: Any,
) -> list:
    """The training augmentations as a list of MONAI transforms (wrap in ``Compose``).

    Same arguments as :func:`mammography_train_augmentations_config` (which see); this instantiates its list.
    """
    config = mammography_train_augmentations_config(keys, label_keys, prob, rotate_range, **kwargs)
    return [_instantiate(item) for item in config]
