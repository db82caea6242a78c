"""Ready-made preprocessing pipelines: full mammogram, lesion crop, patches — as config and as ``Compose``.

Each pipeline is written once, as a JSON-able list of ``{"_target_": ...}`` transform configs
(``*_config`` functions) that a MONAI bundle config can hold as it is; the matching Python functions
instantiate that same list with ``monai.bundle.ConfigParser``, so a bundle and a script cannot drift
apart. The JSON fragments shipped in ``mammo_monai/transforms/configs/`` are these lists with default
arguments (a test keeps them equal).

- :func:`full_mammogram_transforms` (segmentation, detection, whole-image classification): load, crop to
  the breast (found on a subsampled copy) and resize (longest side ``spatial_size``, aspect kept, area
  averaging; masks back to 0/1) in one step that also maps the breast mask to the output
  (:class:`~mammo_monai.transforms.breast.BreastCropResized`), laterality normalisation (chest wall left),
  suppression of labels/tape outside it, optional pectoral-muscle removal on MLO views, breast-region windowing to
  ``[0, 1]``, optional CLAHE, pad to a square at the bottom/right (the chest wall stays at column 0),
  training augmentations. The order is chosen for speed: everything after the crop and resize works on
  the small image.
  Every geometric step is invertible: ``monai.transforms.Invertd`` maps a prediction back to the
  original DICOM pixel grid.
- :func:`lesion_crop_transforms` (lesion classification): a square crop around one lesion (the item's
  ``lesion``) of the full mammogram, laterality, windowing inside the crop, resize to ``spatial_size``;
  or the dataset's own crop file (CBIS-DDSM's cropped images) with ``source="crop_file"``.
- :func:`patch_transforms` (patch classifier / detector training): the full mammogram at a physical pixel
  size (``pixdim`` mm), its lesion mask drawn on the original grid, and lesion-centred / background
  patches (:class:`~mammo_monai.transforms.patches.RandLesionPatchesd`).

Example:
    >>> pipeline = full_mammogram_transforms(spatial_size=512)  # doctest: +SKIP
    >>> item = pipeline({"image": "Mass-Test_P_00173_LEFT_CC.dcm", "laterality": "L", "view": "CC"})  # doctest: +SKIP
    >>> tuple(item["image"].shape)  # doctest: +SKIP
    (1, 512, 512)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from monai.transforms import Compose

from mammo_monai.keys import LESION_TYPES

from .augment import mammography_train_augmentations_config
from .utils import BREAST_MASK_KEY

__all__ = [
    "CONFIG_FRAGMENTS",
    "full_mammogram_config",
    "full_mammogram_transforms",
    "instantiate_transforms",
    "lesion_crop_config",
    "lesion_crop_transforms",
    "loaded_keys",
    "patch_config",
    "patch_transforms",
    "write_config_fragments",
]

_READER = {"_target_": "mammo_monai.io.MammogramReader"}


def instantiate_transforms(config: Sequence[Mapping[str, Any]]) -> Compose:
    """``Compose`` of a list of ``{"_target_": ...}`` transform configs, through MONAI's ``ConfigParser``."""
    from monai.bundle import ConfigParser

    parser = ConfigParser({"transforms": [dict(c) for c in config]})
    return Compose(parser.get_parsed_content("transforms"))


def _load(keys: list[str], keep_dtype: bool = False) -> dict[str, Any]:
    """``LoadImaged`` with the mammogram reader. ``keep_dtype``: the file's own dtype (a uint16 scan stays
    uint16: ``dtype=None`` and the reader's ``native_uint16``) instead of MONAI's float32 copy of the whole
    image, for a pipeline whose next geometric step shrinks the image and converts only what it keeps."""
    reader = dict(_READER, native_uint16=True) if keep_dtype else dict(_READER)
    config = {"_target_": "LoadImaged", "keys": keys, "reader": reader, "ensure_channel_first": True,
              "image_only": True, "allow_missing_keys": True}
    if keep_dtype:
        config["dtype"] = None
    return config


