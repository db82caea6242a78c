"""Benchmark: the detection bundle's inference on a whole CBIS-DDSM-size mammogram — time and peak memory.

For a real CBIS-DDSM RLE mammogram (16-bit, ~4400 x 2900; default: the first in
../shared/data/dicom/cbis-ddsm) it runs, each arm in a fresh process (so each peak RSS is its own), with
``--threads`` torch threads:

- ``decode``      ``pydicom.dcmread(path).pixel_array``: the bare decode (the baseline)
- ``default``     the bundle's ``inference.json`` as shipped: DenseNet121, 224 px patches at 0.1 mm, overlap 0.75,
                  windows without breast skipped (the item's ``breast_mask`` reaches the inferer through the
                  config's ``prepare_batch``), the network under ``torch.inference_mode``
- ``exhaustive``  the same config with ``inferer#skip_background`` false: every window through the network, the
                  sweep as it was before issue 20 (the baseline of the sweep; the bench checks that both arms give
                  the same candidates: same count, centres within 0.5 px, scores within 1e-4)
- ``mias_cpu``    ``inference.json`` + ``mias_cpu.json``: the small ResNet, 64 px patches at 0.4 mm

Both read the film as CBIS-DDSM's 50 µm scan (``default_spacing`` 0.05: ``mias_cpu.json`` says 0.2 for MIAS).

An arm times its stages on the same file (median of ``--repeats`` after a warm-up): the preprocessing (load
included), the sliding-window sweep into the heatmap, the candidates (peaks, boxes, mapping back) and the writer
(JSON + overlay PNG), with the network's random initial weights (the time does not depend on them). It prints
each arm's seconds, its ratio to the bare decode measured in the same run, the number of windows swept, and
the process's peak RSS against its RSS after imports (``ru_maxrss``), and ``default`` against ``exhaustive``
(the gain of skipping the background windows, measured in the same run).

    .venv/bin/python scripts/bench/bench_detection.py [--file F.dcm] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "bundles" / "mammo_patch_detection"
ARMS = {"default": [], "exhaustive": [], "mias_cpu": ["mias_cpu.json"]}
#: config overrides per arm (on top of the files in ARMS)
OVERRIDES = {"exhaustive": {"inferer#skip_background": False}}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def run_arm(arm: str, path: str, repeats: int, threads: int) -> dict:
    """One arm in this process: stage medians (s), windows, peak RSS (MB)."""
    import numpy as np
    import pydicom
    import torch
    from monai.bundle import ConfigParser

    torch.set_num_threads(threads)
    base_rss = _rss_mb()
    if arm == "decode":
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            _ = pydicom.dcmread(path).pixel_array
            times.append(time.perf_counter() - start)
        return {"arm": arm, "total": _median(times[1:]), "rss_after_imports_mb": base_rss, "peak_rss_mb": _rss_mb()}

    configs = [str(BUNDLE / "configs" / "inference.json"), *(str(BUNDLE / "configs" / c) for c in ARMS[arm])]
    parser = ConfigParser()
    parser.read_config(configs)
    out_dir = tempfile.mkdtemp(prefix="bench_detection_")
    atexit.register(shutil.rmtree, out_dir, ignore_errors=True)  # the writers' scratch, not a result
    parser.update({"bundle_root": str(BUNDLE), "output_dir": out_dir, "device": "$torch.device('cpu')",
                   "amp": False, "datalist": "", "data_root_dir": str(Path(path).parent),
                   "default_spacing": 0.05, **OVERRIDES.get(arm, {})})
    network = parser.get_parsed_content("network").eval()
    preprocessing = parser.get_parsed_content("preprocessing")
    inferer = parser.get_parsed_content("inferer")
    candidates, writer = parser.get_parsed_content("postprocessing").transforms
    # what the evaluator hands the inferer besides the image (the shipped config: the breast mask)
    prepare = parser.get_parsed_content("prepare_batch") if "prepare_batch" in parser else None
    laterality = "R" if "RIGHT" in Path(path).name else "L"
    stages: dict[str, list[float]] = {"preprocessing": [], "sweep": [], "candidates": [], "writer": []}
    windows = 0
    for k in range(repeats + 1):
        t0 = time.perf_counter()
        item = preprocessing({"image": path, "laterality": laterality})
        t1 = time.perf_counter()
        batch = {key: value[None] for key, value in item.items() if isinstance(value, torch.Tensor)}
        args, kwargs = prepare(batch)[2:] if prepare is not None else ((), {})
        with torch.no_grad():
            heat = inferer(batch["image"], network, *args, **kwargs)[0]
        t2 = time.perf_counter()
        item["pred"] = heat
        item = candidates(item)
        t3 = time.perf_counter()
        writer(item)
        t4 = time.perf_counter()
        if k:  # the first round warms up
            for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                stages[name].append(seconds)
        grid = item["image"].shape[1:]
        roi, overlap = inferer.roi_size, inferer.overlap
        steps = [max(1, int(np.ceil((max(g, r) - r) / max(1, int(r * (1 - o)))) + 1))
                 for g, r, o in zip(grid, roi, (overlap, overlap) if np.isscalar(overlap) else overlap)]
        windows = int(np.prod(steps))
        assert windows == inferer.windows_total, (windows, inferer.windows_total)
    medians = {name: _median(v) for name, v in stages.items()}
    found = [{"score": c["score"], "center": c["center"], "class": c["class"]} for c in item["candidates"]]
    return {"arm": arm, **medians, "total": sum(medians.values()), "grid": list(grid), "windows": windows,
            "windows_run": inferer.windows_run, "n_candidates": len(item["candidates"]), "candidates": found,
            "rss_after_imports_mb": base_rss, "peak_rss_mb": _rss_mb()}


def same_candidates(a: list[dict], b: list[dict], score_tol: float = 1e-4, centre_tol: float = 0.5) -> bool:
    """The same candidates in the same order: classes equal, scores within ``score_tol``, centres within
    ``centre_tol`` px."""
    return len(a) == len(b) and all(
        x["class"] == y["class"] and abs(x["score"] - y["score"]) <= score_tol
        and max(abs(p - q) for p, q in zip(x["center"], y["center"])) <= centre_tol for x, y in zip(a, b))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=None, help="a mammogram DICOM (default: the first real CBIS-DDSM file)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arms", default=",".join(ARMS), help="the arms to run besides decode (comma-separated)")
    parser.add_argument("--arm", default=None, help=argparse.SUPPRESS)  # internal: run one arm, print JSON
    args = parser.parse_args()
    path = args.file
    if path is None:
        files = sorted((REPO.parent / "shared" / "data" / "dicom" / "cbis-ddsm").glob("*.dcm"))
        if not files:
            print("no --file and no ../shared/data/dicom/cbis-ddsm/*.dcm", file=sys.stderr)
            return 2
        path = str(files[0])
    if args.arm:
        logging.disable(logging.WARNING)
        print(json.dumps(run_arm(args.arm, path, args.repeats, args.threads)))
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "CUDA_VISIBLE_DEVICES": ""}
    results = {}
    arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(arms) - set(ARMS))
    if unknown:
        print(f"unknown arms {unknown}; known: {sorted(ARMS)}", file=sys.stderr)
        return 2
    for arm in ("decode", *arms):
        proc = subprocess.run([sys.executable, __file__, "--file", path, "--repeats", str(args.repeats),
                               "--threads", str(args.threads), "--arm", arm], capture_output=True, text=True,
                              env=env, check=False)
        if proc.returncode:
            print(proc.stdout[-2000:], proc.stderr[-4000:], file=sys.stderr)
            return proc.returncode
        results[arm] = json.loads(proc.stdout.strip().splitlines()[-1])
    decode = results["decode"]["total"]
    print(f"{Path(path).name}: {args.threads} threads, median of {args.repeats} after a warm-up")
    print(f"decode (baseline): {decode:.2f} s, peak RSS {results['decode']['peak_rss_mb']:.0f} MB "
          f"(after imports {results['decode']['rss_after_imports_mb']:.0f} MB)")
    for arm in arms:
        r = results[arm]
        print(f"{arm}: {r['total']:.2f} s = {r['total'] / decode:.1f}x the decode; preprocessing "
              f"{r['preprocessing']:.2f} s, sweep {r['sweep']:.2f} s ({r['windows_run']} of {r['windows']} windows "
              f"on the "
              f"{r['grid'][0]}x{r['grid'][1]} grid), candidates {r['candidates']:.2f} s ({r['n_candidates']} found), "
              f"writer {r['writer']:.2f} s; peak RSS {r['peak_rss_mb']:.0f} MB (after imports "
              f"{r['rss_after_imports_mb']:.0f} MB)")
    if "default" in results and "exhaustive" in results:
        d, e = results["default"], results["exhaustive"]
        same = same_candidates(d["candidates"], e["candidates"])
        print(f"default / exhaustive (skipping the {e['windows'] - d['windows_run']} windows without breast): "
              f"sweep {d['sweep'] / e['sweep']:.2f}x, whole film {d['total'] / e['total']:.2f}x; "
              f"candidates {'the same' if same else 'DIFFERENT'} ({d['n_candidates']} and {e['n_candidates']})")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
