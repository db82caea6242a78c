"""MONAI Label's datastores with this app's guarantees: ids and tags are plain names (:mod:`.ids`), and the
user's images are never replaced or deleted without the ``allow_delete`` conf flag.

:class:`CheckedDICOMWebDatastore` (studies on a DICOMweb server such as Orthanc) also saves a final label back
to the server as a DICOM Segmentation made with highdicom
(:func:`mammo_monai.inference.dicom_seg.mask_to_dicom_seg`: it references the source image, pixel for pixel;
an empty label, a film with no finding, is kept locally only), instead of MONAI Label's dcmqi
``itkimage2segimage`` binary, which it would download from the internet at start-up.

MONAI Label's own ``LocalDatastore`` copies an uploaded image over an existing one of the same id and its
``DELETE /datastore/`` removes the image file from the studies folder; here both are refused with a 4xx
naming the image (labels and the ``datastore_v2.json`` index that MONAI Label writes beside the images are the
app's own files and stay writable).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from typing import Any

import pydicom
from fastapi import HTTPException
from monailabel.datastore.dicom import DICOMWebDatastore
from monailabel.datastore.local import LocalDatastore
from monailabel.interfaces.datastore import DefaultLabelTag

from ..inference.dicom_seg import mask_to_dicom_seg
from .ids import check_id
from .infer import source_image
from .label_files import LABEL_CLASSES, read_label_mask

__all__ = ["CheckedDICOMWebDatastore", "CheckedDatastoreMixin", "CheckedLocalDatastore"]

logger = logging.getLogger(__name__)


class CheckedDatastoreMixin:
    """Checks every id and tag a datastore call receives; mixed in before a MONAI Label datastore class.

    Args of the host's ``__init__`` stay as they are; ``allow_delete`` (keyword, default False) lets
    ``remove_image`` delete image files.
    """

    allow_delete: bool = False

    def add_image(self, image_id: str, image_filename: str, image_info: dict[str, Any]) -> str:
        if image_id:
            check_id(image_id)
            if image_id in self.list_images():  # type: ignore[attr-defined]
                raise HTTPException(status_code=409, detail=f"image {image_id!r} exists already; it is not replaced "
                                    "(remove it first, which needs the app's allow_delete conf)")
        return super().add_image(image_id, image_filename, image_info)  # type: ignore[misc]

    def remove_image(self, image_id: str) -> None:
        check_id(image_id)
        if not self.allow_delete:
            raise HTTPException(status_code=403, detail=f"refused to delete image {image_id!r}: the studies are "
                                "the user's files (start the app with --conf allow_delete true to allow it)")
        return super().remove_image(image_id)  # type: ignore[misc]

    def check_label_target(self, image_id: str, label_tag: str) -> None:
        """The checks of a label upload: plain id and tag, an image the datastore has (404 otherwise)."""
        check_id(image_id)
        check_id(label_tag, "label tag")
        if image_id not in self.list_images():  # type: ignore[attr-defined]
            raise HTTPException(status_code=404, detail=f"no image {image_id!r} in the datastore")

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any],
                   *args: Any, **kwargs: Any) -> str:
        self.check_label_target(image_id, label_tag)
        return super().save_label(image_id, label_filename, label_tag, label_info, *args, **kwargs)  # type: ignore[misc]

    def remove_label(self, label_id: str, label_tag: str) -> None:
        check_id(label_id, "label id")
        check_id(label_tag, "label tag")
        return super().remove_label(label_id, label_tag)  # type: ignore[misc]

    def get_image_uri(self, image_id: str) -> str:
        return super().get_image_uri(check_id(image_id))  # type: ignore[misc]

    def get_image_info(self, image_id: str) -> dict[str, Any]:
        return super().get_image_info(check_id(image_id))  # type: ignore[misc]

    def update_image_info(self, image_id: str, info: dict[str, Any]) -> None:
        return super().update_image_info(check_id(image_id), info)  # type: ignore[misc]

    def get_label_uri(self, label_id: str, label_tag: str, *args: Any, **kwargs: Any) -> str:
        check_id(label_tag, "label tag")
        return super().get_label_uri(check_id(label_id, "label id"), label_tag, *args, **kwargs)  # type: ignore[misc]

    def get_label_info(self, label_id: str, label_tag: str) -> dict[str, Any]:
        check_id(label_tag, "label tag")
        return super().get_label_info(check_id(label_id, "label id"), label_tag)  # type: ignore[misc]

    def update_label_info(self, label_id: str, label_tag: str, info: dict[str, Any]) -> None:
        check_id(label_tag, "label tag")
        return super().update_label_info(check_id(label_id, "label id"), label_tag, info)  # type: ignore[misc]


class CheckedLocalDatastore(CheckedDatastoreMixin, LocalDatastore):
    """MONAI Label's ``LocalDatastore`` (a studies folder; labels in ``labels/<tag>/``) with the checks above.

    Example:
        >>> store = CheckedLocalDatastore("/data/studies", extensions=["*.png", "*.dcm"])  # doctest: +SKIP
        >>> store.save_label("mdb001", "/tmp/x.png", "../../x", {})  # doctest: +SKIP
        HTTPException: 400: refused label tag '../../x': ...
    """

    def __init__(self, datastore_path: str, *args: Any, allow_delete: bool = False, **kwargs: Any) -> None:
        self.allow_delete = bool(allow_delete)
        super().__init__(datastore_path, *args, **kwargs)


class CheckedDICOMWebDatastore(CheckedDatastoreMixin, DICOMWebDatastore):
    """MONAI Label's DICOMweb datastore (series listed by ``search_filter``, downloaded into a local cache) with
    the checks above; a ``final`` label is stored on the server as a DICOM SEG of the source image.

    Args:
        client: a ``dicomweb_client`` client of the server.
        search_filter: QIDO filter of the series listed (``{"Modality": "MG"}``).
        cache_path: the local cache (downloaded series, their NIfTI for the viewer, labels saved here).
        classes: label value -> class name of the SEG's segments.
        algorithm: the name written into the SEG (the app's name by default).
        allow_delete: as for the local datastore.

    Training uses the labels saved through this app (kept in the cache beside the SEGs it stored).
    """

    def __init__(self, client: Any, search_filter: Mapping[str, Any], cache_path: str | None = None,
                 classes: Mapping[int, str] | None = None, algorithm: str = "mammo-monai",
                 allow_delete: bool = False) -> None:
        self.allow_delete = bool(allow_delete)
        self.classes = dict(classes or LABEL_CLASSES)
        self.algorithm = algorithm
        super().__init__(client, search_filter=dict(search_filter), cache_path=cache_path, convert_to_nifti=True)

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any],
                   *args: Any, **kwargs: Any) -> str:
        self.check_label_target(image_id, label_tag)
        image_uri = self.get_image_uri(image_id)  # downloads the series (and registers it locally) if needed
        if label_tag == DefaultLabelTag.FINAL:
            source = pydicom.dcmread(source_image(image_uri))
            try:
                mask = read_label_mask(label_filename, (int(source.Rows), int(source.Columns)))
                seg = mask_to_dicom_seg(source, mask, self.classes, algorithm=self.algorithm) if mask.any() else None
            except (ValueError, AttributeError, TypeError) as e:  # highdicom's refusals of a source or a mask
                raise HTTPException(status_code=422, detail=f"label for {image_id!r}: {e}") from e
            if seg is None:
                logger.info("empty final label for %s (no finding): kept locally, no SEG stored", image_id)
            else:
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "seg.dcm")
                    seg.save_as(path)
                    self._client.store_instances([pydicom.dcmread(path)])
                label_info = {**(label_info or {}), "SeriesInstanceUID": str(seg.SeriesInstanceUID),
                              "SOPInstanceUID": str(seg.SOPInstanceUID), "Modality": "SEG"}
                logger.info("stored DICOM SEG %s for %s on %s", seg.SeriesInstanceUID, image_id, self.name())
        return LocalDatastore.save_label(self, image_id, label_filename, label_tag, label_info)

    def get_image_uri(self, image_id: str) -> str:
        """The viewer's NIfTI of the series in the cache, ``<cache>/<series uid>.nii.gz`` beside the downloaded
        ``<cache>/<series uid>/`` (MONAI Label returns a temporary copy the first time, whose DICOM source the
        infer tasks could not find)."""
        uri = super().get_image_uri(image_id)
        cached = os.path.join(self._datastore.image_path(), f"{image_id}.nii.gz")
        if uri and os.path.realpath(uri) != os.path.realpath(cached) and os.path.isfile(cached):
            if os.path.dirname(os.path.abspath(uri)) == tempfile.gettempdir():
                os.unlink(uri)  # MONAI Label's temporary conversion, copied into the cache already
            return cached
        return uri

    def get_label_uri(self, label_id: str, label_tag: str, image_id: str = "") -> str:
        check_id(label_tag, "label tag")
        return LocalDatastore.get_label_uri(self, check_id(label_id, "label id"), label_tag)

    def status(self) -> dict[str, Any]:
        """The server's series count as ``total`` (MONAI Label reports the local cache's), the cache as ``cached``."""
        local = LocalDatastore.status(self)
        return {**local, "total": len(self.list_images()), "cached": local.get("total", 0)}

    def datalist(self, full_path: bool = True) -> list[dict[str, Any]]:
        # MONAI Label would download every SEG on the server and convert it with pydicom-seg (which needs a frame
        # of reference that CBIS-DDSM's Secondary Capture films lack): train on the labels saved here instead
        return LocalDatastore.datalist(self, full_path)
