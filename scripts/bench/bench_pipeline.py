"""Benchmark: the full-mammogram pipeline to a 1024-px tensor against the bare decode of the same file.

For each real CBIS-DDSM RLE mammogram (16-bit, ~4500x2900) in ../shared/data/dicom/cbis-ddsm it times,
median of --repeats runs after a warm-up, in one process:

- ``decode``    ``pydicom.dcmread(path).pixel_array`` (the bare decode: the baseline)
- ``pipeline``  ``mammo_monai.transforms.full_mammogram_transforms(spatial_size=1024)`` on
                ``{"image": path, "laterality": ...}``: load (decode included), breast crop + resize + mask
                (``BreastCropResized``), laterality, suppression outside the breast, windowing, padding —
                everything up to the tensor
- ``separate``  the pipeline as it was before: MONAI's float32 load (``LoadImaged`` with its default dtype)
                and the crop, resize and mask as three separate transforms (``BreastRegionCropd``, MONAI
                ``Resized(mode="area")``, ``BreastMaskd``)

The three run in turn, one of each per round (a noisy machine slows all alike), and it prints
``pipeline / decode`` per file and overall (target <= 1.5), ``separate / decode``, the share of the
pipeline's ``LoadImaged`` alone (decode, the scan kept in uint16; run in the same rounds), plus the time of
every step on the first file (``--steps``).

    .venv/bin/python scripts/bench/bench_pipeline.py [--repeats 5] [--size 1024] [--threads 2] [--steps]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing import interleaved_medians, median_seconds  # noqa: E402  (the benchmark scripts' shared helper)


def separate_steps_config(size: int) -> list[dict]:
    """The full-mammogram pipeline (no label) as it was before: MONAI's float32 load, and ``BreastCropResized``
    split back into the three steps it replaced."""
    from mammo_monai.transforms import BREAST_MASK_KEY, full_mammogram_config

    config = []
    for step in full_mammogram_config(spatial_size=size, label_key=None):
        if step["_target_"] == "LoadImaged":
            step = {k: v for k, v in step.items() if k != "dtype"}  # MONAI's default: float32
            step["reader"] = {k: v for k, v in step["reader"].items() if k != "native_uint16"}
            config.append(step)
        elif step["_target_"].endswith("BreastCropResized"):
            config += [
                {"_target_": "mammo_monai.transforms.BreastRegionCropd", "keys": ["image"], "margin": 0.02},
                {"_target_": "Resized", "keys": ["image"], "spatial_size": size, "size_mode": "longest",
                 "mode": "area"},
                {"_target_": "mammo_monai.transforms.BreastMaskd", "keys": "image", "mask_key": BREAST_MASK_KEY},
            ]
        else:
            config.append(step)
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "dicom" / "cbis-ddsm")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (CI machines have 2 cores)")
    parser.add_argument("--steps", action="store_true", help="also time each transform on the first file")
    args = parser.parse_args()
    files = sorted(args.data.glob("*.dcm"))
    if not files:
        print(f"no DICOM files in {args.data}", file=sys.stderr)
        return 1

    logging.getLogger("monai").setLevel(logging.ERROR)
    import pydicom
    import torch

    from mammo_monai.transforms import full_mammogram_transforms, instantiate_transforms

    torch.set_num_threads(args.threads)
    pipeline = full_mammogram_transforms(spatial_size=args.size, label_key=None)
    separate = instantiate_transforms(separate_steps_config(args.size))
    print(f"{'file':<34} {'decode ms':>10} {'pipeline ms':>12} {'ratio':>6} {'separate ms':>12} {'ratio':>6}  output")
    load = pipeline.transforms[0]  # LoadImaged: the decode, the scan kept in uint16
    totals = {"decode": 0.0, "pipeline": 0.0, "separate": 0.0, "load": 0.0}
    for path in files:
        item = {"image": str(path), "laterality": "R" if "RIGHT" in path.name else "L"}
        medians = interleaved_medians({
            "decode": lambda p=path: pydicom.dcmread(p).pixel_array,
            "pipeline": lambda i=item: pipeline(dict(i)),
            "separate": lambda i=item: separate(dict(i)),
            "load": lambda i=item: load(dict(i)),
        }, args.repeats)
        out = pipeline(dict(item))["image"]
        for name, seconds in medians.items():
            totals[name] += seconds
        decode, run, old = medians["decode"], medians["pipeline"], medians["separate"]
        print(f"{path.name:<34} {decode * 1e3:10.1f} {run * 1e3:12.1f} {run / decode:6.2f} {old * 1e3:12.1f} "
              f"{old / decode:6.2f}  {tuple(out.shape)} {out.dtype} [{float(out.min()):.2f}, {float(out.max()):.2f}]")
    decode, run, old = totals["decode"], totals["pipeline"], totals["separate"]
    print(f"{'all files':<34} {decode * 1e3:10.1f} {run * 1e3:12.1f} {run / decode:6.2f} {old * 1e3:12.1f} "
          f"{old / decode:6.2f}")
    print(f"\nratio pipeline (to a {args.size}-px tensor) / bare decode: {run / decode:.2f}x (target <= 1.5x); "
          f"with the separate crop/resize/mask steps: {old / decode:.2f}x; "
          f"the pipeline's LoadImaged alone (decode, uint16 kept): {totals['load'] / decode:.2f}x")

    if args.steps:
        item = {"image": str(files[0]), "laterality": "R" if "RIGHT" in files[0].name else "L"}
        print(f"\nsteps on {files[0].name} (median of {args.repeats}):")
        data = dict(item)
        for transform in pipeline.transforms:
            before = data
            seconds = median_seconds(lambda t=transform, b=before: t(dict(b)), args.repeats)
            data = transform(dict(before))
            print(f"  {type(transform).__name__:<28} {seconds * 1e3:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
