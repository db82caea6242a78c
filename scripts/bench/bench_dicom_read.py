"""Benchmark: mammo_monai's DICOM reader against bare decodes (dicomsdl, pydicom) and MONAI's PydicomReader.

For each real mammogram given (default: the four CBIS-DDSM RLE films, 16-bit ~4500x2900, in
../shared/data/dicom/cbis-ddsm and the DDSM JPEG 2000 film in ../shared/data/dicom/nema-wg04), it times
(median of --repeats runs, after one warm-up).

Table 1, the decoders and the pipeline (run in turn, one of each per round, so a noisy machine slows all alike):

- ``dicomsdl``     bare dicomsdl: ``dicomsdl.open(path)`` + ``copyFrameData`` into a numpy array
- ``pylibjpeg``    bare pydicom + pylibjpeg: ``pydicom.pixels.pixel_array(pydicom.dcmread(path),
                   decoding_plugin="pylibjpeg")``
- ``reader``       ``mammo_monai.io.read_dicom_mammogram(path)`` (header, metadata, dicomsdl first, LUT checks)
- ``tensor``       DICOM -> preprocessed tensor: ``full_mammogram_transforms(spatial_size=1024)`` on
                   ``{"image": path, "laterality": ...}`` (what ``bench_pipeline.py`` times: load, breast crop +
                   resize + mask, laterality, suppression, windowing, padding)

and prints ``reader / fastest bare decode`` and ``tensor / fastest bare decode`` per file and overall (the
issue's P1 target: the tensor within 1.2x of the fastest bare decode).

Table 2 (CBIS-DDSM RLE files only; ``--no-monai`` skips it), the reader against pydicom and MONAI:

- ``mammo``        ``mammo_monai.io.read_dicom_mammogram(path)`` (header, fastest plugin, LUT checks)
- ``bare``         ``pydicom.dcmread(path).pixel_array`` (pydicom's default plugin order)
- ``monai``        ``monai.transforms.LoadImage(reader=PydicomReader())(path)`` (MONAI's default DICOM reader)
- ``mammo_load``   ``LoadImage(reader=MammogramReader())(path)``, the same path through MONAI's LoadImage
- ``numpy_rle``    ``pydicom.pixels.pixel_array(path, decoding_plugin="pydicom")``: pydicom's own numpy RLE
                   decoder, what a reader gets when pylibjpeg-rle is missing or not chosen

and prints the ratios measured in this one run: ``bare / mammo`` and ``monai / mammo`` (> 1 means ours is
faster), and ``mammo_load / monai``.

    .venv/bin/python scripts/bench/bench_dicom_read.py [FILE_OR_FOLDER ...] [--repeats 5] [--threads 2] [--no-monai]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pydicom

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved_medians, median_seconds  # noqa: E402  (the benchmark scripts' shared helper)

SHARED_DICOM = REPO.parent / "shared" / "data" / "dicom"


def bare_dicomsdl(path: Path):
    """dicomsdl alone: open the file, decode the first frame into a numpy array of its own dtype."""
    import dicomsdl
    import numpy as np

    dataset = dicomsdl.open(str(path))
    info = dataset.getPixelDataInfo()
    out = np.empty((info["Rows"], info["Cols"]), dtype=info["dtype"])
    dataset.copyFrameData(0, out)
    return out


def bare_pylibjpeg(path: Path):
    """pydicom + pylibjpeg alone: read the file, decode with the pylibjpeg plugin."""
    from pydicom.pixels import pixel_array

    return pixel_array(pydicom.dcmread(path), decoding_plugin="pylibjpeg")


def decoders_and_pipeline(files: list[Path], repeats: int) -> None:
    """Table 1: bare dicomsdl, bare pydicom + pylibjpeg, our reader, our DICOM -> tensor pipeline."""
    from mammo_monai.io import dicomsdl_available, read_dicom_header, read_dicom_mammogram
    from mammo_monai.transforms import full_mammogram_transforms

    pipeline = full_mammogram_transforms(spatial_size=1024, label_key=None)
    print(f"{'file':<34} {'dicomsdl ms':>11} {'pylibjpeg ms':>12} {'reader ms':>9} {'tensor ms':>9} "
          f"{'reader/fastest':>14} {'tensor/fastest':>14}  decoder")
    totals = {"dicomsdl": 0.0, "pylibjpeg": 0.0, "reader": 0.0, "tensor": 0.0, "fastest": 0.0}
    for path in files:
        item = {"image": str(path), "laterality": read_dicom_header(path)["laterality"]}
        fns = {"pylibjpeg": lambda p=path: bare_pylibjpeg(p),
               "reader": lambda p=path: read_dicom_mammogram(p),
               "tensor": lambda i=item: pipeline(dict(i))}
        if dicomsdl_available():
            fns = {"dicomsdl": lambda p=path: bare_dicomsdl(p), **fns}
        t = interleaved_medians(fns, repeats)
        t.setdefault("dicomsdl", float("nan"))
        fastest = min(v for k, v in t.items() if k in ("dicomsdl", "pylibjpeg") and v == v)
        for key in totals:
            totals[key] += fastest if key == "fastest" else t[key]
        decoder = read_dicom_mammogram(path)[1]["decoder"]
        print(f"{path.name:<34} {t['dicomsdl'] * 1e3:11.1f} {t['pylibjpeg'] * 1e3:12.1f} {t['reader'] * 1e3:9.1f} "
              f"{t['tensor'] * 1e3:9.1f} {t['reader'] / fastest:14.2f} {t['tensor'] / fastest:14.2f}  {decoder}")
    print(f"{'all files':<34} {totals['dicomsdl'] * 1e3:11.1f} {totals['pylibjpeg'] * 1e3:12.1f} "
          f"{totals['reader'] * 1e3:9.1f} {totals['tensor'] * 1e3:9.1f} {totals['reader'] / totals['fastest']:14.2f} "
          f"{totals['tensor'] / totals['fastest']:14.2f}")
    print(f"\nratio DICOM -> 1024-px tensor / fastest bare decode: {totals['tensor'] / totals['fastest']:.2f}x "
          f"(P1 target <= 1.2x); reader / fastest bare decode: {totals['reader'] / totals['fastest']:.2f}x; "
          f"bare pylibjpeg / bare dicomsdl: {totals['pylibjpeg'] / totals['dicomsdl']:.2f}x\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="DICOM files or folders (default: the shared films)")
    parser.add_argument("--data", type=Path, help="a folder of DICOM files (the same as giving it as a path)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (CI machines have 2 cores)")
    parser.add_argument("--no-monai", action="store_true", help="skip table 2 (the reader vs pydicom and MONAI)")
    args = parser.parse_args()
    paths = list(args.paths) + ([args.data] if args.data else [])
    if not paths:
        paths = [SHARED_DICOM / "cbis-ddsm", SHARED_DICOM / "nema-wg04"]
    files = [f for p in paths for f in (sorted(p.glob("*.dcm")) if p.is_dir() else [p])]
    if not files:
        print(f"no DICOM files in {', '.join(map(str, paths))}", file=sys.stderr)
        return 1

    logging.getLogger("monai").setLevel(logging.ERROR)
    import torch

    torch.set_num_threads(args.threads)
    decoders_and_pipeline(files, args.repeats)
    files = [f for f in files if pydicom.dcmread(f, stop_before_pixels=True).file_meta.TransferSyntaxUID
             == pydicom.uid.RLELossless]
    if args.no_monai or not files:
        return 0
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
