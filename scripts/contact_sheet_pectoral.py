"""Contact sheet of the breast mask and the pectoral line on every MIAS film: original | breast mask | pectoral line.

Each film is read as it is (no crop, no flip): the breast mask (:class:`BreastMask`) is drawn as a green
outline, and the pectoral muscle found with ``side="auto"`` (:class:`PectoralMuscleMask`: the chest wall of
a right breast is on the film's right) as a red line with the removed region tinted, or "no muscle".
Ground-truth lesion centres are yellow circles. The script also lists the lesion centres outside the breast
mask and inside the removed muscle region, and writes them and the per-film facts to ``pectoral_report.json``
beside the pages (``outputs/`` is git-ignored).

    .venv/bin/python scripts/contact_sheet_pectoral.py [--mias ../shared/data/mias] [--out outputs/contact_sheets]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]


def _panel(film: np.ndarray, thumb: int) -> tuple[Image.Image, float]:
    """The film scaled to fit ``thumb`` (grey, RGB) on a ``thumb`` x ``thumb`` canvas, and the scale."""
    scale = thumb / max(film.shape)
    img = Image.fromarray(film).convert("RGB").resize((round(film.shape[1] * scale), round(film.shape[0] * scale)),
                                                      Image.BILINEAR)
    canvas = Image.new("RGB", (thumb, thumb))
    canvas.paste(img, (0, 0))
    return canvas, scale


def _outline(mask: np.ndarray, thumb: int, scale: float) -> np.ndarray:
    """The mask's outline on the thumbnail grid (``bool`` ``thumb x thumb``)."""
    from scipy import ndimage

    small = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(
        (round(mask.shape[1] * scale), round(mask.shape[0] * scale)), Image.NEAREST)) > 0
    edge = small & ~ndimage.binary_erosion(small)
    out = np.zeros((thumb, thumb), bool)
    out[: edge.shape[0], : edge.shape[1]] = edge[:thumb, :thumb]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mias", type=Path, default=REPO.parent / "shared" / "data" / "mias")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "contact_sheets",
                        help="a folder (pages pectoral_pageNN.png) or a .png file name (its stem is used)")
    parser.add_argument("--thumb", type=int, default=128, help="thumbnail size of each panel (pixels)")
    parser.add_argument("--per-page", type=int, default=36, help="films per page")
    args = parser.parse_args()
    if not (args.mias / "Info.txt").is_file():
        print(f"no MIAS folder at {args.mias} (Info.txt missing)", file=sys.stderr)
        return 1
    from mammo_monai.data.mias import index_mias
    from mammo_monai.transforms import BreastMask, PectoralMuscleMask

    out_dir, stem = (args.out.parent, args.out.stem) if args.out.suffix.lower() == ".png" else (args.out, "pectoral")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = index_mias(args.mias, Path(tmp) / "mias.json", progress=False)
    items = sorted((i for split in result.datalist.values() for i in split), key=lambda i: i["image"])
    masker, finder = BreastMask(), PectoralMuscleMask(side="auto")
    thumb, tiles, facts = args.thumb, [], []
    for item in items:
        film = np.asarray(Image.open(item["image"]).convert("L"))
        name = Path(item["image"]).stem
        breast = np.asarray(masker(film[None]))[0] > 0
        muscle, line = finder(film[None], breast)
        muscle = np.asarray(muscle[0]) > 0
        centres = [lesion["center"] for lesion in item["lesions"] if lesion["center"]]
        pixels = [tuple(min(round(v), s - 1) for v, s in zip(c, film.shape)) for c in centres]
        facts.append({"image": name, "chest_wall": finder.last_side, "pectoral_line": line,
                      "muscle_share_of_breast": round(float(muscle.sum() / max(breast.sum(), 1)), 3),
                      "centres_outside_mask": [c for c, p in zip(centres, pixels) if not breast[p]],
                      "centres_in_removed_muscle": [c for c, p in zip(centres, pixels) if muscle[p]]})
        panels = []
        for k in range(3):
            panel, scale = _panel(film, thumb)
            draw = ImageDraw.Draw(panel)
            if k == 1:
                pix = np.asarray(panel).copy()
                pix[_outline(breast, thumb, scale)] = (0, 255, 0)
                panel = Image.fromarray(pix)
                draw = ImageDraw.Draw(panel)
            if k == 2:
                if line is None:
                    draw.text((2, thumb - 12), "no muscle", fill=(255, 80, 80))
                else:
                    pix = np.asarray(panel).copy()
                    tinted = np.zeros((thumb, thumb), bool)
                    shown = np.asarray(Image.fromarray(muscle.astype(np.uint8) * 255).resize(
                        (round(film.shape[1] * scale), round(film.shape[0] * scale)), Image.NEAREST)) > 0
                    tinted[: shown.shape[0], : shown.shape[1]] = shown[:thumb, :thumb]
                    pix[tinted] = (pix[tinted] * 0.6 + np.array([100, 0, 0])).astype(np.uint8)
                    panel = Image.fromarray(pix)
                    draw = ImageDraw.Draw(panel)
                    (r1, c1), (r2, c2) = line
                    draw.line([(c1 * scale, r1 * scale), (c2 * scale, r2 * scale)], fill=(255, 0, 0), width=2)
            for r, c in centres:
                draw.ellipse([c * scale - 3, r * scale - 3, c * scale + 3, r * scale + 3], outline=(255, 220, 0))
            if k == 0:
                draw.text((2, 2), name, fill=(0, 255, 255))
            panels.append(panel)
        tile = Image.new("RGB", (3 * thumb + 4, thumb), (40, 40, 40))
        for k, panel in enumerate(panels):
            tile.paste(panel, (k * (thumb + 2), 0))
        tiles.append(tile)
    pages, columns = [], 4
    for start in range(0, len(tiles), args.per_page):
        chunk = tiles[start : start + args.per_page]
        width, height = 3 * thumb + 12, thumb + 6
        page = Image.new("RGB", (columns * width, -(-len(chunk) // columns) * height))
        for k, tile in enumerate(chunk):
            page.paste(tile, ((k % columns) * width, (k // columns) * height))
        path = out_dir / f"{stem}_page{start // args.per_page + 1:02d}.png"
        page.save(path)
        pages.append(str(path))
    outside = [(f["image"], c) for f in facts for c in f["centres_outside_mask"]]
    in_muscle = [(f["image"], c) for f in facts for c in f["centres_in_removed_muscle"]]
    found = sum(f["pectoral_line"] is not None for f in facts)
    report = {"films": len(facts), "muscle_found": found, "lesion_centres_outside_mask": outside,
              "lesion_centres_in_removed_muscle": in_muscle, "pages": pages, "per_film": facts}
    (out_dir / f"{stem}_report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"{len(facts)} films; pectoral muscle found on {found}; lesion centres outside the breast mask: "
          f"{outside}; inside the removed muscle: {in_muscle}")
    print(f"pages: {', '.join(pages)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
