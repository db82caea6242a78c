"""The embedded default data of the bundles: a synthetic CBIS-DDSM-shaped dataset, indexed once and reused."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_DATALIST_NAME", "ensure_default_datalist"]

#: File name of the datalist written by :func:`ensure_default_datalist` inside its folder.
DEFAULT_DATALIST_NAME = "datalist.json"


def ensure_default_datalist(
    folder: str | os.PathLike,
    n_patients: int = 8,
    seed: int = 0,
    image_shape: tuple[int, int] = (512, 320),
    abnormality: str = "mass",
    val_fraction: float = 0.25,
) -> str:
    """Path of the default datalist in ``folder``; generate and index a synthetic CBIS-DDSM download first if missing.

    When ``folder/datalist.json`` exists it is returned as it is (nothing is regenerated or checked, so
    a second training run reuses the same data). Otherwise
    :func:`~mammo_monai.data.synthetic.synthesize_cbis_ddsm` writes ``n_patients`` women into
    ``folder/cbis_ddsm`` (deterministic for a ``seed``) and
    :func:`~mammo_monai.data.cbis_ddsm.index_cbis_ddsm` indexes it into ``folder/datalist.json``
    (``training``/``validation``/``test`` split by patient, masks in ``folder/datalist_masks``).

    Args:
        folder: where the synthetic download and the datalist live (created when missing).
        n_patients: synthetic women (at least 4).
        seed: seed of the synthesis and of the validation split.
        image_shape: ``(rows, cols)`` of the synthetic mammograms.
        abnormality: CBIS tables to index (``"mass"``, ``"calc"`` or ``"both"``).
        val_fraction: fraction of the training patients moved to ``validation``.

    Returns:
        The datalist path as a string (what MONAI's ``load_decathlon_datalist`` takes).
    """
    from mammo_monai.data.cbis_ddsm import index_cbis_ddsm
    from mammo_monai.data.synthetic import synthesize_cbis_ddsm

    folder = Path(folder).absolute()
    datalist = folder / DEFAULT_DATALIST_NAME
    if datalist.is_file():
        return str(datalist)
    folder.mkdir(parents=True, exist_ok=True)
    synth = synthesize_cbis_ddsm(folder / "cbis_ddsm", n_patients=n_patients, seed=seed,
                                 image_shape=tuple(image_shape), overwrite=True)
    index_cbis_ddsm(synth["image_dir"], synth["csv_dir"], datalist, overwrite=True, abnormality=abnormality,
                    val_fraction=val_fraction, seed=seed, progress=False)
    return str(datalist)
