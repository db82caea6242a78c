"""Benchmark: mammo_monai's DICOM reader against a bare pydicom decode and MONAI's PydicomReader.

For each real CBIS-DDSM RLE mammogram (16-bit, ~4500x2900) in ../shared/data/dicom/cbis-ddsm, it times
(median of --repeats runs, after one warm-up):

- ``mammo``        ``mammo_monai.io.read_dicom_mammogram(path)`` (header, fastest plugin, LUT checks)
- ``bare``         ``pydicom.dcmread(path).pixel_array`` (pydicom's default plugin order)
- ``monai``        ``monai.transforms.LoadImage(reader=PydicomReader())(path)`` (MONAI's default DICOM reader)
- ``mammo_load``   ``LoadImage(reader=MammogramReader())(path)``, the same path through MONAI's LoadImage
- ``numpy_rle``    ``pydicom.pixels.pixel_array(path, decoding_plugin="pydicom")``: pydicom's own numpy RLE
                   decoder, what a reader gets when pylibjpeg-rle is missing or not chosen

and prints the ratios measured in this one run: ``bare / mammo`` and ``monai / mammo`` (> 1 means ours is
faster), and ``mammo_load / monai``.

    .venv/bin/python scripts/bench/bench_dicom_read.py [--data ../shared/data/dicom/cbis-ddsm] [--repeats 5]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pydicom

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import median_seconds  # noqa: E402  (the benchmark scripts' shared helper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dicom" / "cbis-ddsm")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    files = sorted(args.data.glob("*.dcm"))
    if not files:
        print(f"no DICOM files in {args.data}", file=sys.stderr)
        return 1

    logging.getLogger("monai").setLevel(logging.ERROR)
    from monai.data import PydicomReader
    from monai.transforms import LoadImage

    from mammo_monai.io import MammogramReader, read_dicom_mammogram

    monai_load = LoadImage(reader=PydicomReader(), image_only=True)
    mammo_load = LoadImage(reader=MammogramReader(), image_only=True)
    from pydicom.pixels import pixel_array

    header = f"{'file':<34} {'mammo ms':>9} {'bare ms':>8} {'monai ms':>9} {'load ms':>8} {'numpyRLE':>9} " \
             f"{'bare/mammo':>10} {'monai/mammo':>11}"
    print(header)
    totals = {"mammo": 0.0, "bare": 0.0, "monai": 0.0, "mammo_load": 0.0, "numpy_rle": 0.0}
    for path in files:
        t = {
            "mammo": median_seconds(lambda p=path: read_dicom_mammogram(p), args.repeats),
            "bare": median_seconds(lambda p=path: pydicom.dcmread(p).pixel_array, args.repeats),
            "monai": median_seconds(lambda p=path: monai_load(str(p)), args.repeats),
            "mammo_load": median_seconds(lambda p=path: mammo_load(str(p)), args.repeats),
            "numpy_rle": median_seconds(lambda p=path: pixel_array(p, decoding_plugin="pydicom"), args.repeats),
        }
        for key in totals:
            totals[key] += t[key]
        print(f"{path.name:<34} {t['mammo'] * 1e3:9.1f} {t['bare'] * 1e3:8.1f} {t['monai'] * 1e3:9.1f} "
              f"{t['mammo_load'] * 1e3:8.1f} {t['numpy_rle'] * 1e3:9.1f} {t['bare'] / t['mammo']:10.2f} "
              f"{t['monai'] / t['mammo']:11.2f}")
    print(f"{'all files':<34} {totals['mammo'] * 1e3:9.1f} {totals['bare'] * 1e3:8.1f} {totals['monai'] * 1e3:9.1f} "
          f"{totals['mammo_load'] * 1e3:8.1f} {totals['numpy_rle'] * 1e3:9.1f} "
          f"{totals['bare'] / totals['mammo']:10.2f} {totals['monai'] / totals['mammo']:11.2f}")
    print(f"\nratio bare pydicom / mammo_monai reader: {totals['bare'] / totals['mammo']:.2f}x")
    print(f"ratio MONAI PydicomReader / mammo_monai reader: {totals['monai'] / totals['mammo']:.2f}x")
    print(f"ratio LoadImage(MONAI PydicomReader) / LoadImage(MammogramReader): "
          f"{totals['monai'] / totals['mammo_load']:.2f}x")
    print(f"ratio pydicom numpy RLE decoder / mammo_monai reader: {totals['numpy_rle'] / totals['mammo']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
