"""MONAI Label's datastores with this app's guarantees: ids and tags are plain names (:mod:`.ids`), and the
user's images are never replaced or deleted without the ``allow_delete`` conf flag.

MONAI Label's own ``LocalDatastore`` copies an uploaded image over an existing one of the same id and its
``DELETE /datastore/`` removes the image file from the studies folder; here both are refused with a 4xx
naming the image (labels and the ``datastore_v2.json`` index that MONAI Label writes beside the images are the
app's own files and stay writable).
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from monailabel.datastore.local import LocalDatastore

from .ids import check_id

__all__ = ["CheckedDatastoreMixin", "CheckedLocalDatastore"]


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

    def save_label(self, image_id: str, label_filename: str, label_tag: str, label_info: dict[str, Any],
                   *args: Any, **kwargs: Any) -> str:
        check_id(image_id)
        check_id(label_tag, "label tag")
        if image_id not in self.list_images():  # type: ignore[attr-defined]
            raise HTTPException(status_code=404, detail=f"no image {image_id!r} in the datastore")
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
