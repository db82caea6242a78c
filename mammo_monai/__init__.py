"""mammo-monai: a MONAI-based mammography toolkit."""

__version__ = "0.1.0"
