"""The MONAI Label app: the project's bundles served to 3D Slicer / OHIF for annotation and active learning.

Needs MONAI Label (``bash scripts/setup_label.sh`` makes ``.venv-label``); the rest of the package never
imports this one. Start it with::

    .venv-label/bin/python -m monailabel.main start_server --app mammo_monai/label --studies /data/studies \\
        --conf model_dir work/label

The app itself is :class:`main.MammographyApp`; it runs the bundles through
:class:`mammo_monai.inference.bundle.BundleInference` (shared with the Deploy app). The pieces it is made of:

- :mod:`.ids`: image ids and label tags that name a path are refused (MONAI Label itself accepts them).
- :mod:`.datastore`: the local-folder and DICOMweb datastores with those checks.
- :mod:`.infer`: the infer tasks (segmentation -> mask, detection -> candidates + their mask,
  classification -> probabilities), results on the original pixel grid of the image.
- :mod:`.label_files`: result masks written in the geometry of the image the viewer opened, and the viewer's
  labels read back as ``(rows, cols)`` masks.
- :mod:`.train`: fine-tuning a bundle on the labels saved so far (validation split by patient).
- :mod:`.strategies`: test-time-augmentation uncertainty for active learning (MONAI Label's random and
  first-unlabelled strategies are used as they are).
"""
