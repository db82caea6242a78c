"""Mammography transforms in MONAI style (array + dictionary twins), and the ready-made pipelines."""
