"""Contact sheet of the breast mask and the pectoral line on every MIAS film: original | breast mask | pectoral line.

Each film goes through the full-mammogram pipeline (crop to the breast, resize, laterality normalisation so
the chest wall is on the left, breast mask, windowing) and then the pectoral-muscle detection. The pages show
the original film, the processed film with the breast-mask outline (green), and the processed film with the
detected pectoral line (red) or "no muscle found"; lesion centres are marked (yellow) on the original.
It also prints how many lesion centres fall inside the removed muscle region (mapped back to the original
grid with Invertd) and writes that list next to the pages.

    .venv/bin/python scripts/contact_sheet_pectoral.py [--mias ../shared/data/mias] [--out outputs/contact_sheets]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
THUMB = 128
PER_PAGE = 24


def _thumb(arr: np.ndarray) -> Image.Image:
    arr = np.asarray(arr, dtype=np.float32)
    low, high = np.percentile(arr, (1, 99.5))
    scaled = np.clip((arr - low) / max(high - low, 1e-6), 0, 1) * 255
    img = Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    img.thumbnail((THUMB, THUMB))
    canvas = Image.new("RGB", (THUMB, THUMB))
    canvas.paste(img, (0, 0))
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mias", type=Path, default=REPO.parent / "shared" / "data" / "mias")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "contact_sheets")
    parser.add_argument("--size", type=int, default=512, help="working resolution of the pipeline")
    args = parser.parse_args()
    if not (args.mias / "Info.txt").is_file():
        print(f"no MIAS folder at {args.mias}", file=sys.stderr)
        return 1
    logging.getLogger("monai").setLevel(logging.ERROR)
    from monai.transforms import Invertd
    from scipy import ndimage

    from mammo_monai.data.mias import index_mias
    from mammo_monai.transforms import RemovePectoralMuscled, full_mammogram_config, instantiate_transforms

    with tempfile.TemporaryDirectory() as tmp:
        result = index_mias(args.mias, Path(tmp) / "mias.json", progress=False)
        items = sorted((i for split in result.datalist.values() for i in split), key=lambda i: i["image"])
        config = [c for c in full_mammogram_config(label_key=None, spatial_size=args.size)
                  if c["_target_"] not in ("SpatialPadd", "EnsureTyped")]
        pipeline = instantiate_transforms(config)
        remover = RemovePectoralMuscled(keys="image", write_mask=True)
        args.out.mkdir(parents=True, exist_ok=True)
        tiles, found, in_muscle = [], 0, []
        for item in items:
            out = remover(pipeline(dict(item)))
            original = np.asarray(Image.open(item["image"]))
            line = out["pectoral_line"]
            found += line is not None
            if line is not None:
                back = Invertd(keys="pectoral_mask", transform=pipeline, orig_keys="image",
                               nearest_interp=True)(out)["pectoral_mask"]
                muscle = np.asarray(back[0]) > 0
                for lesion in item["lesions"]:
                    if lesion["center"]:
                        r, c = (min(round(v), s - 1) for v, s in zip(lesion["center"], original.shape))
                        if muscle[r, c]:
                            in_muscle.append({"image": Path(item["image"]).name, "type": lesion["type"],
                                              "center": lesion["center"]})
            first = _thumb(original)
            draw = ImageDraw.Draw(first)
            scale = THUMB / max(original.shape)
            for lesion in item["lesions"]:
                if lesion["center"]:
                    r, c = lesion["center"][0] * scale, lesion["center"][1] * scale
                    draw.ellipse([c - 3, r - 3, c + 3, r + 3], outline=(255, 220, 0))
            draw.text((2, 2), Path(item["image"]).stem, fill=(0, 255, 255))
            processed = np.asarray(out["image"][0])
            breast = np.asarray(out["breast_mask"][0]) > 0
            second = _thumb(processed)
            pscale = THUMB / max(processed.shape)
            edge = breast ^ ndimage.binary_erosion(breast, iterations=2)
            rr, cc = np.nonzero(edge)
            pix = second.load()
            for r, c in zip((rr * pscale).astype(int), (cc * pscale).astype(int)):
                if r < THUMB and c < THUMB:
                    pix[int(c), int(r)] = (0, 255, 0)
            third = _thumb(processed)
            draw = ImageDraw.Draw(third)
            if line is None:
                draw.text((2, 2), "no muscle", fill=(255, 80, 80))
            else:
                (_, col_top), (row_left, _) = line
                draw.line([(col_top * pscale, 0), (0, row_left * pscale)], fill=(255, 0, 0), width=2)
            tile = Image.new("RGB", (3 * THUMB + 4, THUMB), (40, 40, 40))
            for k, panel in enumerate((first, second, third)):
                tile.paste(panel, (k * (THUMB + 2), 0))
            tiles.append(tile)
        pages = []
        for start in range(0, len(tiles), PER_PAGE):
            chunk = tiles[start:start + PER_PAGE]
            columns = 4
            page = Image.new("RGB", (columns * (3 * THUMB + 10), ((len(chunk) + columns - 1) // columns) * (THUMB + 6)))
            for k, tile in enumerate(chunk):
                page.paste(tile, ((k % columns) * (3 * THUMB + 10), (k // columns) * (THUMB + 6)))
            path = args.out / f"pectoral_page{start // PER_PAGE + 1:02d}.png"
            page.save(path)
            pages.append(path)
    report = {"images": len(items), "muscle_found": found, "lesion_centres_in_removed_region": in_muscle,
              "pages": [str(p) for p in pages]}
    (args.out / "pectoral_report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"{len(items)} films, pectoral muscle found on {found}; lesion centres inside the removed region: "
          f"{len(in_muscle)} {[x['image'] for x in in_muscle]}")
    print(f"pages: {args.out}/pectoral_page*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
