"""Mammography transforms in MONAI style (array + dictionary twins), and the ready-made pipelines.

Every class is usable from a bundle config by its import path, e.g.
``{"_target_": "mammo_monai.transforms.BreastRegionCropd", "keys": ["image", "label"]}``.
"""

from .augment import mammography_train_augmentations, mammography_train_augmentations_config
from .breast import (
    BreastCropResized,
    BreastMask,
    BreastMaskd,
    BreastRegionCropd,
    SuppressOutsideBreastd,
    breast_box,
    breast_mask_small,
)
from .contralateral import CONTRALATERAL_MODES, ContralateralChanneld
from .contrast import CLAHE, CLAHEd
from .fused_affine import RandFusedAffine, RandFusedAffined, fused_affine_apply
from .intensity import IntensityWindow, IntensityWindowd, window_from_meta
from .laterality import NormalizeLaterality, NormalizeLateralityd, chest_wall_side, chest_wall_side_from_image
from .lesions import LesionMask, LesionMaskd, LesionRegion, check_original_grid, lesion_class, lesion_regions
from .normal_tissue import NormalTissueLesiond, RandNormalTissueLesiond
from .patches import (
    HARD_NEGATIVES_KEY,
    PATCH_CENTRES_KEY,
    LesionPatchCentres,
    LesionPatchCentresd,
    PatchCenterSets,
    RandLesionPatchesd,
    mask_lesion_regions,
    patch_center_sets,
)
from .pectoral import PectoralMuscleMask, RemovePectoralMuscled, pectoral_line_mask
from .pipelines import (
    full_mammogram_config,
    full_mammogram_transforms,
    instantiate_transforms,
    lesion_crop_config,
    lesion_crop_transforms,
    patch_config,
    patch_transforms,
)
from .resample import area_resize, crop_area_resize
from .spatial import LesionCropd, ResampleToSpacingd, SetPixelSpacingd, lesion_crop_box
from .utils import BREAST_MASK_KEY, CHEST_WALL_SIDE, item_laterality, item_view

__all__ = [
    "BREAST_MASK_KEY",
    "CHEST_WALL_SIDE",
    "CLAHE",
    "CONTRALATERAL_MODES",
    "HARD_NEGATIVES_KEY",
    "PATCH_CENTRES_KEY",
    "BreastCropResized",
    "BreastMask",
    "BreastMaskd",
    "BreastRegionCropd",
    "CLAHEd",
    "ContralateralChanneld",
    "IntensityWindow",
    "IntensityWindowd",
    "LesionCropd",
    "LesionMask",
    "LesionMaskd",
    "LesionPatchCentres",
    "LesionPatchCentresd",
    "LesionRegion",
    "NormalTissueLesiond",
    "NormalizeLaterality",
    "NormalizeLateralityd",
    "PatchCenterSets",
    "PectoralMuscleMask",
    "RandFusedAffine",
    "RandFusedAffined",
    "RandLesionPatchesd",
    "RandNormalTissueLesiond",
    "RemovePectoralMuscled",
    "ResampleToSpacingd",
    "SetPixelSpacingd",
    "SuppressOutsideBreastd",
    "area_resize",
    "breast_box",
    "breast_mask_small",
    "check_original_grid",
    "chest_wall_side",
    "chest_wall_side_from_image",
    "crop_area_resize",
    "full_mammogram_config",
    "full_mammogram_transforms",
    "fused_affine_apply",
    "instantiate_transforms",
    "item_laterality",
    "item_view",
    "lesion_class",
    "lesion_crop_box",
    "lesion_crop_config",
    "lesion_crop_transforms",
    "lesion_regions",
    "mammography_train_augmentations",
    "mammography_train_augmentations_config",
    "mask_lesion_regions",
    "patch_center_sets",
    "patch_config",
    "patch_transforms",
    "pectoral_line_mask",
    "window_from_meta",
]
