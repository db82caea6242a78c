"""Image ids, label ids and label tags checked before they reach a file path.

MONAI Label 0.8.5 joins these request parameters into paths as they come: ``tag=../../x`` on a label upload
and ``image=../x`` on an image upload write outside the studies folder, and an infer request whose ``image`` is
an existing server path reads that file. Every entry point of this app passes them through :func:`check_id`
first, which raises an ``HTTPException(400)`` so the client gets a refusal instead of a server error.
"""

from __future__ import annotations

import os
import re

from fastapi import HTTPException

__all__ = ["check_id", "is_safe_id"]

# what a MONAI Label id or tag may look like: a file stem or a DICOM UID; no separators, no "..", no control
# characters, not empty, not absurdly long
_SAFE = re.compile(r"[A-Za-z0-9_.+\-=@ ()\[\]]{1,255}")


def is_safe_id(value: object) -> bool:
    """Whether ``value`` is a plain name (an id or a tag) that cannot leave the folder it is joined to.

    Example:
        >>> is_safe_id("mdb001"), is_safe_id("1.2.840.113619.2.55"), is_safe_id("../x"), is_safe_id("/etc/x")
        (True, True, False, False)
    """
    if not isinstance(value, str) or not _SAFE.fullmatch(value):
        return False
    if value in {".", ".."} or value.startswith("..") or value.endswith("."):
        return False
    return os.path.basename(value) == value and not os.path.isabs(value)


def check_id(value: object, what: str = "image id") -> str:
    """``value`` if :func:`is_safe_id`, else ``HTTPException(400)`` naming ``what`` and the value.

    Example:
        >>> check_id("mdb001")
        'mdb001'
        >>> check_id("../../etc/passwd", "label tag")  # doctest: +SKIP
        HTTPException: 400: refused label tag '../../etc/passwd': it must be a plain name (...), not a path
    """
    if is_safe_id(value):
        return value  # type: ignore[return-value]
    raise HTTPException(
        status_code=400,
        detail=f"refused {what} {value!r}: it must be a plain name (letters, digits, '._-+=@ ()[]'), "
        "not a path",
    )
