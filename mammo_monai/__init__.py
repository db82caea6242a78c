"""mammo-monai: a MONAI-based mammography toolkit."""

from .expected_conditions import install_expected_condition_filters

__version__ = "0.1.0"

# MONAI's messages about conditions that are expected here (no GPU DICOM decoder, a recipe layered from outside a
# bundle) go to DEBUG: see mammo_monai.expected_conditions
install_expected_condition_filters()
