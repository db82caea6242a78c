"""The MONAI Deploy app: a mammography DICOM study in; a DICOM SEG of the mass mask per image, a DICOM SR with
the classification and the detected candidates per study, and a JSON summary out.

Needs the ``deploy`` extra (``pip install 'mammo-monai[deploy]'``: the MONAI Deploy App SDK with Holoscan, and the
Holoscan CLI that packages a MAP); the rest of the package never imports this one. Run it with::

    python -m mammo_monai.deploy -i /data/study -o /data/out -m /models

``/models/<bundle name>/model.pt`` holds each bundle's checkpoint. The pieces:

- :mod:`.app`: the ``Application`` and its flow.
- :mod:`.selection`: the SDK's study loader and series selector, with what they leave out reported.
- :mod:`.loading`: each selected instance read with :mod:`mammo_monai.io`; crops, masks, corrupt files reported.
- :mod:`.inference`: an operator over a bundle's own ``inference.json``.
- :mod:`.writers`: DICOM SEG, DICOM SR, ``summary.json``.
- :mod:`.settings`, :mod:`.report`: the app's settings and the record of everything left out.
"""
