"""Which pixel-data decoder to use for each DICOM transfer syntax, chosen deliberately by speed.

pydicom ships several decoding plugins per compressed transfer syntax and, left alone, tries them in
its own order (for RLE its pure-numpy decoder comes first). Measured here on a 16-bit 4000x3000 CBIS-DDSM
RLE mammogram, pydicom's own RLE decoder took 646 ms and pylibjpeg-rle 64 ms, so we rank plugins by
speed (``scripts/bench/bench_dicom_read.py`` re-measures) and fall back down the list to whatever is
installed (single-frame greyscale RLE even goes to pylibjpeg-rle directly, see
``mammo_monai.io.dicom._decode_rle_direct``):

=====================  ====================================================================
transfer syntax         preferred plugins, fastest first
=====================  ====================================================================
RLE Lossless            pylibjpeg (pylibjpeg-rle), then pydicom (numpy)
JPEG baseline/extended  pylibjpeg (libjpeg), gdcm, pillow
JPEG lossless           pylibjpeg (libjpeg), gdcm
JPEG-LS                 pyjpegls (CharLS), pylibjpeg (libjpeg), gdcm
JPEG 2000 / HTJ2K       pylibjpeg (openjpeg), gdcm, pillow
=====================  ====================================================================

Example:
    >>> from pydicom.uid import RLELossless
    >>> select_decoder(RLELossless)
    'pylibjpeg'
"""

from __future__ import annotations

from pydicom import uid

__all__ = ["DECODER_PREFERENCE", "PACKAGES_FOR_SYNTAX", "V2_HANDLER_NAMES", "available_decoders", "select_decoder"]

_JPEG_LOSSY = (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit)
_JPEG_LOSSLESS = (uid.JPEGLossless, uid.JPEGLosslessSV1)
_JPEG_LS = (uid.JPEGLSLossless, uid.JPEGLSNearLossless)
_J2K = (uid.JPEG2000Lossless, uid.JPEG2000)
_HTJ2K = tuple(
    getattr(uid, name)
    for name in ("HTJ2KLossless", "HTJ2KLosslessRPCL", "HTJ2K")
    if hasattr(uid, name)
)

DECODER_PREFERENCE: dict[str, tuple[str, ...]] = {uid.RLELossless: ("pylibjpeg", "pydicom")}
DECODER_PREFERENCE.update(dict.fromkeys(_JPEG_LOSSY, ("pylibjpeg", "gdcm", "pillow")))
DECODER_PREFERENCE.update(dict.fromkeys(_JPEG_LOSSLESS, ("pylibjpeg", "gdcm")))
DECODER_PREFERENCE.update(dict.fromkeys(_JPEG_LS, ("pyjpegls", "pylibjpeg", "gdcm")))
DECODER_PREFERENCE.update(dict.fromkeys(_J2K + _HTJ2K, ("pylibjpeg", "gdcm", "pillow")))

#: The pip packages that would decode each compressed syntax, for the error message when none is installed.
PACKAGES_FOR_SYNTAX: dict[str, str] = {uid.RLELossless: "pylibjpeg + pylibjpeg-rle"}
PACKAGES_FOR_SYNTAX.update(dict.fromkeys(_JPEG_LOSSY + _JPEG_LOSSLESS, "pylibjpeg + pylibjpeg-libjpeg"))
PACKAGES_FOR_SYNTAX.update(dict.fromkeys(_JPEG_LS, "pylibjpeg + pylibjpeg-libjpeg (or pyjpegls)"))
PACKAGES_FOR_SYNTAX.update(dict.fromkeys(_J2K + _HTJ2K, "pylibjpeg + pylibjpeg-openjpeg"))


try:
    from pydicom.pixels import get_decoder
except ImportError:  # pydicom < 3: handlers live in pydicom.config.pixel_data_handlers
    get_decoder = None

#: pydicom 2 handler module -> the pydicom 3 plugin name used here (and back, for ``convert_pixel_data``).
_V2_HANDLERS = {
    "pylibjpeg_handler": "pylibjpeg",
    "rle_handler": "pydicom",
    "gdcm_handler": "gdcm",
    "pillow_handler": "pillow",
    "jpeg_ls_handler": "pyjpegls",
}
V2_HANDLER_NAMES = {"pylibjpeg": "pylibjpeg", "pydicom": "rle", "gdcm": "gdcm", "pillow": "pillow",
                    "pyjpegls": "jpeg_ls"}


def available_decoders(transfer_syntax: str) -> tuple[str, ...]:
    """Names of the installed decoding plugins for ``transfer_syntax`` (pydicom 3 plugin names; on pydicom 2
    its handlers, under the same names). Empty when none."""
    ts = uid.UID(transfer_syntax)
    if get_decoder is None:
        import pydicom.config

        names = []
        for handler in pydicom.config.pixel_data_handlers:
            name = _V2_HANDLERS.get(handler.__name__.rsplit(".", 1)[-1])
            try:
                if name and handler.is_available() and handler.supports_transfer_syntax(ts):
                    names.append(name)
            except Exception:  # a half-installed handler must not break the choice
                continue
        return tuple(names)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return ()
    return tuple(decoder.available_plugins)


def select_decoder(transfer_syntax: str) -> str | None:
    """The fastest installed plugin for a compressed ``transfer_syntax``.

    Returns ``None`` for native (uncompressed) syntaxes and when no preference is known but pydicom has
    a plugin (pydicom then picks). Raises ``LookupError`` when no installed plugin decodes the syntax.
    """
    ts = uid.UID(transfer_syntax)
    if not ts.is_compressed:
        return None
    installed = available_decoders(ts)
    for name in DECODER_PREFERENCE.get(ts, ()):
        if name in installed:
            return name
    if installed:
        return None
    raise LookupError(
        f"no installed decoder for transfer syntax {ts.name} ({ts}); "
        f"install {PACKAGES_FOR_SYNTAX.get(ts, 'python-gdcm')}"
    )
