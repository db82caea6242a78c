"""Breast phantom rendering for the synthetic CBIS-DDSM and MIAS datasets.

Everything here works on a float ``(H, W)`` "film density" image in ``[0, 1]`` (0 = clear film
background, 1 = the brightest film label) that the dataset writers quantise to 16 bit (CBIS-DDSM DICOM)
or 8 bit (MIAS PGM). The layout imitates digitised film mammograms:

- the breast is a half-ellipse with a slightly wavy skin line attached to the chest wall, which is the
  image's LEFT edge for a left breast and the RIGHT edge for a right breast (CBIS-DDSM and MIAS both
  store them like that); the compressed breast gets thinner (darker) towards the skin line;
- smooth glandular texture, denser near the chest wall and with the BI-RADS density;
- on MLO views a bright pectoral-muscle triangle in the top chest-wall corner;
- masses: bright blobs (round / oval / lobulated / irregular / spiculated / ill-defined, plus
  architectural distortions and asymmetries), calcifications: clusters of small very bright dots whose
  lesion mask is the cluster's envelope;
- film background with grain, a bright rectangular film label with text-like glyphs outside the breast,
  and optionally a bright scanner-tape / film-edge strip along the edge opposite the chest wall.

Lesions are placed inside the breast (outside the pectoral muscle), away from the skin line and from
each other, so their masks never overlap. Everything is vectorised numpy/scipy: a 512 x 320 image renders
in a few milliseconds.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> out = render_mammogram((512, 320), "L", "CC", density=2, rng=rng,
    ...                        lesions=[LesionSpec("mass", radius=20.0, style="lobulated")])
    >>> out.image.shape, out.image.dtype, len(out.masks), bool(out.masks[0][out.breast].any())
    ((512, 320), dtype('float32'), 1, True)
    >>> bool((out.masks[0] & ~out.breast).any())  # lesions lie inside the breast
    False
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "CALC_STYLES",
    "MASS_STYLES",
    "BreastPhantom",
    "LesionSpec",
    "RenderedMammogram",
    "add_edge_artefact",
    "add_film_label",
    "breast_phantom",
    "draw_calcification_cluster",
    "draw_mass",
    "draw_scattered_calcifications",
    "place_lesions",
    "render_mammogram",
    "smooth_noise",
    "to_uint8",
    "to_uint16",
]

MASS_STYLES = ("round", "oval", "lobulated", "irregular", "spiculated", "ill_defined", "distortion", "asymmetry")
CALC_STYLES = ("clustered", "linear")

# film densities (fraction of the full scale)
_FAT = 0.26
_GLAND = 0.40
_PECTORAL = 0.60
_CALC = 0.93
_LABEL = 0.90


def smooth_noise(shape: tuple[int, int], sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std Gaussian-smoothed white noise of ``shape`` with correlation length ``sigma``.

    Large ``sigma`` is generated on a coarser grid and upsampled (linear), so the cost does not grow with it.

    Returns:
        ``float32`` array of ``shape``.
    """
    h, w = shape
    f = max(1, int(sigma // 4))
    small = rng.standard_normal((math.ceil(h / f) + 2, math.ceil(w / f) + 2)).astype(np.float32)
    small = ndimage.gaussian_filter(small, sigma / f, mode="reflect")
    up = ndimage.zoom(small, f, order=1)[:h, :w] if f > 1 else small[:h, :w]
    up = up - up.mean()
    return (up / (up.std() + 1e-8)).astype(np.float32)


@dataclass
class BreastPhantom:
    """A breast without lesions, in the image's own orientation.

    Attributes:
        tissue: ``(H, W)`` float32 film density in ``[0, 1]``, 0 outside the breast.
        breast: ``(H, W)`` bool, the breast (including the pectoral muscle).
        pectoral: ``(H, W)`` bool, the pectoral muscle (empty on CC views).
        chest_wall: ``"left"`` or ``"right"``: the image edge the breast is attached to.
    """

    tissue: np.ndarray
    breast: np.ndarray
    pectoral: np.ndarray
    chest_wall: str


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _canonical_breast(
    shape: tuple[int, int], view: str, density: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tissue, breast mask and pectoral mask with the chest wall on the LEFT edge (column 0)."""
    h, w = shape
    rr = np.arange(h, dtype=np.float32)[:, None]
    cc = np.arange(w, dtype=np.float32)[None, :]
    if view == "MLO":
        rc, a, b = h * rng.uniform(0.40, 0.47), h * rng.uniform(0.52, 0.60), w * rng.uniform(0.62, 0.74)
    else:
        rc, a, b = h * rng.uniform(0.46, 0.54), h * rng.uniform(0.36, 0.43), w * rng.uniform(0.60, 0.74)
    c0 = -w * rng.uniform(0.02, 0.06)  # the ellipse centre sits slightly behind the chest wall
    dr = (rr - rc) / a
    dc = (cc - c0) / (b - c0)
    theta = np.arctan2(dr, dc)
    pert = np.zeros_like(theta)
    for k in (2, 3, 4, 5):
        pert += rng.uniform(0.0, 0.025) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    rho = np.hypot(dr, dc) / (1.0 + pert)
    breast = rho < 1.0

    pectoral = np.zeros((h, w), dtype=bool)
    if view == "MLO":
        pw, ph = w * rng.uniform(0.22, 0.34), h * rng.uniform(0.30, 0.42)
        curve = rng.uniform(0.85, 1.25)
        frac = np.clip(1.0 - rr / ph, 0.0, 1.0) ** curve
        pectoral = (cc < pw * frac) & breast

    scale = min(h, w)
    n_coarse = smooth_noise((h, w), 0.05 * scale, rng)
    n_mid = smooth_noise((h, w), 0.015 * scale, rng)
    # fibrous strands running from the chest wall towards the nipple (horizontal here)
    strands = ndimage.gaussian_filter(
        rng.standard_normal((h, w)).astype(np.float32), (max(1.0, 0.006 * scale), 0.02 * scale)
    )
    strands /= strands.std() + 1e-8
    n_fine = rng.standard_normal((h, w)).astype(np.float32)
    depth = np.clip(cc / b, 0.0, 1.0)  # 0 at the chest wall, 1 at the nipple
    thickness = np.clip((1.0 - rho) / rng.uniform(0.22, 0.32), 0.0, 1.0) ** 0.7
    gland = _smoothstep(
        0.10 * density
        + 0.16 * n_coarse
        + 0.08 * n_mid
        + 0.04 * strands
        - 0.30 * depth
        + 0.25 * np.clip(1.0 - rho, 0, 1)
    )
    tissue = thickness * (_FAT + _GLAND * gland + 0.012 * strands) + 0.003 * n_fine
    corner = np.clip(1.0 - np.hypot(rr / h, cc / w), 0.0, 1.0)
    muscle = thickness * (_PECTORAL - 0.06 + 0.10 * corner + 0.02 * n_coarse + 0.01 * strands)
    tissue = np.where(pectoral, muscle, tissue)
    tissue = np.where(breast, tissue, 0.0).astype(np.float32)
    return tissue, breast, pectoral


def breast_phantom(
    shape: tuple[int, int], laterality: str, view: str, density: int, rng: np.random.Generator
) -> BreastPhantom:
    """Render a lesion-free breast.

    Args:
        shape: ``(H, W)`` of the image.
        laterality: ``"L"`` (chest wall on the image's left edge) or ``"R"`` (right edge).
        view: ``"CC"`` or ``"MLO"`` (MLO adds the pectoral muscle and a taller breast reaching the top edge).
        density: BI-RADS breast density 1-4 (more glandular tissue for higher values).
        rng: the random generator (the only source of randomness).
    """
    if laterality not in ("L", "R"):
        raise ValueError(f"laterality must be 'L' or 'R', got {laterality!r}")
    if view not in ("CC", "MLO"):
        raise ValueError(f"view must be 'CC' or 'MLO', got {view!r}")
    tissue, breast, pectoral = _canonical_breast(shape, view, int(density), rng)
    if laterality == "R":
        tissue, breast, pectoral = (np.ascontiguousarray(x[:, ::-1]) for x in (tissue, breast, pectoral))
    return BreastPhantom(tissue, breast, pectoral, "left" if laterality == "L" else "right")


@dataclass
class LesionSpec:
    """What to draw for one lesion.

    Attributes:
        kind: ``"mass"`` (also used for distortions/asymmetries) or ``"calcification"`` (a dot cluster).
        radius: envelope radius in pixels: the lesion fits in a circle of this radius around its centre.
        style: one of :data:`MASS_STYLES` for masses, :data:`CALC_STYLES` for calcification clusters.
        contrast: film-density increase at the centre of a mass (``None``: chosen from the style).
        n_dots: number of calcifications of a cluster (``None``: random 6-18).
        center: a fixed ``(row, col)`` centre; ``None`` lets :func:`render_mammogram` place it.
    """

    kind: str
    radius: float
    style: str = "oval"
    contrast: float | None = None
    n_dots: int | None = None
    center: tuple[int, int] | None = None


def place_lesions(
    allowed: np.ndarray,
    radii: Sequence[float],
    rng: np.random.Generator,
    gap: float = 4.0,
    max_tries: int = 300,
) -> tuple[list[tuple[int, int]], list[float]]:
    """Pick non-overlapping integer centres for circles of ``radii`` inside the ``allowed`` region.

    A centre is accepted when the circle (plus ``gap`` pixels) lies inside ``allowed`` (the image border
    counts as outside) and keeps ``gap`` pixels from every circle already placed. When no place is found a
    radius is shrunk by 15% and the search repeated (down to 3 pixels).

    Returns:
        the centres ``[(row, col), ...]`` and the (possibly shrunk) radii, in the order of ``radii``.

    Raises:
        RuntimeError: a lesion does not fit even at radius 3.
    """
    dist = ndimage.distance_transform_edt(np.pad(allowed, 1))[1:-1, 1:-1]
    centres: list[tuple[int, int]] = []
    out_radii: list[float] = []
    for radius in radii:
        r = float(radius)
        while True:
            cand = np.argwhere(dist > r + gap)
            found = None
            if len(cand):
                picks = rng.integers(0, len(cand), size=min(max_tries, len(cand)))
                for p in picks:
                    y, x = (int(v) for v in cand[p])
                    if all(math.hypot(y - cy, x - cx) > r + cr + gap for (cy, cx), cr in zip(centres, out_radii)):
                        found = (y, x)
                        break
            if found is not None:
                centres.append(found)
                out_radii.append(r)
                break
            if r <= 3.0:
                raise RuntimeError("could not place a lesion inside the breast")
            r = max(3.0, r * 0.85)
    return centres, out_radii


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _radial_profile(style: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Coefficients of the boundary ``r(theta)`` of a lesion style, as a function on 1440 sample angles.

    Returns the sampled relative boundary (max = 1) and the relative core size for the intensity profile.
    """
    theta = np.linspace(-np.pi, np.pi, 1440, endpoint=False)
    core = 1.0
    if style == "round":
        f = 1.0 + 0.03 * np.cos(2 * theta + rng.uniform(0, 2 * np.pi))
    elif style in ("oval", "asymmetry"):
        q, phi = rng.uniform(0.55, 0.85), rng.uniform(0, np.pi)
        f = 1.0 / np.sqrt(np.cos(theta - phi) ** 2 + (np.sin(theta - phi) / q) ** 2)
    elif style == "lobulated":
        f = np.ones_like(theta)
        for k in (3, 4, 5):
            f += rng.uniform(0.06, 0.14) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    elif style in ("irregular", "ill_defined"):
        f = np.ones_like(theta)
        for k in range(2, 9):
            f += rng.uniform(0.03, 0.12) / math.sqrt(k) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    elif style in ("spiculated", "distortion"):
        core = 0.55 if style == "spiculated" else 0.25
        n = int(rng.integers(8, 15))
        angles = rng.uniform(-np.pi, np.pi, n)
        lengths = rng.uniform(0.6, 1.0, n)
        widths = rng.uniform(0.05, 0.10, n)
        spikes = np.max(
            lengths[:, None] * np.exp(-(_wrap(theta[None, :] - angles[:, None]) ** 2) / (2 * widths[:, None] ** 2)),
            axis=0,
        )
        f = core + (1.0 - core) * spikes
    else:
        raise ValueError(f"unknown mass style {style!r}; expected one of {MASS_STYLES}")
    f = f / f.max()
    return f.astype(np.float32), core


def _window(
    shape: tuple[int, int], center: tuple[int, int], half: float
) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    h, w = shape
    cy, cx = center
    r0, r1 = max(0, int(cy - half) - 1), min(h, math.ceil(cy + half) + 2)
    c0, c1 = max(0, int(cx - half) - 1), min(w, math.ceil(cx + half) + 2)
    dy = np.arange(r0, r1, dtype=np.float32)[:, None] - cy
    dx = np.arange(c0, c1, dtype=np.float32)[None, :] - cx
    return slice(r0, r1), slice(c0, c1), dy, dx


def draw_mass(
    image: np.ndarray,
    center: tuple[int, int],
    radius: float,
    style: str,
    rng: np.random.Generator,
    contrast: float | None = None,
) -> np.ndarray:
    """Add a mass-like density to ``image`` (in place) and return its mask.

    Args:
        image: ``(H, W)`` float film density, modified in place.
        center: ``(row, col)`` of the lesion.
        radius: the lesion's boundary lies within this radius of ``center``.
        style: one of :data:`MASS_STYLES`.
        rng: random generator.
        contrast: density added at the centre (``None``: 0.16-0.30, lower for asymmetries/distortions).

    Returns:
        ``(H, W)`` bool mask of the lesion (non-empty).
    """
    f, core = _radial_profile(style, rng)
    if contrast is None:
        contrast = rng.uniform(0.07, 0.12) if style in ("asymmetry", "distortion") else rng.uniform(0.20, 0.32)
    rs, cs, dy, dx = _window(image.shape, center, radius)
    dist = np.hypot(dy, dx)
    idx = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * len(f)).astype(np.int64) % len(f)
    boundary = np.maximum(radius * f[idx], 1.0)
    inside = dist <= boundary
    inside[int(center[0]) - rs.start, int(center[1]) - cs.start] = True
    if style in ("spiculated", "distortion"):
        # a dense core plus thinner, fainter spicules
        rel = dist / boundary
        body = np.clip(1.0 - (dist / (radius * core + 1e-6)) ** 2, 0.0, 1.0) ** 0.6
        spic = np.where(inside, 0.55 * (1.0 - rel), 0.0)
        profile = np.maximum(body, spic)
    else:
        profile = np.clip(1.0 - (dist / boundary) ** 2, 0.0, 1.0) ** 0.5
    if style in ("ill_defined", "asymmetry"):
        profile = ndimage.gaussian_filter(profile, max(1.0, 0.15 * radius))
    texture = 1.0 + 0.08 * rng.standard_normal(profile.shape).astype(np.float32)
    image[rs, cs] += (contrast * profile * texture).astype(image.dtype)
    mask = np.zeros(image.shape, dtype=bool)
    mask[rs, cs] = inside
    return mask


def _draw_dots(image: np.ndarray, rows: np.ndarray, cols: np.ndarray, radii: np.ndarray, values: np.ndarray) -> None:
    """Draw soft bright dots (calcifications) in place: ``image = max(image, dot)``."""
    h, w = image.shape
    for y, x, r, v in zip(rows, cols, radii, values):
        rs, cs, dy, dx = _window((h, w), (float(y), float(x)), r + 1.5)
        d = np.hypot(dy, dx)
        dot = v * np.clip(1.5 - d / max(r, 0.5), 0.0, 1.0).clip(max=1.0)
        image[rs, cs] = np.maximum(image[rs, cs], dot.astype(image.dtype))


def draw_calcification_cluster(
    image: np.ndarray,
    center: tuple[int, int],
    radius: float,
    rng: np.random.Generator,
    style: str = "clustered",
    n_dots: int | None = None,
    dot_scale: float = 1.0,
) -> np.ndarray:
    """Add a cluster of small very bright dots to ``image`` (in place) and return the cluster's mask.

    The mask is the cluster envelope (a slightly lobulated disc of ``radius``), like the hand-drawn CBIS-DDSM
    outlines; every dot centre lies inside it.

    Args:
        image: ``(H, W)`` float film density, modified in place.
        center: ``(row, col)`` of the cluster.
        radius: envelope radius in pixels.
        rng: random generator.
        style: ``"clustered"`` (dots spread over the envelope) or ``"linear"`` (dots along a line).
        n_dots: number of dots (``None``: random 6-18).
        dot_scale: multiplies the dot radii (about 0.7-1.8 px at scale 1).

    Returns:
        ``(H, W)`` bool mask of the cluster envelope.
    """
    if style not in CALC_STYLES:
        raise ValueError(f"unknown calcification style {style!r}; expected one of {CALC_STYLES}")
    f, _ = _radial_profile("lobulated", rng)
    f = 0.85 + 0.15 * f  # gently lobulated envelope, max 1
    rs, cs, dy, dx = _window(image.shape, center, radius)
    idx = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * len(f)).astype(np.int64) % len(f)
    inside = np.hypot(dy, dx) <= np.maximum(radius * f[idx], 1.0)
    inside[int(center[0]) - rs.start, int(center[1]) - cs.start] = True
    mask = np.zeros(image.shape, dtype=bool)
    mask[rs, cs] = inside

    n = int(n_dots) if n_dots is not None else int(rng.integers(6, 19))
    reach = 0.7 * radius * 0.85  # dot centres stay well inside the envelope's smallest radius
    if style == "linear":
        phi = rng.uniform(0, np.pi)
        t = rng.uniform(-1.0, 1.0, n) * reach
        off = rng.normal(0.0, 0.08 * reach, n)
        ry, rx = t * np.sin(phi) + off * np.cos(phi), t * np.cos(phi) - off * np.sin(phi)
    else:
        ang = rng.uniform(-np.pi, np.pi, n)
        rad = reach * np.sqrt(rng.uniform(0.0, 1.0, n))
        ry, rx = rad * np.sin(ang), rad * np.cos(ang)
    rows = np.clip(center[0] + ry, 0, image.shape[0] - 1)
    cols = np.clip(center[1] + rx, 0, image.shape[1] - 1)
    radii = rng.uniform(0.7, 1.8, n) * dot_scale
    values = rng.uniform(_CALC, 0.99, n)
    image[mask] += 0.02  # a faint haze of tissue around the cluster
    _draw_dots(image, rows, cols, radii, values)
    return mask


def draw_scattered_calcifications(
    image: np.ndarray, allowed: np.ndarray, rng: np.random.Generator, n: int = 40, dot_scale: float = 1.0
) -> None:
    """Sprinkle ``n`` calcifications over the ``allowed`` region (diffuse calcifications, no single site)."""
    cand = np.argwhere(allowed)
    if len(cand) == 0:
        return
    pos = cand[rng.integers(0, len(cand), size=n)]
    _draw_dots(image, pos[:, 0], pos[:, 1], rng.uniform(0.7, 1.8, n) * dot_scale, rng.uniform(_CALC, 0.99, n))


def _glyphs(h: int, w: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(h, n*w)`` bool: ``n`` pseudo-characters drawn on a 5 x 3 cell grid (text-like blocks)."""
    out = np.zeros((h, n * w), dtype=bool)
    ch, cw = max(1, h // 5), max(1, (w * 3 // 4) // 3)
    for i in range(n):
        cells = rng.random((5, 3)) < 0.6
        cells[rng.integers(0, 5), :] = True  # every glyph has a bar, like most letters
        glyph = np.kron(cells, np.ones((ch, cw), dtype=bool))[:h, :w]
        out[: glyph.shape[0], i * w : i * w + glyph.shape[1]] = glyph
    return out


def add_film_label(
    image: np.ndarray, avoid: np.ndarray, chest_wall: str, rng: np.random.Generator, far_margin: int = 0
) -> tuple[int, int, int, int] | None:
    """Burn a bright rectangular film label with dark text-like glyphs into ``image`` (in place).

    The label goes in the half of the image away from the chest wall, at the top or bottom, where it
    keeps a few pixels from every ``avoid`` pixel (the breast); ``far_margin`` pixels along the far edge
    are kept free (for an edge artefact).

    Returns:
        the label box ``(row0, col0, row1, col1)`` (half-open), or ``None`` when it did not fit.
    """
    h, w = image.shape
    lh = max(8, int(h * rng.uniform(0.05, 0.07)))
    lw = max(16, int(w * rng.uniform(0.16, 0.22)))
    pad = max(3, min(h, w) // 64)
    grown = ndimage.binary_dilation(avoid, iterations=pad) if avoid.any() else avoid
    edge = max(pad, int(0.03 * w)) + far_margin
    tops = [pad + int(rng.integers(0, max(1, h // 12))), h - lh - pad - int(rng.integers(0, max(1, h // 12)))]
    if rng.random() < 0.5:
        tops.reverse()
    for top in [*tops, h // 2 - lh // 2]:
        left = w - edge - lw if chest_wall == "left" else edge
        if left < 0 or top < 0 or top + lh > h or left + lw > w:
            continue
        if grown[top : top + lh, left : left + lw].any():
            continue
        box = image[top : top + lh, left : left + lw]
        box[...] = _LABEL + rng.uniform(-0.04, 0.05) + 0.01 * rng.standard_normal(box.shape)
        n = int(rng.integers(2, 5))
        gh, gw = max(5, int(lh * 0.6)), max(3, (lw - 2 * pad) // n)
        text = _glyphs(gh, gw, n, rng)
        t0, c0 = top + (lh - gh) // 2, left + (lw - text.shape[1]) // 2
        region = image[t0 : t0 + gh, c0 : c0 + text.shape[1]]
        region[text[: region.shape[0], : region.shape[1]]] = rng.uniform(0.08, 0.2)
        return top, left, top + lh, left + lw
    return None


def add_edge_artefact(
    image: np.ndarray, avoid: np.ndarray, chest_wall: str, rng: np.random.Generator, width: int | None = None
) -> int:
    """Burn a bright scanner-tape / film-edge strip along the edge opposite the chest wall (in place).

    The strip is narrowed so that it never touches an ``avoid`` pixel (the breast).

    Returns:
        the strip width in pixels (0 when there was no room).
    """
    h, w = image.shape
    cols = np.nonzero(avoid.any(axis=0))[0]
    if chest_wall == "left":
        room = w - (int(cols.max()) + 1 if len(cols) else 0) - 3
    else:
        room = (int(cols.min()) if len(cols) else w) - 3
    if width is None:
        width = int(w * rng.uniform(0.015, 0.04))
    width = max(0, min(width, room))
    if width < 2:
        return 0
    along = 0.62 + 0.12 * smooth_noise((h, 1), max(2.0, h / 16), rng)[:, 0] + 0.05 * rng.uniform(-1, 1)
    across = np.linspace(0.7, 1.0, width, dtype=np.float32)
    strip = np.clip(along[:, None] * across[None, :], 0.3, 0.9)
    if chest_wall == "left":
        image[:, w - width :] = strip
    else:
        image[:, :width] = strip[:, ::-1]
    return width


@dataclass
class RenderedMammogram:
    """The output of :func:`render_mammogram`.

    Attributes:
        image: ``(H, W)`` float32 film density in ``[0, 1]``.
        masks: one ``(H, W)`` bool mask per requested lesion, in request order.
        centers: the ``(row, col)`` centre of each lesion.
        radii: the envelope radius actually used for each lesion (may be shrunk to fit).
        breast: ``(H, W)`` bool breast region; ``pectoral`` likewise.
        label_box: the film label box or ``None``; ``artefact_width``: width of the edge strip (0: none).
    """

    image: np.ndarray
    masks: list[np.ndarray]
    centers: list[tuple[int, int]]
    radii: list[float]
    breast: np.ndarray
    pectoral: np.ndarray
    chest_wall: str
    label_box: tuple[int, int, int, int] | None = None
    artefact_width: int = 0


def render_mammogram(
    shape: tuple[int, int],
    laterality: str,
    view: str,
    density: int,
    rng: np.random.Generator,
    lesions: Sequence[LesionSpec] = (),
    label: bool = True,
    edge_artefact: bool = False,
    scattered_calcifications: int = 0,
    noise: float = 0.004,
) -> RenderedMammogram:
    """Render a whole film mammogram with lesions.

    Args:
        shape: ``(H, W)`` of the image.
        laterality: ``"L"`` (chest wall on the left edge) or ``"R"`` (right edge).
        view: ``"CC"`` or ``"MLO"``.
        density: BI-RADS density 1-4.
        rng: the random generator (the only source of randomness: same state, same image).
        lesions: what to draw; lesions without a fixed centre are placed inside the breast, outside the
            pectoral muscle, away from the skin line and not overlapping each other.
        label: burn a film label outside the breast.
        edge_artefact: add a bright scanner-tape strip along the edge opposite the chest wall.
        scattered_calcifications: number of diffuse calcifications sprinkled over the breast (no mask).
        noise: standard deviation of the film grain.

    Returns:
        a :class:`RenderedMammogram`; ``image`` is ``(H, W)`` float32 in ``[0, 1]``.
    """
    h, w = shape
    phantom = breast_phantom(shape, laterality, view, density, rng)
    image = phantom.tissue.copy()
    scale = min(h, w)

    artefact_width = add_edge_artefact(image, phantom.breast, phantom.chest_wall, rng) if edge_artefact else 0
    label_box = (
        add_film_label(image, phantom.breast, phantom.chest_wall, rng, far_margin=artefact_width) if label else None
    )

    gap = max(3.0, 0.012 * scale)
    keep_out = ndimage.binary_dilation(phantom.pectoral, iterations=int(gap)) if phantom.pectoral.any() else None
    allowed = phantom.breast if keep_out is None else phantom.breast & ~keep_out
    free = [i for i, spec in enumerate(lesions) if spec.center is None]
    centers: list[tuple[int, int] | None] = [spec.center for spec in lesions]
    radii = [float(spec.radius) for spec in lesions]
    if free:
        fixed_allowed = allowed.copy()
        for spec in lesions:
            if spec.center is not None:  # keep placed lesions away from fixed ones
                rs, cs, dy, dx = _window(shape, spec.center, spec.radius + gap)
                fixed_allowed[rs, cs] &= np.hypot(dy, dx) > spec.radius + gap
        got, got_r = place_lesions(fixed_allowed, [radii[i] for i in free], rng, gap=gap)
        for i, c, r in zip(free, got, got_r):
            centers[i], radii[i] = c, r

    masks = []
    dot_scale = max(1.0, scale / 400.0)
    for spec, center, radius in zip(lesions, centers, radii):
        if center is None:  # pragma: no cover - every free lesion was placed above
            raise RuntimeError("lesion without a centre")
        if spec.kind == "calcification":
            m = draw_calcification_cluster(image, center, radius, rng, spec.style, spec.n_dots, dot_scale)
        elif spec.kind == "mass":
            m = draw_mass(image, center, radius, spec.style, rng, spec.contrast)
        else:
            raise ValueError(f"unknown lesion kind {spec.kind!r}; expected 'mass' or 'calcification'")
        masks.append(m & phantom.breast)
    if scattered_calcifications:
        draw_scattered_calcifications(image, allowed, rng, scattered_calcifications, dot_scale)

    grain = rng.standard_normal(shape).astype(np.float32)
    image = np.where(phantom.breast, image + 2.0 * noise * grain, image)
    background = ~phantom.breast & (image <= 0.0)
    image = np.where(background, np.maximum(noise * grain, 0.0), image)
    image = np.clip(image, 0.0, 1.0).astype(np.float32)
    return RenderedMammogram(
        image=image,
        masks=masks,
        centers=[(int(c[0]), int(c[1])) for c in centers if c is not None],
        radii=radii,
        breast=phantom.breast,
        pectoral=phantom.pectoral,
        chest_wall=phantom.chest_wall,
        label_box=label_box,
        artefact_width=artefact_width,
    )


def to_uint16(image: np.ndarray, full_scale: float = 60500.0) -> np.ndarray:
    """Quantise a ``[0, 1]`` film density to ``uint16`` (1.0 -> ``full_scale``, about the real CBIS maximum)."""
    return np.round(np.clip(image, 0.0, 1.0) * full_scale).astype(np.uint16)


def to_uint8(image: np.ndarray, full_scale: float = 255.0) -> np.ndarray:
    """Quantise a ``[0, 1]`` film density to ``uint8``."""
    return np.round(np.clip(image, 0.0, 1.0) * full_scale).astype(np.uint8)