def loaded_keys(label_source: str, image_key: str = "image", label_key: str | None = "label") -> list[str]:
    """The keys the full-mammogram pipeline loads from files: the image, and the label unless it is drawn from the
    item's lesions (``label_source="lesions"``). A bundle config names this instead of re-deciding it, so a misspelt
    ``label_source`` is refused here.

    Example:
        >>> loaded_keys("file"), loaded_keys("lesions")
        (['image', 'label'], ['image'])

    Raises:
        ValueError: ``label_source`` is not ``"file"`` or ``"lesions"``.
    """
    if label_source not in ("file", "lesions"):
        raise ValueError(f"label_source must be 'file' or 'lesions', got {label_source!r}")
    return [image_key] if label_source == "lesions" and label_key else [image_key, *([label_key] if label_key else [])]


def full_mammogram_config(
    image_key: str = "image",
    label_key: str | None = "label",
    spatial_size: int = 1024,
    window_mode: str = "percentiles",
    percentiles: Sequence[float] = (0.5, 99.5),
    label_from_lesions: Sequence[str] | None = None,
    label_source: str = "file",
    crop_margin: float = 0.02,
    suppress_outside_breast: bool = True,
    remove_pectoral: bool = False,
    clahe: bool = False,
    train: bool = False,
    augment: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The full-mammogram pipeline as transform configs (see :func:`full_mammogram_transforms`)."""
    loaded = loaded_keys(label_source, image_key, label_key)
    if label_source == "lesions" and label_from_lesions is None:
        raise ValueError("label_source='lesions' needs label_from_lesions (the lesion types to draw)")
    masks = [label_key] if label_key else []
    keys = [image_key, *masks]
    from_lesions = bool(label_key) and label_source == "lesions"
    # the scan stays in its own dtype until BreastCropResized, which converts only the breast's rows
    config: list[dict[str, Any]] = [_load(loaded, keep_dtype=True)]
    if label_key and label_from_lesions is not None:
        config.append({"_target_": "mammo_monai.transforms.LesionMaskd", "keys": label_key, "image_key": image_key,
                       "lesion_types": list(label_from_lesions) or None, "only_if_missing": not from_lesions})
    config.append({"_target_": "mammo_monai.transforms.BreastCropResized", "keys": keys, "image_key": image_key,
                   "spatial_size": spatial_size, "mask_key": BREAST_MASK_KEY, "margin": crop_margin,
                   "allow_missing_keys": True})
    if masks:  # area-resized masks are fractions at the edges: back to 0/1
        config.append({"_target_": "AsDiscreted", "keys": masks, "threshold": 0.5, "allow_missing_keys": True})
    config.append({"_target_": "mammo_monai.transforms.NormalizeLateralityd", "keys": [*keys, BREAST_MASK_KEY],
                   "image_key": image_key, "allow_missing_keys": True})
    if suppress_outside_breast:
        config.append({"_target_": "mammo_monai.transforms.SuppressOutsideBreastd", "keys": image_key,
                       "mask_key": BREAST_MASK_KEY})
    if remove_pectoral:
        config.append({"_target_": "mammo_monai.transforms.RemovePectoralMuscled", "keys": image_key,
                       "image_key": image_key, "mask_key": BREAST_MASK_KEY})
    config.append({"_target_": "mammo_monai.transforms.IntensityWindowd", "keys": image_key, "mode": window_mode,
                   "percentiles": list(percentiles), "mask_key": BREAST_MASK_KEY})
    if clahe:
        config.append({"_target_": "mammo_monai.transforms.CLAHEd", "keys": image_key, "mask_key": BREAST_MASK_KEY})
    spatial_keys = [*keys, BREAST_MASK_KEY]
    config.append({"_target_": "SpatialPadd", "keys": spatial_keys, "spatial_size": [spatial_size, spatial_size],
                   "method": "end", "allow_missing_keys": True})
    if train:
        options = {"rotate_range": 0.17, **dict(augment or {})}  # ~10 degrees: keep the chest wall left
        config.extend(mammography_train_augmentations_config(image_key, label_keys=[*masks, BREAST_MASK_KEY],
                                                             **options))
    config.append({"_target_": "EnsureTyped", "keys": spatial_keys, "allow_missing_keys": True})
    return config


def full_mammogram_transforms(**kwargs: Any) -> Compose:
    """Full-mammogram preprocessing (segmentation, detection, whole-image classification).

    Args (all optional; see the module docstring for the steps):
        image_key / label_key: item keys (``label_key=None`` for no mask).
        spatial_size: output side; the image is resized to this longest side and padded to a square.
        window_mode, percentiles: :class:`~mammo_monai.transforms.intensity.IntensityWindowd` settings.
        label_from_lesions: draw the label from the item's ``lesions`` when it has no mask file
            (a list of lesion types, ``[]`` for all; ``None``: never).
        label_source: ``"file"`` (the item's mask file, else its lesions as above) or ``"lesions"`` (always
            the lesions of ``label_from_lesions``, ignoring mask files: MIAS, whose index writes one mask of
            every positioned abnormality, calcifications included, into ``label``).
        crop_margin: breast crop margin as a fraction of the breast box.
        suppress_outside_breast, remove_pectoral (MLO views only), clahe: optional steps.
        train, augment: append :func:`~mammo_monai.transforms.augment.mammography_train_augmentations`
            (``augment`` overrides its arguments; rotation defaults to +-10 degrees here).

    Output item: ``image`` ``(1, S, S)`` float32 in ``[0, 1]``, ``label`` ``(1, S, S)`` 0/1, ``breast_mask``.
    """
    return instantiate_transforms(full_mammogram_config(**kwargs))


def lesion_crop_config(
    image_key: str = "image",
    spatial_size: int = 224,
    context: float = 1.5,
    min_size: int = 64,
    source: str = "full_image",
    window_mode: str = "percentiles",
    percentiles: Sequence[float] = (0.5, 99.5),
    train: bool = False,
    augment: Mapping[str, Any] | None = None,
    normal_tissue: bool = False,
    default_spacing: float | None = None,
    normal_radius_mm: Sequence[float] = (4.0, 15.0),
) -> list[dict[str, Any]]:
    """The lesion-crop pipeline as transform configs (see :func:`lesion_crop_transforms`)."""
    if source not in ("full_image", "crop_file"):
        raise ValueError(f"source must be 'full_image' or 'crop_file', got {source!r}")
    if normal_tissue and source != "full_image":
        raise ValueError("normal_tissue crops are cut from full images (source='full_image')")
    config: list[dict[str, Any]] = [_load([image_key])]
    if normal_tissue:  # normal-tissue items get a pseudo-lesion: random in training, fixed per image otherwise
        name = "RandNormalTissueLesiond" if train else "NormalTissueLesiond"
        config.append({"_target_": f"mammo_monai.transforms.{name}", "keys": image_key, "lesion_key": "lesion",
                       "radius_mm": list(normal_radius_mm), "default_spacing": default_spacing})
    if source == "full_image":
        config.append({"_target_": "mammo_monai.transforms.LesionCropd", "keys": image_key, "lesion_key": "lesion",
                       "context": context, "min_size": min_size})
    config += [
        {"_target_": "mammo_monai.transforms.NormalizeLateralityd", "keys": image_key, "image_key": image_key},
        {"_target_": "mammo_monai.transforms.IntensityWindowd", "keys": image_key, "mode": window_mode,
         "percentiles": list(percentiles), "mask_key": None},
        {"_target_": "Resized", "keys": image_key, "spatial_size": spatial_size, "size_mode": "longest",
         "mode": "area"},
        {"_target_": "SpatialPadd", "keys": image_key, "spatial_size": [spatial_size, spatial_size]},
    ]
    if train:
        config.extend(mammography_train_augmentations_config(image_key, **dict(augment or {})))
    config.append({"_target_": "EnsureTyped", "keys": image_key})
    return config


def lesion_crop_transforms(**kwargs: Any) -> Compose:
    """Lesion-crop preprocessing (lesion classification), one item per lesion.

    Items are per lesion (``mammo_monai.data.lesion_items``): ``image`` (the full mammogram, or the
    dataset's crop file with ``source="crop_file"``), ``lesion`` (its record: mask/box/centre in the full
    image's grid), ``laterality``. The crop is ``context`` x the lesion's extent, at least ``min_size`` px,
    padded where it runs off the film, then windowed on its own percentiles and resized to ``spatial_size``.
    With ``normal_tissue`` the normal-tissue items (``mammo_monai.data.labels.normal_items``) get a pseudo-lesion
    inside the breast first (:class:`~mammo_monai.transforms.normal_tissue.NormalTissueLesiond`, radius in
    ``normal_radius_mm``, ``default_spacing`` mm for files without a spacing; a new one per call with ``train``,
    fixed per image without), so their crops are cut by the same rules.
    """
    return instantiate_transforms(lesion_crop_config(**kwargs))


#: The lesion-mask value :func:`patch_config` draws lesions of types outside its ``class_map`` with: kept away
#: from negatives, never sampled as positives.
OTHER_LESION_VALUE = 255


def patch_config(
    image_key: str = "image",
    pixdim: float = 0.2,
    default_spacing: float = 0.05,
    patch_size: int = 128,
    num_samples: int = 8,
    pos: float = 1.0,
    neg: float = 1.0,
    class_map: Mapping[str, int] | None = None,
    jitter: float = 8.0,
    min_distance: float = 16.0,
    window_mode: str = "percentiles",
    train: bool = True,
    augment: Mapping[str, Any] | None = None,
    lesion_mask: bool = True,
    exclude_other_lesions: bool = True,
    label_key: str = "patch_label",
    hard_negative_fraction: float = 0.5,
    augmentation: bool = True,
) -> list[dict[str, Any]]:
    """The patch pipeline as transform configs (see :func:`patch_transforms`)."""
    class_map = dict(class_map) if class_map is not None else {"mass": 1, "calcification": 2}
    drawn = dict(class_map)
    if exclude_other_lesions:  # e.g. MIAS distortions and asymmetries: neither a class nor normal tissue
        drawn.update({t: OTHER_LESION_VALUE for t in LESION_TYPES if t not in class_map})
    if train and not lesion_mask:
        raise ValueError("patch_config: training samples patches around the lesion mask (lesion_mask=True)")
    keys = [image_key, "lesion_mask"] if lesion_mask else [image_key]
    config: list[dict[str, Any]] = [
        _load([image_key]),
        {"_target_": "mammo_monai.transforms.SetPixelSpacingd", "keys": image_key, "spacing": default_spacing},
    ]
    if lesion_mask:
        config.append({"_target_": "mammo_monai.transforms.LesionMaskd", "keys": "lesion_mask",
                       "image_key": image_key, "class_map": drawn, "lesion_types": sorted(drawn)})
    config += [
        {"_target_": "mammo_monai.transforms.BreastRegionCropd", "keys": keys, "image_key": image_key,
         "margin": 0.02},
        {"_target_": "mammo_monai.transforms.ResampleToSpacingd", "keys": keys, "pixdim": pixdim,
         "mode": ["area", "nearest-exact"][:len(keys)]},
        {"_target_": "mammo_monai.transforms.NormalizeLateralityd", "keys": keys, "image_key": image_key},
        {"_target_": "mammo_monai.transforms.BreastMaskd", "keys": image_key, "mask_key": BREAST_MASK_KEY},
        {"_target_": "mammo_monai.transforms.IntensityWindowd", "keys": image_key, "mode": window_mode,
         "mask_key": BREAST_MASK_KEY},
    ]
    keys = [*keys, BREAST_MASK_KEY]
    if train:
        where = {"patch_size": [patch_size, patch_size], "jitter": jitter, "min_distance": min_distance,
                 "mask_key": "lesion_mask", "breast_mask_key": BREAST_MASK_KEY,
                 "exclude_values": [OTHER_LESION_VALUE] if exclude_other_lesions else []}
        # the centre sets depend on the item only: computed before the first random transform (cacheable)
        config.append({"_target_": "mammo_monai.transforms.LesionPatchCentresd", "keys": image_key, **where})
        config.append({"_target_": "mammo_monai.transforms.RandLesionPatchesd", "keys": keys,
                       "num_samples": num_samples, "pos": pos, "neg": neg, "label_key": label_key,
                       "hard_negative_fraction": hard_negative_fraction, **where})
        if augmentation:
            config.extend(mammography_train_augmentations_config(image_key, **dict(augment or {})))
        config.append({"_target_": "EnsureTyped", "keys": image_key})
    else:
        config.append({"_target_": "EnsureTyped", "keys": keys})
    return config


def patch_transforms(**kwargs: Any) -> Compose:
    """Patch preprocessing for the patch classifier / detector.

    The mammogram is resampled to ``pixdim`` mm per pixel (``default_spacing`` for files without a spacing:
    CBIS-DDSM's 50 µm scans; use 0.2 for mini-MIAS), so ``patch_size`` is a physical size. With ``train``
    (default) each item yields ``num_samples`` patches of ``patch_size`` px, lesion-centred and background
    at ``pos:neg``, each with ``patch_label`` (``class_map``: mass 1, calcification 2; 0 normal tissue) and
    ``patch_center``; without it the whole preprocessed mammogram (for a sliding-window inferer), and with
    ``lesion_mask=False`` without the lesion mask (unlabelled images). Lesions of types outside ``class_map``
    (``exclude_other_lesions``) are drawn as :data:`OTHER_LESION_VALUE` and kept away from the negatives.
    Items may carry hard negatives (``hard_negatives``: :class:`~mammo_monai.engines.HardNegativeMiner`);
    ``hard_negative_fraction`` of the negatives are drawn from them. ``augmentation=False``: the patches as
    drawn (a fixed validation set: :func:`~mammo_monai.engines.fixed_patches`).
    """
    return instantiate_transforms(patch_config(**kwargs))


#: The shipped JSON fragments: file name -> the config function and its arguments.
CONFIG_FRAGMENTS: dict[str, tuple[Any, dict[str, Any]]] = {
    "full_mammogram_eval.json": (full_mammogram_config, {}),
    "full_mammogram_train.json": (full_mammogram_config, {"train": True}),
    "lesion_crop_eval.json": (lesion_crop_config, {}),
    "lesion_crop_train.json": (lesion_crop_config, {"train": True}),
    "patch_train.json": (patch_config, {}),
    "patch_full_image.json": (patch_config, {"train": False}),
}


def write_config_fragments(folder: str | Any) -> list[Any]:
    """Write every :data:`CONFIG_FRAGMENTS` file (``{"transforms": [...]}``) into ``folder``; returns the paths.

    The package's own copies in ``mammo_monai/transforms/configs/`` are made with this function and a test
    keeps them equal to the config functions. A bundle config can point at one with MONAI's ``%`` macro,
    e.g. ``"preprocessing": {"_target_": "Compose", "transforms": "%<path>/full_mammogram_eval.json#transforms"}``.
    """
    import json
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (function, kwargs) in CONFIG_FRAGMENTS.items():
        path = folder / name
        path.write_text(json.dumps({"transforms": function(**kwargs)}, indent=1) + "\n")
        paths.append(path)
    return paths
