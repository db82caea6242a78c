"""What turns network output into results on disk: overlay drawing, the writers the inference configs use, and
the detector's heatmap -> candidates step (:mod:`.detection`), and DICOM SEG of a mask (:mod:`.dicom_seg`)."""

from .component_rule import ComponentRule, ComponentRuled
from .detection import (
    HeatmapCandidatesd,
    PatchHeatmapInferer,
    SaveDetectionsd,
    abnormality_score,
    breast_score,
    common_root,
    data_root_for,
    detection_overlay,
    grid_to_original,
    heatmap_candidates,
    split_patch_classifier,
)
from .dicom_seg import SEGMENT_CODES, mask_to_dicom_seg
from .dicom_sr import ImageFindings, findings_to_dicom_sr, read_dicom_sr_findings
from .discrete import FastAsDiscrete, FastAsDiscreted
from .ensemble import EnsembleCheckpointLoader, ProbabilityEnsemble, ensemble_network
from .overlay import CAPTION_HEIGHT, GT_COLOUR, PRED_COLOUR, contour, overlay_rgb, render_overlay, tile_grid
from .probabilities import ClassificationProbabilitySaver, probability_rows
from .tta import FlipTTAInferer
from .writers import SaveOverlayd

__all__ = [
    "CAPTION_HEIGHT",
    "GT_COLOUR",
    "PRED_COLOUR",
    "SEGMENT_CODES",
    "ClassificationProbabilitySaver",
    "ComponentRule",
    "ComponentRuled",
    "EnsembleCheckpointLoader",
    "FastAsDiscrete",
    "FastAsDiscreted",
    "FlipTTAInferer",
    "HeatmapCandidatesd",
    "ImageFindings",
    "PatchHeatmapInferer",
    "ProbabilityEnsemble",
    "SaveDetectionsd",
    "SaveOverlayd",
    "abnormality_score",
    "breast_score",
    "common_root",
    "contour",
    "data_root_for",
    "detection_overlay",
    "ensemble_network",
    "findings_to_dicom_sr",
    "grid_to_original",
    "heatmap_candidates",
    "mask_to_dicom_seg",
    "overlay_rgb",
    "probability_rows",
    "read_dicom_sr_findings",
    "render_overlay",
    "split_patch_classifier",
    "tile_grid",
]
