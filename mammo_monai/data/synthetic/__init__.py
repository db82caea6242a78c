"""Synthetic mammography datasets shaped like the real downloads, with exact ground truth.

- :func:`synthesize_cbis_ddsm`: a CBIS-DDSM download (DICOM tree, the four case-description CSVs with their
  quirks) plus ``ground_truth.json``;
- :func:`synthesize_mias`: a mini-MIAS folder (``mdbNNN.pgm``/``.png`` and ``Info.txt``) plus
  ``ground_truth.json``.

Both are deterministic (same arguments, byte-identical files) and take about a second at their defaults;
:mod:`.anatomy` renders the breast phantoms.

Example:
    >>> from mammo_monai.data.synthetic import synthesize_cbis_ddsm, synthesize_mias
    >>> cbis = synthesize_cbis_ddsm("/tmp/synth/cbis", n_patients=6, seed=0)  # doctest: +SKIP
    >>> mias = synthesize_mias("/tmp/synth/mias", n_patients=4, seed=0)  # doctest: +SKIP
"""

from mammo_monai.data.synthetic.cbis_ddsm import synthesize_cbis_ddsm
from mammo_monai.data.synthetic.mias import synthesize_mias

__all__ = ["synthesize_cbis_ddsm", "synthesize_mias"]
