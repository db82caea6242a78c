"""Benchmark: the detection bundle's inference on a whole CBIS-DDSM-size mammogram — time and peak memory.

For a real CBIS-DDSM RLE mammogram (16-bit, ~4400 x 2900; default: the first in
../shared/data/dicom/cbis-ddsm) it runs, each arm in a fresh process (so each peak RSS is its own), with
``--threads`` torch threads:

- ``decode``    ``pydicom.dcmread(path).pixel_array``: the bare decode (the baseline)
- ``default``   the bundle's ``inference.json`` as shipped: DenseNet121, 224 px patches at 0.1 mm, overlap 0.75,
                windows without breast skipped (the item's ``breast_mask`` reaches the inferer through the
                config's ``prepare_batch``), the network under ``torch.inference_mode``
- ``mias_cpu``  ``inference.json`` + ``mias_cpu.json``: the small ResNet, 64 px patches at 0.4 mm

Both read the film as CBIS-DDSM's 50 µm scan (``default_spacing`` 0.05: ``mias_cpu.json`` says 0.2 for MIAS).

An arm times its stages on the same file (median of ``--repeats`` after a warm-up): the preprocessing (load
included), the sliding-window sweep into the heatmap, the candidates (peaks, boxes, mapping back) and the writer
(JSON + overlay PNG), with the network's random initial weights (the time does not depend on them). It prints
each arm's seconds, its ratio to the bare decode measured in the same run, the windows the network ran of those
swept, and the process's peak RSS after its warm-up round (the arm's own path) against its RSS after imports
(``ru_maxrss``).

Inside the ``default`` arm, in the same rounds (one of each per round, so a busy machine slows all alike), the
sweep is also timed as ``--compare`` says (default ``exhaustive``):

- ``exhaustive``  ``inferer#skip_background`` false: every window through the network, the sweep as it was
                  before issue 20 (the baseline); the bench checks that it gives the default's candidates (same
                  count and classes, centres within 0.5 px, scores within 1e-4) and exits 1 if not
- ``fcn``         ``inferer#fully_convolutional`` true: DenseNet121's body once over the film, each window's logits
                  from the mean of its feature cells (opt-in: it changes the probabilities, so a FROC check is
                  needed before it could be a default); the bench prints how its candidates compare

and prints ``default / <compare>`` for the sweep and for the whole film.

    .venv/bin/python scripts/bench/bench_detection.py [--file F.dcm] [--repeats 3] [--threads 2]
        [--arms default,mias_cpu] [--compare exhaustive,fcn]
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
ARMS = {"default": [], "mias_cpu": ["mias_cpu.json"]}
#: the sweeps timed beside the default's, in its rounds: inferer overrides
COMPARE = {"exhaustive": {"skip_background": False}, "fcn": {"fully_convolutional": True}}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kB


def _median(values: list[float]) -> float:
    values = sorted(values)
    return values[len(values) // 2]


def _found(candidates: list[dict]) -> list[dict]:
    return [{"score": c["score"], "center": c["center"], "class": c["class"]} for c in candidates]


def same_candidates(a: list[dict], b: list[dict], score_tol: float = 1e-4, centre_tol: float = 0.5) -> bool:
    """The same candidates in the same order: classes equal, scores within ``score_tol``, centres within
    ``centre_tol`` px."""
    return len(a) == len(b) and all(
        x["class"] == y["class"] and abs(x["score"] - y["score"]) <= score_tol
        and max(abs(p - q) for p, q in zip(x["center"], y["center"])) <= centre_tol for x, y in zip(a, b))


def run_arm(arm: str, path: str, repeats: int, threads: int, compare: list[str]) -> dict:
    """One arm in this process: stage medians (s), windows, peak RSS (MB); for ``default`` also the ``compare``
    sweeps, timed in the same rounds."""
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
                   "default_spacing": 0.05})
    network = parser.get_parsed_content("network").eval()
    preprocessing = parser.get_parsed_content("preprocessing")
    inferer = parser.get_parsed_content("inferer")
    candidates, writer = parser.get_parsed_content("postprocessing").transforms
    # what the evaluator hands the inferer besides the image (the shipped config: the breast mask)
    prepare = parser.get_parsed_content("prepare_batch") if "prepare_batch" in parser else None
    others = {}
    for name in compare if arm == "default" else []:
        parser["inferer"].update(COMPARE[name])
        others[name] = parser.get_parsed_content("inferer", instantiate=True, lazy=False)
        for key in COMPARE[name]:
            parser["inferer"].pop(key)
    laterality = "R" if "RIGHT" in Path(path).name else "L"
    stages: dict[str, list[float]] = {"preprocessing": [], "sweep": [], "candidates": [], "writer": []}
    other_sweeps: dict[str, list[float]] = {name: [] for name in others}
    other_found: dict[str, list[dict]] = {}
    windows = (0, 0)
    peak_rss = 0.0
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
        windows = (inferer.windows_run, inferer.windows_total)
        if k:  # the first round warms up
            for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                stages[name].append(seconds)
        else:
            peak_rss = _rss_mb()  # the arm's own path, before any comparison sweep
        for name, other in others.items():
            start = time.perf_counter()
            with torch.no_grad():
                other_heat = other(batch["image"], network, *args, **kwargs)[0]
            if k:
                other_sweeps[name].append(time.perf_counter() - start)
            other_found[name] = _found(candidates({**item, "pred": other_heat})["candidates"])
    medians = {name: _median(v) for name, v in stages.items()}
    result = {"arm": arm, **medians, "total": sum(medians.values()), "grid": list(item["image"].shape[1:]),
              "windows_run": windows[0], "windows": windows[1], "n_candidates": len(item["candidates"]),
              "found": _found(item["candidates"]), "rss_after_imports_mb": base_rss, "peak_rss_mb": peak_rss}
    result["compare"] = {name: {"sweep": _median(v), "found": other_found[name],
                                "windows_run": others[name].windows_run} for name, v in other_sweeps.items()}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=None, help="a mammogram DICOM (default: the first real CBIS-DDSM file)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arms", default=",".join(ARMS), help="the arms besides decode (comma-separated)")
    parser.add_argument("--compare", default="exhaustive",
                        help=f"sweeps timed beside the default's (comma-separated, of {sorted(COMPARE)}; '' none)")
    parser.add_argument("--arm", default=None, help=argparse.SUPPRESS)  # internal: run one arm, print JSON
    args = parser.parse_args()
    arms = [a for a in args.arms.split(",") if a]
    compare = [c for c in args.compare.split(",") if c]
    unknown = sorted((set(arms) - set(ARMS)) | (set(compare) - set(COMPARE)))
    if unknown:
        print(f"unknown arms or comparisons {unknown}; arms: {sorted(ARMS)}, compare: {sorted(COMPARE)}",
              file=sys.stderr)
        return 2
    path = args.file
    if path is None:
        files = sorted((REPO.parent / "shared" / "data" / "dicom" / "cbis-ddsm").glob("*.dcm"))
        if not files:
            print("no --file and no ../shared/data/dicom/cbis-ddsm/*.dcm", file=sys.stderr)
            return 2
        path = str(files[0])
    if args.arm:
        logging.disable(logging.WARNING)
        print(json.dumps(run_arm(args.arm, path, args.repeats, args.threads, compare)))
        return 0
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "CUDA_VISIBLE_DEVICES": ""}
    results = {}
    for arm in ("decode", *arms):
        proc = subprocess.run([sys.executable, __file__, "--file", path, "--repeats", str(args.repeats),
                               "--threads", str(args.threads), "--compare", ",".join(compare), "--arm", arm],
                              capture_output=True, text=True, env=env, check=False)
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
              f"run on the {r['grid'][0]}x{r['grid'][1]} grid), candidates {r['candidates']:.2f} s "
              f"({r['n_candidates']} found), writer {r['writer']:.2f} s; peak RSS {r['peak_rss_mb']:.0f} MB (after "
              f"imports {r['rss_after_imports_mb']:.0f} MB)")
    status = 0
    d = results.get("default", {})
    for name, c in d.get("compare", {}).items():
        whole = d["total"] - d["sweep"] + c["sweep"]
        same = same_candidates(d["found"], c["found"])
        print(f"{name} sweep (same rounds): {c['sweep']:.2f} s ({c['windows_run']} windows run), whole film "
              f"{whole:.2f} s; default / {name}: sweep {d['sweep'] / c['sweep']:.2f}x, whole film "
              f"{d['total'] / whole:.2f}x; candidates {'the same' if same else 'DIFFERENT'} "
              f"({d['n_candidates']} and {len(c['found'])})")
        if name == "exhaustive" and not same:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
