"""What turns network output into results on disk: overlay drawing and the writers the inference configs use."""

from .discrete import FastAsDiscrete, FastAsDiscreted
from .overlay import CAPTION_HEIGHT, GT_COLOUR, PRED_COLOUR, contour, overlay_rgb, render_overlay, tile_grid
from .probabilities import ClassificationProbabilitySaver, probability_rows
from .writers import SaveOverlayd

__all__ = [
    "CAPTION_HEIGHT",
    "GT_COLOUR",
    "PRED_COLOUR",
    "ClassificationProbabilitySaver",
    "FastAsDiscrete",
    "FastAsDiscreted",
    "SaveOverlayd",
    "contour",
    "overlay_rgb",
    "probability_rows",
    "render_overlay",
    "tile_grid",
]
