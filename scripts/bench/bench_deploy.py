"""Benchmark: the MONAI Deploy app on one four-view study against the three bundles run on their own.

The study: the four real CBIS-DDSM films of ../shared/data/dicom/cbis-ddsm (one woman, L/R CC/MLO, RLE 16 bit,
~4500 x 2900), linked into a temporary input folder. Checkpoints: each bundle's network, randomly initialised with
a fixed seed (speed and memory do not depend on the weights). Each command runs as its own process, in turn, one
of each per round, with ``--threads`` for torch (OMP/MKL) — the machine's 2 cores by default:

- ``app``      ``python -m mammo_monai.deploy -i <study> -o <out> -m <models>``: study loading and series
               selection (SDK), the project's DICOM reading, the three bundles, DICOM SEG x 4, DICOM SR x studies,
               summary.json; process start and imports (torch, MONAI, Holoscan) included
- ``bundles``  the baseline: ``python -m monai.bundle run inferring`` of the segmentation, classification and
               detection bundles in turn over a datalist of the same four files (their own writers: NIfTI masks
               and overlays, probability CSV, detections JSON), ``num_workers`` 0 like the app; summed

It prints the median wall seconds of each, ``app / bundles``, and the peak resident memory (``ru_maxrss`` of the
process, from ``wait4``; for ``bundles`` the largest of the three). ``--recipe mias_cpu`` (default) layers each
bundle's CPU recipe (what the models were measured with on CPU) and reads the films as 50 um (CBIS-DDSM's
digitisers; the files carry no spacing); ``--recipe none`` runs the bundles' own ``inference.json`` (DenseNet121
patches at 0.1 mm: minutes per film on 2 cores).

    .venv-deploy/bin/python scripts/bench/bench_deploy.py [--repeats 1] [--threads 2] [--recipe mias_cpu|none]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CBIS = Path(os.environ.get("MAMMO_MONAI_SHARED_DATA", REPO.parent / "shared" / "data")) / "dicom" / "cbis-ddsm"
BUNDLES = ("mammo_mass_segmentation", "mammo_image_classification", "mammo_patch_detection")
DETECTOR_OVERRIDES = {"default_spacing": 0.05}


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """Run ``cmd``; ``(wall seconds, peak resident MiB)`` of that process.

    Raises:
        RuntimeError: it failed (the log's tail in the message).
    """
    start = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}):\n{log.read_text()[-3000:]}")
    return seconds, usage.ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recipe", choices=("mias_cpu", "none"), default="mias_cpu")
    parser.add_argument("--keep", help="keep the work folder here (inputs, outputs, logs) instead of a temporary one")
    args = parser.parse_args()
    films = sorted(CBIS.glob("*.dcm"))
    if len(films) != 4:
        sys.exit(f"needs the four CBIS-DDSM films in {CBIS} (found {len(films)})")
    sys.path.insert(0, str(REPO))
    from mammo_monai.inference.bundle import default_bundles_dir
    from tests.label.studies import write_random_checkpoints

    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_deploy_"))
    study = work / "study"
    study.mkdir(parents=True, exist_ok=True)
    for f in films:
        if not (study / f.name).exists():
            (study / f.name).symlink_to(f)
    configs = ["mias_cpu.json"] if args.recipe == "mias_cpu" else []
    models = work / "models"
    write_random_checkpoints(models, default_bundles_dir(), list(BUNDLES), configs)
    settings = {"configs": {b: configs for b in BUNDLES}, "device": "cpu",
                "overrides": {"mammo_patch_detection": DETECTOR_OVERRIDES} if configs else {}}
    (work / "settings.json").write_text(json.dumps(settings))
    datalist = work / "datalist.json"
    datalist.write_text(json.dumps({"test": [{"image": str(f)} for f in films]}))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads),
           "MAMMO_DEPLOY_SETTINGS": str(work / "settings.json")}

    def app(k: int) -> tuple[float, float]:
        out = work / f"app_out_{k}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "mammo_monai.deploy", "-i", str(study), "-o", str(out), "-m", str(models)]
        return run_measured(cmd, env, work / f"app_{k}.log")

    def bundles(k: int) -> tuple[float, float]:
        total, peak = 0.0, 0.0
        for name in BUNDLES:
            folder = default_bundles_dir() / name / "configs"
            files = [str(folder / "inference.json")] + [str(folder / c) for c in configs]
            out = work / f"bundle_out_{k}" / name
            shutil.rmtree(out, ignore_errors=True)
            cmd = [sys.executable, "-m", "monai.bundle", "run", "inferring", "--config_file", json.dumps(files),
                   "--bundle_root", str(default_bundles_dir() / name), "--ckpt_dir", str(models / name),
                   "--datalist", str(datalist), "--output_dir", str(out), "--num_workers", "0",
                   "--data_root_dir", str(CBIS), "--device", "$torch.device('cpu')"]
            if configs and name == "mammo_patch_detection":
                cmd += [f"--{key}={value}" for key, value in DETECTOR_OVERRIDES.items()]
            seconds, rss = run_measured(cmd, env, work / f"bundle_{name}_{k}.log")
            total, peak = total + seconds, max(peak, rss)
        return total, peak

    results: dict[str, list[tuple[float, float]]] = {"app": [], "bundles": []}
    for k in range(args.repeats):
        results["app"].append(app(k))
        results["bundles"].append(bundles(k))
    wall = {name: statistics.median(s for s, _ in runs) for name, runs in results.items()}
    peak = {name: max(m for _, m in runs) for name, runs in results.items()}
    summary = json.loads((work / "app_out_0" / "summary.json").read_text())
    per_kind = {kind: sum(im[kind]["seconds"] for st in summary["studies"] for im in st["images"])
                for kind in ("segmentation", "classification", "detection")}
    print(f"four-view CBIS-DDSM study ({', '.join(f.name for f in films)}), recipe {args.recipe}, "
          f"{args.threads} threads, {args.repeats} round(s)")
    inside = ", ".join(f"{kind} {v:.1f} s" for kind, v in per_kind.items())
    print(f"app      {wall['app']:7.1f} s   peak {peak['app']:7.0f} MiB   (inside the app: {inside}; "
          f"compose to summary {summary['seconds']:.1f} s)")
    print(f"bundles  {wall['bundles']:7.1f} s   peak {peak['bundles']:7.0f} MiB   (three `monai.bundle run inferring`)")
    print(f"app / bundles: wall {wall['app'] / wall['bundles']:.2f}, peak memory {peak['app'] / peak['bundles']:.2f}")
    print(f"work folder: {work}" + ("" if args.keep else " (temporary; --keep DIR to keep it)"))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
